"""Verify once: hash a file when it enters a folder or the Hub cache, remember it, re-hash only on change.

A weights file is checked against the sha256 recorded in metadata.json before it is used. Hashing
1 GB costs ~0.7 s, so doing it on every load would make a warm load 1.5x slower than Keras' own.
Instead, a file that matched is recorded here, keyed by its device and inode, with its size,
mtime and ctime (both in ns). The next check trusts the record while all of these still match
the file, and re-hashes otherwise. Any write to the file changes its mtime and ctime, and ctime
cannot be set back by a user process (``os.utime`` sets it to now), so a file altered after it
was verified, by whatever means short of writing the raw disk, is hashed again on the next load
and refused. A file replaced by another one gets a new inode or ctime. ``rehash=True``
(``force_download=True``, ``hub-publish pull --verify``) ignores the records.

What a record cannot see: a same-size rewrite within the file system's timestamp granularity
(a few ms on ext4) of the moment it was recorded, or a change made below the file system. That is
the trade-off git's index makes too; ``--verify`` is there for the doubtful case.

The records are small JSON files under ``HUB_PUBLISH_VERIFY_CACHE`` (default
``$HF_HOME/hub_publish/verified``, so a test session with its own ``HF_HOME`` has its own
records). They hold no data, only digests; deleting the folder only costs one re-hash per file.
A record store that cannot be written is not an error: every check then hashes.

huggingface_hub does not verify downloads itself (it checks sizes only); its blob names are
the expected sha256 (the ETag) for LFS files, not a proof that the content matches, so cache
blobs go through the same record mechanism (keyed by the blob's inode).

This module is import-light (stdlib only): no Keras, no TensorFlow, no huggingface_hub.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

ENV_VERIFY_CACHE = "HUB_PUBLISH_VERIFY_CACHE"
_CHUNK = 1 << 20  # hashlib releases the GIL on updates this large
_RECORD_VERSION = 1


def records_dir() -> Path:
    """Where the verification records live (read at call time, so tests can move it)."""
    explicit = os.environ.get(ENV_VERIFY_CACHE)
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub_publish" / "verified"


def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    """Hash a file (one sequential read) and record the result; returns ``(hex sha256, size)``.

    The stat is taken before and after the read: if the file changed while it was hashed, the
    digest is returned but not recorded.
    """
    path = Path(path)
    before = _stat(path)
    digest, size = _hash(path)
    if before is not None and _stat(path) == before and before[2] == size:
        _write_record(before, digest)
    return digest, size


def record(path: str | os.PathLike, sha256: str) -> None:
    """Record a digest the caller just computed from the file's bytes (e.g. while writing it)."""
    st = _stat(Path(path))
    if st is not None:
        _write_record(st, sha256)


def known_sha256(path: str | os.PathLike) -> str | None:
    """The recorded sha256 of a file whose record still matches it, else None (no hashing)."""
    st = _stat(Path(path))
    if st is None:
        return None
    return _read_record(st)


def matches(path: str | os.PathLike, sha256: str, size: int | None = None, *, rehash: bool = False) -> bool:
    """Whether ``path`` has this sha256 (and size): from a valid record, else by hashing it once.

    Args:
        path: The file (a symlink, such as a huggingface_hub snapshot entry, is followed).
        sha256: The expected hex digest.
        size: The expected size in bytes, when known.
        rehash: Ignore any record and hash the file (the result is recorded again).

    Returns:
        True when the file matches. A record holds the file's actual digest, so a file found not
        to match keeps failing (without being hashed again) until it changes.
    """
    path = Path(path)
    st = _stat(path)
    if st is None:
        return False
    if size is not None and st[2] != size:
        return False
    if not rehash:
        recorded = _read_record(st)
        if recorded is not None:
            return recorded == sha256
    digest, actual = sha256_file(path)
    return digest == sha256 and (size is None or actual == size)


# ----------------------------------------------------------------------------- helpers

_Stat = tuple[int, int, int, int, int]  # dev, ino, size, mtime_ns, ctime_ns


def _stat(path: Path) -> _Stat | None:
    try:
        st = os.stat(path)  # follows symlinks: the record belongs to the content (the blob)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _hash(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def _record_path(st: _Stat) -> Path:
    return records_dir() / f"{st[0]:x}-{st[1]:x}.json"


def _read_record(st: _Stat) -> str | None:
    try:
        with open(_record_path(st), encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("v") != _RECORD_VERSION:
        return None
    if [rec.get("size"), rec.get("mtime_ns"), rec.get("ctime_ns")] != [st[2], st[3], st[4]]:
        return None  # the file changed (or the inode was reused) since it was verified
    sha = rec.get("sha256")
    return sha if isinstance(sha, str) else None


def _write_record(st: _Stat, sha256: str) -> None:
    target = _record_path(st)
    body = {"v": _RECORD_VERSION, "sha256": sha256, "size": st[2], "mtime_ns": st[3], "ctime_ns": st[4]}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rec-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f)
            os.replace(tmp, target)  # atomic: a concurrent reader sees the old or the new record
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # records are an optimisation: without them every check hashes
