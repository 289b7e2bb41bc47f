"""Identity, repos (create, delete, move, settings), model info and listing, refs, history, branches, tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hub_publish import constants
from hub_publish.hub_lists import metadata_problems
from hub_publish.server import frontmatter
from hub_publish.server.deps import (
    Ctx,
    CurrentUser,
    OptionalUser,
    ReadableRepo,
    WritableRepo,
    base_url,
    unslash,
    writable_repo,
)
from hub_publish.server.errors import BadRequest, Conflict, HubError, Unauthorized
from hub_publish.server.schemas import CreateBranch, CreateRepo, CreateTag, DeleteRepo, MoveRepo, Settings, ValidateYaml
from hub_publish.server.validation import validate_name, validate_repo_id
from hub_publish.server.views import model_info, paginated

router = APIRouter()
Flag = Annotated[bool, Query()]
Cursor = Annotated[int, Query(ge=0)]


def header_safe(message: str) -> str:
    """A message fit for an HTTP header: ASCII, one line, no leading/trailing space (h11 refuses those)."""
    return " ".join(message.encode("ascii", "replace").decode().split())[:1000] or "error"


def require_model_type(repo_type: Any) -> None:
    if repo_type not in (None, "model"):
        raise BadRequest(f"Repo type {repo_type!r} is not supported: this server hosts model repos only.")


@router.get("/api/whoami-v2")
def whoami(user: CurrentUser) -> dict:
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


@router.post("/api/repos/create")
async def create_repo(request: Request, body: CreateRepo, ctx: Ctx, user: OptionalUser) -> dict:
    require_model_type(body.type)
    if user is None:
        raise Unauthorized("Authentication required to create a repo: send a token.")
    name = body.name
    namespace = body.organization or user.name
    if "/" in name and not body.organization:
        namespace, name = name.split("/", 1)
    validate_name(namespace, what="namespace")
    validate_name(name)
    repo_id = f"{namespace}/{name}"
    private = body.private
    if body.visibility is not None:
        private = body.visibility == "private"
    ctx.auth.check_write(user, namespace, False, repo_id)
    url = f"{base_url(request)}/{repo_id}"
    try:
        await run_in_threadpool(ctx.storage.create_repo, repo_id, private=bool(private), creator=user.name)
    except Conflict as exc:
        exc.extra["url"] = url  # huggingface_hub reads `url` from the 409 body (exist_ok=True)
        raise
    return {"url": url, "name": repo_id, "id": repo_id}


@router.delete("/api/repos/delete")
async def delete_repo(body: DeleteRepo, ctx: Ctx, user: OptionalUser) -> dict:
    require_model_type(body.type)
    namespace = body.organization or (user.name if user else "")
    repo_id = validate_repo_id(f"{namespace}/{body.name}")
    access = _writable(ctx, user, repo_id)
    await run_in_threadpool(ctx.storage.delete_repo, access)
    return {}


@router.post("/api/repos/move")
async def move_repo(request: Request, body: MoveRepo, ctx: Ctx, user: OptionalUser) -> dict:
    require_model_type(body.type)
    src, dest = validate_repo_id(body.fromRepo), validate_repo_id(body.toRepo)
    _writable(ctx, user, src)
    assert user is not None  # _writable refused anonymous callers
    ctx.auth.check_write(user, dest.split("/")[0], False, dest)
    await run_in_threadpool(ctx.storage.move_repo, src, dest)
    return {"url": f"{base_url(request)}/{dest}"}


def _writable(ctx: Ctx, user: OptionalUser, repo_id: str) -> str:
    namespace, name = repo_id.split("/")
    return writable_repo(namespace, name, ctx, user).id


@router.put("/api/models/{namespace}/{name}/settings")
async def update_settings(body: Settings, repo: WritableRepo, ctx: Ctx) -> dict:
    private = body.private
    if body.visibility is not None:
        private = body.visibility == "private"
    if body.gated not in (None, False, "false"):
        raise BadRequest("Gated repos are not supported by this server.")
    meta = await run_in_threadpool(ctx.storage.update_settings, repo.id, private=private)
    return {"private": meta.private, "gated": False}


@router.post("/api/validate-yaml")
def validate_yaml(body: ValidateYaml, user: OptionalUser) -> Response:
    """huggingface_hub calls this before committing a README.md (``HfApi._validate_yaml``).

    It reads no repo, but a token that matches no user is still a 401, as on every Hub route.
    """
    error = frontmatter.error(body.content)
    if error is None:  # well-formed: the Hub's own rules (license ids, pipeline tasks), as `card --check`
        error = "; ".join(metadata_problems(frontmatter.parse(body.content) or {})) or None
    if error:
        return JSONResponse(
            {"errors": [{"message": error}], "warnings": []},
            status_code=400,
            headers={"X-Error-Message": header_safe(error)},
        )
    return JSONResponse({"errors": [], "warnings": []})


# ---------------------------------------------------------------- model info and listing
@router.get("/api/models")
def list_models(
    request: Request,
    ctx: Ctx,
    user: OptionalUser,
    author: str | None = None,
    search: str | None = None,
    filter: Annotated[list[str] | None, Query()] = None,
    sort: str | None = None,
    direction: str | None = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    full: Flag = False,
    cardData: Flag = False,
    cursor: Cursor = 0,
) -> Response:
    if user is None and not ctx.auth.config.anonymous_read:
        raise Unauthorized("This server requires a token to read.")
    search = (search or "").lower()
    filters = [f for item in filter or [] for f in item.split(",") if f]
    items = []
    for meta in ctx.storage.list_repos():
        namespace = meta.id.split("/")[0]
        if meta.private and (user is None or not user.can_write(namespace)):
            continue
        if author and namespace != author:
            continue
        if search and search not in meta.id.lower():
            continue
        try:
            commit = ctx.commit_at(meta.id, "main")
        except HubError:
            continue  # deleted or moved meanwhile
        info = model_info(ctx, meta, commit, blobs=False, full=full)
        if any(f not in info["tags"] and f != info["library_name"] for f in filters):
            continue
        if not cardData and not full:
            info.pop("cardData", None)
        items.append(info)
    if sort in ("lastModified", "createdAt", "downloads", "likes"):
        items.sort(key=lambda i: i[sort], reverse=(direction or "-1") == "-1")
    if limit is not None:
        items = items[:limit]
    return paginated(request, items, constants.SERVER_LIST_PAGE_SIZE, cursor)


@router.get("/api/models/{namespace}/{name}")
def get_model(repo: ReadableRepo, ctx: Ctx, blobs: Flag = False) -> dict:
    return model_info(ctx, repo.meta, ctx.commit_at(repo.id, "main"), blobs=blobs)


@router.get("/api/models/{namespace}/{name}/revision/{revision}")
def get_model_revision(repo: ReadableRepo, ctx: Ctx, revision: str, blobs: Flag = False) -> dict:
    return model_info(ctx, repo.meta, ctx.commit_at(repo.id, revision), blobs=blobs)


@router.get("/api/models/{namespace}/{name}/refs")
def list_refs(repo: ReadableRepo, ctx: Ctx, include_prs: Flag = False) -> dict:
    refs = ctx.storage.refs(repo.id)
    out: dict[str, Any] = {
        "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in sorted(refs["heads"].items())],
        "converts": [],
        "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in sorted(refs["tags"].items())],
    }
    if include_prs:
        out["pullRequests"] = [
            {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
            for n, c in sorted(refs["pulls"].items(), key=lambda kv: int(kv[0]))
        ]
    return out


@router.get("/api/models/{namespace}/{name}/commits/{revision}")
def list_commits(request: Request, repo: ReadableRepo, ctx: Ctx, revision: str, cursor: Cursor = 0) -> Response:
    head = ctx.storage.resolve(repo.id, unslash(revision))
    formatted = "formatted" in request.query_params.getlist("expand[]")
    items = []
    for c in ctx.storage.history(repo.id, head):
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
    return paginated(request, items, 50, cursor)


# ---------------------------------------------------------------- branches and tags
@router.post("/api/models/{namespace}/{name}/branch/{branch}")
async def create_branch(repo: WritableRepo, ctx: Ctx, branch: str, body: CreateBranch | None = None) -> dict:
    start = body.startingPoint if body else None
    await run_in_threadpool(ctx.storage.create_branch, repo.id, unslash(branch), start)
    return {}


@router.delete("/api/models/{namespace}/{name}/branch/{branch}")
def delete_branch(repo: WritableRepo, ctx: Ctx, branch: str) -> dict:
    ctx.storage.delete_branch(repo.id, unslash(branch))
    return {}


@router.post("/api/models/{namespace}/{name}/tag/{revision}")
async def create_tag(repo: WritableRepo, ctx: Ctx, revision: str, body: CreateTag) -> dict:
    await run_in_threadpool(ctx.storage.create_tag, repo.id, body.tag, unslash(revision))
    return {}


@router.delete("/api/models/{namespace}/{name}/tag/{tag}")
def delete_tag(repo: WritableRepo, ctx: Ctx, tag: str) -> dict:
    ctx.storage.delete_tag(repo.id, unslash(tag))
    return {}
