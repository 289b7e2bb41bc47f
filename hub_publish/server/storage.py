"""Content-addressed, crash-safe repo storage of the Hub-compatible server.

Layout under ``data_dir``::

    blobs/ab/<sha256>                   file contents, named by their sha256 (immutable)
    repos/<namespace>/<name>/repo.json  repo settings (private, createdAt, ...)
    repos/<namespace>/<name>/refs.json  {"heads": {...}, "tags": {...}, "pulls": {...}} -> commit id
    repos/<namespace>/<name>/commits/<id>.json   immutable commits: parents + full file table
    repos/<namespace>/<name>/uploads/<sha256>    marker: this content was uploaded to this repo
    repos/<namespace>/<name>/xorbs/<hash>        Xet xorbs received for this repo (kept for a grace period)
    tmp/                                partial writes, never visible
    write.lock                          inter-process lock of all writes

Writes follow one order so that an interruption never leaves a visible partial commit: blobs
first, then the commit object, then the ref swap (temp file, fsync, ``os.replace``). Every write
holds a threading lock *and* a file lock, so two threads or two server processes on the same
data dir are safe. All state is on disk; nothing lives only in memory.

Content is shared on disk (one blob per sha256) but never across repos by hash: a commit may
name an LFS object only when it was uploaded to that repo (an ``uploads/`` marker) or is in
that repo's history already (`Storage.repo_has_content`). Knowing a sha256 gives nothing.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from hub_publish.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    HubError,
    PayloadTooLarge,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
    Unavailable,
)
from hub_publish.server.validation import validate_path, validate_ref_name, validate_repo_id
from hub_publish.text import is_commit_sha, is_sha256

_PR_RE = re.compile(r"^refs/pr/(\d+)$")

# The Hub's default .gitattributes, written by the initial commit of every new repo (as the Hub
# does). Its `filter=lfs` patterns decide, with the size threshold, which files go through LFS.
DEFAULT_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.keras filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_oid(content: bytes) -> str:
    """Git's object id of a blob: ``sha1(b"blob <size>\\0" + content)``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file standing in git for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree."""

    sha256: str
    size: int
    oid: str  # git blob id (of the LFS pointer for LFS files), as the Hub reports it
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "oid": self.oid, "lfs": self.lfs}


@dataclass(frozen=True)
class Commit:
    """An immutable commit: id, parents and the full file table."""

    id: str
    parents: tuple[str, ...]
    files: dict[str, FileEntry]
    title: str
    message: str
    author: str
    date: str

    def dirs(self) -> set[str]:
        """All folder paths of the tree (without the root)."""
        out: set[str] = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                out.add("/".join(parts[:i]))
        return out


@dataclass
class RepoMeta:
    """Settings of a repo, stored in repo.json."""

    id: str
    private: bool
    created_at: str
    creator: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "private": self.private, "createdAt": self.created_at, "creator": self.creator, **self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoMeta:
        data = dict(data)
        return cls(
            id=data.pop("id"),
            private=bool(data.pop("private", False)),
            created_at=data.pop("createdAt", _now()),
            creator=data.pop("creator", ""),
            extra=data,
        )


@dataclass(frozen=True)
class AddFile:
    """Commit operation: put a stored blob at ``path``."""

    path: str
    sha256: str
    size: int
    lfs: bool
    oid: str


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | DeleteFile | DeleteFolder


