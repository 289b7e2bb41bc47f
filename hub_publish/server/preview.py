"""The model page of the embedded Hub: ``GET /{namespace}/{name}[?revision=...]`` as HTML.

The page shows, for one revision (branch, tag, ``refs/...`` or commit id; default ``main``):
the model card (README.md rendered from Markdown, its YAML front matter feeding the sidebar
instead of being shown), the metadata sidebar (library, pipeline tag, tags, license, datasets,
base model, evaluation results of ``model-index``), the file list with sizes, a "use this model"
snippet, the commit and the revision.

Rendering follows the Hub: markdown-it-py's GFM-like preset (tables, strikethrough, autolinks
through linkify) with mdit-py-plugins (task lists, footnotes, heading anchors, front matter), raw
HTML allowed, and the resulting HTML sanitized by an allow-list sanitizer (nh3, ammonia's
bindings): ``<p align="center"><img ...></p>``, ``<details>``, ``<sup>``, ``<kbd>`` and friends
render; ``<script>``/``<style>`` go with their content, every ``on*`` handler, ``style`` and
unknown attribute is dropped, and only ``http``, ``https``, ``mailto``, fragment and relative URLs
(plus ``data:image/...`` images) survive. Every answer also carries a strict
``Content-Security-Policy`` (`CONTENT_SECURITY_POLICY`: no script at all, images from this server
or ``data:`` only) as defense in depth. Relative images and links of the card point at the
server's ``/resolve`` route *at the page's commit*, so a card always shows its own revision's
plots; links and images to ``huggingface.co/{repo}`` point at this server when the repo is on it.

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
from hub_publish.server import frontmatter
from hub_publish.server.auth import Authorizer
from hub_publish.server.errors import HubError, RepoNotFound, RevisionNotFound
from hub_publish.server.storage import Commit, Storage
from hub_publish.server.validation import validate_repo_id
from hub_publish.hub_lists import is_repo_id
from hub_publish.text import human_size, is_commit_sha

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

MAX_CARD_BYTES = constants.SERVER_CARD_MAX_BYTES
"""README.md files larger than this are not rendered (the page says so)."""

_LINK_SCHEMES = ("http", "https", "mailto")
_DATA_IMAGE_RE = re.compile(r"^data:image/(?:gif|png|jpeg|webp);", re.IGNORECASE)


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

        def local_repo(other: str) -> bool:  # a repo of this server the visitor may see
            try:
                validate_repo_id(other)
                auth.check_read(user, other.split("/")[0], storage.repo_meta(other).private, other)
            except HubError:
                return False
            return True

        html = render_model_page(
            repo_id=repo_id,
            revision=revision,
            commit=commit,
            refs=refs,
            private=meta.private,
            card_text=card_text,
            card_too_large=card_too_large,
            endpoint=str(request.base_url).rstrip("/"),
            local_repo=local_repo,
            model_module=_model_module(storage, commit),
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
    local_repo: Callable[[str], bool] = lambda repo: False,
    model_module: str | None = None,
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
        local_repo: Whether a repo id is on this server (and visible): Hub links to it become
            links to its page here.
        model_module: The module defining the model's class (metadata.json), imported by the
            plain-Keras snippet so Keras knows the class.

    Returns:
        The page, as HTML.
    """
    metadata, body = split_front_matter(card_text or "")

    def file_url(path: str) -> str:
        return f"/{repo_id}/resolve/{commit.id}/{quote(path)}"

    pinned = revision if revision != "main" else None
    card_html = (
        render_card(body, file_url=file_url, files=set(commit.files), local_repo=local_repo,
                    pin=(repo_id, pinned) if pinned else None) if card_text is not None else ""
    )
    files = [
        {"path": p, "size": human_size(e.size), "bytes": e.size, "lfs": e.lfs, "url": file_url(p)}
        for p, e in sorted(commit.files.items())
    ]
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
        snippet=use_snippet(repo_id, pinned, endpoint, module=model_module),
        endpoint=endpoint,
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
    # The same bounded, JSON-safe parser as the API's cardData: an alias bomb or an odd YAML
    # value in one README must not break (or blow up) the page.
    try:
        _, body = frontmatter.split(text)
    except frontmatter.FrontMatterError:  # an unclosed block: all of it is body
        return {}, text
    try:
        data = frontmatter.parse(text)
    except frontmatter.FrontMatterError:
        data = None
    return (data or {}), body


