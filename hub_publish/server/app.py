"""FastAPI app of the Hub-compatible server: the HTTP routes the stock huggingface_hub client uses.

Request and response shapes follow huggingface_hub 2.4.0 (hf_api.py, _commit_api.py, lfs.py,
file_download.py, utils/_http.py). Only *model* repos are served; dataset and space routes
answer a clear 404. ``GET /{namespace}/{name}`` is the HTML model page (`hub_publish.server.preview`).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import hashlib
import json
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, unquote_to_bytes, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.server import frontmatter, xet
from hub_publish.server.auth import Authorizer, User, build_auth, load_secret
from hub_publish.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    HubError,
    NotSupported,
    PayloadTooLarge,
    RepoNotFound,
    Unauthorized,
)
from hub_publish.server.preview import install_preview
from hub_publish.server.storage import (
    AddFile,
    Commit,
    DeleteFile,
    DeleteFolder,
    FileEntry,
    Operation,
    RepoMeta,
    Storage,
    git_blob_oid,
    lfs_pointer,
)
from hub_publish.server.validation import validate_name, validate_path, validate_repo_id

logger = logging.getLogger("hub_publish.server")

# Starlette matches routes on the *decoded* path, so an encoded slash in a revision
# (`refs%2Fpr%2F1`, as huggingface_hub sends it) would split the segment. The middleware below
# decodes `%2F` to this placeholder instead; handlers turn it back into "/" (see `_u`).
_SLASH = "\x00"
_LFS_JSON = "application/vnd.git-lfs+json"
# Repo files are served from the model page's origin: a browser opening an uploaded .html or .svg
# must not run its scripts there (images in <img> are unaffected).
_FILE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}


def _u(segment: str) -> str:
    return segment.replace(_SLASH, "/")


class _RawPathMiddleware:
    """Re-decode the path keeping encoded slashes inside one segment, and log one line per request."""

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
        scope["path"] = unquote_to_bytes(raw.replace(b"%2F", b"%00").replace(b"%2f", b"%00")).decode(
            "utf-8", errors="replace"
        )
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
            logger.info("%s %s %s %.1fms", scope["method"], _u(scope["path"]), status["code"] or 500, ms)


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
    """
    storage = Storage(data_dir)
    auth = Authorizer(build_auth(config, tokens), load_secret(storage.root))
    limit = int(max_upload_bytes if max_upload_bytes is not None else constants.DEFAULT_MAX_UPLOAD_BYTES)
    app = FastAPI(title="hub-publish Hub server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.storage = storage
    app.state.auth = auth
    app.state.max_upload_bytes = limit

    # ------------------------------------------------------------------ errors
    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        headers = {"X-Error-Message": _header_safe(exc.message)}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        return JSONResponse({**exc.extra, "error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        message = "Invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors())
        return JSONResponse({"error": message}, status_code=400, headers={"X-Error-Message": _header_safe(message)})

    # ------------------------------------------------------------------ helpers
    def user_of(request: Request) -> User | None:
        return auth.user_for(request.headers.get("authorization"))

    def readable(request: Request, namespace: str, name: str) -> tuple[str, RepoMeta, User | None]:
        repo_id = validate_repo_id(f"{namespace}/{name}")
        user = user_of(request)
        meta = storage.repo_meta(repo_id)
        auth.check_read(user, namespace, meta.private, repo_id)
        return repo_id, meta, user

    def writable(request: Request, namespace: str, name: str) -> tuple[str, RepoMeta, User]:
        repo_id = validate_repo_id(f"{namespace}/{name}")
        user = user_of(request)
        meta = storage.repo_meta(repo_id)
        if user is None and meta.private:
            raise RepoNotFound(f"Repository {repo_id} not found.")
        # Private repos of others stay invisible (404); public ones are a 401 / 403.
        user = auth.check_write(user, namespace, meta.private, repo_id)
        return repo_id, meta, user

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def read_body(request: Request, *, max_bytes: int | None = None) -> bytes:
        cap = limit if max_bytes is None else max_bytes
        _check_declared_length(request, cap)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > cap:
                raise PayloadTooLarge(f"Request body exceeds the server's upload limit of {cap} bytes.")
        return bytes(body)

    async def json_body(request: Request) -> Any:
        raw = await read_body(request)
        try:
            return json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadRequest("Invalid request: the body is not valid JSON.") from None

    @functools.lru_cache(maxsize=256)
    def blob_text(sha256: str) -> str:
        return storage.blob_path(sha256).read_text(errors="replace")

    def card_data(commit: Commit) -> dict[str, Any] | None:
        entry = commit.files.get(constants.CARD_FILE)
        if entry is None or entry.size > constants.SERVER_CARD_MAX_BYTES:
            return None
        try:
            text = blob_text(entry.sha256)
        except FileNotFoundError:
            return None
        return frontmatter.parse_cached(text)  # JSON-safe, bounded; None when unusable

    def model_info(request: Request, meta: RepoMeta, commit: Commit, *, blobs: bool, full: bool = True) -> dict:
        card = card_data(commit) or {}
        library = _str_or_none(card.get("library_name")) or _infer_library(commit)
        pipeline = _str_or_none(card.get("pipeline_tag"))
        tags: list[str] = []
        for tag in [
            *(card.get("tags") or [] if isinstance(card.get("tags"), list) else [card.get("tags")]),
            library,
            pipeline,
            *([f"license:{card['license']}"] if isinstance(card.get("license"), str) else []),
        ]:
            if tag and isinstance(tag, str) and tag not in tags:
                tags.append(tag)
        namespace = meta.id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.sha1(meta.id.encode()).hexdigest()[:24],
            "id": meta.id,
            "modelId": meta.id,
            "author": namespace,
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": meta.created_at,
            "private": meta.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "library_name": library,
            "pipeline_tag": pipeline,
            "tags": tags,
            "usedStorage": sum(e.size for e in commit.files.values()),
        }
        if card:
            info["cardData"] = card
        if full:
            siblings = []
            for path in sorted(commit.files):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    entry = commit.files[path]
                    sibling.update(size=entry.size, blobId=entry.oid)
                    if entry.lfs:
                        sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256, "pointerSize": entry.pointer_size}
                siblings.append(sibling)
            info["siblings"] = siblings
            info["spaces"] = []
        return info

    def tree_entry(path: str, commit: Commit, *, is_dir: bool) -> dict[str, Any]:
        if is_dir:
            prefix = path + "/"
            listing = sorted((p, e.oid) for p, e in commit.files.items() if p.startswith(prefix))
            oid = hashlib.sha1(json.dumps(listing).encode()).hexdigest()
            return {"type": "directory", "oid": oid, "size": 0, "path": path}
        entry = commit.files[path]
        out: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if entry.lfs:
            out["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        return out

    def add_last_commits(repo_id: str, head: Commit, entries: list[dict[str, Any]]) -> None:
        """Fill `lastCommit` of each entry: the newest commit that changed it (walks history once)."""

        def signature(commit: Commit | None, path: str, is_dir: bool) -> Any:
            if commit is None:
                return None
            if not is_dir:
                entry = commit.files.get(path)
                return entry.oid if entry else None
            return tuple(sorted((p, e.oid) for p, e in commit.files.items() if p.startswith(path + "/")))

        pending = {e["path"]: e for e in entries}
        history = list(storage.history(repo_id, head.id))
        for i, commit in enumerate(history):
            parent = history[i + 1] if i + 1 < len(history) else None
            for path, entry in list(pending.items()):
                is_dir = entry["type"] == "directory"
                if signature(commit, path, is_dir) != signature(parent, path, is_dir):
                    entry["lastCommit"] = {"id": commit.id, "title": commit.title, "date": commit.date}
                    del pending[path]
            if not pending:
                return

    def lfs_rules(commit: Commit) -> list[str]:
        entry = commit.files.get(".gitattributes")
        if entry is None:
            return []
        patterns = []
        for line in blob_text(entry.sha256).splitlines():
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
                patterns.append(parts[0])
        return patterns

    def is_lfs(path: str, size: int, patterns: list[str]) -> bool:
        if size >= constants.SERVER_LFS_THRESHOLD_BYTES:
            return True
        return any(_git_pattern_match(pattern, path) for pattern in patterns)

    def paginated(request: Request, items: list[Any], page_size: int) -> Response:
        try:
            cursor = int(request.query_params.get("cursor", "0"))
        except ValueError:
            raise BadRequest("Invalid pagination cursor.") from None
        page = items[cursor : cursor + page_size]
        headers = {}
        if cursor + page_size < len(items):
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
            params.append(("cursor", str(cursor + page_size)))
            url = f"{base_url(request)}{quote(request.url.path)}?{urlencode(params)}"
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(page, headers=headers)

    def commit_at(repo_id: str, revision: str) -> Commit:
        return storage.commit(repo_id, storage.resolve(repo_id, _u(revision)))

    # ------------------------------------------------------------------ identity and repos
    @app.get("/api/whoami-v2")
    def whoami(request: Request) -> dict:
        user = user_of(request)
        if user is None:
            raise Unauthorized("Authentication required: send a token in the Authorization header.")
        return {
            "type": "user",
            "id": user.name,
            "name": user.name,
            "fullname": user.name,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [{"type": "org", "id": o, "name": o, "fullname": o, "roleInOrg": "write"} for o in user.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "hub-publish", "role": "write"}},
        }

    @app.post("/api/repos/create")
    async def create_repo(request: Request) -> dict:
        body = await json_body(request)
        _require_model_type(body.get("type"))
        user = user_of(request)
        if user is None:
            raise Unauthorized("Authentication required to create a repo: send a token.")
        name = str(body.get("name") or "")
        namespace = body.get("organization") or user.name
        if "/" in name and not body.get("organization"):
            namespace, name = name.split("/", 1)
        validate_name(str(namespace), what="namespace")
        validate_name(name)
        repo_id = f"{namespace}/{name}"
        private = body.get("private")
        if body.get("visibility") is not None:
            if body["visibility"] not in ("public", "private"):
                raise BadRequest(f"Invalid visibility {body['visibility']!r} for a model repo.")
            private = body["visibility"] == "private"
        auth.check_write(user, namespace, False, repo_id)
        url = f"{base_url(request)}/{repo_id}"
        try:
            await run_in_threadpool(storage.create_repo, repo_id, private=bool(private), creator=user.name)
        except Conflict as exc:
            exc.extra["url"] = url  # huggingface_hub reads `url` from the 409 body (exist_ok=True)
            raise
        return {"url": url, "name": repo_id, "id": repo_id}

    @app.delete("/api/repos/delete")
    async def delete_repo(request: Request) -> dict:
        body = await json_body(request)
        _require_model_type(body.get("type"))
        user = user_of(request)
        namespace = body.get("organization") or (user.name if user else "")
        repo_id, _, _ = writable(request, str(namespace), str(body.get("name") or ""))
        await run_in_threadpool(storage.delete_repo, repo_id)
        return {}

    @app.post("/api/repos/move")
    async def move_repo(request: Request) -> dict:
        body = await json_body(request)
        _require_model_type(body.get("type"))
        src, dest = str(body.get("fromRepo") or ""), str(body.get("toRepo") or "")
        validate_repo_id(src)
        validate_repo_id(dest)
        _, meta, user = writable(request, *src.split("/"))
        auth.check_write(user, dest.split("/")[0], False, dest)
        await run_in_threadpool(storage.move_repo, src, dest)
        return {"url": f"{base_url(request)}/{dest}"}

    @app.put("/api/models/{namespace}/{name}/settings")
    async def update_settings(request: Request, namespace: str, name: str) -> dict:
        body = await json_body(request)
        repo_id, _, _ = writable(request, namespace, name)
        private = body.get("private")
        if body.get("visibility") is not None:
            if body["visibility"] not in ("public", "private"):
                raise BadRequest(f"Invalid visibility {body['visibility']!r} for a model repo.")
            private = body["visibility"] == "private"
        if body.get("gated"):
            raise BadRequest("Gated repos are not supported by this server.")
        meta = await run_in_threadpool(storage.update_settings, repo_id, private=private)
        return {"private": meta.private, "gated": False}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request) -> Response:
        """huggingface_hub calls this before committing a README.md (``HfApi._validate_yaml``)."""
        body = await json_body(request)
        error = frontmatter.error(str(body.get("content") or ""))
        if error:
            return JSONResponse(
                {"errors": [{"message": error}], "warnings": []},
                status_code=400,
                headers={"X-Error-Message": _header_safe(error)},
            )
        return JSONResponse({"errors": [], "warnings": []})

    # ------------------------------------------------------------------ model info and listing
    @app.get("/api/models")
    def list_models(request: Request) -> Response:
        user = user_of(request)
        if user is None and not auth.config.anonymous_read:
            raise Unauthorized("This server requires a token to read.")
        q = request.query_params
        author, search = q.get("author"), (q.get("search") or "").lower()
        filters = [f for f in q.getlist("filter") for f in f.split(",") if f]
        full = q.get("full", "").lower() in ("1", "true")
        with_card = q.get("cardData", "").lower() in ("1", "true")
        items = []
        for meta in storage.list_repos():
            namespace = meta.id.split("/")[0]
            if meta.private and (user is None or not user.can_write(namespace)):
                continue
            if author and namespace != author:
                continue
            if search and search not in meta.id.lower():
                continue
            try:
                commit = commit_at(meta.id, "main")
            except HubError:
                continue
            info = model_info(request, meta, commit, blobs=False, full=full)
            if any(f not in info["tags"] and f != info["library_name"] for f in filters):
                continue
            if not with_card and not full:
                info.pop("cardData", None)
            items.append(info)
        sort = q.get("sort")
        if sort in ("lastModified", "createdAt", "downloads", "likes"):
            items.sort(key=lambda i: i[sort], reverse=q.get("direction", "-1") == "-1")
        if q.get("limit"):
            try:
                items = items[: max(0, int(q["limit"]))]
            except ValueError:
                raise BadRequest("Invalid limit.") from None
        return paginated(request, items, constants.SERVER_LIST_PAGE_SIZE)

    @app.get("/api/models/{namespace}/{name}")
    def get_model(request: Request, namespace: str, name: str) -> dict:
        repo_id, meta, _ = readable(request, namespace, name)
        blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
        return model_info(request, meta, commit_at(repo_id, "main"), blobs=blobs)

    @app.get("/api/models/{namespace}/{name}/revision/{revision}")
    def get_model_revision(request: Request, namespace: str, name: str, revision: str) -> dict:
        repo_id, meta, _ = readable(request, namespace, name)
        blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
        return model_info(request, meta, commit_at(repo_id, revision), blobs=blobs)

    @app.get("/api/models/{namespace}/{name}/tree/{revision}")
    @app.get("/api/models/{namespace}/{name}/tree/{revision}/{path:path}")
    def list_tree(request: Request, namespace: str, name: str, revision: str, path: str = "") -> Response:
        repo_id, _, _ = readable(request, namespace, name)
        commit = commit_at(repo_id, revision)
        path = _u(path).strip("/")
        if path:
            validate_path(path)
        dirs = commit.dirs()
        if path and path not in dirs:
            if path in commit.files:
                raise EntryNotFound(f"{path!r} is a file, not a folder, in {repo_id}.")
            raise EntryNotFound(f"Folder {path!r} not found in {repo_id} at {_u(revision)}.")
        prefix = path + "/" if path else ""
        recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
        expand = request.query_params.get("expand", "").lower() in ("1", "true")

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries = [tree_entry(d, commit, is_dir=True) for d in sorted(dirs) if wanted(d)]
        entries += [tree_entry(f, commit, is_dir=False) for f in sorted(commit.files) if wanted(f)]
        page_size = constants.SERVER_TREE_PAGE_SIZE_EXPAND if expand else constants.SERVER_TREE_PAGE_SIZE
        if expand:
            cursor = int(request.query_params.get("cursor", "0") or 0)
            add_last_commits(repo_id, commit, entries[cursor : cursor + page_size])
        return paginated(request, entries, page_size)

    @app.post("/api/models/{namespace}/{name}/paths-info/{revision}")
    async def paths_info(request: Request, namespace: str, name: str, revision: str) -> list:
        raw = await read_body(request)
        repo_id, _, _ = readable(request, namespace, name)
        # huggingface_hub sends this form-encoded (`data=`); parsed by hand because Starlette's
        # form parser needs python-multipart, which is not a dependency.
        if request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(raw or b"{}")
            paths, expand = body.get("paths") or [], bool(body.get("expand"))
        else:
            form = parse_qs(raw.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand", ["false"])[0].lower() in ("1", "true"))
        commit = await run_in_threadpool(commit_at, repo_id, revision)
        dirs = commit.dirs()
        entries = []
        for p in paths:
            p = str(p).strip("/")
            validate_path(p)
            if p in commit.files:
                entries.append(tree_entry(p, commit, is_dir=False))
            elif p in dirs:
                entries.append(tree_entry(p, commit, is_dir=True))
        if expand:
            await run_in_threadpool(add_last_commits, repo_id, commit, entries)
        return entries

    @app.get("/api/models/{namespace}/{name}/refs")
    def list_refs(request: Request, namespace: str, name: str) -> dict:
        repo_id, _, _ = readable(request, namespace, name)
        refs = storage.refs(repo_id)
        out: dict[str, Any] = {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in sorted(refs["heads"].items())],
            "converts": [],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in sorted(refs["tags"].items())],
        }
        if request.query_params.get("include_prs", "").lower() in ("1", "true"):
            out["pullRequests"] = [
                {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
                for n, c in sorted(refs["pulls"].items(), key=lambda kv: int(kv[0]))
            ]
        return out

    @app.get("/api/models/{namespace}/{name}/commits/{revision}")
    def list_commits(request: Request, namespace: str, name: str, revision: str) -> Response:
        repo_id, _, _ = readable(request, namespace, name)
        head = storage.resolve(repo_id, _u(revision))
        formatted = "formatted" in request.query_params.getlist("expand[]")
        items = []
        for c in storage.history(repo_id, head):
            item: dict[str, Any] = {
                "id": c.id,
                "title": c.title,
                "message": c.message,
                "date": c.date,
                "authors": [{"user": c.author, "avatar": None}],
            }
            if formatted:
                item["formatted"] = {"title": c.title, "message": c.message}
            items.append(item)
        return paginated(request, items, 50)

    # ------------------------------------------------------------------ branches and tags
    @app.post("/api/models/{namespace}/{name}/branch/{branch}")
    async def create_branch(request: Request, namespace: str, name: str, branch: str) -> dict:
        body = await json_body(request)
        repo_id, _, _ = writable(request, namespace, name)
        await run_in_threadpool(storage.create_branch, repo_id, _u(branch), body.get("startingPoint"))
        return {}

    @app.delete("/api/models/{namespace}/{name}/branch/{branch}")
    def delete_branch(request: Request, namespace: str, name: str, branch: str) -> dict:
        repo_id, _, _ = writable(request, namespace, name)
        storage.delete_branch(repo_id, _u(branch))
        return {}

    @app.post("/api/models/{namespace}/{name}/tag/{revision}")
    async def create_tag(request: Request, namespace: str, name: str, revision: str) -> dict:
        body = await json_body(request)
        repo_id, _, _ = writable(request, namespace, name)
        tag = str(body.get("tag") or "")
        await run_in_threadpool(storage.create_tag, repo_id, tag, _u(revision))
        return {}

    @app.delete("/api/models/{namespace}/{name}/tag/{tag}")
    def delete_tag(request: Request, namespace: str, name: str, tag: str) -> dict:
        repo_id, _, _ = writable(request, namespace, name)
        storage.delete_tag(repo_id, _u(tag))
        return {}

    # ------------------------------------------------------------------ uploads
    @app.post("/api/models/{namespace}/{name}/preupload/{revision}")
    async def preupload(request: Request, namespace: str, name: str, revision: str) -> dict:
        body = await json_body(request)
        repo_id, _, _ = writable(request, namespace, name)
        commit = await run_in_threadpool(commit_at, repo_id, revision)
        patterns = lfs_rules(commit)
        ignore = _gitignore_patterns(body.get("gitIgnore"), commit, blob_text)
        files = body.get("files")
        if not isinstance(files, list):
            raise BadRequest("Invalid preupload request: 'files' must be a list.")
        out = []
        for item in files:
            path, size = item.get("path"), item.get("size")
            if not isinstance(path, str) or not isinstance(size, int) or size < 0:
                raise BadRequest("Invalid preupload request: each file needs a 'path' and an integer 'size'.")
            validate_path(path)
            if size > limit:
                raise PayloadTooLarge(
                    f"File {path!r} is {size} bytes, larger than the server's upload limit of {limit} bytes."
                )
            entry = commit.files.get(path)
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if is_lfs(path, size, patterns) else "regular",
                    "shouldIgnore": any(_git_pattern_match(p, path) for p in ignore),
                    "oid": (entry.sha256 if entry.lfs else entry.oid) if entry else None,
                }
            )
        return {"files": out, "commitOid": commit.id}

    @app.post("/api/models/{namespace}/{name}/commit/{revision}")
    async def create_commit(request: Request, namespace: str, name: str, revision: str) -> dict:
        repo_id, _, user = writable(request, namespace, name)
        raw = await read_body(request)
        header, operations, contents = _parse_commit_payload(raw, limit)
        create_pr = request.query_params.get("create_pr", "").lower() in ("1", "true")

        def _apply() -> tuple[Commit, int | None]:
            ops: list[Operation] = []
            for op in operations:
                if isinstance(op, AddFile) and not op.lfs:
                    storage.put_blob(contents[op.path])  # blobs first, then commit, then ref
                elif isinstance(op, AddFile):
                    # Only content uploaded to this repo (or in its history) counts: a sha256 of
                    # another repo's file gives nothing, and the answer does not say it exists.
                    if not storage.repo_has_content(repo_id, op.sha256):
                        raise BadRequest(
                            f"LFS file {op.path!r}: object {op.sha256} was not uploaded to {repo_id} "
                            "(or failed verification)."
                        )
                    actual = storage.blob_size(op.sha256)
                    if op.size >= 0 and op.size != actual:
                        raise BadRequest(f"LFS file {op.path!r}: declared size {op.size} != stored size {actual}.")
                    op = AddFile(op.path, op.sha256, actual, True, git_blob_oid(lfs_pointer(op.sha256, actual)))
                ops.append(op)
            return storage.create_commit(
                repo_id,
                _u(revision),
                ops,
                title=header.get("summary") or "Update",
                message=header.get("description") or "",
                author=user.name,
                parent_commit=header.get("parentCommit"),
                create_pr=create_pr,
            )

        commit, pr_num = await run_in_threadpool(_apply)
        base = base_url(request)
        return {
            "success": True,
            "commitOid": commit.id,
            "commitUrl": f"{base}/{repo_id}/commit/{commit.id}",
            "commitMessage": commit.title,
            "hookOutput": "",
            "pullRequestUrl": f"{base}/{repo_id}/discussions/{pr_num}" if pr_num else None,
        }

    @app.post("/{namespace}/{name_git}/info/lfs/objects/batch")
    async def lfs_batch(request: Request, namespace: str, name_git: str) -> Response:
        if not name_git.endswith(".git"):
            raise NotSupported("Not found.")
        name = name_git[: -len(".git")]
        body = await json_body(request)
        if body.get("operation") != "upload":
            raise BadRequest("Only the LFS 'upload' operation is supported; download files through /resolve.")
        repo_id, _, _ = writable(request, namespace, name)
        base = base_url(request)
        objects = []
        for obj in body.get("objects") or []:
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or len(oid) != 64 or not isinstance(size, int) or size < 0:
                raise BadRequest("Invalid LFS batch request: each object needs a sha256 'oid' and an integer 'size'.")
            storage.blob_path(oid)  # validates the oid
            if size > limit:
                raise PayloadTooLarge(f"LFS object {oid} is {size} bytes, over the server's limit of {limit} bytes.")
            if storage.repo_has_content(repo_id, oid) and storage.blob_size(oid) == size:
                objects.append({"oid": oid, "size": size})  # this repo has it: the client skips it
                continue
            grant = auth.sign({"r": repo_id, "o": oid, "s": size}, constants.SERVER_SIGNED_URL_TTL_S)
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
        return JSONResponse(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, media_type=_LFS_JSON
        )

    @app.post("/{namespace}/{name_git}/info/lfs/objects/verify")
    async def lfs_verify(request: Request, namespace: str, name_git: str) -> Response:
        body = await json_body(request)
        repo_id, _, _ = writable(request, namespace, name_git.removesuffix(".git"))
        oid, size = str(body.get("oid") or ""), body.get("size")
        if not storage.repo_has_content(repo_id, oid) or storage.blob_size(oid) != size:
            raise BadRequest(f"LFS object {oid} of size {size} is not stored; upload it first.")
        return JSONResponse({"message": "ok"}, media_type=_LFS_JSON)

    @app.put("/{namespace}/{name_git}/info/lfs/objects/{oid}")
    async def lfs_upload(request: Request, namespace: str, name_git: str, oid: str) -> Response:
        grant = auth.verify(request.query_params.get("grant", ""))
        repo_id = f"{namespace}/{name_git.removesuffix('.git')}"
        if grant.get("r") != repo_id or grant.get("o") != oid:
            raise Unauthorized("This upload URL was issued for another object.")
        size = int(grant["s"])  # type: ignore[arg-type]
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"LFS object of {declared} bytes exceeds the server's limit of {limit} bytes.")
        # File writes and hashing run in the thread pool, never on the event loop.
        writer = await run_in_threadpool(storage.blob_writer, max_bytes=limit)
        try:
            await _stream_to(request, writer.write)
        except BaseException:
            writer.abort()
            raise
        await run_in_threadpool(writer.finish, expected_sha256=oid, expected_size=size, repo_id=repo_id)
        return Response(status_code=200)

    # ------------------------------------------------------------------ Xet (upload only)
    @app.get("/api/models/{namespace}/{name}/xet-write-token/{revision}")
    def xet_write_token(request: Request, namespace: str, name: str, revision: str) -> Response:
        repo_id, _, user = writable(request, namespace, name)
        token = auth.sign({"x": "write", "r": repo_id, "u": user.name}, constants.SERVER_SIGNED_URL_TTL_S)
        exp = int(time.time()) + constants.SERVER_SIGNED_URL_TTL_S
        cas = f"{base_url(request)}/xet-cas"
        return JSONResponse(
            {"accessToken": token, "exp": exp, "casUrl": cas},
            headers={"X-Xet-Cas-Url": cas, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)},
        )

    @app.get("/api/models/{namespace}/{name}/xet-read-token/{revision}")
    def xet_read_token(request: Request, namespace: str, name: str, revision: str) -> Response:
        raise NotSupported("This server does not serve downloads through Xet; use /resolve.")

    def xet_grant(request: Request) -> str:
        """The repo a Xet write token was issued for (xorbs and files are kept per repo)."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        grant = auth.verify(token.strip())
        if grant.get("x") != "write" or not isinstance(grant.get("r"), str):
            raise Unauthorized("A Xet write token is required.")
        return str(grant["r"])

    @app.get("/xet-cas/v1/chunks/{prefix}/{chunk_hash}")
    def xet_chunk(request: Request, prefix: str, chunk_hash: str) -> Response:
        xet_grant(request)
        raise NotSupported("No global deduplication on this server.")

    @app.post("/xet-cas/v1/xorbs/{prefix}/{xorb_hash}")
    async def xet_xorb(request: Request, prefix: str, xorb_hash: str) -> dict:
        repo_id = xet_grant(request)
        storage.xorb_path(repo_id, xorb_hash)  # validates the hash
        _check_declared_length(request, limit)
        tmp = storage.temp_file()
        written = 0

        def _append(chunk: bytes) -> None:
            nonlocal written
            written += len(chunk)
            if written > limit:
                raise PayloadTooLarge(f"Xorb exceeds the server's upload limit of {limit} bytes.")
            with open(tmp, "ab") as f:
                f.write(chunk)

        try:
            await _stream_to(request, _append)  # streamed to disk, never held whole in memory
            inserted = await run_in_threadpool(storage.put_xorb, repo_id, xorb_hash, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return {"was_inserted": inserted}

    @app.post("/xet-cas/v1/shards")
    async def xet_shard(request: Request) -> dict:
        repo_id = xet_grant(request)
        data = await read_body(request, max_bytes=min(limit, constants.SERVER_MAX_SHARD_BYTES))

        def _ingest() -> None:
            files = xet.parse_shard(data)
            for f in files:
                if f.size > limit:
                    raise PayloadTooLarge(f"A file of {f.size} bytes exceeds the server's limit of {limit} bytes.")
            for f in files:
                candidates = xet.sha256_candidates(f.sha256) if f.sha256 is not None else ()
                if any(storage.repo_has_content(repo_id, sha) for sha in candidates):
                    continue  # this repo has it already: no rebuild
                writer = storage.blob_writer(max_bytes=f.size)
                try:
                    xet.reconstruct(
                        f, functools.partial(_open_xorb, storage, repo_id), writer.write,
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

    # ------------------------------------------------------------------ downloads
    @app.api_route("/{namespace}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    def resolve(request: Request, namespace: str, name: str, revision: str, path: str) -> Response:
        repo_id, _, _ = readable(request, namespace, name)
        commit = commit_at(repo_id, revision)
        path = _u(path)
        entry: FileEntry | None = commit.files.get(path)
        if entry is None:
            raise EntryNotFound(f"{path} does not exist in {repo_id} at {_u(revision)}.")
        etag = entry.sha256 if entry.lfs else entry.oid
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{etag}"', "Accept-Ranges": "bytes", **_FILE_HEADERS}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return FileResponse(storage.blob_path(entry.sha256), headers=headers, media_type=media_type)

    # ------------------------------------------------------------------ other repo types
    @app.api_route("/api/datasets/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
    @app.api_route("/api/spaces/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "HEAD"])
    @app.api_route("/datasets/{rest:path}", methods=["GET", "HEAD"])
    @app.api_route("/spaces/{rest:path}", methods=["GET", "HEAD"])
    def other_repo_types(request: Request, rest: str) -> Response:
        raise NotSupported(
            "This server hosts model repos only; datasets and spaces are not supported.", code="RepoNotFound"
        )

    # ------------------------------------------------------------------ model page (last: /{ns}/{name} matches a lot)
    install_preview(app, storage=storage, auth=auth)

    app.add_middleware(_RawPathMiddleware)
    return app


def _open_xorb(storage: Storage, repo_id: str, xorb_hash: str) -> BinaryIO:
    try:
        return open(storage.xorb_path(repo_id, xorb_hash), "rb")
    except FileNotFoundError:
        raise BadRequest(f"Invalid shard: xorb {xorb_hash} was never uploaded for {repo_id}.") from None


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body of {declared} bytes exceeds the server's upload limit of {limit} bytes.")


async def _stream_to(request: Request, write: Callable[[bytes], None], *, batch: int = 1 << 20) -> None:
    """Feed the request body to ``write`` in the thread pool, in batches of about ``batch`` bytes."""
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) >= batch:
            await run_in_threadpool(write, bytes(buffer))
            buffer.clear()
    if buffer:
        await run_in_threadpool(write, bytes(buffer))


def _require_model_type(repo_type: Any) -> None:
    if repo_type not in (None, "model"):
        raise BadRequest(f"Repo type {repo_type!r} is not supported: this server hosts model repos only.")


def _parse_commit_payload(raw: bytes, limit: int) -> tuple[dict[str, Any], list[Operation], dict[str, bytes]]:
    """Parse and validate the whole NDJSON commit payload before anything is stored."""
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    contents: dict[str, bytes] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise BadRequest(f"Invalid commit payload: line {number} is not a {{key, value}} JSON object.") from None
        if key == "header":
            header = value
            continue
        path = value.get("path") if isinstance(value, dict) else None
        if not isinstance(path, str):
            raise BadRequest(f"Invalid commit payload: line {number} ({key}) has no 'path'.")
        validate_path(path if key != "deletedFolder" else path.rstrip("/"))
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise BadRequest(f"Invalid commit payload: unsupported encoding for {path!r}.")
            try:
                content = base64.b64decode(value.get("content") or "", validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(f"Invalid commit payload: content of {path!r} is not valid base64.") from None
            if len(content) > limit:
                raise PayloadTooLarge(f"File {path!r} exceeds the server's upload limit of {limit} bytes.")
            if len(content) >= constants.SERVER_LFS_THRESHOLD_BYTES:
                raise BadRequest(
                    f"File {path!r} is {len(content)} bytes: files of "
                    f"{constants.SERVER_LFS_THRESHOLD_BYTES} bytes or more must be uploaded through LFS."
                )
            contents[path] = content
            sha = hashlib.sha256(content).hexdigest()
            operations.append(AddFile(path, sha, len(content), False, git_blob_oid(content)))
        elif key == "lfsFile":
            oid = value.get("oid")
            if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or len(oid) != 64:
                raise BadRequest(f"Invalid commit payload: LFS file {path!r} needs a sha256 'oid'.")
            size = value.get("size")
            operations.append(AddFile(path, oid.lower(), int(size) if isinstance(size, int) else -1, True, ""))
        elif key == "deletedFile":
            operations.append(DeleteFile(path))
        elif key == "deletedFolder":
            operations.append(DeleteFolder(path.rstrip("/")))
        else:
            raise BadRequest(f"Invalid commit payload: unknown operation {key!r} on line {number}.")
    if header is None:
        raise BadRequest("Invalid commit payload: the 'header' line (summary, description) is missing.")
    return header, operations, contents


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _infer_library(commit: Commit) -> str | None:
    """The Hub infers Keras from Keras' own saved layout (config.json + metadata.json + weights)."""
    files = commit.files
    if {constants.CONFIG_FILE, constants.METADATA_FILE} <= files.keys() and any(
        p.endswith(".weights.h5") for p in files
    ):
        return "keras"
    if any(p.endswith(".keras") for p in files):
        return "keras"
    return None


def _git_pattern_match(pattern: str, path: str) -> bool:
    """gitattributes/gitignore matching: a pattern without '/' matches the basename anywhere."""
    pattern = pattern.lstrip("/") if pattern.startswith("/") else pattern
    if pattern.endswith("/"):
        return path.startswith(pattern) or ("/" + pattern) in ("/" + path)
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))


def _gitignore_patterns(sent: Any, commit: Commit, blob_text: Callable[[str], str]) -> list[str]:
    if isinstance(sent, str):
        text = sent
    elif ".gitignore" in commit.files:
        text = blob_text(commit.files[".gitignore"].sha256)
    else:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(("#", "!"))]


def _header_safe(message: str) -> str:
    return message.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")[:1000]