class BlobWriter:
    """Streams bytes to a temp file while hashing them; only verified content becomes a blob.

    Used for LFS uploads: the content is checked against its declared sha256 and size before it
    counts, and on any mismatch (or an interrupted upload) nothing is kept.
    """

    def __init__(self, storage: Storage, *, max_bytes: int | None) -> None:
        self._storage = storage
        self._max = max_bytes
        self._tmp = storage._tmp_path()
        self._file = open(self._tmp, "wb")
        self._hasher = hashlib.sha256()
        self.size = 0
        self.stored = False

    def write(self, chunk: bytes) -> None:
        """Append bytes.

        Raises:
            PayloadTooLarge: Past ``max_bytes`` (the partial file is removed).
        """
        self.size += len(chunk)
        if self._max is not None and self.size > self._max:
            self.abort()
            raise PayloadTooLarge(f"Upload is larger than the server's limit of {self._max} bytes.")
        self._hasher.update(chunk)
        self._file.write(chunk)

    def hexdigest(self) -> str:
        """The sha256 of what was written so far."""
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Flush and close the temp file (no open descriptor while waiting for :meth:`finish`)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def abort(self) -> None:
        """Drop everything written."""
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def finish(
        self, *, expected_sha256: str | None = None, expected_size: int | None = None, repo_id: str | None = None
    ) -> str:
        """Verify and store the content.

        Args:
            expected_sha256: The declared sha256, if any.
            expected_size: The declared size, if any.
            repo_id: The repo the content was uploaded to: it may then commit it.

        Returns:
            The sha256 of the stored blob.

        Raises:
            BadRequest: When the content does not match what was declared (nothing is kept).
        """
        try:
            self.close()
            sha = self._hasher.hexdigest()
            if expected_size is not None and self.size != expected_size:
                raise BadRequest(f"Uploaded content has {self.size} bytes, the declared size is {expected_size}.")
            if expected_sha256 is not None and sha != expected_sha256:
                raise BadRequest(
                    f"Uploaded content does not match its declared oid: its sha256 is {sha}, "
                    f"expected {expected_sha256}."
                )
            with self._storage.write_lock():  # not collected between placing it and marking it
                try:
                    self._storage._place_blob(self._tmp, sha)
                except FileNotFoundError:  # only `serve --gc` with a grace shorter than this upload
                    raise Unavailable("The upload's temp file was removed by a garbage collection; upload it again.") from None
                if repo_id is not None:
                    self._storage._mark_upload(repo_id, sha)
            self.stored = True
            return sha
        finally:
            self.abort()


