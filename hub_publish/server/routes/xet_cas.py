"""The Xet write token and the upload half of the Xet CAS API (see `hub_publish.server.xet`)."""

from __future__ import annotations

import functools
import time
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server import xet
from hub_publish.server.deps import Ctx, WritableRepo, base_url, check_declared_length, read_body, stream_to
from hub_publish.server.errors import BadRequest, NotSupported, PayloadTooLarge, Unauthorized
from hub_publish.server.storage import Storage

router = APIRouter()
_BINARY = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/api/models/{namespace}/{name}/xet-write-token/{revision}")
def xet_write_token(request: Request, repo: WritableRepo, ctx: Ctx, revision: str) -> Response:
    assert repo.user is not None  # writable
    token = ctx.auth.sign({"x": "write", "r": repo.id, "u": repo.user.name}, constants.SERVER_SIGNED_URL_TTL_S)
    exp = int(time.time()) + constants.SERVER_SIGNED_URL_TTL_S
    cas = f"{base_url(request)}/xet-cas/r/{repo.id}"  # per repo: see app._XET_REPO_PREFIX
    return JSONResponse(
        {"accessToken": token, "exp": exp, "casUrl": cas},
        headers={"X-Xet-Cas-Url": cas, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)},
    )


@router.get("/api/models/{namespace}/{name}/xet-read-token/{revision}")
def xet_read_token(namespace: str, name: str, revision: str) -> Response:
    raise NotSupported("This server does not serve downloads through Xet; use /resolve.")


def _xet_repo(request: Request, ctx: Ctx) -> str:
    """The repo a Xet write token was issued for (xorbs and files are kept per repo)."""
    _, _, token = (request.headers.get("authorization") or "").partition(" ")
    grant = ctx.auth.verify(token.strip())
    if grant.get("x") != "write" or not isinstance(grant.get("r"), str):
        raise Unauthorized("A Xet write token is required.")
    return str(grant["r"])


@router.get("/xet-cas/v1/chunks/{prefix}/{chunk_hash}")
def xet_chunk(request: Request, ctx: Ctx, prefix: str, chunk_hash: str) -> Response:
    _xet_repo(request, ctx)
    raise NotSupported("No global deduplication on this server.")


@router.post("/xet-cas/v1/xorbs/{prefix}/{xorb_hash}", openapi_extra=_BINARY)
async def xet_xorb(request: Request, ctx: Ctx, prefix: str, xorb_hash: str) -> dict:
    repo_id = _xet_repo(request, ctx)
    limit = ctx.max_upload_bytes
    ctx.storage.xorb_path(repo_id, xorb_hash)  # validates the hash
    check_declared_length(request, limit)
    tmp = ctx.storage.temp_file()
    written = 0

    def _append(chunk: bytes) -> None:
        nonlocal written
        written += len(chunk)
        if written > limit:
            raise PayloadTooLarge(f"Xorb exceeds the server's upload limit of {limit} bytes.")
        with open(tmp, "ab") as f:
            f.write(chunk)

    try:
        await stream_to(request, _append)  # streamed to disk, never held whole in memory
        inserted = await run_in_threadpool(ctx.storage.put_xorb, repo_id, xorb_hash, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return {"was_inserted": inserted}


@router.post("/xet-cas/v1/shards", openapi_extra=_BINARY)
async def xet_shard(request: Request, ctx: Ctx) -> dict:
    repo_id = _xet_repo(request, ctx)
    limit = ctx.max_upload_bytes
    storage = ctx.storage
    data = await read_body(request, min(limit, constants.SERVER_MAX_SHARD_BYTES))

    def _ingest() -> None:
        files = xet.parse_shard(data)
        for f in files:
            if f.size > limit:
                raise PayloadTooLarge(f"A file of {f.size} bytes exceeds the server's upload limit of {limit} bytes.")
        for f in files:
            candidates = xet.sha256_candidates(f.sha256) if f.sha256 is not None else ()
            if any(storage.repo_has_content(repo_id, sha) for sha in candidates):
                continue  # this repo has it already: no rebuild
            writer = storage.blob_writer(max_bytes=f.size)
            try:
                xet.reconstruct(
                    f,
                    functools.partial(_open_xorb, storage, repo_id),
                    writer.write,
                    max_chunk=constants.SERVER_XET_MAX_CHUNK_BYTES,
                )
                digest = writer.hexdigest()
                if candidates and digest not in candidates:
                    raise BadRequest("Invalid shard: reconstructed content does not match its sha256.")
                writer.finish(expected_sha256=digest, repo_id=repo_id)
            finally:
                writer.abort()

    await run_in_threadpool(_ingest)
    return {"result": 1}


def _open_xorb(storage: Storage, repo_id: str, xorb_hash: str) -> BinaryIO:
    try:
        return open(storage.xorb_path(repo_id, xorb_hash), "rb")
    except FileNotFoundError:
        raise BadRequest(f"Invalid shard: xorb {xorb_hash} was never uploaded for {repo_id}.") from None
