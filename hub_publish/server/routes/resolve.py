"""Downloads (``/{repo}/resolve/{rev}/{path}``, GET/HEAD with Range) and the other repo types' 404."""

from __future__ import annotations

import mimetypes
import os

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from hub_publish.server.deps import Ctx, ReadableRepo, unslash
from hub_publish.server.errors import EntryNotFound, NotSupported
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
    return _BlobResponse(blob, headers=headers, media_type=media_type, stat_result=stat)


class _BlobResponse(FileResponse):
    # Starlette reads and sends 64 KB per event-loop round trip (a thread hop for the read, then
    # the send); weights files are hundreds of MB, so larger pieces cut that per-piece overhead.
    chunk_size = 1 << 20


@router.api_route("/api/datasets/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"], include_in_schema=False)
@router.api_route("/api/spaces/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"], include_in_schema=False)
@router.api_route("/datasets/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/spaces/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
def other_repo_types(rest: str) -> Response:
    raise NotSupported("This server hosts model repos only; datasets and spaces are not supported.", code="RepoNotFound")
