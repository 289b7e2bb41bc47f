"""Listing a revision's files: ``/tree/{rev}/{path}`` and ``/paths-info/{rev}``."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server.deps import Ctx, ReadableRepo, read_body, unslash
from hub_publish.server.errors import BadRequest, EntryNotFound
from hub_publish.server.schemas import PathsInfo, describe
from hub_publish.server.validation import validate_path
from hub_publish.server.views import add_last_commits, paginated, tree_entry

router = APIRouter()


@router.get("/api/models/{namespace}/{name}/tree/{revision}")
@router.get("/api/models/{namespace}/{name}/tree/{revision}/{path:path}")
def list_tree(
    request: Request,
    repo: ReadableRepo,
    ctx: Ctx,
    revision: str,
    path: str = "",
    recursive: Annotated[bool, Query()] = False,
    expand: Annotated[bool, Query()] = False,
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    commit = ctx.commit_at(repo.id, revision)
    path = unslash(path).strip("/")
    if path:
        validate_path(path)
    dirs = commit.dirs()
    if path and path not in dirs:
        if path in commit.files:
            raise EntryNotFound(f"{path!r} is a file, not a folder, in {repo.id}.")
        raise EntryNotFound(f"Folder {path!r} not found in {repo.id} at {unslash(revision)}.")
    prefix = path + "/" if path else ""

    def wanted(p: str) -> bool:
        return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

    entries = [tree_entry(d, commit, is_dir=True) for d in sorted(dirs) if wanted(d)]
    entries += [tree_entry(f, commit, is_dir=False) for f in sorted(commit.files) if wanted(f)]
    page_size = constants.SERVER_TREE_PAGE_SIZE_EXPAND if expand else constants.SERVER_TREE_PAGE_SIZE
    if expand:
        add_last_commits(ctx, repo.id, commit, entries[cursor : cursor + page_size])
    return paginated(request, entries, page_size, cursor)


@router.post(
    "/api/models/{namespace}/{name}/paths-info/{revision}",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {"schema": PathsInfo.model_json_schema()},
                "application/json": {"schema": PathsInfo.model_json_schema()},
            }
        }
    },
)
async def paths_info(request: Request, repo: ReadableRepo, ctx: Ctx, revision: str) -> list:
    raw = await read_body(request, constants.SERVER_MAX_JSON_BODY_BYTES)
    # huggingface_hub sends this form-encoded (`data=`); parsed by hand because Starlette's
    # form parser needs python-multipart, which is not a dependency.
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = PathsInfo.model_validate_json(raw or b"{}")
        else:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
            body = PathsInfo(paths=form.get("paths", []), expand=expand)
    except ValidationError as exc:
        raise BadRequest(f"Invalid paths-info request: {describe(exc.errors())}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("Invalid paths-info request: the body is not UTF-8.") from None
    paths = [body.paths] if isinstance(body.paths, str) else body.paths
    commit = await run_in_threadpool(ctx.commit_at, repo.id, revision)
    dirs = commit.dirs()
    entries = []
    for p in paths:
        p = p.strip("/")
        validate_path(p)
        if p in commit.files:
            entries.append(tree_entry(p, commit, is_dir=False))
        elif p in dirs:
            entries.append(tree_entry(p, commit, is_dir=True))
    if body.expand:
        await run_in_threadpool(add_last_commits, ctx, repo.id, commit, entries)
    return entries
