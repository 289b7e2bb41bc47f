"""Uploads: ``/preupload/{rev}`` (which files go through LFS) and ``/commit/{rev}`` (the NDJSON commit)."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server.deps import Ctx, WritableRepo, base_url, check_declared_length, unslash
from hub_publish.server.errors import BadRequest, PayloadTooLarge
from hub_publish.server.schemas import COMMIT_KEYS, CommitHeader, CommitLine, FileLine, HeaderLine, LfsFileLine, Preupload, describe
from hub_publish.server.storage import (
    AddFile,
    BlobWriter,
    Commit,
    DeleteFile,
    DeleteFolder,
    Operation,
    Storage,
    git_blob_oid,
    lfs_pointer,
)
from hub_publish.server.validation import validate_path

router = APIRouter()
_LINE = TypeAdapter(CommitLine)


@router.post("/api/models/{namespace}/{name}/preupload/{revision}")
async def preupload(body: Preupload, repo: WritableRepo, ctx: Ctx, revision: str) -> dict:
    limit = ctx.max_upload_bytes
    commit = await run_in_threadpool(ctx.commit_at, repo.id, revision)
    patterns = _lfs_rules(ctx, commit)
    ignore = _gitignore_patterns(body.gitIgnore, commit, ctx)
    out = []
    for item in body.files:
        path, size = item.path, item.size
        validate_path(path)
        if size > limit:
            raise PayloadTooLarge(f"File {path!r} is {size} bytes, larger than the server's upload limit of {limit} bytes.")
        entry = commit.files.get(path)
        out.append(
            {
                "path": path,
                "uploadMode": "lfs" if _is_lfs(path, size, patterns) else "regular",
                "shouldIgnore": any(_git_pattern_match(p, path) for p in ignore),
                "oid": (entry.sha256 if entry.lfs else entry.oid) if entry else None,
            }
        )
    return {"files": out, "commitOid": commit.id}


@router.post(
    "/api/models/{namespace}/{name}/commit/{revision}",
    openapi_extra={"requestBody": {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
)
async def create_commit(
    request: Request, repo: WritableRepo, ctx: Ctx, revision: str, create_pr: Annotated[bool, Query()] = False
) -> dict:
    storage = ctx.storage
    check_declared_length(request, ctx.max_upload_bytes)
    payload = CommitPayload(storage, ctx.max_upload_bytes)
    try:
        # Line by line: memory holds one line (an inline file is < 10 MiB), not the whole body.
        async for number, line in _lines(request, ctx.max_upload_bytes):
            await run_in_threadpool(payload.feed, number, line)
        header = payload.finish_parsing()
        assert repo.user is not None  # writable

        def _apply() -> tuple[Commit, int | None]:
            ops: list[Operation] = []
            for op in payload.operations:
                if isinstance(op, AddFile) and not op.lfs:
                    payload.store(op.path)  # blobs first, then commit, then ref
                elif isinstance(op, AddFile):
                    # Only content uploaded to this repo (or in its history) counts: a sha256 of
                    # another repo's file gives nothing, and the answer does not say it exists.
                    if not storage.repo_has_content(repo.id, op.sha256):
                        raise BadRequest(
                            f"LFS file {op.path!r}: object {op.sha256} was not uploaded to {repo.id} "
                            "(or failed verification)."
                        )
                    try:
                        actual = storage.blob_size(op.sha256)
                    except FileNotFoundError:  # collected meanwhile: create_commit re-checks under the lock
                        actual = op.size
                    if op.size >= 0 and op.size != actual:
                        raise BadRequest(f"LFS file {op.path!r}: declared size {op.size} != stored size {actual}.")
                    op = AddFile(op.path, op.sha256, actual, True, git_blob_oid(lfs_pointer(op.sha256, actual)))
                ops.append(op)
            return storage.create_commit(
                repo.id,
                unslash(revision),
                ops,
                title=header.summary or "Update",
                message=header.description,
                author=repo.user.name,
                parent_commit=header.parentCommit,
                create_pr=create_pr,
            )

        commit, pr_num = await run_in_threadpool(_apply)
    finally:
        payload.discard()
    base = base_url(request)
    return {
        "success": True,
        "commitOid": commit.id,
        "commitUrl": f"{base}/{repo.id}/commit/{commit.id}",
        "commitMessage": commit.title,
        "hookOutput": "",
        "pullRequestUrl": f"{base}/{repo.id}/discussions/{pr_num}" if pr_num else None,
    }


# The longest NDJSON line: a base64 inline file just under the LFS threshold, plus its JSON.
_MAX_LINE = constants.SERVER_LFS_THRESHOLD_BYTES * 4 // 3 + 64 * 1024


async def _lines(request: Request, limit: int) -> AsyncIterator[tuple[int, bytes]]:
    """The body's lines, numbered from 1; 413 past ``limit`` bytes, 400 on a line no file needs."""
    buffer = bytearray()
    total, number = 0, 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"Request body exceeds the server's upload limit of {limit} bytes.")
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            number += 1
            line = bytes(memoryview(buffer)[:end])  # one copy, not two
            del buffer[: end + 1]
            yield number, line
        if len(buffer) > _MAX_LINE:
            raise BadRequest(
                f"Invalid commit payload: line {number + 1} is over {_MAX_LINE} bytes; "
                f"files of {constants.SERVER_LFS_THRESHOLD_BYTES} bytes or more must be uploaded through LFS."
            )
    if buffer:
        yield number + 1, bytes(buffer)


