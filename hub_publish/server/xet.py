"""The upload half of the Xet CAS protocol, enough for the stock ``hf_xet`` client to push files.

Why this exists: huggingface_hub 2.4.0 uploads every LFS-mode file through Xet whenever the
``hf_xet`` package is importable and ``HF_HUB_DISABLE_XET`` is unset (``is_xet_available`` in
huggingface_hub/utils/_runtime.py, used by ``_upload_files`` in _commit_api.py and by
``upload_folder`` in hf_api.py). No server response can steer it back to the classic LFS batch
API, so a server that must work with a stock client and only ``HF_ENDPOINT`` set has to accept
Xet uploads. Downloads are different: the client uses Xet only when the resolve response carries
``X-Xet-Hash`` (``parse_xet_file_data_from_response`` in utils/_xet.py), which this server never
sends, so every download is a plain HTTP GET.

Received files are turned back into ordinary sha256 blobs right when their shard arrives; the
rest of the server (commits, resolve, tree) never sees Xet. Formats follow xet-core's spec
(spec/xorb.md, spec/shard.md, spec/api.md). Chunks are decompressed by the ``lz4`` package,
one at a time, with their output capped at their declared size, and streamed to a blob writer:
no file is ever rebuilt in memory.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import lz4.block
import lz4.frame

from hub_publish.server.errors import BadRequest

_BOOKEND = b"\xff" * 32
_ENTRY = 48
_FLAG_VERIFICATION = 1 << 31
_FLAG_METADATA_EXT = 1 << 30
_LZ4_FRAME_MAGIC = 0x184D2204


def hash_to_hex(raw: bytes) -> str:
    """Xet's string form of a 32-byte hash: each 8-byte group as a little-endian u64 in hex."""
    return "".join(f"{v:016x}" for v in struct.unpack("<4Q", raw))


@dataclass(frozen=True)
class Term:
    """A range ``[start, end)`` of chunks of one xorb."""

    xorb: str
    start: int
    end: int
    size: int


@dataclass(frozen=True)
class ShardFile:
    """One file described by an uploaded shard."""

    file_hash: str
    terms: tuple[Term, ...]
    sha256: bytes | None

    @property
    def size(self) -> int:
        return sum(t.size for t in self.terms)


def parse_shard(data: bytes) -> list[ShardFile]:
    """Read the file-info section of a shard (the CAS-info and footer sections are not needed).

    Args:
        data: The shard bytes as POSTed to ``/v1/shards``.

    Returns:
        The files it describes.

    Raises:
        BadRequest: When the shard is malformed.
    """
    try:
        _tag, version, _footer_size = struct.unpack_from("<32sQQ", data, 0)
        if version != 2:
            raise BadRequest(f"Unsupported shard version {version}.")
        pos = 48
        files: list[ShardFile] = []
        while True:
            file_hash, flags, num_entries = struct.unpack_from("<32sII", data, pos)
            pos += _ENTRY
            if file_hash == _BOOKEND:
                return files
            terms = []
            for _ in range(num_entries):
                cas_hash, _cas_flags, size, start, end = struct.unpack_from("<32sIIII", data, pos)
                pos += _ENTRY
                if end <= start:
                    raise BadRequest("Invalid shard: empty chunk range.")
                terms.append(Term(hash_to_hex(cas_hash), start, end, size))
            if flags & _FLAG_VERIFICATION:
                pos += _ENTRY * num_entries
            sha256 = None
            if flags & _FLAG_METADATA_EXT:
                sha256 = data[pos : pos + 32]
                pos += _ENTRY
            files.append(ShardFile(hash_to_hex(file_hash), tuple(terms), sha256))
    except struct.error:
        raise BadRequest("Invalid shard: truncated.") from None