def render_card(
    markdown: str,
    *,
    file_url: Callable[[str], str],
    files: set[str] | frozenset[str] = frozenset(),
    local_repo: Callable[[str], bool] = lambda repo: False,
    pin: tuple[str, str] | None = None,
) -> str:
    """Render a model card's Markdown body to safe HTML, as the Hub does (see the module docstring).

    Relative image sources become ``file_url(path)``; relative links do too when they name a file
    in ``files``. Links and images to a ``huggingface.co`` repo that ``local_repo`` says is on
    this server point here. Only ``http``, ``https``, ``mailto``, fragment and relative links, and
    ``data:image/...`` images, are kept. Headings get GitHub-style ids, so ``[x](#a-heading)``
    links work.

    Args:
        markdown: The card body (without front matter).
        file_url: Maps a repo path to the URL serving it (the server's resolve URL).
        files: The paths of the repo at this revision.
        local_repo: Whether a repo id is on this server (and visible to the visitor).
        pin: ``(repo_id, revision)`` on a revision's page: the card's Python snippets that load
            ``repo_id`` are pinned to ``revision`` (see `pin_snippet`), so they load what the
            page shows.

    Returns:
        The HTML.
    """
    import nh3

    # Table column alignment: markdown-it writes `style="text-align:..."`, which the sanitizer drops
    # (no style attributes at all); `align` says the same without CSS.
    md, env = _markdown(), {}
    tokens = md.parse(markdown, env)
    if pin is not None:
        for token in tokens:
            if token.type == "fence" and token.info.strip().lower() in ("python", "py"):
                token.content = pin_snippet(token.content, *pin)
    html = _TABLE_ALIGN.sub(r'<\1 align="\2"', md.renderer.render(tokens, md.options, env))

    def attribute(tag: str, name: str, value: str) -> str | None:
        if name == "id":  # headings' and footnotes' anchors; never one of the page's own ids
            return None if value.startswith("hp-") else value
        if tag == "img" and name == "src":
            return _image_src(_local_hub_url(value, local_repo, resolve=True), file_url)
        if tag == "a" and name == "href":
            return _link_href(_local_hub_url(value, local_repo), file_url, files)
        return value

    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ALLOWED_ATTRIBUTES,
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": ""}},
        attribute_filter=attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


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
        results = model.get("results")
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            metrics = result.get("metrics")
            for metric in metrics if isinstance(metrics, list) else []:
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


def pin_snippet(code: str, repo_id: str, revision: str) -> str:
    """Pin a card snippet's loads of ``repo_id`` to ``revision`` (the code of a revision's page).

    ``from_pretrained("repo")`` and ``snapshot_download("repo")`` get ``revision=``; Keras'
    ``load_model("hf://repo"...)`` (which always loads the default branch) becomes
    ``load_model(snapshot_download("repo", revision=...)...)``, importing ``snapshot_download``.

    Args:
        code: Python source of one snippet.
        repo_id: The page's repo.
        revision: The page's revision.

    Returns:
        The pinned source (unchanged when it does not load ``repo_id``).
    """
    quoted, pin = f'"{repo_id}"', f'"{repo_id}", revision="{revision}"'
    code = re.sub(rf"\b(from_pretrained|snapshot_download)\({re.escape(quoted)}\)", rf"\1({pin})", code)
    hf_url = f'load_model("hf://{repo_id}"'
    if hf_url in code:
        code = code.replace(hf_url, f"load_model(snapshot_download({pin})")
        if "import snapshot_download" not in code:
            lines = code.split("\n")
            last_import = max((i for i, line in enumerate(lines) if line.startswith(("import ", "from "))), default=-1)
            lines.insert(last_import + 1, "from huggingface_hub import snapshot_download")
            code = "\n".join(lines)
    return code


