"""The model page of the embedded Hub (issue 4, item 6): ``GET /{namespace}/{name}[?revision=]``.

A real MnistModel, trained one epoch on digits (so the card has training curves, and a layer graph
when graphviz is installed) and packaged with `hub_publish.save_pretrained`, is pushed to a real
server process with `hub_publish.push_to_hub`. The page is checked over HTTP, then in a real
headless Chromium (skipped only when chromium / chromedriver are not installed).
"""

from __future__ import annotations

import html
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import httpx2
import pytest
from huggingface_hub import HfApi
from server_fixtures import TOKENS, alice, hub_server, unique  # noqa: F401

from hub_publish import constants
from hub_publish.server import HubServer
from hub_publish.server.preview import CONTENT_SECURITY_POLICY, human_size, render_card

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

HOSTILE_CARD = """---
license: mit
tags: [evil]
---
# Hostile card

<script>document.title='PWNED';window.__pwned=1</script>

<img src=x onerror="window.__pwned=2">

Inline <svg onload="window.__pwned=4"></svg> and [a link](javascript:window.__pwned=3) and
[another](JaVaScRiPt:alert(1)) and ![data](data:text/html,<script>window.__pwned=5</script>) and
![b64](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD03PC9zY3JpcHQ+).

| cell |
|---|
| <script>window.__pwned=6</script> |
"""


