"""JSON shapes of the server's answers (model info, tree entries, pages), as huggingface_hub reads them."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from hub_publish import constants
from hub_publish.server.deps import ServerContext, base_url
from hub_publish.server.storage import Commit, RepoMeta


def model_info(ctx: ServerContext, meta: RepoMeta, commit: Commit, *, blobs: bool, full: bool = True) -> dict:
    """``/api/models/{repo}`` (and one item of ``/api/models``)."""
    card = ctx.card_data(commit) or {}
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


def add_last_commits(ctx: ServerContext, repo_id: str, head: Commit, entries: list[dict[str, Any]]) -> None:
    """Fill `lastCommit` of each entry: the newest commit that changed it (walks history once)."""

    def signature(commit: Commit | None, path: str, is_dir: bool) -> Any:
        if commit is None:
            return None
        if not is_dir:
            entry = commit.files.get(path)
            return entry.oid if entry else None
        return tuple(sorted((p, e.oid) for p, e in commit.files.items() if p.startswith(path + "/")))

    pending = {e["path"]: e for e in entries}
    history = list(ctx.storage.history(repo_id, head.id))
    for i, commit in enumerate(history):
        parent = history[i + 1] if i + 1 < len(history) else None
        for path, entry in list(pending.items()):
            is_dir = entry["type"] == "directory"
            if signature(commit, path, is_dir) != signature(parent, path, is_dir):
                entry["lastCommit"] = {"id": commit.id, "title": commit.title, "date": commit.date}
                del pending[path]
        if not pending:
            return


def paginated(request: Request, items: list[Any], page_size: int, cursor: int) -> Response:
    """One page of ``items`` from ``cursor``, with a ``Link: <...>; rel="next"`` header when more follow."""
    page = items[cursor : cursor + page_size]
    headers = {}
    if cursor + page_size < len(items):
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", str(cursor + page_size)))
        # The middleware turned encoded slashes into a placeholder: they go back to %2F here.
        url = f"{base_url(request)}{quote(request.url.path).replace('%00', '%2F')}?{urlencode(params)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse(page, headers=headers)


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