def use_snippet(repo_id: str, revision: str | None, endpoint: str, *, module: str | None = None) -> str:
    """The "use this model" Python code: hub-publish and plain Keras loading, pinned to ``revision``.

    It runs as pasted once ``HF_ENDPOINT`` points at this server (the page shows that shell line
    above it): the plain-Keras part imports the module of the model's class (so Keras knows it),
    loads without the training configuration (``compile=False``: no optimizer state is saved) and,
    on a revision page, downloads that revision (Keras' ``hf://`` URLs always load the default
    branch).

    Args:
        repo_id: ``namespace/name``.
        revision: A revision to pin, or ``None`` for the default branch.
        endpoint: This server's URL (kept for callers; the shell line shows it).
        module: The module defining the model's class, or None for a plain Keras model.

    Returns:
        Python source.
    """
    pin = f', revision="{revision}"' if revision else ""
    register = f"import {module}  # registers the model's class with Keras\n" if module and not module.startswith("keras") else ""
    if revision:
        keras_part = (
            "import keras\n"
            f"{register}"
            "from huggingface_hub import snapshot_download\n\n"
            f'model = keras.saving.load_model(snapshot_download("{repo_id}"{pin}), compile=False)\n'
        )
    else:
        keras_part = f'import keras\n{register}\nmodel = keras.saving.load_model("hf://{repo_id}", compile=False)\n'
    return (
        "import hub_publish\n\n"
        f'model = hub_publish.from_pretrained("{repo_id}"{pin})\n\n'
        "# or with plain Keras:\n"
        f"{keras_part}"
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
    if is_commit_sha(revision) and revision == commit_id:
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


_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "details",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input",
    "ins", "kbd", "li", "mark", "ol", "p", "picture", "pre", "q", "s", "samp", "section", "small", "source", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u",
    "ul", "var", "wbr",
}
"""What a card may contain (the Hub's README allow-list, less forms, media players and frames)."""
_ALIGN = {"align"}
_ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang", "dir"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "align", "loading"},
    "source": {"srcset", "media", "type"},
    "p": _ALIGN, "div": _ALIGN, "h1": _ALIGN, "h2": _ALIGN, "h3": _ALIGN, "h4": _ALIGN, "h5": _ALIGN, "h6": _ALIGN,
    "td": {"align", "colspan", "rowspan"}, "th": {"align", "colspan", "rowspan", "scope"}, "table": _ALIGN,
    "details": {"open"},
    "ol": {"start", "type"},
    "li": {"class", "value"}, "ul": {"class"}, "code": {"class"}, "pre": {"class"}, "section": {"class"},
    "hr": {"class"}, "sup": {"class"},
    "input": {"checked", "class"},
}
_TABLE_ALIGN = re.compile(r'<(th|td) style="text-align:(left|right|center)"')
_HUB_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")


def _local_hub_url(url: str, local_repo: Callable[[str], bool], *, resolve: bool = False) -> str:
    """``https://huggingface.co/ns/name[/...]`` -> ``/ns/name[/...]`` when that repo is on this server."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or parts.netloc.lower() not in _HUB_HOSTS:
        return url
    segments = parts.path.strip("/").split("/")
    if len(segments) < 2 or segments[0] in ("api", "datasets", "spaces", "docs", "models"):
        return url
    repo = f"{unquote(segments[0])}/{unquote(segments[1])}"
    if not local_repo(repo):
        return url
    rest = "/".join(segments[2:])
    if rest.startswith("blob/"):  # the Hub's file page; this server serves the file itself
        rest = "resolve/" + rest[len("blob/"):]
    if resolve and not rest.startswith("resolve/"):
        return url
    return f"/{segments[0]}/{segments[1]}" + (f"/{rest}" if rest else "") + (f"?{parts.query}" if parts.query else "") + (
        f"#{parts.fragment}" if parts.fragment else "")


def _model_module(storage: Storage, commit: Commit) -> str | None:
    """The module of the model's class, from metadata.json at this commit (a bounded read)."""
    from hub_publish import format as fmt  # the one parser of metadata.json

    entry = commit.files.get(constants.METADATA_FILE)
    if entry is None or entry.size > MAX_CARD_BYTES:
        return None
    try:
        metadata = fmt.parse_metadata(storage.blob_path(entry.sha256).read_bytes())
    except (OSError, fmt.ModelFolderError):
        return None
    module = (metadata.hub or {}).get(constants.META_MODULE)
    return module if isinstance(module, str) and re.fullmatch(r"[A-Za-z_][\w.]*", module) else None


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
    return f"/{value}" if is_repo_id(value) else None


def _slugify(text: str) -> str:
    """GitHub-style heading anchor: lower case, punctuation dropped, spaces to dashes (the plugin dedupes)."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-") or "section"


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
    from mdit_py_plugins.anchors import anchors_plugin
    from mdit_py_plugins.footnote import footnote_plugin
    from mdit_py_plugins.front_matter import front_matter_plugin
    from mdit_py_plugins.tasklists import tasklists_plugin

    # The Hub's flavour: GFM-like (tables, strikethrough, linkify autolinks) plus task lists,
    # footnotes, heading ids and front matter; raw HTML on, then sanitized by nh3 in render_card.
    return (
        MarkdownIt("gfm-like", {"html": True})
        .use(front_matter_plugin)
        .use(footnote_plugin)
        .use(tasklists_plugin)
        .use(anchors_plugin, min_level=1, max_level=6, slug_func=_slugify)
    )


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