def artifacts_dir() -> Path:
    """Where test artifacts (screenshots) go: ``HUB_PUBLISH_TEST_ARTIFACTS`` or ``<repo>/.test-artifacts``."""
    path = Path(os.environ.get("HUB_PUBLISH_TEST_ARTIFACTS") or REPO_ROOT / ".test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _section(page: str, element_id: str) -> str:
    """The (unescaped) text of the page from the element with ``id`` to the next ``</section>``."""
    start = page.index(f'id="{element_id}"')
    return html.unescape(page[start : page.index("</section>", start)])


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A MnistModel trained 1 epoch on digits, packaged with its card (curves, layer graph)."""
    from hub_publish import save_pretrained
    from hub_publish.training import train

    result = train("MnistModel", epochs=1, verbose=0)
    folder = save_pretrained(
        result.model,
        tmp_path_factory.mktemp("preview") / "digits",
        training_record=result.record,
        card_data={"license": "apache-2.0"},
    )
    assert (folder / constants.TRAINING_CURVES_FILE).is_file()
    return SimpleNamespace(folder=folder, record=result.record)


@pytest.fixture(scope="module")
def published(hub_server: HubServer, alice: HfApi, packaged: SimpleNamespace, tmp_path_factory) -> SimpleNamespace:
    """The packaged model pushed to the server, tagged ``v1``, then one more commit on main."""
    from hub_publish import push_to_hub

    repo = f"alice/{unique('digits')}"
    folder = tmp_path_factory.mktemp("push") / "digits"
    shutil.copytree(packaged.folder, folder)
    pushed = push_to_hub(folder, repo, endpoint=hub_server.url, token=TOKENS["alice"])
    alice.create_tag(repo, tag="v1", revision=pushed.commit_id)
    later = alice.upload_file(
        path_or_fileobj=b"notes\n", path_in_repo="NOTES.txt", repo_id=repo, commit_message="Add notes"
    )
    return SimpleNamespace(repo=repo, v1=pushed.commit_id, main=later.oid, record=packaged.record)


@pytest.fixture(scope="module")
def hostile(alice: HfApi) -> str:
    """A public repo whose README tries every way to run a script."""
    repo = f"alice/{unique('hostile')}"
    alice.create_repo(repo)
    alice.upload_file(path_or_fileobj=HOSTILE_CARD.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    return repo


def _page(server: HubServer, path: str, **kwargs) -> httpx2.Response:
    return httpx2.get(f"{server.url}{path}", timeout=30, **kwargs)


# ----------------------------------------------------------------------------- HTTP


@pytest.mark.slow  # trains the model
def test_model_page_shows_the_card_sidebar_files_snippet_and_commit(hub_server, alice, published):
    r = _page(hub_server, f"/{published.repo}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page, text = r.text, html.unescape(r.text)
    assert f"<title>{published.repo} · hub-publish Hub</title>" in page
    # the card, rendered: headings, the architecture table, relative images on /resolve at this commit
    assert '<h2 id="architecture">Architecture</h2>' in page
    arch = page[page.index('<h2 id="architecture">') :]
    arch = arch[: arch.index("</table>")]
    assert "<table>" in arch and "<td><code>classification_head</code></td>" in arch
    assert "<td><code>conv_2</code></td>\n<td>Conv2D</td>" in arch
    images = [attrs["src"] for tag, attrs in _tags(page) if tag == "img"]
    assert f"/{published.repo}/resolve/{published.main}/{constants.TRAINING_CURVES_FILE}" in images
    assert all(src.startswith(f"/{published.repo}/resolve/{published.main}/") for src in images)
    # the YAML front matter feeds the sidebar and is not shown as text
    assert "card_body_sha256" not in text and "model-index" not in text and "\n---\n" not in text
    sidebar = _section(page, "hp-metadata")
    for value in ("keras", "image-classification", "apache-2.0", "functional-subclassing", "MnistModel"):
        assert f'<span class="badge">{value}</span>' in sidebar, value
    evals = _section(page, "hp-eval-results")
    accuracy = published.record["test_metrics"]["sparse_categorical_accuracy"]
    row = '<td>sparse_categorical_accuracy<div class="sub">scikit-learn digits (8x8) · test</div></td>'
    assert f'{row}<td class="value">{accuracy:.4f}</td>' in evals
    # the file list, with human-readable sizes
    files = _section(page, "hp-files")
    info = alice.model_info(published.repo, files_metadata=True)
    names = {s.rfilename for s in info.siblings}
    assert {".gitattributes", "README.md", "NOTES.txt", "model.weights.h5", constants.TRAINING_CURVES_FILE} <= names
    for sibling in info.siblings:
        assert f">{sibling.rfilename}</a>" in files
        assert f'title="{sibling.size} bytes">{human_size(sibling.size)}</td>' in files
    assert ">model.weights.h5</a> <span class=\"badge\">LFS</span>" in files
    # the snippet and the commit / revision
    snippet = _section(page, "hp-use-this-model")
    assert f'hub_publish.from_pretrained("{published.repo}")' in snippet
    assert f'keras.saving.load_model("hf://{published.repo}", compile=False)' in snippet
    assert "import hub_publish.models.mnist" in snippet  # the plain-Keras part registers the class itself
    assert f"export HF_ENDPOINT={hub_server.url}" in snippet
    assert f'<code id="hp-commit-id" title="Add notes">{published.main}</code>' in page
    assert "branch <strong>main</strong>" in page
    assert f'<a href="/{published.repo}?revision=v1">v1</a>' in page


@pytest.mark.slow  # trains the model
def test_revision_parameter_shows_that_commit(hub_server, published):
    for revision in ("v1", published.v1):
        r = _page(hub_server, f"/{published.repo}", params={"revision": revision})
        assert r.status_code == 200
        page = r.text
        assert f">{published.v1}</code>" in page and published.main not in page
        assert f"<title>{published.repo} @ {revision} · hub-publish Hub</title>" in page
        assert ">NOTES.txt</a>" not in page  # added after v1
        images = [attrs["src"] for tag, attrs in _tags(page) if tag == "img"]
        assert f"/{published.repo}/resolve/{published.v1}/{constants.TRAINING_CURVES_FILE}" in images
        assert f'revision="{revision}"' in html.unescape(_section(page, "hp-use-this-model"))
    assert "tag <strong>v1</strong>" in _page(hub_server, f"/{published.repo}?revision=v1").text
    assert "commit <strong>" in _page(hub_server, f"/{published.repo}?revision={published.v1}").text


@pytest.mark.slow  # trains the model
def test_commit_and_tree_urls_lead_to_the_page_at_that_revision(hub_server, published):
    for path, revision in [(f"commit/{published.v1}", published.v1), ("tree/v1", "v1"), ("tree/main", "main")]:
        r = _page(hub_server, f"/{published.repo}/{path}")
        assert r.status_code == 302 and r.headers["location"] == f"/{published.repo}?revision={revision}"
        page = _page(hub_server, r.headers["location"]).text
        assert f">{published.v1 if revision != 'main' else published.main}</code>" in page
    assert _page(hub_server, f"/{published.repo}/commit/{'0' * 40}", follow_redirects=True).status_code == 404


@pytest.mark.slow  # trains the model
def test_images_of_the_card_are_served_by_resolve(hub_server, published):
    page = _page(hub_server, f"/{published.repo}").text
    for src in [attrs["src"] for tag, attrs in _tags(page) if tag == "img"]:
        r = httpx2.get(f"{hub_server.url}{src}", timeout=30)
        assert r.status_code == 200, src
        assert r.headers["content-type"] == "image/png"
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains the model
def test_unknown_repo_or_revision_is_a_404_page(hub_server, published):
    r = _page(hub_server, "/alice/no-such-repo")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert '<p id="hp-error">Repository alice/no-such-repo not found.</p>' in r.text
    r = _page(hub_server, f"/{published.repo}?revision=no-such-branch")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert f'<p id="hp-error">Revision &#39;no-such-branch&#39; not found in {published.repo}.</p>' in r.text
    r = _page(hub_server, "/alice/bad..name")
    assert r.status_code == 400 and '<p id="hp-error">Invalid' in r.text


def test_private_repo_page_is_a_404_for_anonymous_visitors(hub_server, alice):
    repo = f"alice/{unique('private')}"
    alice.create_repo(repo, private=True)
    alice.upload_file(path_or_fileobj=b"# Secret model\n", path_in_repo=constants.CARD_FILE, repo_id=repo)
    anonymous = _page(hub_server, f"/{repo}")
    assert anonymous.status_code == 404
    assert f'<p id="hp-error">Repository {repo} not found.</p>' in anonymous.text  # same as an unknown repo
    assert "Secret model" not in anonymous.text
    other = _page(hub_server, f"/{repo}", headers={"Authorization": f"Bearer {TOKENS['bob']}"})
    assert other.status_code == 404
    owner = _page(hub_server, f"/{repo}", headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    assert owner.status_code == 200
    assert '<h1 id="secret-model">Secret model</h1>' in owner.text and "badge private" in owner.text


def test_scripts_in_a_readme_never_survive(hub_server, hostile):
    """Issue 11: raw HTML is sanitized like the Hub (nh3), not escaped: the tags that cannot run stay."""
    r = _page(hub_server, f"/{hostile}")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = r.text
    assert "<script" not in page.lower() and "<svg" not in page.lower()
    card = page.split('id="hp-card"', 1)[1].split("</main>")[0]
    assert "__pwned" not in card.replace("javascript:window.__pwned=3", "")
    assert not [(t, a) for t, a in _tags(card) if t in ("script", "svg", "iframe", "object", "embed", "style")]
    tags = _tags(page)
    assert not [(t, a) for t, a in tags for name in a if name.startswith("on")]  # no event handler attributes
    urls = [v.strip().lower() for t, a in tags for v in a.values() if v]
    assert not [v for v in urls if v.startswith(("javascript:", "data:text"))]
    # `<img src=x onerror=...>` is an image of the repo's file `x` now, without its handler
    assert [a.get("src") for t, a in tags if t == "img"] == [f"/{hostile}/resolve/{_commit(hub_server, hostile)}/x"]
    # markdown links to javascript: are not links: shown as written
    assert "[a link](javascript:window.__pwned=3)" in html.unescape(page)
    assert '<span class="badge">evil</span>' in page and '<span class="badge">mit</span>' in page


def _commit(server: HubServer, repo: str) -> str:
    return HfApi(endpoint=server.url, token=TOKENS["alice"]).model_info(repo).sha


def test_sidebar_shows_every_card_field(hub_server, alice):
    repo = f"alice/{unique('sidebar')}"
    alice.create_repo(repo)
    card = (
        "---\nlibrary_name: keras\npipeline_tag: image-classification\nlicense: apache-2.0\n"
        "datasets: [ylecun/mnist]\nbase_model: [alice/base]\nbase_model_relation: finetune\n"
        "tags: [digits]\n"
        "model-index:\n- name: m\n  results:\n  - task: {type: image-classification}\n"
        "    dataset: {type: ylecun/mnist, name: MNIST, split: test}\n"
        "    metrics: [{type: accuracy, value: 0.9876543, name: acc}, {type: bad}]\n---\n"
        "See ![plot](plots/a.png), [the config](config.json), [away](../x.png) and [docs](https://example.com).\n"
    )
    alice.upload_file(path_or_fileobj=card.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    page = _page(hub_server, f"/{repo}").text
    sidebar = _section(page, "hp-metadata")
    for value in ("keras", "image-classification", "apache-2.0", "ylecun/mnist", "finetune", "digits"):
        assert f'<span class="badge">{value}</span>' in sidebar, value
    assert '<a class="badge" href="/alice/base">alice/base</a>' in sidebar
    from hub_publish.server.preview import _repo_href

    assert _repo_href("//evil.example/x") is None  # not a repo id: no link (validate-yaml refuses such a card)
    evals = _section(page, "hp-eval-results")
    assert '<td>acc<div class="sub">MNIST · test</div></td><td class="value">0.9877</td>' in evals
    assert evals.count('class="value"') == 1  # the metric without a value is skipped
    sha = alice.model_info(repo).sha
    assert f'<img src="/{repo}/resolve/{sha}/plots/a.png" alt="plot">' in page
    assert '<a href="config.json" rel="nofollow noopener noreferrer">the config</a>' in page  # not a file of the repo
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">docs</a>' in page
    assert "base_model_relation" not in page


def test_missing_empty_and_huge_cards(hub_server, alice):
    from hub_publish.server.preview import MAX_CARD_BYTES

    repo = f"alice/{unique('cards')}"
    alice.create_repo(repo)
    page = _page(hub_server, f"/{repo}").text
    assert "This repo has no model card (README.md) at this revision." in page
    assert ">.gitattributes</a>" in page
    alice.upload_file(path_or_fileobj=b"", path_in_repo=constants.CARD_FILE, repo_id=repo)
    page = _page(hub_server, f"/{repo}").text
    assert "no model card" not in page and "too large" not in page
    huge = b"---\nlicense: mit\n---\n" + b"word " * (MAX_CARD_BYTES // 5 + 1)
    alice.upload_file(path_or_fileobj=huge, path_in_repo=constants.CARD_FILE, repo_id=repo)
    r = _page(hub_server, f"/{repo}")
    assert r.status_code == 200 and "README.md is too large to be shown here" in r.text
    assert "word word" not in r.text


@pytest.mark.slow  # trains the model
def test_api_routes_are_not_shadowed_by_the_page(hub_server, published):
    r = _page(hub_server, "/api/whoami-v2", headers={"Authorization": f"Bearer {TOKENS['alice']}"})
    assert r.status_code == 200 and r.json()["name"] == "alice"
    r = _page(hub_server, "/api/models")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    r = _page(hub_server, "/datasets/foo")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    r = _page(hub_server, f"/{published.repo}/resolve/main/{constants.CONFIG_FILE}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["content-security-policy"].endswith("sandbox")  # uploaded files never run scripts here


def test_validate_yaml_uses_the_hubs_lists(hub_server, alice):
    """Issue 11: the embedded /api/validate-yaml refuses what the Hub refuses (same checks as `card --check`)."""
    repo = f"alice/{unique('yaml')}"
    alice.create_repo(repo)
    for yaml, message in (("license: my-own-license", "'license' 'my-own-license' is not a Hub license id"),
                          ("pipeline_tag: not-a-task", "'pipeline_tag' 'not-a-task' is not one of the Hub's tasks"),
                          ("license: other", "'license: other' needs 'license_name'")):
        with pytest.raises(ValueError, match=re.escape(message)):
            alice.upload_file(path_or_fileobj=f"---\n{yaml}\n---\n# x\n".encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    assert constants.CARD_FILE not in alice.list_repo_files(repo)  # nothing half-written
    ok = "---\nlicense: other\nlicense_name: mine\nlicense_link: LICENSE\npipeline_tag: image-classification\n---\n# x\n"
    alice.upload_file(path_or_fileobj=ok.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    r = httpx2.post(f"{hub_server.url}/api/validate-yaml", json={"content": "---\nlicense: mit\n---\n", "repoType": "model"})
    assert r.status_code == 200 and r.json() == {"errors": [], "warnings": []}
    odd = "---\nlicense: {a: 1}\npipeline_tag: [x]\nbase_model: {b: 2}\nbase_model_relation: [y]\ntags: 5\n---\n"
    r = httpx2.post(f"{hub_server.url}/api/validate-yaml", json={"content": odd, "repoType": "model"})
    assert r.status_code == 400 and len(r.json()["errors"]) == 1  # one message naming every problem, never a 5xx
    assert all(key in r.json()["errors"][0]["message"] for key in ("'license'", "'pipeline_tag'", "'base_model'", "'tags'"))


def test_odd_metadata_never_breaks_the_page_and_stays_escaped(hub_server, alice):
    repo = f"alice/{unique('odd')}"
    alice.create_repo(repo)
    card = ("---\nlicense: mit\ntags: ['<script>window.__pwned=1</script>', '<b>x</b>']\n"
            "model-index:\n- name: m\n  results: 5\n- name: n\n  results:\n  - metrics: 7\n    task: 3\n---\n# Odd\n")
    alice.upload_file(path_or_fileobj=card.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    r = _page(hub_server, f"/{repo}")
    assert r.status_code == 200
    sidebar = r.text[r.text.index('id="hp-metadata"'):]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in sidebar and "&lt;b&gt;x&lt;/b&gt;" in sidebar
    assert "<script" not in r.text.lower() and 'id="hp-eval-results"' not in r.text


def test_hub_links_in_a_card_point_to_this_server_when_the_repo_is_here(hub_server, alice):
    base = f"alice/{unique('base')}"
    alice.create_repo(base)
    private = f"alice/{unique('secret')}"
    alice.create_repo(private, private=True)
    repo = f"alice/{unique('links')}"
    alice.create_repo(repo)
    card = (f"[base](https://huggingface.co/{base}) [tree](https://huggingface.co/{base}/tree/main) "
            f"[file](https://huggingface.co/{base}/blob/main/config.json) [away](https://huggingface.co/bert/bert-base) "
            f"[hidden](https://huggingface.co/{private}) [docs](https://huggingface.co/docs/hub)\n")
    alice.upload_file(path_or_fileobj=card.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    hrefs = [a["href"] for t, a in _tags(_page(hub_server, f"/{repo}").text) if t == "a" and a.get("href")]
    assert f"/{base}" in hrefs and f"/{base}/tree/main" in hrefs and f"/{base}/resolve/main/config.json" in hrefs
    assert "https://huggingface.co/bert/bert-base" in hrefs and "https://huggingface.co/docs/hub" in hrefs
    assert f"https://huggingface.co/{private}" in hrefs  # an anonymous visitor cannot see it: not linked here


# ----------------------------------------------------------------------------- rendering (no server)


def test_render_card_rewrites_relative_urls_and_drops_unsafe_ones():
    def url(path: str) -> str:
        return f"/ns/m/resolve/{'0' * 40}/{quote(path)}"

    out = render_card(
        "# A: b\n\n## A: b\n\n![x](./img/a%20b.png?raw=1) ![y](../up.png) ![z](data:image/png;base64,AAAA) "
        "![w](https://e.com/w.png) [f](model.weights.h5) [j](javascript:alert(1)) [v](vbscript:x) [m](mailto:a@b.c) "
        "[h](#a-b)\n",
        file_url=url,
        files={"model.weights.h5"},
    )
    assert '<h1 id="a-b">A: b</h1>' in out and '<h2 id="a-b-1">A: b</h2>' in out
    assert f'<img src="/ns/m/resolve/{"0" * 40}/img/a%20b.png" alt="x">' in out
    assert '<img alt="y">' in out
    assert '<img src="data:image/png;base64,AAAA" alt="z">' in out
    assert '<img src="https://e.com/w.png" alt="w">' in out  # kept; the page's CSP does not load it
    assert f'<a href="/ns/m/resolve/{"0" * 40}/model.weights.h5" rel="nofollow noopener noreferrer">f</a>' in out
    assert "[j](javascript:alert(1)) [v](vbscript:x)" in out  # no link: shown as written
    assert not [a for t, a in _tags(out) for v in a.values() if v and "script:" in v]
    assert '<a href="mailto:a@b.c" rel="nofollow noopener noreferrer">m</a>' in out
    assert '<a href="#a-b" rel="nofollow noopener noreferrer">h</a>' in out


def test_render_card_keeps_folded_sections_and_drops_comments_and_handlers():
    """Issue 11: tags that cannot run render (as on the Hub); handlers and comments go."""
    out = render_card(
        "<details>\n<summary>Optimizer configuration</summary>\n\n```json\n{}\n```\n\n</details>\n\n"
        "<!-- Author: fill in -->\n\nline<br>two <details open ontoggle=alert(1)> <b onclick=x>b</b>\n",
        file_url=lambda path: path,
    )
    assert out.startswith("<details>\n<summary>Optimizer configuration</summary>\n<pre><code")
    assert "</details>" in out and "Author: fill in" not in out and "line<br>two" in out
    assert '<details open=""> <b>b</b>' in out
    assert [(t, a) for t, a in _tags(out) if a] == [("code", {"class": "language-json"}), ("details", {"open": ""})]


def test_render_card_renders_what_the_hub_renders():
    """Issue 11: the common README header, task lists, strikethrough, autolinks, footnotes, sup, kbd."""
    out = render_card(SHOWCASE_CARD.split("---\n", 2)[2], file_url=lambda path: f"/r/resolve/c/{path}", files={"logo.png"})
    assert out.startswith('<p align="center">\n  <img src="/r/resolve/c/logo.png" alt="logo" width="160">\n</p>')
    assert '<li class="task-list-item"><input class="task-list-item-checkbox" checked="checked" type="checkbox" disabled=""> trained</li>' in out
    assert "<s>old number</s>" in out
    assert '<a href="https://example.com" rel="nofollow noopener noreferrer">https://example.com</a>' in out
    assert "H<sub>2</sub>O" in out and "<kbd>Ctrl</kbd>" in out and "x<sup>2</sup>" in out
    assert '<section class="footnotes">' in out and 'id="fn1"' in out
    assert '<td align="right">0.9900</td>' in out and '<th align="right">value</th>' in out
    assert "<details><summary>More</summary>Hidden text.</details>" in out


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 336552, 5 * 1024**3, 3 * 1024**4)] == [
        "0 B", "1,023 B", "1.0 KiB", "328.7 KiB", "5.0 GiB", "3.0 TiB"
    ]


# ----------------------------------------------------------------------------- real browser


def _chromium_paths() -> tuple[str, str]:
    chromium = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip(
            "headless browser test needs chromium and chromedriver (apt-get install chromium chromium-driver; "
            "scripts/test.sh does it as root)"
        )
    return chromium, driver


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--disable-component-update",
                "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)  # no Selenium Manager
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_images(driver) -> list[dict]:
    from selenium.webdriver.support.ui import WebDriverWait

    script = (
        "return Array.from(document.querySelectorAll('#hp-card img'))"
        ".map(i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))"
    )
    WebDriverWait(driver, 30).until(lambda d: all(i["complete"] for i in d.execute_script(script)))
    return driver.execute_script(script)


@pytest.mark.slow
@pytest.mark.browser
def test_model_page_in_headless_chromium(browser, hub_server, published, hostile):
    from selenium.webdriver.common.by import By

    browser.get(f"{hub_server.url}/{published.repo}")
    assert published.repo in browser.title
    # every image of the card is displayed (decoded, with a real width), the curves at least
    images = _wait_for_images(browser)
    names = {i["src"].rsplit("/", 1)[-1] for i in images}
    assert constants.TRAINING_CURVES_FILE in names
    if shutil.which("dot"):
        assert constants.MODEL_PLOT_FILE in names
    assert [i for i in images if i["width"] <= 0] == []
    assert all(e.is_displayed() for e in browser.find_elements(By.CSS_SELECTOR, "#hp-card img"))
    # the architecture table renders, with the head's row
    rows = browser.find_elements(
        By.XPATH,
        "//h2[@id='architecture']/following-sibling::table[1]//tr[normalize-space(td[1])='classification_head']",
    )
    assert len(rows) == 1 and rows[0].is_displayed()
    assert "Dense" in rows[0].text
    assert published.main in browser.find_element(By.ID, "hp-commit-id").text
    # a screenshot of the whole page, as a test artifact
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(max(height, 1000), 8000))
    shot = artifacts_dir() / "preview_page.png"
    shot.unlink(missing_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser.set_window_size(1400, 1000)

    # a README's scripts never run
    browser.get(f"{hub_server.url}/{hostile}")
    assert browser.execute_script("return window.__pwned") is None
    assert browser.title != "PWNED" and hostile in browser.title
    assert browser.find_elements(By.CSS_SELECTOR, "#hp-card script, #hp-card svg, #hp-card style") == []
    handlers = browser.execute_script(
        "return Array.from(document.querySelectorAll('#hp-card *')).flatMap("
        "e => Array.from(e.attributes).map(a => a.name)).filter(n => n.startsWith('on'))")
    assert handlers == []
    for link in browser.find_elements(By.CSS_SELECTOR, "#hp-card a"):
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    browser.save_screenshot(str(artifacts_dir() / "preview_page_hostile.png"))
    assert browser.execute_script("return window.__pwned") is None


SHOWCASE_CARD = """---
license: mit
---
<p align="center">
  <img src="logo.png" alt="logo" width="160">
</p>

# Showcase

- [x] trained
- [ ] evaluated on USPS

| metric | value |
|---|---:|
| accuracy | 0.9900 |

~~old number~~ see https://example.com, H<sub>2</sub>O, x<sup>2</sup>[^1] and <kbd>Ctrl</kbd>.

<details><summary>More</summary>Hidden text.</details>

[^1]: A footnote.
"""


@pytest.fixture(scope="module")
def showcase(alice: HfApi) -> str:
    """A README in the style of the Hub's most common headers: centred image, task list, table."""
    import io

    from PIL import Image

    repo = f"alice/{unique('showcase')}"
    alice.create_repo(repo)
    logo = io.BytesIO()
    Image.new("RGB", (320, 120), (255, 153, 0)).save(logo, format="PNG")
    alice.upload_file(path_or_fileobj=logo.getvalue(), path_in_repo="logo.png", repo_id=repo)
    alice.upload_file(path_or_fileobj=SHOWCASE_CARD.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    return repo


@pytest.mark.browser
def test_readme_renders_like_the_hub_in_headless_chromium(browser, hub_server, showcase):
    """Issue 11: centred image header, task list, table, strikethrough, autolink, footnote, details, sup, kbd."""
    from selenium.webdriver.common.by import By

    browser.get(f"{hub_server.url}/{showcase}")
    images = _wait_for_images(browser)
    assert len(images) == 1 and images[0]["width"] == 320 and images[0]["src"].endswith("/logo.png")
    img = browser.find_element(By.CSS_SELECTOR, "#hp-card p[align='center'] > img")
    assert img.is_displayed() and img.size["width"] == 160
    paragraph = img.find_element(By.XPATH, "..")
    image_centre = img.location["x"] + img.size["width"] / 2
    paragraph_centre = paragraph.location["x"] + paragraph.size["width"] / 2
    assert abs(image_centre - paragraph_centre) <= 2  # centred, as on the Hub
    boxes = browser.find_elements(By.CSS_SELECTOR, "#hp-card li.task-list-item input[type='checkbox']")
    assert [b.is_selected() for b in boxes] == [True, False] and all(not b.is_enabled() for b in boxes)
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#hp-card table td")]
    assert cells == ["accuracy", "0.9900"]
    assert browser.find_element(By.CSS_SELECTOR, "#hp-card s").text == "old number"
    assert browser.find_element(By.CSS_SELECTOR, "#hp-card a[href='https://example.com']").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#hp-card sub").text == "2"
    assert browser.find_element(By.CSS_SELECTOR, "#hp-card kbd").text == "Ctrl"
    assert "A footnote." in browser.find_element(By.CSS_SELECTOR, "#hp-card section.footnotes").text
    details = browser.find_element(By.CSS_SELECTOR, "#hp-card details")
    folded = browser.execute_script("return arguments[0].getBoundingClientRect().height", details)
    assert browser.execute_script("return arguments[0].open", details) is False  # folded, as on the Hub
    details.find_element(By.CSS_SELECTOR, "summary").click()
    assert browser.execute_script("return arguments[0].open", details) is True
    assert browser.execute_script("return arguments[0].getBoundingClientRect().height", details) > folded
    shot = artifacts_dir() / "preview_page_showcase.png"
    shot.unlink(missing_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
