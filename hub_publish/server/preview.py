"""The model page of the embedded Hub: ``GET /{namespace}/{name}[?revision=...]`` as HTML.

The page shows, for one revision (branch, tag, ``refs/...`` or commit id; default ``main``):
the model card (README.md rendered from Markdown, its YAML front matter feeding the sidebar
instead of being shown), the metadata sidebar (library, pipeline tag, tags, license, datasets,
base model, evaluation results of ``model-index``), the file list with sizes, a "use this model"
snippet, the commit and the revision.

Safety: README.md is untrusted. It is rendered with markdown-it in CommonMark mode with raw HTML
*off*, so any ``<script>``, ``<img onerror=...>`` or other tag in it comes out as text; links and
images go through markdown-it's link validation (no ``javascript:``, ``vbscript:``, ``file:`` or
non-image ``data:`` URLs) and a second allow-list here. Every answer carries a strict
``Content-Security-Policy`` (`CONTENT_SECURITY_POLICY`: no script at all, images from this server
or ``data:`` only) as defense in depth. Relative images and links of the card point at the
server's ``/resolve`` route *at the page's commit*, so a card always shows its own revision's
plots.

Access follows the API's rules: a private repo is a 404 to anonymous visitors, and a browser sends
no token, so private repos have no page in a browser (a client sending ``Authorization: Bearer``
sees it).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub_publish import __version__, constants
from hub_publish.server.auth import Authorizer
from hub_publish.server.errors import HubError, RepoNotFound, RevisionNotFound
from hub_publish.server.storage import Commit, Storage
from hub_publish.server.validation import validate_repo_id
from model_cards.builder import human_size

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Sent with every page: no script may run, images only from this server (or ``data:``)."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

MAX_CARD_BYTES = 1_000_000
"""README.md files larger than this are not rendered (the page says so)."""

_LINK_SCHEMES = ("http", "https", "mailto")
_DATA_IMAGE_RE = re.compile(r"^data:image/(?:gif|png|jpeg|webp);", re.IGNORECASE)
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def install_preview(app: FastAPI, *, storage: Storage, auth: Authorizer) -> None:
    """Add the model page route ``GET /{namespace}/{name}`` to the server's app.

    Register it *after* every other route: ``/{namespace}/{name}`` also matches two-segment API
    paths such as ``/api/whoami-v2``, and Starlette takes the first route that matches.

    Args:
        app: The server's FastAPI app.
        storage: Its repo storage.
        auth: Its authorizer (the page follows the API's read rules).
    """

    @app.api_route("/{namespace}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def model_page(request: Request, namespace: str, name: str) -> Response:
        revision = request.query_params.get("revision") or "main"
        repo_id = f"{namespace}/{name}".replace("\x00", "/")
        try:
            validate_repo_id(repo_id)
            user = auth.user_for(request.headers.get("authorization"))
            meta = storage.repo_meta(repo_id)
            auth.check_read(user, namespace, meta.private, repo_id)
            try:
                commit = storage.commit(repo_id, storage.resolve(repo_id, revision))
            except RevisionNotFound:
                raise RevisionNotFound(f"Revision {revision!r} not found in {repo_id}.") from None
            refs = storage.refs(repo_id)
        except RepoNotFound:
            return error_page(404, f"Repository {repo_id} not found.")
        except HubError as exc:
            return error_page(exc.status, exc.message)
        card_text, card_too_large = _card_text(storage, commit)
        html = render_model_page(
            repo_id=repo_id,
            revision=revision,
            commit=commit,
            refs=refs,
            private=meta.private,
            card_text=card_text,
            card_too_large=card_too_large,
            endpoint=str(request.base_url).rstrip("/"),
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    # The Hub's own page URLs for a commit or a revision (huggingface_hub's CommitInfo.commit_url,
    # printed by push and quickstart, is /{ns}/{name}/commit/{sha}) lead to the model page there.
    @app.get("/{namespace}/{name}/commit/{revision}", include_in_schema=False)
    @app.get("/{namespace}/{name}/tree/{revision:path}", include_in_schema=False)
    def revision_page(namespace: str, name: str, revision: str) -> Response:
        return RedirectResponse(f"/{quote(namespace)}/{quote(name)}?{urlencode({'revision': revision})}", status_code=302)


def error_page(status: int, message: str) -> HTMLResponse:
    """A minimal HTML error page saying what went wrong in one line.

    Args:
        status: HTTP status code.
        message: The line shown.

    Returns:
        The response, with the page's security headers.
    """
    html = _template("error_page.html").render(status=status, message=message, version=__version__)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def render_model_page(
    *,
    repo_id: str,
    revision: str,
    commit: Commit,
    refs: dict[str, dict[str, str]],
    private: bool,
    card_text: str | None,
    endpoint: str,
    card_too_large: bool = False,
) -> str:
    """Render the HTML model page of one repo revision.

    Args:
        repo_id: ``namespace/name``.
        revision: The revision asked for (branch, tag, ``refs/...`` or commit id).
        commit: The commit it resolves to.
        refs: The repo's refs (``{"heads": ..., "tags": ..., "pulls": ...}``).
        private: Whether the repo is private (shown as a badge).
        card_text: README.md's text, ``None`` when there is none (or it is too large).
        endpoint: The server's base URL, for the snippet's ``HF_ENDPOINT``.
        card_too_large: README.md exists but is over `MAX_CARD_BYTES` (the page says so).

    Returns:
        The page, as HTML.
    """
    metadata, body = split_front_matter(card_text or "")

    def file_url(path: str) -> str:
        return f"/{repo_id}/resolve/{commit.id}/{quote(path)}"

    card_html = render_card(body, file_url=file_url, files=set(commit.files)) if card_text is not None else ""
    files = [
        {"path": p, "size": human_size(e.size), "bytes": e.size, "lfs": e.lfs, "url": file_url(p)}
        for p, e in sorted(commit.files.items())
    ]
    pinned = revision if revision != "main" else None
    return _template("model_page.html").render(
        repo_id=repo_id,
        revision=revision,
        revision_kind=_revision_kind(revision, refs, commit.id),
        commit=commit,
        private=private,
        card_html=card_html,
        card_missing=card_text is None and not card_too_large,
        card_too_large=card_too_large,
        sidebar=sidebar_fields(metadata),
        eval_results=eval_results(metadata),
        files=files,
        total_size=human_size(sum(e.size for e in commit.files.values())),
        branches=sorted(refs.get("heads", {})),
        tags=sorted(refs.get("tags", {})),
        page_url=lambda rev: f"/{repo_id}?{urlencode({'revision': rev})}",
        repo_href=_repo_href,
        snippet=use_snippet(repo_id, pinned, endpoint),
        version=__version__,
    )


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a model card into its YAML front matter and its Markdown body.

    Args:
        text: README.md's text.

    Returns:
        ``(metadata, body)``: the metadata is ``{}`` when there is none or it does not parse as a
        YAML mapping; the body never contains the front matter block.
    """
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            import yaml

            body = "".join(lines[i + 1 :])
            try:
                data = yaml.safe_load("".join(lines[1:i]))
            except yaml.YAMLError:
                return {}, body
            return (data if isinstance(data, dict) else {}), body
    return {}, text


def render_card(
    markdown: str, *, file_url: Callable[[str], str], files: set[str] | frozenset[str] = frozenset()
) -> str:
    """Render a model card's Markdown body to safe HTML.

    Raw HTML is escaped (CommonMark plus GitHub-style tables), except HTML comments, which are
    dropped, and bare ``<details>``/``<summary>``/``<br>`` tags (no attributes), which cards use
    for folded sections and which cannot run anything. Relative image
    sources become ``file_url(path)``; relative links do too when they name a file in ``files``.
    Only ``http``, ``https``, ``mailto`` and fragment links, and ``data:image/...`` images, are kept;
    any other URL is dropped. Headings get GitHub-style ids, so ``[x](#a-heading)`` links work.

    Args:
        markdown: The card body (without front matter).
        file_url: Maps a repo path to the URL serving it (the server's resolve URL).
        files: The paths of the repo at this revision.

    Returns:
        The HTML.
    """
    md = _markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(markdown, env)
    slugs: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            token.attrSet("id", _slug(tokens[i + 1].content, slugs))
        if token.type == "html_block":
            token.content = _safe_html(token.content)
        for child in token.children or ():
            if child.type == "html_inline":
                child.content = _safe_html(child.content)
            elif child.type == "image":
                src = _image_src(str(child.attrGet("src") or ""), file_url)
                if src is None:
                    child.attrs.pop("src", None)
                else:
                    child.attrSet("src", src)
            elif child.type == "link_open":
                href = _link_href(str(child.attrGet("href") or ""), file_url, files)
                if href is None:
                    child.attrs.pop("href", None)
                else:
                    child.attrSet("href", href)
                    if urlsplit(href).netloc:  # another site
                        child.attrSet("rel", "nofollow noopener noreferrer")
    return md.renderer.render(tokens, md.options, env)


def sidebar_fields(metadata: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The metadata shown in the sidebar, in display order, each as a list of strings.

    Args:
        metadata: The card's YAML front matter.

    Returns:
        ``[(label, values), ...]`` for the fields present: library, pipeline tag, license,
        datasets, base model (with its relation), language, metrics, tags.
    """
    out: list[tuple[str, list[str]]] = []
    for key, label in (
        ("library_name", "Library"),
        ("pipeline_tag", "Pipeline tag"),
        ("license", "License"),
        ("datasets", "Datasets"),
        ("base_model", "Base model"),
        ("base_model_relation", "Base model relation"),
        ("language", "Language"),
        ("metrics", "Metrics"),
        ("tags", "Tags"),
    ):
        values = _strings(metadata.get(key))
        if values:
            out.append((label, values))
    return out


def eval_results(metadata: dict[str, Any]) -> list[dict[str, str]]:
    """The evaluation results of a card's ``model-index``, flattened for a table.

    Malformed entries are skipped, never an error: the card is the author's.

    Args:
        metadata: The card's YAML front matter.

    Returns:
        One dict per metric: ``model``, ``task``, ``dataset``, ``split``, ``metric``, ``value``.
    """
    rows: list[dict[str, str]] = []
    index = metadata.get("model-index")
    for model in index if isinstance(index, list) else []:
        if not isinstance(model, dict):
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict):
                continue
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict) or "value" not in metric:
                    continue
                value = metric["value"]
                rows.append(
                    {
                        "model": str(model.get("name") or ""),
                        "task": str(task.get("name") or task.get("type") or ""),
                        "dataset": str(dataset.get("name") or dataset.get("type") or ""),
                        "split": str(dataset.get("split") or ""),
                        "metric": str(metric.get("name") or metric.get("type") or ""),
                        "value": f"{value:.4f}" if isinstance(value, float) else str(value),
                    }
                )
    return rows


def use_snippet(repo_id: str, revision: str | None, endpoint: str) -> str:
    """The "use this model" code: hub-publish and plain Keras loading.

    Args:
        repo_id: ``namespace/name``.
        revision: A revision to pin in the hub-publish call, or ``None`` for the default branch.
        endpoint: This server's URL (the snippet sets ``HF_ENDPOINT`` to it).

    Returns:
        Python source.
    """
    pin = f", revision={revision!r}".replace("'", '"') if revision else ""
    return (
        f"# export HF_ENDPOINT={endpoint}\n"
        "import hub_publish\n\n"
        f'model = hub_publish.from_pretrained("{repo_id}"{pin})\n\n'
        "# or with plain Keras (import hub_publish.models first for the zoo's classes)\n"
        "import keras\n\n"
        f'model = keras.saving.load_model("hf://{repo_id}")\n'
    )


# ---------------------------------------------------------------------------------- helpers


def _card_text(storage: Storage, commit: Commit) -> tuple[str | None, bool]:
    """README.md's text (None when there is none) and whether it is too large to be shown."""
    entry = commit.files.get(constants.CARD_FILE)
    if entry is None:
        return None, False
    if entry.size > MAX_CARD_BYTES:
        return None, True
    return storage.blob_path(entry.sha256).read_text(encoding="utf-8", errors="replace"), False


def _revision_kind(revision: str, refs: dict[str, dict[str, str]], commit_id: str) -> str:
    if revision.startswith("refs/pr/"):
        return "pull request"
    if revision.startswith("refs/tags/"):
        return "tag"
    if revision.removeprefix("refs/heads/") in refs.get("heads", {}):
        return "branch"
    if revision in refs.get("tags", {}):
        return "tag"
    if _SHA1_RE.match(revision) and revision == commit_id:
        return "commit"
    return "revision"


def _repo_path(url: str) -> str | None:
    """The repo path a relative URL names (its query and fragment dropped), or None."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    path = posixpath.normpath(unquote(parts.path))
    if path in (".", "") or path == ".." or path.startswith("../"):
        return None
    return path


_HTML_PIECE = re.compile(r"<!--.*?(?:-->|\Z)|<[^<>]*>", re.DOTALL)
_ALLOWED_TAG = re.compile(r"</?(?:details|summary)\s*>|<br\s*/?>", re.IGNORECASE)


def _escape(text: str) -> str:
    """Escape as markdown-it does for text (``& < > "``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _safe_html(raw: str) -> str:
    """Raw HTML from a card: comments dropped, bare details/summary/br kept, the rest escaped."""
    out, pos = [], 0
    for match in _HTML_PIECE.finditer(raw):
        out.append(_escape(raw[pos : match.start()]))
        piece = match.group(0)
        if _ALLOWED_TAG.fullmatch(piece):
            out.append(piece.lower().replace(" ", ""))
        elif not piece.startswith("<!--"):
            out.append(_escape(piece))
        pos = match.end()
    out.append(_escape(raw[pos:]))
    return "".join(out)


def _image_src(src: str, file_url: Callable[[str], str]) -> str | None:
    scheme = urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        return src  # kept, but the page's CSP only loads images from this server
    if scheme == "data":
        return src if _DATA_IMAGE_RE.match(src) else None
    if scheme:
        return None
    path = _repo_path(src)
    if path is not None:
        return file_url(path)
    return src if src.startswith("/") else None  # a server path is kept; one leaving the repo is not


def _link_href(href: str, file_url: Callable[[str], str], files: set[str] | frozenset[str]) -> str | None:
    if href.startswith("#"):
        return href
    scheme = urlsplit(href).scheme.lower()
    if scheme:
        return href if scheme in _LINK_SCHEMES else None
    path = _repo_path(href)
    if path is not None and path in files:
        return file_url(path)
    return href


def _repo_href(value: str) -> str | None:
    """The model page of a repo id named in the card (``base_model``), or None if it is not one."""
    return f"/{value}" if _REPO_ID_RE.match(value) else None


def _slug(text: str, seen: dict[str, int]) -> str:
    """GitHub-style heading anchor: lower case, punctuation dropped, spaces to dashes, deduplicated."""
    base = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-") or "section"
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def _strings(value: Any) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    if isinstance(value, dict):
        return []
    return [str(value)]


@functools.lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # html on so raw HTML arrives as html_block / html_inline tokens, which render_card passes
    # through _safe_html (escape all but a few attribute-free tags); nothing raw is emitted as is.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


@functools.cache
def _template(name: str) -> Any:
    return _jinja().get_template(name)


@functools.lru_cache(maxsize=1)
def _jinja() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("hub_publish.server", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