def iter_chunks(f: BinaryIO, start: int, end: int, max_chunk: int) -> Iterator[bytes]:
    """Decode chunks ``[start, end)`` of a serialized xorb, one at a time.

    Args:
        f: The xorb file, at its beginning.
        start: First chunk to return (earlier chunks are skipped without decompressing them).
        end: Chunk index to stop at (a footer, if any, after it is never read).
        max_chunk: Largest decompressed chunk accepted.

    Yields:
        The uncompressed chunks: memory stays bounded by one chunk, whatever the xorb claims.

    Raises:
        BadRequest: When the xorb is malformed, uses an unknown compression, or a chunk does not
            decompress to exactly its declared size.
    """
    index = 0
    while index < end:
        header = f.read(8)
        if len(header) < 8:
            raise BadRequest("Invalid xorb: fewer chunks than referenced.")
        version, scheme = header[0], header[4]
        csize = int.from_bytes(header[1:4], "little")
        usize = int.from_bytes(header[5:8], "little")
        if version != 0:
            raise BadRequest(f"Invalid xorb: chunk header version {version}.")
        if index < start:
            f.seek(csize, 1)
            index += 1
            continue
        if usize > max_chunk:
            raise BadRequest(f"Invalid xorb: a chunk declares {usize} bytes, over the limit of {max_chunk}.")
        body = f.read(csize)
        if len(body) != csize:
            raise BadRequest("Invalid xorb: truncated chunk.")
        if scheme == 0:
            chunk = body
        elif scheme == 1:
            chunk = _lz4_decompress(body, usize)
        elif scheme == 2:
            chunk = _bg4_ungroup(_lz4_decompress(body, usize))
        else:
            raise BadRequest(f"Invalid xorb: unknown compression scheme {scheme}.")
        if len(chunk) != usize:
            raise BadRequest("Invalid xorb: a chunk does not decompress to its declared size.")
        yield chunk
        index += 1


def reconstruct(
    file: ShardFile,
    open_xorb: Callable[[str], BinaryIO],
    write: Callable[[bytes], None],
    *,
    max_chunk: int,
) -> None:
    """Stream a file's bytes from its terms to ``write``, never more than its declared size.

    Args:
        file: The file, from :func:`parse_shard`.
        open_xorb: ``hash -> binary file`` of a stored xorb (raising when it is absent).
        write: Receives the content, chunk by chunk (e.g. a blob writer, which hashes it).
        max_chunk: Largest decompressed chunk accepted.

    Raises:
        BadRequest: When a term does not match its xorb (a term's chunks give more or fewer bytes
            than the shard declares: decompression stops at the declared size).
    """
    for term in file.terms:
        written = 0
        with open_xorb(term.xorb) as f:
            for chunk in iter_chunks(f, term.start, term.end, max_chunk):
                written += len(chunk)
                if written > term.size:
                    raise BadRequest("Invalid shard: a term's chunks hold more bytes than it declares.")
                write(chunk)
        if written != term.size:
            raise BadRequest("Invalid shard: a term's size does not match its chunks.")


def sha256_candidates(raw: bytes) -> tuple[str, str]:
    """The hex sha256 a shard's 32-byte hash may stand for: the spec's byte order, or the plain one."""
    return raw.hex(), hash_to_hex(raw)


def _bg4_ungroup(data: bytes) -> bytes:
    n = len(data)
    out = bytearray(n)
    pos = 0
    for i in range(4):
        count = n // 4 + (1 if i < n % 4 else 0)
        out[i::4] = data[pos : pos + count]
        pos += count
    return bytes(out)


def _lz4_decompress(data: bytes, size: int) -> bytes:
    """LZ4 frame (or bare block) decompression through the ``lz4`` package, output capped at ``size``.

    One byte more than declared is asked for, so an over-long chunk is detected without ever
    producing more than ``size + 1`` bytes (an LZ4 "bomb" expands ~255x).
    """
    try:
        if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == _LZ4_FRAME_MAGIC:
            return lz4.frame.LZ4FrameDecompressor().decompress(data, max_length=size + 1)
        return lz4.block.decompress(data, uncompressed_size=size)
    except (RuntimeError, lz4.block.LZ4BlockError, ValueError):
        raise BadRequest("Invalid xorb: corrupt LZ4 data, or a chunk larger than it declares.") from None
