"""Dependencies shared by the server's routers: the server context, the caller, repo access, bodies.

Routers declare what a handler needs (``ctx: Ctx``, ``repo: ReadableRepo``, ...) and FastAPI
resolves it per request; nothing is a closure over `create_app`'s locals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server import frontmatter
from hub_publish.server.auth import Authorizer, User
from hub_publish.server.errors import PayloadTooLarge, RepoNotFound, Unauthorized
from hub_publish.server.storage import Commit, RepoMeta, Storage
from hub_publish.server.validation import validate_repo_id

# Starlette matches routes on the *decoded* path, so an encoded slash in a revision
# (`refs%2Fpr%2F1`, as huggingface_hub sends it) would split the segment. The app's middleware
# decodes `%2F` to this placeholder instead; handlers turn it back into "/" (see `unslash`).
SLASH = "\x00"


def unslash(segment: str) -> str:
    return segment.replace(SLASH, "/")


@dataclass
class ServerContext:
    """What every handler of one server shares: storage, authorizer, limits, caches."""

    storage: Storage
    auth: Authorizer
    max_upload_bytes: int
    blob_text: Callable[[str], str] = field(init=False)

    def __post_init__(self) -> None:
        storage = self.storage

        @functools.lru_cache(maxsize=256)
        def blob_text(sha256: str) -> str:  # blobs are immutable: safe to cache by hash
            return storage.blob_path(sha256).read_text(errors="replace")

        self.blob_text = blob_text

    def commit_at(self, repo_id: str, revision: str) -> Commit:
        return self.storage.commit(repo_id, self.storage.resolve(repo_id, unslash(revision)))

    def card_data(self, commit: Commit) -> dict[str, Any] | None:
        """README.md's front matter as JSON-safe values (None when absent, too large or unusable)."""
        entry = commit.files.get(constants.CARD_FILE)
        if entry is None or entry.size > constants.SERVER_CARD_MAX_BYTES:
            return None
        try:
            text = self.blob_text(entry.sha256)
        except FileNotFoundError:
            return None
        return frontmatter.parse_cached(text)


def get_ctx(request: Request) -> ServerContext:
    return request.app.state.ctx


Ctx = Annotated[ServerContext, Depends(get_ctx)]


def get_user(request: Request, ctx: Ctx) -> User | None:
    """The caller (None when anonymous); a token that matches no user is a 401."""
    return ctx.auth.user_for(request.headers.get("authorization"))


OptionalUser = Annotated[User | None, Depends(get_user)]


def require_user(user: OptionalUser) -> User:
    if user is None:
        raise Unauthorized("Authentication required: send a token in the Authorization header.")
    return user


CurrentUser = Annotated[User, Depends(require_user)]


@dataclass(frozen=True)
class RepoAccess:
    """A repo the caller may read (or write), with its settings."""

    id: str
    meta: RepoMeta
    user: User | None


def readable_repo(namespace: str, name: str, ctx: Ctx, user: OptionalUser) -> RepoAccess:
    repo_id = validate_repo_id(f"{namespace}/{name}")
    meta = ctx.storage.repo_meta(repo_id)
    ctx.auth.check_read(user, namespace, meta.private, repo_id)
    return RepoAccess(repo_id, meta, user)


def writable_repo(namespace: str, name: str, ctx: Ctx, user: OptionalUser) -> RepoAccess:
    repo_id = validate_repo_id(f"{namespace}/{name}")
    meta = ctx.storage.repo_meta(repo_id)
    if user is None and meta.private:
        raise RepoNotFound(f"Repository {repo_id} not found.")
    # Private repos of others stay invisible (404); public ones are a 401 / 403.
    user = ctx.auth.check_write(user, namespace, meta.private, repo_id)
    return RepoAccess(repo_id, meta, user)


ReadableRepo = Annotated[RepoAccess, Depends(readable_repo)]
WritableRepo = Annotated[RepoAccess, Depends(writable_repo)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the server's upload limit of {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refused (413) past ``limit`` bytes."""
    check_declared_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body exceeds the server's upload limit of {limit} bytes.")
    return bytes(body)


async def stream_to(request: Request, write: Callable[[bytes], None], *, batch: int = 1 << 20) -> None:
    """Feed the request body to ``write`` in the thread pool (never on the event loop), in ~``batch`` byte pieces."""
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) >= batch:
            await run_in_threadpool(write, bytes(buffer))
            buffer.clear()
    if buffer:
        await run_in_threadpool(write, bytes(buffer))
