"""The classic git-lfs batch API (basic transfer): batch, signed PUT upload, verify.

Used by clients with ``HF_HUB_DISABLE_XET=1``, by git-lfs and by older huggingface_hub. Every
answer is about the repo in the URL only: an object another repo holds is "not there" here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server.deps import Ctx, OptionalUser, base_url, check_declared_length, stream_to, writable_repo
from hub_publish.server.errors import BadRequest, NotSupported, PayloadTooLarge, Unauthorized
from hub_publish.server.schemas import LfsBatch, LfsVerify
from hub_publish.server.validation import validate_repo_id

router = APIRouter()
LFS_JSON = "application/vnd.git-lfs+json"


def _repo_name(name_git: str) -> str:
    if not name_git.endswith(".git"):
        raise NotSupported("Not found.")
    return name_git[: -len(".git")]


@router.post("/{namespace}/{name_git}/info/lfs/objects/batch")
def lfs_batch(request: Request, namespace: str, name_git: str, body: LfsBatch, ctx: Ctx, user: OptionalUser) -> Response:
    name = _repo_name(name_git)
    if body.operation != "upload":
        raise BadRequest("Only the LFS 'upload' operation is supported; download files through /resolve.")
    repo_id = writable_repo(namespace, name, ctx, user).id
    limit = ctx.max_upload_bytes
    base = base_url(request)
    objects = []
    for obj in body.objects:
        oid, size = obj.oid.lower(), obj.size
        if size > limit:
            raise PayloadTooLarge(f"LFS object {oid} is {size} bytes, over the server's limit of {limit} bytes.")
        if ctx.storage.repo_has_content(repo_id, oid) and ctx.storage.blob_size(oid) == size:
            objects.append({"oid": oid, "size": size})  # this repo has it: the client skips it
            continue
        grant = ctx.auth.sign({"r": repo_id, "o": oid, "s": size}, constants.SERVER_SIGNED_URL_TTL_S)
        objects.append(
            {
                "oid": oid,
                "size": size,
                "authenticated": True,
                "actions": {
                    "upload": {"href": f"{base}/{repo_id}.git/info/lfs/objects/{oid}?grant={grant}"},
                    "verify": {"href": f"{base}/{repo_id}.git/info/lfs/objects/verify"},
                },
            }
        )
    return JSONResponse({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, media_type=LFS_JSON)


@router.post("/{namespace}/{name_git}/info/lfs/objects/verify")
def lfs_verify(namespace: str, name_git: str, body: LfsVerify, ctx: Ctx, user: OptionalUser) -> Response:
    repo_id = writable_repo(namespace, _repo_name(name_git), ctx, user).id
    oid = body.oid.lower()
    if not ctx.storage.repo_has_content(repo_id, oid) or ctx.storage.blob_size(oid) != body.size:
        raise BadRequest(f"LFS object {oid} of size {body.size} is not stored; upload it first.")
    return JSONResponse({"message": "ok"}, media_type=LFS_JSON)


@router.put(
    "/{namespace}/{name_git}/info/lfs/objects/{oid}",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def lfs_upload(
    request: Request, namespace: str, name_git: str, oid: str, ctx: Ctx, grant: Annotated[str, Query()] = ""
) -> Response:
    claims = ctx.auth.verify(grant)
    repo_id = f"{namespace}/{_repo_name(name_git)}"
    if claims.get("r") != repo_id or claims.get("o") != oid or not isinstance(claims.get("s"), int):
        raise Unauthorized("This upload URL was issued for another object.")
    validate_repo_id(repo_id)
    size = int(claims["s"])  # type: ignore[arg-type]
    limit = ctx.max_upload_bytes
    check_declared_length(request, limit)
    # File writes and hashing run in the thread pool, never on the event loop.
    writer = await run_in_threadpool(ctx.storage.blob_writer, max_bytes=min(limit, size))
    try:
        await stream_to(request, writer.write)
    except PayloadTooLarge:
        writer.abort()
        raise BadRequest(f"Uploaded content has more than the declared {size} bytes.") from None
    except BaseException:
        writer.abort()
        raise
    await run_in_threadpool(writer.finish, expected_sha256=oid, expected_size=size, repo_id=repo_id)
    return Response(status_code=200)