class Storage:
    """All repos, refs, commits and blobs of one server, on disk under ``data_dir``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        for sub in ("blobs", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(str(self.root / "write.lock"))

    # ------------------------------------------------------------------ low-level helpers
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold the thread lock and the inter-process file lock of all writes."""
        with self._thread_lock, self._file_lock:
            yield

    def _tmp_path(self) -> Path:
        return self.root / "tmp" / uuid.uuid4().hex

    def _atomic_write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    @staticmethod
    def _read_json(path: Path) -> Any:
        with open(path, "rb") as f:
            return json.load(f)

    # ------------------------------------------------------------------ blobs
    def blob_path(self, sha256: str) -> Path:
        """Where the blob of a sha256 lives (it may not exist)."""
        if not is_sha256(sha256):
            raise BadRequest(f"Invalid sha256 {sha256!r}.")
        return self.root / "blobs" / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        return is_sha256(sha256) and self.blob_path(sha256).is_file()

    def blob_size(self, sha256: str) -> int:
        return self.blob_path(sha256).stat().st_size

    def put_blob(self, content: bytes) -> str:
        """Store bytes as a blob.

        Args:
            content: The file content.

        Returns:
            Its sha256 (hex).
        """
        sha = hashlib.sha256(content).hexdigest()
        path = self.blob_path(sha)
        if not _touch(path):
            self._atomic_write(path, content)
        return sha

    def _place_blob(self, tmp: Path, sha: str) -> None:
        """Move a verified temp file into place as the blob ``sha`` (or refresh the stored one)."""
        path = self.blob_path(sha)
        if not _touch(path):  # a fresh mtime keeps it from the collector's grace window
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
            _fsync_dir(path.parent)

    def _mark_upload(self, repo_id: str, sha: str) -> None:
        """Record that ``sha`` was uploaded to ``repo_id`` (which may then commit it)."""
        uploads = self._repo_dir(repo_id) / "uploads"
        try:
            uploads.mkdir(exist_ok=True)  # not parents: a deleted repo must not come back
            (uploads / sha).touch()
        except FileNotFoundError:
            raise RepoNotFound(f"Repository {repo_id} not found.") from None

    def repo_has_content(self, repo_id: str, sha256: str) -> bool:
        """Whether ``repo_id`` may use the blob ``sha256``: uploaded to it, or in its history.

        The answer never depends on other repos' content.
        """
        if not self.has_blob(sha256):
            return False
        repo_dir = self._repo_dir(repo_id)
        if (repo_dir / "uploads" / sha256).is_file():
            return True
        for path in (repo_dir / "commits").glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                if sha256 in _commit_blobs(path):
                    return True
        return False

    def blob_writer(self, *, max_bytes: int | None = None) -> BlobWriter:
        """A writer that streams bytes to a temp file and turns them into a verified blob.

        Args:
            max_bytes: Refuse (413) past this many bytes.

        Returns:
            A :class:`BlobWriter`; call ``write`` then ``finish`` (or ``abort``).
        """
        return BlobWriter(self, max_bytes=max_bytes)

    # ------------------------------------------------------------------ xorbs (Xet)
    def xorb_path(self, repo_id: str, xorb_hash: str) -> Path:
        """Where a xorb uploaded for ``repo_id`` lives (xorbs are per repo: never shared by hash)."""
        if not is_sha256(xorb_hash):
            raise BadRequest(f"Invalid xorb hash {xorb_hash!r}.")
        return self._repo_dir(repo_id) / "xorbs" / xorb_hash

    def put_xorb(self, repo_id: str, xorb_hash: str, tmp: Path) -> bool:
        """Move a received xorb (a temp file) into ``repo_id``'s xorbs. Returns whether it was new."""
        path = self.xorb_path(repo_id, xorb_hash)
        try:
            path.parent.mkdir(exist_ok=True)  # not parents: a deleted repo must not come back
            if _touch(path):
                return False
            os.replace(tmp, path)
        except FileNotFoundError:
            raise RepoNotFound(f"Repository {repo_id} not found.") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return True

    def temp_file(self) -> Path:
        """A fresh path under tmp/ (collected by the garbage collector if left behind)."""
        return self._tmp_path()

    # ------------------------------------------------------------------ repos
    def _repo_dir(self, repo_id: str) -> Path:
        namespace, name = validate_repo_id(repo_id).split("/")
        return self.root / "repos" / namespace / name

    def repo_meta(self, repo_id: str) -> RepoMeta:
        """Settings of a repo.

        Raises:
            RepoNotFound: When it does not exist.
        """
        path = self._repo_dir(repo_id) / "repo.json"
        try:
            return RepoMeta.from_json(self._read_json(path))
        except FileNotFoundError:
            raise RepoNotFound(f"Repository {repo_id} not found.") from None

    def repo_exists(self, repo_id: str) -> bool:
        return (self._repo_dir(repo_id) / "repo.json").is_file()

    def list_repos(self) -> list[RepoMeta]:
        """Every repo, sorted by id."""
        out = []
        for meta_path in sorted((self.root / "repos").glob("*/*/repo.json")):
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                out.append(RepoMeta.from_json(self._read_json(meta_path)))
        return out

    def create_repo(self, repo_id: str, *, private: bool, creator: str) -> RepoMeta:
        """Create a repo with an initial commit holding the Hub's default .gitattributes.

        Raises:
            Conflict: When the repo exists (409, which ``create_repo(exist_ok=True)`` accepts).
        """
        with self.write_lock():
            repo_dir = self._repo_dir(repo_id)
            if (repo_dir / "repo.json").is_file():
                raise Conflict(f"You already created this model repo: {repo_id}")
            # Build the whole repo in a temp dir and move it into place in one rename.
            staging = self._tmp_path()
            for sub in ("commits", "uploads", "xorbs"):
                (staging / sub).mkdir(parents=True)
            meta = RepoMeta(id=repo_id, private=private, created_at=_now(), creator=creator)
            content = DEFAULT_GITATTRIBUTES.encode()
            sha = self.put_blob(content)
            entry = FileEntry(sha256=sha, size=len(content), oid=git_blob_oid(content), lfs=False)
            commit = self._make_commit((), {".gitattributes": entry}, "initial commit", "", creator)
            self._write_commit_to(staging / "commits", commit)
            self._atomic_write(staging / "refs.json", _dumps({"heads": {"main": commit.id}, "tags": {}, "pulls": {}}))
            self._atomic_write(staging / "repo.json", _dumps(meta.to_json()))
            repo_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, repo_dir)
            _fsync_dir(repo_dir.parent)
            return meta

    def delete_repo(self, repo_id: str) -> None:
        """Delete a repo (blobs stay: they are content-addressed and may be shared).

        Raises:
            RepoNotFound: When it does not exist.
        """
        with self.write_lock():
            self.repo_meta(repo_id)
            trash = self._tmp_path()
            os.replace(self._repo_dir(repo_id), trash)  # disappears atomically
            shutil.rmtree(trash, ignore_errors=True)

    def move_repo(self, from_id: str, to_id: str) -> None:
        """Rename a repo, possibly to another namespace.

        Raises:
            RepoNotFound: When the source does not exist.
            Conflict: When the destination exists.
        """
        with self.write_lock():
            meta = self.repo_meta(from_id)
            dest = self._repo_dir(to_id)
            if dest.exists():
                raise Conflict(f"Repository {to_id} already exists.")
            meta.id = to_id
            src = self._repo_dir(from_id)
            self._atomic_write(src / "repo.json", _dumps(meta.to_json()))
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            _fsync_dir(dest.parent)

    def update_settings(self, repo_id: str, *, private: bool | None = None) -> RepoMeta:
        """Change the visibility of a repo."""
        with self.write_lock():
            meta = self.repo_meta(repo_id)
            if private is not None:
                meta.private = private
            self._atomic_write(self._repo_dir(repo_id) / "repo.json", _dumps(meta.to_json()))
            return meta

    # ------------------------------------------------------------------ refs
    def refs(self, repo_id: str) -> dict[str, dict[str, str]]:
        """``{"heads": {...}, "tags": {...}, "pulls": {...}}``, each name -> commit id."""
        try:
            return self._read_json(self._repo_dir(repo_id) / "refs.json")
        except FileNotFoundError:  # never created, or deleted while being read
            raise RepoNotFound(f"Repository {repo_id} not found.") from None

    def _write_refs(self, repo_id: str, refs: dict[str, dict[str, str]]) -> None:
        self._atomic_write(self._repo_dir(repo_id) / "refs.json", _dumps(refs))

    def resolve(self, repo_id: str, revision: str) -> str:
        """Turn a branch, tag, ``refs/...`` name or full commit id into a commit id.

        Raises:
            RepoNotFound: When the repo does not exist.
            RevisionNotFound: When the revision does not exist.
        """
        refs = self.refs(repo_id)
        kind, name = _ref_slot(revision)
        if kind is not None and name in refs[kind]:
            return refs[kind][name]
        if kind is None:
            if revision in refs["heads"]:
                return refs["heads"][revision]
            if revision in refs["tags"]:
                return refs["tags"][revision]
            if is_commit_sha(revision) and (self._repo_dir(repo_id) / "commits" / f"{revision}.json").is_file():
                return revision
        raise RevisionNotFound(f"Invalid rev id: {revision}")

    def create_branch(self, repo_id: str, branch: str, starting_point: str | None) -> None:
        """Create a branch at a revision (default: main's head).

        Raises:
            Conflict: When the branch exists.
        """
        validate_ref_name(branch, what="branch")
        with self.write_lock():
            refs = self.refs(repo_id)
            if branch in refs["heads"]:
                raise Conflict(f"Reference already exists: refs/heads/{branch}")
            refs["heads"][branch] = self.resolve(repo_id, starting_point or "main")
            self._write_refs(repo_id, refs)

    def delete_branch(self, repo_id: str, branch: str) -> None:
        with self.write_lock():
            refs = self.refs(repo_id)
            if branch == "main":
                raise Forbidden("The 'main' branch cannot be deleted.")
            if refs["heads"].pop(branch, None) is None:
                raise RevisionNotFound(f"Branch {branch!r} not found.")
            self._write_refs(repo_id, refs)

    def create_tag(self, repo_id: str, tag: str, revision: str) -> None:
        validate_ref_name(tag, what="tag")
        with self.write_lock():
            refs = self.refs(repo_id)
            if tag in refs["tags"]:
                raise Conflict(f"Tag {tag!r} already exists.")
            refs["tags"][tag] = self.resolve(repo_id, revision)
            self._write_refs(repo_id, refs)

    def delete_tag(self, repo_id: str, tag: str) -> None:
        with self.write_lock():
            refs = self.refs(repo_id)
            if refs["tags"].pop(tag, None) is None:
                raise RevisionNotFound(f"Tag {tag!r} not found.")
            self._write_refs(repo_id, refs)

    # ------------------------------------------------------------------ commits
    def commit(self, repo_id: str, commit_id: str) -> Commit:
        """Read a commit by id."""
        if not is_commit_sha(commit_id):
            raise RevisionNotFound(f"Invalid commit id {commit_id!r}.")
        try:
            data = self._read_json(self._repo_dir(repo_id) / "commits" / f"{commit_id}.json")
        except FileNotFoundError:
            if not self.repo_exists(repo_id):  # deleted while being read
                raise RepoNotFound(f"Repository {repo_id} not found.") from None
            raise RevisionNotFound(f"Commit {commit_id} not found.") from None
        return Commit(
            id=data["id"],
            parents=tuple(data["parents"]),
            files={p: FileEntry(**e) for p, e in data["files"].items()},
            title=data["title"],
            message=data["message"],
            author=data["author"],
            date=data["date"],
        )

    def history(self, repo_id: str, commit_id: str) -> Iterator[Commit]:
        """Commits from ``commit_id`` back to the first one, following first parents."""
        current: str | None = commit_id
        while current:
            commit = self.commit(repo_id, current)
            yield commit
            current = commit.parents[0] if commit.parents else None

    def _make_commit(
        self, parents: tuple[str, ...], files: dict[str, FileEntry], title: str, message: str, author: str
    ) -> Commit:
        date = _now()
        body = {
            "parents": list(parents),
            "files": {p: files[p].to_json() for p in sorted(files)},
            "title": title,
            "message": message,
            "author": author,
            "date": date,
        }
        commit_id = hashlib.sha1(_dumps(body)).hexdigest()
        return Commit(id=commit_id, parents=parents, files=dict(files), title=title, message=message, author=author, date=date)

    def _write_commit_to(self, commits_dir: Path, commit: Commit) -> None:
        data = {
            "id": commit.id,
            "parents": list(commit.parents),
            "files": {p: commit.files[p].to_json() for p in sorted(commit.files)},
            "title": commit.title,
            "message": commit.message,
            "author": commit.author,
            "date": commit.date,
        }
        self._atomic_write(commits_dir / f"{commit.id}.json", _dumps(data))

    def create_commit(
        self,
        repo_id: str,
        revision: str,
        operations: list[Operation],
        *,
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
        create_pr: bool = False,
    ) -> tuple[Commit, int | None]:
        """Apply operations on top of a branch (or a new pull request) as one new commit.

        Every blob named by the operations must already be stored. The commit object is written
        before the ref moves, so a crash leaves at most an unreferenced commit file.

        Args:
            repo_id: The repo.
            revision: The branch (or ``refs/pr/N``) to commit on; with ``create_pr`` the base.
            operations: Additions and deletions, applied in order.
            title: Commit summary.
            message: Commit description.
            author: User name of the committer.
            parent_commit: When given, the commit id the branch must still point at.
            create_pr: Open a new ``refs/pr/N`` instead of moving the branch.

        Returns:
            ``(commit, pr_number or None)``.

        Raises:
            RevisionNotFound: When the branch does not exist (or is a tag or commit id).
            PreconditionFailed: When ``parent_commit`` is stale (412, as the Hub).
            EntryNotFound: When a deleted file or folder does not exist.
            BadRequest: When an LFS object is missing or a path is invalid.
        """
        with self.write_lock():
            refs = self.refs(repo_id)
            kind, name = _ref_slot(revision)
            if kind is None:
                kind, name = "heads", revision
            if kind == "tags" or name not in refs[kind]:
                if create_pr:
                    head = self.resolve(repo_id, revision)
                else:
                    raise RevisionNotFound(f"Invalid rev id: {revision} is not a branch of {repo_id}.")
            else:
                head = refs[kind][name]
            if parent_commit is not None and parent_commit != head:
                raise PreconditionFailed(
                    f"A commit has happened since. Please refresh and try again (parentCommit {parent_commit} "
                    f"is not the head {head} of {revision})."
                )
            files = dict(self.commit(repo_id, head).files)
            for op in operations:
                validate_path(op.path)
                if isinstance(op, AddFile):
                    if not (self.has_blob(op.sha256) if not op.lfs else self.repo_has_content(repo_id, op.sha256)):
                        raise BadRequest(
                            f"The content of {op.path!r} (sha256 {op.sha256}) was never uploaded to {repo_id}."
                        )
                    clash = [p for p in files if p.startswith(op.path + "/")]
                    if clash:
                        raise BadRequest(f"Cannot add file {op.path!r}: a folder of that name exists.")
                    files[op.path] = FileEntry(sha256=op.sha256, size=op.size, oid=op.oid, lfs=op.lfs)
                elif isinstance(op, DeleteFile):
                    if files.pop(op.path, None) is None:
                        raise EntryNotFound(f"Cannot delete {op.path!r}: file not found in {repo_id}@{revision}.")
                else:
                    prefix = op.path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise EntryNotFound(f"Cannot delete folder {op.path!r}: not found in {repo_id}@{revision}.")
                    for p in doomed:
                        del files[p]
            for path in files:  # a file may not also be a folder
                parent = path.rsplit("/", 1)[0] if "/" in path else None
                while parent:
                    if parent in files:
                        raise BadRequest(f"Cannot add {path!r}: {parent!r} is a file.")
                    parent = parent.rsplit("/", 1)[0] if "/" in parent else None
            commit = self._make_commit((head,), files, title, message, author)
            self._write_commit_to(self._repo_dir(repo_id) / "commits", commit)
            pr_num: int | None = None
            if create_pr:
                pr_num = max((int(n) for n in refs["pulls"]), default=0) + 1
                refs["pulls"][str(pr_num)] = commit.id
            else:
                refs[kind][name] = commit.id
            self._write_refs(repo_id, refs)
            return commit, pr_num


