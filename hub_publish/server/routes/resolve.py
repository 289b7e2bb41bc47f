"""Downloads (``/{repo}/resolve/{rev}/{path}``, GET/HEAD with Range) and the other repo types' 404."""

from __future__ import annotations

import mimetypes
import os
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from hub_publish.server.deps import Ctx, ReadableRepo, unslash
from hub_publish.server.errors import BadRequest, EntryNotFound, NotSupported, RangeNotSatisfiable
from hub_publish.server.storage import FileEntry
from hub_publish.server.validation import validate_path

router = APIRouter()

# Repo files are served from the model page's origin: a browser opening an uploaded .html or .svg
# must not run its scripts there (images in <img> are unaffected).
FILE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/{namespace}/{name}/resolve/{revision}/{path:path}")
@router.head("/{namespace}/{name}/resolve/{revision}/{path:path}", operation_id="resolve_head")
def resolve(request: Request, repo: ReadableRepo, ctx: Ctx, revision: str, path: str) -> Response:
    commit = ctx.commit_at(repo.id, revision)
    path = validate_path(unslash(path))
    entry: FileEntry | None = commit.files.get(path)
    if entry is None:
        raise EntryNotFound(f"{path} does not exist in {repo.id} at {unslash(revision)}.")
    etag = entry.sha256 if entry.lfs else entry.oid
    headers = {"X-Repo-Commit": commit.id, "ETag": f'"{etag}"', "Accept-Ranges": "bytes", **FILE_HEADERS}
    if entry.lfs:
        headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    blob = ctx.storage.blob_path(entry.sha256)
    try:
        stat = os.stat(blob)  # FileResponse would raise (500) on a missing file
    except FileNotFoundError:
        raise EntryNotFound(f"The content of {path} is missing on the server; run `hub-publish serve --check`.") from None
    byte_range = request.headers.get("range")
    if byte_range is not None:
        byte_range = _byte_ranges(byte_range, stat.st_size)
    return _FileResponse(blob, byte_range=byte_range, headers=headers, media_type=media_type, stat_result=stat)


# More ranges than this in one header: the whole file is served (as Starlette's FileResponse does).
MAX_RANGES = 100
_RANGE_SPEC = re.compile(r"([0-9]*)[ \t]*-[ \t]*([0-9]*)")  # ASCII digits only: int() would take "٣"


def _byte_ranges(header: str, size: int) -> str | None:
    """The Range header checked and normalized (RFC 9110 14.1.2), or None to serve the whole file.

    Written here rather than left to Starlette's FileResponse because that answers a malformed or
    unsatisfiable header with a plain-text 400/416, not the Hub's JSON error, and refuses a unit it
    does not know where RFC 9110 says to ignore it. What is handed on is ``bytes=first-last,...``
    with absolute positions inside the file, which FileResponse serves as 206.

    Raises:
        BadRequest: The header is not a valid bytes range-set.
        RangeNotSatisfiable: No range starts inside the file.
    """
    unit, equals, range_set = header.partition("=")
    if not equals or not unit.strip():
        raise _bad_range(header, "expected bytes=START-END, bytes=START- or bytes=-SUFFIX")
    if unit.strip().lower() != "bytes":
        return None  # RFC 9110 14.2: a range unit the server does not support is ignored
    specs = [spec.strip() for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]  # empty list elements are allowed (RFC 9110 5.6.1)
    if len(specs) > MAX_RANGES:
        return None
    if not specs:
        raise _bad_range(header, "no range given")
    satisfiable = []
    for spec in specs:
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None or not (match[1] or match[2]):
            raise _bad_range(header, f"{spec[:40]!r} is not START-END, START- or -SUFFIX")
        first, last = match[1], match[2]
        if first:
            start = _position(first)
            end = min(_position(last), size - 1) if last else size - 1
            if last and _position(last) < start:
                raise _bad_range(header, f"{spec[:40]!r} ends before it starts")
            if start < size:
                satisfiable.append((start, end))
        elif _position(last) > 0 and size > 0:  # the last N bytes
            satisfiable.append((max(size - _position(last), 0), size - 1))
    if not satisfiable:
        raise RangeNotSatisfiable(
            f"Range {header[:80]!r} is not satisfiable: the file is {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return "bytes=" + ",".join(f"{start}-{end}" for start, end in satisfiable)


def _position(digits: str) -> int:
    # A byte position beyond any file (and int()'s 4300-digit limit) is capped: 2**63 is past every file.
    return int(digits) if len(digits) < 19 else 2**63


def _bad_range(header: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid Range header {header[:80]!r}: {why}.")


class _FileResponse(FileResponse):
    """FileResponse that serves the checked Range header (`_byte_ranges`) instead of the raw one."""

    # Starlette reads and sends 64 KB per event-loop round trip (a thread hop for the read, then
    # the send); weights files are hundreds of MB, so larger pieces cut that per-piece overhead.
    chunk_size = 1 << 20

    def __init__(self, *args: Any, byte_range: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.byte_range = byte_range

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
        if self.byte_range is not None:
            headers.append((b"range", self.byte_range.encode("ascii")))
        await super().__call__({**scope, "headers": headers}, receive, send)


@router.api_route("/api/datasets/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"], include_in_schema=False)
@router.api_route("/api/spaces/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"], include_in_schema=False)
@router.api_route("/datasets/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/spaces/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
def other_repo_types(rest: str) -> Response:
    raise NotSupported("This server hosts model repos only; datasets and spaces are not supported.", code="RepoNotFound")
