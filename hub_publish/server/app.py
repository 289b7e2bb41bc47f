"""FastAPI app of the Hub-compatible server: the HTTP routes the stock huggingface_hub client uses.

Request and response shapes follow huggingface_hub 2.4.0 (hf_api.py, _commit_api.py, lfs.py,
file_download.py, utils/_http.py). Only *model* repos are served; dataset and space routes
answer a clear 404. The routes live in routers (`hub_publish.server.routes`), one per area, with
their dependencies (server context, caller, repo access) in `hub_publish.server.deps` and their
typed bodies in `hub_publish.server.schemas`; ``GET /{namespace}/{name}`` is the HTML model page
(`hub_publish.server.preview`), matched last. The OpenAPI schema is served at ``/openapi.json``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from hub_publish import __version__, constants
from hub_publish.server.auth import Authorizer, build_auth, load_secret
from hub_publish.server.deps import SLASH, ServerContext, unslash
from hub_publish.server.errors import BadRequest, HubError
from hub_publish.server.preview import install_preview
from hub_publish.server.routes import commit, lfs, repos, resolve, tree, xet_cas
from hub_publish.server.routes.repos import header_safe
from hub_publish.server.schemas import describe
from hub_publish.server.storage import Storage

logger = logging.getLogger("hub_publish.server")

# Routes whose bodies are uploads (bounded by max_upload_bytes, streamed or checked by their
# handler); every other body is JSON and bounded by SERVER_MAX_JSON_BODY_BYTES.
_UPLOAD_ROUTES = re.compile(
    rb"^(/api/models/[^/]+/[^/]+/commit/|/[^/]+/[^/]+/info/lfs/objects/[^/]+$|/xet-cas/v1/(xorbs|shards))"
)


# The Xet CAS URL handed to a client names the repo (`/xet-cas/r/{namespace}/{name}`): Xet clients
# keep their deduplication cache per CAS URL, so a client never references content it uploaded for
# another repo (which this server refuses: content is scoped to repos). The repo itself comes from
# the signed write token; the prefix is stripped before routing.
_XET_REPO_PREFIX = re.compile(rb"^/xet-cas/r/[^/]+/[^/]+(?=/)")


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds the server's limit of {limit} bytes for this route.")


class _RawPathMiddleware:
    """Re-decode the path keeping encoded slashes inside one segment, bound JSON bodies, log one line per request."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"%00" in raw or b"\x00" in raw:
            response = JSONResponse({"error": "Invalid path: NUL bytes are forbidden."}, status_code=400)
            await response(scope, receive, send)
            return
        raw = raw.split(b"?", 1)[0]
        if (prefix := _XET_REPO_PREFIX.match(raw)) is not None:
            raw = b"/xet-cas" + raw[prefix.end():]
        scope["path"] = unquote_to_bytes(raw.replace(b"%2F", b"%00").replace(b"%2f", b"%00")).decode(
            "utf-8", errors="replace"
        )
        if not _UPLOAD_ROUTES.match(raw):
            receive = _bounded(scope, receive, constants.SERVER_MAX_JSON_BODY_BYTES)
            if receive is None:
                cap = constants.SERVER_MAX_JSON_BODY_BYTES
                message = f"Request body exceeds the server's limit of {cap} bytes for this route."
                response = JSONResponse({"error": message}, status_code=413, headers={"X-Error-Message": message})
                await response(scope, _empty_receive, send)
                return
        start = time.perf_counter()
        status = {"code": 0}

        async def _send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            ms = (time.perf_counter() - start) * 1000
            logger.info("%s %s %s %.1fms", scope["method"], unslash(scope["path"]), status["code"] or 500, ms)


async def _empty_receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _bounded(scope: MutableMapping[str, Any], receive: Any, limit: int) -> Any:
    """``receive`` refusing bodies over ``limit`` (None when the declared length is already over)."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    seen = 0

    async def _receive() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge(limit)
        return message

    return _receive


def create_app(
    data_dir: str | Path,
    *,
    config: str | Path | None = None,
    tokens: tuple[str, ...] | list[str] = (),
    max_upload_bytes: int | None = None,
) -> FastAPI:
    """Build the server's ASGI app.

    Args:
        data_dir: Where all repos, commits and blobs are stored.
        config: Users config file (JSON or YAML), see docs/hub.md.
        tokens: Token specs ``user=token[:org...]``.
        max_upload_bytes: Largest accepted upload body / file (default: the constants' default).

    Returns:
        The FastAPI app (with the path/logging middleware installed).

    Raises:
        hub_publish.server.errors.BadRequest: When the config or a token spec is malformed.
    """
    if max_upload_bytes is None and constants.DEFAULT_MAX_UPLOAD_BYTES is None:  # refused before the data dir is touched
        raise BadRequest(f"{constants.ENV_MAX_UPLOAD}={os.environ.get(constants.ENV_MAX_UPLOAD)!r} is not a positive number "
                         "of bytes; fix or unset it, or pass --max-upload-bytes.")
    users = build_auth(config, tokens)  # a bad config is refused before the data dir is touched
    storage = Storage(data_dir)
    auth = Authorizer(users, load_secret(storage.root))
    limit = int(max_upload_bytes if max_upload_bytes is not None else constants.DEFAULT_MAX_UPLOAD_BYTES)
    app = FastAPI(
        title="hub-publish Hub server",
        version=__version__,
        description="A Hugging Face Hub-compatible server for model repos (docs/hub.md).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ServerContext(storage=storage, auth=auth, max_upload_bytes=limit)
    app.state.storage = storage
    app.state.auth = auth
    app.state.max_upload_bytes = limit

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        headers = {**exc.headers, "X-Error-Message": header_safe(exc.message)}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        return JSONResponse({**exc.extra, "error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        message = "Invalid request: " + describe(list(exc.errors()))
        return JSONResponse({"error": message}, status_code=400, headers={"X-Error-Message": header_safe(message)})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        headers = {**(exc.headers or {}), "X-Error-Message": header_safe(message)}
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client went away mid-request (killed, timed out): nobody reads this answer; the
        # log says 499 (nginx' "client closed request"), and what it sent was not kept.
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A bug, never an expected answer: the fuzz and fault suites assert there are none.
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        message = f"Internal server error ({type(exc).__name__})."
        return JSONResponse({"error": message}, status_code=500, headers={"X-Error-Message": message})

    for module in (repos, tree, commit, lfs, xet_cas, resolve):
        app.include_router(module.router)
    # The model page last: /{namespace}/{name} matches a lot.
    install_preview(app, storage=storage, auth=auth)

    app.add_middleware(_RawPathMiddleware)
    return app


__all__ = ["SLASH", "create_app"]