def _ref_slot(revision: str) -> tuple[str | None, str]:
    """Map ``refs/heads/x`` / ``refs/tags/x`` / ``refs/pr/N`` to (kind, name); else (None, revision)."""
    if revision.startswith("refs/heads/"):
        return "heads", revision[len("refs/heads/") :]
    if revision.startswith("refs/tags/"):
        return "tags", revision[len("refs/tags/") :]
    match = _PR_RE.match(revision)
    if match:
        return "pulls", str(int(match.group(1)))
    return None, revision


def _commit_blobs(path: Path) -> frozenset[str]:
    """The sha256 of every file of a stored commit (commits are immutable, hence the cache)."""
    key = (str(path), path.stat().st_ino)
    cached = _COMMIT_BLOBS.get(key)
    if cached is None:
        with open(path, "rb") as f:
            cached = frozenset(e["sha256"] for e in json.load(f)["files"].values())
        if len(_COMMIT_BLOBS) > 100_000:
            _COMMIT_BLOBS.clear()
        _COMMIT_BLOBS[key] = cached
    return cached


_COMMIT_BLOBS: dict[tuple[str, int], frozenset[str]] = {}


def _touch(path: Path) -> bool:
    """Refresh the mtime of an existing file; False when it does not exist."""
    try:
        os.utime(path)
        return True
    except FileNotFoundError:
        return False


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _fsync_dir(path: Path) -> None:
    # Makes a rename durable; not possible on every platform (e.g. Windows), hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------- maintenance
