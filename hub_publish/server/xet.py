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
(spec/xorb.md, spec/shard.md, spec/api.md). LZ4 is decoded here in pure Python because no LZ4
package is a dependency of this project; chunks are at most 128 KiB, so this is cheap enough.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

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


def xorb_chunks(data: bytes, end: int) -> list[bytes]:
    """Decode chunks ``[0, end)`` of a serialized xorb.

    Args:
        data: The xorb bytes.
        end: How many chunks to decode (a footer, if any, after them is ignored).

    Returns:
        The uncompressed chunks.

    Raises:
        BadRequest: When the xorb is malformed or uses an unknown compression.
    """
    chunks: list[bytes] = []
    pos = 0
    while len(chunks) < end:
        if pos + 8 > len(data):
            raise BadRequest("Invalid xorb: fewer chunks than referenced.")
        header = data[pos : pos + 8]
        version, scheme = header[0], header[4]
        csize = int.from_bytes(header[1:4], "little")
        usize = int.from_bytes(header[5:8], "little")
        if version != 0:
            raise BadRequest(f"Invalid xorb: chunk header version {version}.")
        body = data[pos + 8 : pos + 8 + csize]
        pos += 8 + csize
        if scheme == 0:
            chunk = bytes(body)
        elif scheme == 1:
            chunk = _lz4_decompress(body)
        elif scheme == 2:
            chunk = _bg4_ungroup(_lz4_decompress(body))
        else:
            raise BadRequest(f"Invalid xorb: unknown compression scheme {scheme}.")
        if len(chunk) != usize:
            raise BadRequest("Invalid xorb: a chunk does not decompress to its declared size.")
        chunks.append(chunk)
    return chunks


def reconstruct(file: ShardFile, read_xorb) -> bytes:
    """Rebuild a file's bytes from its terms, checking its sha256 when the shard gives one.

    Args:
        file: The file, from :func:`parse_shard`.
        read_xorb: ``hash -> bytes`` of a stored xorb (raising when it is absent).

    Returns:
        The file content.

    Raises:
        BadRequest: When a term does not match its xorb or the content its declared sha256.
    """
    parts: list[bytes] = []
    cache: dict[str, list[bytes]] = {}
    for term in file.terms:
        key = f"{term.xorb}:{term.end}"
        if key not in cache:
            cache[key] = xorb_chunks(read_xorb(term.xorb), term.end)
        piece = b"".join(cache[key][term.start : term.end])
        if len(piece) != term.size:
            raise BadRequest("Invalid shard: a term's size does not match its chunks.")
        parts.append(piece)
    content = b"".join(parts)
    if file.sha256 is not None:
        digest = hashlib.sha256(content).digest()
        # The spec stores the sha256 as a 32-byte hash; accept both byte orders of it.
        if digest != file.sha256 and hash_to_hex(file.sha256) != digest.hex():
            raise BadRequest("Invalid shard: reconstructed content does not match its sha256.")
    return content


def _bg4_ungroup(data: bytes) -> bytes:
    n = len(data)
    out = bytearray(n)
    pos = 0
    for i in range(4):
        count = n // 4 + (1 if i < n % 4 else 0)
        out[i::4] = data[pos : pos + count]
        pos += count
    return bytes(out)


def _lz4_decompress(data: bytes) -> bytes:
    """LZ4 frame (or bare block) decompression."""
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == _LZ4_FRAME_MAGIC:
        return _lz4_frame(data)
    out = bytearray()
    _lz4_block(data, out)
    return bytes(out)


def _lz4_frame(data: bytes) -> bytes:
    flg = data[4]
    pos = 6 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1
    block_checksum = bool(flg & 0x10)
    out = bytearray()
    while True:
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == 0:
            return bytes(out)
        raw, size = bool(size & 0x80000000), size & 0x7FFFFFFF
        block = data[pos : pos + size]
        pos += size + (4 if block_checksum else 0)
        if raw:
            out += block
        else:
            _lz4_block(block, out)  # decoding into one buffer also serves linked blocks


def _lz4_block(src: bytes, out: bytearray) -> None:
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i : i + lit]
        i += lit
        if i >= n:
            break
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        length = token & 15
        if length == 15:
            while True:
                b = src[i]
                i += 1
                length += b
                if b != 255:
                    break
        length += 4
        if offset == 0 or offset > len(out):
            raise BadRequest("Invalid xorb: corrupt LZ4 data.")
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