class CommitPayload:
    """The NDJSON commit payload, validated line by line before anything becomes visible.

    Inline files are decoded, hashed and spooled to temp files as their lines arrive; they become
    blobs only once the whole payload is valid (:meth:`store`), and :meth:`discard` removes
    whatever was not stored.
    """

    def __init__(self, storage: Storage, limit: int) -> None:
        self.storage = storage
        self.limit = limit
        self.header: CommitHeader | None = None
        self.operations: list[Operation] = []
        self._spooled: dict[str, BlobWriter] = {}
        self._dropped: list[BlobWriter] = []

    def feed(self, number: int, line: bytes) -> None:
        """Parse and check one line.

        Raises:
            BadRequest: On a line that is not one of the typed operations, with its number.
            PayloadTooLarge: On an inline file over the upload limit.
        """
        if not line.strip():
            return
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest(f"Invalid commit payload: line {number} is not a {{key, value}} JSON object.") from None
        if not isinstance(item, dict) or "key" not in item or "value" not in item:
            raise BadRequest(f"Invalid commit payload: line {number} is not a {{key, value}} JSON object.")
        if item["key"] not in COMMIT_KEYS:
            raise BadRequest(f"Invalid commit payload: unknown operation {item['key']!r} on line {number}.")
        try:
            parsed = _LINE.validate_python(item)
        except ValidationError as exc:
            raise BadRequest(f"Invalid commit payload: line {number} ({item['key']}): {describe(exc.errors())}") from None
        if isinstance(parsed, HeaderLine):
            self.header = parsed.value
            return
        path = parsed.value.path
        validate_path(path if parsed.key != "deletedFolder" else path.rstrip("/"))
        if isinstance(parsed, FileLine):
            try:
                content = base64.b64decode(parsed.value.content, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(f"Invalid commit payload: content of {path!r} is not valid base64.") from None
            if len(content) > self.limit:
                raise PayloadTooLarge(f"File {path!r} exceeds the server's upload limit of {self.limit} bytes.")
            if len(content) >= constants.SERVER_LFS_THRESHOLD_BYTES:
                raise BadRequest(
                    f"File {path!r} is {len(content)} bytes: files of "
                    f"{constants.SERVER_LFS_THRESHOLD_BYTES} bytes or more must be uploaded through LFS."
                )
            writer = self.storage.blob_writer()
            self._dropped.append(writer)  # until stored
            writer.write(content)
            writer.close()
            if path in self._spooled:  # the same path twice: the last one wins
                self._spooled[path].abort()
            self._spooled[path] = writer
            self.operations.append(AddFile(path, writer.hexdigest(), len(content), False, git_blob_oid(content)))
        elif isinstance(parsed, LfsFileLine):
            size = parsed.value.size
            self.operations.append(AddFile(path, parsed.value.oid.lower(), size if size is not None else -1, True, ""))
        elif parsed.key == "deletedFile":
            self.operations.append(DeleteFile(path))
        else:
            self.operations.append(DeleteFolder(path.rstrip("/")))

    def finish_parsing(self) -> CommitHeader:
        if self.header is None:
            raise BadRequest("Invalid commit payload: the 'header' line (summary, description) is missing.")
        return self.header

    def store(self, path: str) -> None:
        """Turn the spooled inline file of ``path`` into a blob (once; a later call is a no-op)."""
        writer = self._spooled.get(path)
        if writer is not None and not writer.stored:
            writer.finish()

    def discard(self) -> None:
        for writer in self._dropped:
            writer.abort()


def _lfs_rules(ctx: Ctx, commit: Commit) -> list[str]:
    entry = commit.files.get(".gitattributes")
    if entry is None:
        return []
    patterns = []
    for line in ctx.blob_text(entry.sha256).splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _is_lfs(path: str, size: int, patterns: list[str]) -> bool:
    if size >= constants.SERVER_LFS_THRESHOLD_BYTES:
        return True
    return any(_git_pattern_match(pattern, path) for pattern in patterns)


def _git_pattern_match(pattern: str, path: str) -> bool:
    """gitattributes/gitignore matching: a pattern without '/' matches the basename anywhere."""
    pattern = pattern.lstrip("/") if pattern.startswith("/") else pattern
    if pattern.endswith("/"):
        return path.startswith(pattern) or ("/" + pattern) in ("/" + path)
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))


def _gitignore_patterns(sent: Any, commit: Commit, ctx: Ctx) -> list[str]:
    if isinstance(sent, str):
        text = sent
    elif ".gitignore" in commit.files:
        text = ctx.blob_text(commit.files[".gitignore"].sha256)
    else:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(("#", "!"))]