@dataclass
class GcReport:
    """What :func:`collect_garbage` removed (or, with ``dry_run``, would remove)."""

    files: int = 0
    bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, path: Path) -> None:
        with contextlib.suppress(OSError):
            self.bytes += sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        self.files += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1


def _old(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime <= cutoff
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def reachable(storage: Storage) -> tuple[dict[Path, set[str]], set[str], list[str]]:
    """Walk every ref of every repo.

    Returns:
        ``(repo dir -> reachable commit ids, reachable blob sha256s, problems)``; problems are
        refs or parents naming a commit that cannot be read.
    """
    commits: dict[Path, set[str]] = {}
    blobs: set[str] = set()
    problems: list[str] = []
    for meta_path in sorted((storage.root / "repos").glob("*/*/repo.json")):
        repo_dir = meta_path.parent
        repo_id = f"{repo_dir.parent.name}/{repo_dir.name}"
        seen: set[str] = set()
        try:
            refs = Storage._read_json(repo_dir / "refs.json")
            pending = [(f"{kind}/{name}", cid) for kind in ("heads", "tags", "pulls") for name, cid in refs[kind].items()]
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            problems.append(f"{repo_id}: refs.json unreadable ({exc})")
            pending = []
        while pending:
            ref, cid = pending.pop()
            if cid in seen:
                continue
            try:
                data = Storage._read_json(repo_dir / "commits" / f"{cid}.json")
            except (OSError, ValueError) as exc:
                problems.append(f"{repo_id}: {ref} names commit {cid}, which cannot be read ({type(exc).__name__})")
                continue
            seen.add(cid)
            blobs.update(e["sha256"] for e in data["files"].values())
            pending.extend((f"parent of {cid}", p) for p in data["parents"])
        commits[repo_dir] = seen
    return commits, blobs, problems


def collect_garbage(storage: Storage, *, grace_s: float, dry_run: bool = False) -> GcReport:
    """Remove what no ref reaches: partial uploads, stray temp files, blobs, xorbs, commits.

    Safe while servers run on the same data dir: it holds the write lock (so no commit or
    upload is placed meanwhile), and keeps everything younger than ``grace_s`` seconds (an
    upload still streaming, an upload marker whose commit is yet to come, a blob written just
    before its commit takes the lock). Upload markers older than that are dropped: content
    uploaded and never committed is then collected.

    Args:
        storage: The data dir.
        grace_s: Age under which nothing is removed.
        dry_run: Only report.

    Returns:
        What was (or would be) removed.
    """
    import time

    report = GcReport()
    cutoff = time.time() - grace_s

    def drop(kind: str, path: Path) -> None:
        report.add(kind, path)
        if not dry_run:
            _remove(path)

    with storage.write_lock():
        commits, blobs, problems = reachable(storage)
        if problems:  # what a damaged ref or commit reaches is unknown: removing anything could lose history
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise HubError(f"gc removed nothing: {problems[0]}{more}; see `hub-publish serve --check`, repair or "
                           "restore the data dir, then collect again")
        for path in (storage.root / "tmp").iterdir():  # partial uploads, staging and trash dirs
            if _old(path, cutoff):
                drop("temp", path)
        for path in storage.root.rglob(".*.tmp"):  # interrupted atomic writes
            if _old(path, cutoff):
                drop("temp", path)
        for path in storage.root.glob(".secret.*.tmp"):
            if _old(path, cutoff):
                drop("temp", path)
        legacy = storage.root / "xorbs"  # xorbs of the layout before per-repo xorbs
        if legacy.is_dir():
            for path in legacy.iterdir():
                if _old(path, cutoff):
                    drop("xorb", path)
        keep_blobs: set[str] = set()
        keep_blobs |= blobs
        for repo_dir in sorted(p for p in (storage.root / "repos").glob("*/*") if p.is_dir()):
            if not (repo_dir / "repo.json").is_file():
                if _old(repo_dir, cutoff):
                    drop("repo", repo_dir)  # never visible: not a repo
                continue
            live = commits.get(repo_dir, set())
            for path in (repo_dir / "commits").glob("*.json"):
                if path.stem in live:
                    continue
                if _old(path, cutoff):
                    drop("commit", path)
                else:  # kept for now: so are its blobs
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        keep_blobs |= _commit_blobs(path)
            for path in _files(repo_dir / "uploads"):
                if _old(path, cutoff):
                    drop("upload marker", path)
                else:
                    keep_blobs.add(path.name)
            for path in _files(repo_dir / "xorbs"):
                if _old(path, cutoff):
                    drop("xorb", path)
        for path in (storage.root / "blobs").glob("*/*"):
            if path.name not in keep_blobs and _old(path, cutoff):
                drop("blob", path)
        for ns in (storage.root / "repos").iterdir():
            if ns.is_dir() and not any(ns.iterdir()) and _old(ns, cutoff) and not dry_run:
                with contextlib.suppress(OSError):
                    ns.rmdir()
    return report


def clean_tmp(storage: Storage, stale_s: float) -> None:
    """Start-up cleaning: remove tmp/ entries untouched for ``stale_s`` seconds (interrupted uploads)."""
    import time

    cutoff = time.time() - stale_s
    for path in (storage.root / "tmp").iterdir():
        if _old(path, cutoff):
            _remove(path)


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []


def check_storage(storage: Storage) -> list[str]:
    """Verify every ref -> commit -> blob: readable commits with their own id, blobs present with
    the recorded size, sha256 and git oid.

    Returns:
        One line per inconsistency (empty when the data dir is sound).
    """
    commits, _, problems = reachable(storage)
    verified: dict[str, tuple[int, str, str] | None] = {}
    for repo_dir, ids in sorted(commits.items()):
        repo_id = f"{repo_dir.parent.name}/{repo_dir.name}"
        for cid in sorted(ids):
            data = Storage._read_json(repo_dir / "commits" / f"{cid}.json")
            body = {k: data[k] for k in ("parents", "files", "title", "message", "author", "date")}
            if hashlib.sha1(_dumps(body)).hexdigest() != cid or data.get("id") != cid:
                problems.append(f"{repo_id}: commit {cid} does not hash to its id")
            for path, entry in data["files"].items():
                sha = entry["sha256"]
                if sha not in verified:
                    verified[sha] = _hash_blob(storage, sha)
                actual = verified[sha]
                if actual is None:
                    problems.append(f"{repo_id}@{cid[:12]}: {path}: blob {sha} is missing")
                    continue
                size, real_sha, git_oid = actual
                if real_sha != sha:
                    problems.append(f"{repo_id}@{cid[:12]}: {path}: blob {sha} has sha256 {real_sha}")
                elif size != entry["size"]:
                    problems.append(f"{repo_id}@{cid[:12]}: {path}: size {entry['size']} recorded, {size} stored")
                elif entry["oid"] != (git_blob_oid(lfs_pointer(sha, size)) if entry["lfs"] else git_oid):
                    problems.append(f"{repo_id}@{cid[:12]}: {path}: git oid {entry['oid']} does not match the content")
    return problems


def _hash_blob(storage: Storage, sha: str) -> tuple[int, str, str] | None:
    try:
        path = storage.blob_path(sha)
        size = path.stat().st_size
        sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha256.update(block)
                sha1.update(block)
    except (OSError, BadRequest):
        return None
    return size, sha256.hexdigest(), sha1.hexdigest()


def unreachable_bytes(storage: Storage) -> GcReport:
    """What a collection without grace would remove now (the fault suite asserts it is nothing after `--gc`)."""
    return collect_garbage(storage, grace_s=0, dry_run=True)
