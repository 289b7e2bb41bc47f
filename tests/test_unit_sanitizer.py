"""The model page's sanitizer and renderer (hub_publish.server.preview), function by function.

README.md is untrusted: these fast tests pin what may and may not come out of it, so that
mutation testing (scripts/mutation.sh sanitizer) has a quick test for every line. The page over
HTTP and in a real browser is tested in test_preview_page.py; the route here runs on a server
started by this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx2
import pytest
from server_fixtures import TOKEN_SPECS, TOKENS

from hub_publish import __version__
from hub_publish.server import HubServer
from hub_publish.server import preview as p
from hub_publish.server.storage import Commit, FileEntry

SHA = "c" * 40


def file_url(path: str) -> str:
    return f"/alice/m/resolve/{SHA}/{path}"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def render(markdown: str, files=frozenset()) -> str:
    return p.render_card(markdown, file_url=file_url, files=files)


# ----------------------------------------------------------------------------- sanitizing raw HTML (nh3)
# The card's raw HTML is sanitized like the Hub does it (an allow-list, nh3): what is allowed
# renders as HTML, scripts and styles go with their content, every event handler, style and unknown
# attribute is dropped, and only safe URL schemes survive. Exact outputs, so that a loosened
# allow-list (or a dropped option of nh3.clean) fails here.

R = f"/alice/m/resolve/{SHA}"
REL = 'rel="nofollow noopener noreferrer"'


@pytest.mark.parametrize(
    "raw, safe",
    [
        # dangerous elements disappear with their content
        ("<script>alert(1)</script>", ""),
        ("<style>body{display:none}</style>ok", "ok"),
        ('<iframe src="https://e.example"></iframe>', ""),
        ("<<script>>", "<p>&lt;</p>"),
        ('Inline <svg onload="y"></svg> text', "<p>Inline  text</p>\n"),
        # event handlers, style and unknown attributes are dropped; the allowed element stays
        ('<img src=x onerror="alert(1)">', f'<img src="{R}/x">'),
        ('<details open onclick="x()">', '<details open=""></details>'),
        ('<span style="color:red" data-x="1">s</span>', "<p><span>s</span></p>\n"),
        (f'<a href="https://k.example" onclick="x" target="_blank">k</a>', f'<p><a href="https://k.example" {REL}>k</a></p>\n'),
        # javascript:/vbscript:/data: links lose their href (the text stays)
        ('<a href="javascript:alert(1)">x</a>', f"<p><a {REL}>x</a></p>\n"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', f"<p><a {REL}>x</a></p>\n"),
        ('<a href="vbscript:x">x</a>', f"<p><a {REL}>x</a></p>\n"),
        ('<a href="data:text/html,x">x</a>', f"<p><a {REL}>x</a></p>\n"),
        ('<img src="data:image/svg+xml;base64,AA">', "<img>"),
        ('<img src="javascript:alert(1)">', "<img>"),
        # allowed HTML renders, as on the Hub
        ("<details><summary>More</summary>text</details>", "<details><summary>More</summary>text</details>"),
        ("<DETAILS ><Summary>x</Summary></DETAILS>", "<details><summary>x</summary></details>"),
        ("a<br>b<br/>c<BR />d", "<p>a<br>b<br>c<br>d</p>\n"),
        ('<p align="center"><img src="plot.png" width="100" alt="p"></p>', f'<p align="center"><img src="{R}/plot.png" width="100" alt="p"></p>'),
        ("<sup>1</sup> <kbd>Ctrl</kbd> <sub>2</sub>", "<p><sup>1</sup> <kbd>Ctrl</kbd> <sub>2</sub></p>\n"),
        ('<input type="checkbox" checked>', '<input type="checkbox" checked="" disabled="">'),
        ('<input type="text" value="x">', '<input disabled="">'),
        # the page's own ids (hp-...) cannot be taken by the card; other ids are kept
        ('<h2 id="hp-card">x</h2><h2 id="mine">y</h2>', '<h2>x</h2><h2 id="mine">y</h2>'),
        # comments are dropped; text is escaped
        ("before<!-- hidden -->after", "<p>beforeafter</p>\n"),
        ("x<!-- never closed", "<p>x&lt;!-- never closed</p>\n"),
        ("a < b > c", "<p>a &lt; b &gt; c</p>\n"),
        ('"&', '<p>"&amp;</p>\n'),
    ],
)
def test_render_card_sanitizes_raw_html_like_the_hub(raw, safe):
    assert render(raw) == safe


def test_render_card_sanitizes_raw_html_blocks_and_inline():
    html = render('<div onclick="x">\n<script>alert(1)</script>\n</div>\n\nInline <svg onload="y"></svg> text\n')
    assert html == "<div>\n\n</div>\n<p>Inline  text</p>\n"
    assert [t for t, _ in tags(html)] == ["div", "p"]
    assert "alert" not in html and "onclick" not in html and "onload" not in html
    assert render("<details>\n<summary>S</summary>\n\nbody\n\n</details>\n") == (
        "<details>\n<summary>S</summary>\n<p>body</p>\n</details>\n")


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "src, expected",
    [
        ("plot.png", f"/alice/m/resolve/{SHA}/plot.png"),
        ("./img/a.png?x=1#f", f"/alice/m/resolve/{SHA}/img/a.png"),
        ("img/../b.png", f"/alice/m/resolve/{SHA}/b.png"),
        ("https://example.com/a.png", "https://example.com/a.png"),
        ("HTTP://example.com/a.png", "HTTP://example.com/a.png"),
        ("data:image/png;base64,AAAA", "data:image/png;base64,AAAA"),
        ("DATA:IMAGE/WEBP;base64,AAAA", "DATA:IMAGE/WEBP;base64,AAAA"),
        ("data:image/svg+xml;base64,AAAA", None),
        ("data:text/html,<script>", None),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("//evil.example/a.png", "//evil.example/a.png"),  # like https: kept, the page's CSP does not load it
        ("../outside.png", None),
        ("..", None),
        (".", None),
        ("", None),
        ("/alice/m/resolve/main/a.png", "/alice/m/resolve/main/a.png"),
    ],
)
def test_image_src(src, expected):
    assert p._image_src(src, file_url) == expected


@pytest.mark.parametrize(
    "href, expected",
    [
        ("#usage", "#usage"),
        ("https://keras.io", "https://keras.io"),
        ("mailto:a@b.c", "mailto:a@b.c"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("vbscript:x", None),
        ("data:text/html,x", None),
        ("config.json", f"/alice/m/resolve/{SHA}/config.json"),
        ("notes.md", "notes.md"),  # not a file of the repo: left as is (relative to the page)
        ("../other", "../other"),
    ],
)
def test_link_href(href, expected):
    assert p._link_href(href, file_url, {"config.json"}) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("a.png", "a.png"),
        ("dir/a%20b.png", "dir/a b.png"),
        ("./x/./y.png#frag", "x/y.png"),
        ("x/../../y", None),
        ("/abs.png", None),
        ("http://h/a.png", None),
        ("//h/a.png", None),
        ("?q=1", None),
        ("", None),
        ("a/..", None),
    ],
)
def test_repo_path(url, expected):
    assert p._repo_path(url) == expected


def test_render_card_links_and_images():
    html = render(
        "![plot](plot.png) ![evil](javascript:alert(1)) ![ext](https://example.com/x.png)\n\n"
        "[cfg](config.json) [site](https://keras.io) [js](javascript:alert(2)) [ftp](ftp://h/x) [top](#top) [rel](other.md)\n",
        files={"config.json", "plot.png"},
    )
    found = tags(html)
    # markdown-it's own link validation already turns ![evil](javascript:...) into text
    assert [a.get("src") for t, a in found if t == "img"] == [f"/alice/m/resolve/{SHA}/plot.png", "https://example.com/x.png"]
    links = [(a.get("href"), a.get("rel")) for t, a in found if t == "a"]
    rel = "nofollow noopener noreferrer"  # nh3 sets it on every link
    assert links == [
        (f"/alice/m/resolve/{SHA}/config.json", rel),
        ("https://keras.io", rel),
        (None, rel),  # ftp: not an allowed scheme (javascript: is already text, by markdown-it)
        ("#top", rel),
        ("other.md", rel),
    ]
    assert not [v for _, a in found for v in a.values() if v and "javascript" in v.lower()]  # only as text


def test_headings_get_github_style_unique_ids():
    html = render("# Intended use\n\n## Intended use\n\n### Hello, World!\n\n# !!!\n")
    assert [a.get("id") for t, a in tags(html) if t in ("h1", "h2", "h3")] == [
        "intended-use", "intended-use-1", "hello-world", "section"]
    # the slug itself (the anchors plugin adds the -1, -2 of repeated headings)
    assert [p._slugify(t) for t in ("A b", "a B", " a b ", "x_y-z", "!!!", "Ünï cödé")] == [
        "a-b", "a-b", "a-b", "x_y-z", "section", "ünï-cödé"]
    html = render("# A b\n\n# a B\n\n#  a b \n")
    assert [a.get("id") for t, a in tags(html) if t == "h1"] == ["a-b", "a-b-1", "a-b-2"]


def test_repo_href():
    assert p._repo_href("alice/base") == "/alice/base"
    for value in ("javascript:alert(1)", "alice", "a/b/c", "/alice/base", "alice/base extra", "-a/b"):
        assert p._repo_href(value) is None


# ----------------------------------------------------------------------------- front matter and sidebar


def test_split_front_matter():
    assert p.split_front_matter("---\nlicense: mit\n---\n# Body\n") == ({"license": "mit"}, "# Body\n")
    assert p.split_front_matter("# no front matter\n---\n") == ({}, "# no front matter\n---\n")
    assert p.split_front_matter("---\n- a list\n---\nbody") == ({}, "body")
    assert p.split_front_matter("---\nkey: [unclosed\n---\nbody") == ({}, "body")
    assert p.split_front_matter("---\nlicense: mit\nno end") == ({}, "---\nlicense: mit\nno end")
    assert p.split_front_matter("---\n---\nbody") == ({}, "body")
    assert p.split_front_matter("") == ({}, "")


def test_strings():
    assert p._strings(None) == [] and p._strings("") == [] and p._strings([]) == []
    assert p._strings("mit") == ["mit"] and p._strings(3) == ["3"] and p._strings({"a": 1}) == []
    assert p._strings(["a", None, 2, {"x": 1}, ["y"], "b"]) == ["a", "2", "b"]
    assert p._strings(("t",)) == ["t"] and p._strings(0) == ["0"] and p._strings(False) == ["False"]


def test_sidebar_fields_in_display_order():
    metadata = {"tags": ["b", "a"], "license": "mit", "library_name": "keras", "pipeline_tag": "image-classification",
                "datasets": "mnist", "base_model": "alice/base", "base_model_relation": "finetune", "language": ["en"],
                "metrics": ["accuracy"], "unrelated": "x", "model-index": []}
    assert p.sidebar_fields(metadata) == [
        ("Library", ["keras"]), ("Pipeline tag", ["image-classification"]), ("License", ["mit"]),
        ("Datasets", ["mnist"]), ("Base model", ["alice/base"]), ("Base model relation", ["finetune"]),
        ("Language", ["en"]), ("Metrics", ["accuracy"]), ("Tags", ["b", "a"]),
    ]
    assert p.sidebar_fields({"license": ""}) == []


def test_eval_results_flatten_and_skip_malformed_entries():
    metadata = {"model-index": [
        "junk",
        {"name": "m", "results": [
            "junk",
            {"task": {"type": "image-classification"}, "dataset": {"name": "Digits", "type": "digits", "split": "test"},
             "metrics": [{"type": "accuracy", "value": 0.98765}, {"name": "Loss", "type": "loss", "value": 3},
                         {"type": "no-value"}, "junk"]},
            {"task": "junk", "dataset": "junk", "metrics": [{"value": "n/a"}]},
        ]},
        {"results": None},
    ]}
    assert p.eval_results(metadata) == [
        {"model": "m", "task": "image-classification", "dataset": "Digits", "split": "test", "metric": "accuracy", "value": "0.9877"},
        {"model": "m", "task": "image-classification", "dataset": "Digits", "split": "test", "metric": "Loss", "value": "3"},
        {"model": "m", "task": "", "dataset": "", "split": "", "metric": "", "value": "n/a"},
    ]
    assert p.eval_results({"model-index": {"not": "a list"}}) == [] and p.eval_results({}) == []
    named = {"model-index": [{"results": [{"task": {"name": "Classify", "type": "t"}, "dataset": {"type": "d"},
                                           "metrics": [{"type": "acc", "value": 1.0}]}]}]}
    assert p.eval_results(named) == [{"model": "", "task": "Classify", "dataset": "d", "split": "", "metric": "acc", "value": "1.0000"}]


def test_use_snippet():
    assert p.use_snippet("alice/m", None, "http://h:1") == (
        "import hub_publish\n\nmodel = hub_publish.from_pretrained(\"alice/m\")\n\n"
        "# or with plain Keras:\nimport keras\n\n"
        "model = keras.saving.load_model(\"hf://alice/m\", compile=False)\n"
    )
    # a revision's page: Keras' hf:// always loads main, so that revision is downloaded first;
    # the model's module is imported so Keras knows its class
    assert p.use_snippet("alice/m", "v1", "http://h", module="mypkg.models") == (
        "import hub_publish\n\nmodel = hub_publish.from_pretrained(\"alice/m\", revision=\"v1\")\n\n"
        "# or with plain Keras:\nimport keras\nimport mypkg.models  # registers the model's class with Keras\n"
        "from huggingface_hub import snapshot_download\n\n"
        "model = keras.saving.load_model(snapshot_download(\"alice/m\", revision=\"v1\"), compile=False)\n"
    )
    # Keras' own classes need no import
    assert "import keras.src" not in p.use_snippet("alice/m", None, "http://h", module="keras.src.models")
    assert "import mypkg" in p.use_snippet("alice/m", None, "http://h", module="mypkg")


def test_revision_kind():
    refs = {"heads": {"main": SHA, "dev": SHA}, "tags": {"v1": SHA}, "pulls": {"1": SHA}}
    kinds = {rev: p._revision_kind(rev, refs, SHA) for rev in
             ("main", "refs/heads/dev", "v1", "refs/tags/v1", "refs/pr/1", SHA, "d" * 40, "other")}
    assert kinds == {"main": "branch", "refs/heads/dev": "branch", "v1": "tag", "refs/tags/v1": "tag",
                     "refs/pr/1": "pull request", SHA: "commit", "d" * 40: "revision", "other": "revision"}
    assert p._revision_kind("x", {}, SHA) == "revision"


# ----------------------------------------------------------------------------- the whole page


def _commit(files: dict[str, int]) -> Commit:
    return Commit(SHA, (), {path: FileEntry("a" * 64, size, "o", path.endswith(".h5")) for path, size in files.items()},
                  "Upload <b>model</b>", "", "alice", "2026-01-01T00:00:00.000Z")


def test_render_model_page_escapes_every_metadata_value():
    card = (
        "---\nlicense: \"<b>mit</b>\"\ntags: [\"<img src=x onerror=alert(1)>\"]\nbase_model: \"alice/base\"\n"
        "model-index:\n- name: \"<i>m</i>\"\n  results:\n  - task: {type: \"<u>t</u>\"}\n    dataset: {name: \"<s>d</s>\"}\n"
        "    metrics: [{type: \"<em>acc</em>\", value: \"<script>v</script>\"}]\n---\n# Hello\n![p](plot.png)\n"
    )
    html = p.render_model_page(repo_id="alice/m", revision="main", commit=_commit({"README.md": 10, "w.weights.h5": 2048}),
                               refs={"heads": {"main": SHA, "<dev>": SHA}, "tags": {"<v1>": SHA}}, private=True,
                               card_text=card, endpoint="http://h")
    for raw in ("<b>", "<img src=x", "<i>", "<u>", "<s>", "<em>", "<script", "<dev>", "<v1>"):
        assert raw not in html, raw
    assert '<span class="badge">&lt;img src=x onerror=alert(1)&gt;</span>' in html
    assert '<a class="badge" href="/alice/base">alice/base</a>' in html
    assert "&lt;script&gt;v&lt;/script&gt;" in html and "Upload &lt;b&gt;model&lt;/b&gt;" in html
    assert f'src="/alice/m/resolve/{SHA}/plot.png"' in html
    assert f'href="/alice/m/resolve/{SHA}/w.weights.h5"' in html and ">2.0 KiB<" in html
    assert "badge private" in html and 'id="hello"' in html
    assert f"hub-publish {__version__}" in html


def test_render_model_page_without_a_card_or_with_a_huge_one():
    commit = _commit({"config.json": 3})
    missing = p.render_model_page(repo_id="alice/m", revision="main", commit=commit, refs={"heads": {"main": SHA}},
                                  private=False, card_text=None, endpoint="http://h")
    huge = p.render_model_page(repo_id="alice/m", revision="main", commit=commit, refs={"heads": {"main": SHA}},
                               private=False, card_text=None, endpoint="http://h", card_too_large=True)
    assert missing != huge
    assert "badge private" not in missing
    assert 'hub_publish.from_pretrained(&#34;alice/m&#34;)' in missing or 'hub_publish.from_pretrained("alice/m")' in missing


def test_error_page_is_escaped_and_has_the_security_headers():
    response = p.error_page(404, "Repository <script>x</script> not found.")
    assert response.status_code == 404
    assert "&lt;script&gt;x&lt;/script&gt;" in response.body.decode() and "<script" not in response.body.decode()
    assert response.headers["content-security-policy"] == p.CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer" and response.headers["cache-control"] == "no-store"
    assert "script-src" not in p.CONTENT_SECURITY_POLICY and "default-src 'none'" in p.CONTENT_SECURITY_POLICY


# ----------------------------------------------------------------------------- the page route


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    # A thread of this process under mutmut (it records coverage in-process only), else a process.
    in_thread = bool(os.environ.get("MUTANT_UNDER_TEST"))
    with HubServer(tmp_path_factory.mktemp("page-hub"), tokens=TOKEN_SPECS, in_thread=in_thread) as server:
        yield server


def test_page_route(hub):
    from huggingface_hub import HfApi

    alice = HfApi(endpoint=hub.endpoint, token=TOKENS["alice"])
    repo = f"alice/page-{os.urandom(4).hex()}"
    alice.create_repo(repo)
    alice.upload_file(path_or_fileobj=b"---\ntags: ['<b>x</b>']\n---\n# Big\n", path_in_repo="README.md", repo_id=repo)
    first = alice.list_repo_commits(repo)[0].commit_id
    alice.upload_file(path_or_fileobj=b"# v2\n" + b"x" * (p.MAX_CARD_BYTES + 1), path_in_repo="README.md", repo_id=repo)
    with httpx2.Client(base_url=hub.endpoint) as http:
        page = http.get(f"/{repo}", params={"revision": first})
        assert page.status_code == 200 and page.headers["content-security-policy"] == p.CONTENT_SECURITY_POLICY
        assert "&lt;b&gt;x&lt;/b&gt;" in page.text and "commit" in page.text
        big = http.get(f"/{repo}")
        assert big.status_code == 200 and "x" * 1000 not in big.text
        assert http.head(f"/{repo}").status_code == 200
        missing = http.get(f"/{repo}", params={"revision": "nope"})
        assert missing.status_code == 404
        assert "Revision &#39;nope&#39; not found in" in missing.text or "Revision 'nope' not found in" in missing.text
        assert http.get("/alice/does-not-exist").status_code == 404
        assert http.get("/bad name/x").status_code in (400, 404)
        assert http.get(f"/{repo}", headers={"authorization": "Bearer wrong"}).status_code == 401
        redirect = http.get(f"/{repo}/commit/{first}")
        assert redirect.status_code == 302 and redirect.headers["location"] == f"/{repo}?revision={first}"
        tree = http.get(f"/{repo}/tree/refs/pr/1")
        assert tree.status_code == 302 and tree.headers["location"] == f"/{repo}?revision=refs%2Fpr%2F1"
    alice.update_repo_settings(repo, private=True)
    with httpx2.Client(base_url=hub.endpoint) as http:
        assert http.get(f"/{repo}").status_code == 404
        assert http.get(f"/{repo}", headers={"authorization": f"Bearer {TOKENS['alice']}"}).status_code == 200


def _main(html: str) -> str:
    return html.split('<main class="card" id="hp-card">', 1)[1].split("</main>", 1)[0].strip()


def test_render_model_page_structure_at_a_pinned_revision():
    refs = {"heads": {"main": SHA, "dev": SHA}, "tags": {"v1": SHA}}
    commit = _commit({"README.md": 10, "config.json": 1536, "w.weights.h5": 2048})
    html = p.render_model_page(repo_id="alice/m", revision="v1", commit=commit, refs=refs, private=False,
                               card_text="---\nlicense: mit\n---\n# Title\n\nsee [the config](config.json)\n",
                               endpoint="http://hub:1")
    assert "<title>alice/m @ v1 · hub-publish Hub</title>" in html
    assert '<h1 id="hp-repo-id">alice/m</h1>' in html
    assert f'tag <strong>v1</strong> at commit <code id="hp-commit-id" title="Upload &lt;b&gt;model&lt;/b&gt;">{SHA}</code>' in html
    assert '<a href="/alice/m?revision=dev">dev</a><a href="/alice/m?revision=main">main</a>' in html
    assert "· tags:" in html and "<strong>v1</strong>" in html
    assert _main(html) == ('<h1 id="title">Title</h1>\n<p>see <a href="/alice/m/resolve/' + SHA
                           + '/config.json" rel="nofollow noopener noreferrer">the config</a></p>')
    assert '<code class="language-shell" id="hp-snippet-shell">export HF_ENDPOINT=http://hub:1</code>' in html
    assert 'hub_publish.from_pretrained(&#34;alice/m&#34;, revision=&#34;v1&#34;)' in html
    assert "load_model(snapshot_download(&#34;alice/m&#34;, revision=&#34;v1&#34;), compile=False)" in html
    assert "Files <span class=\"badge\">3 · 3.5 KiB</span>" in html  # 10 + 1536 + 2048 bytes


def test_render_model_page_on_main_without_tags_or_card():
    html = p.render_model_page(repo_id="alice/m", revision="main", commit=_commit({"config.json": 3}),
                               refs={"heads": {"main": SHA}}, private=False, card_text=None, endpoint="http://h")
    assert "<title>alice/m · hub-publish Hub</title>" in html
    assert "branch <strong>main</strong> at commit" in html and "tags:" not in html
    assert _main(html) == '<p class="note">This repo has no model card (README.md) at this revision.</p>'
    assert 'hub_publish.from_pretrained(&#34;alice/m&#34;)\n' in html
    huge = p.render_model_page(repo_id="alice/m", revision="main", commit=_commit({"config.json": 3}),
                               refs={"heads": {"main": SHA}}, private=False, card_text=None, endpoint="http://h",
                               card_too_large=True)
    assert _main(huge) == '<p class="note">README.md is too large to be shown here; download it from the file list.</p>'
    empty = p.render_model_page(repo_id="alice/m", revision="main", commit=_commit({"README.md": 0}),
                                refs={"heads": {"main": SHA}}, private=False, card_text="", endpoint="http://h")
    assert _main(empty) == ""
    at_commit = p.render_model_page(repo_id="alice/m", revision=SHA, commit=_commit({}), refs={"heads": {"main": SHA}},
                                    private=False, card_text=None, endpoint="http://h")
    assert f"commit <strong>{SHA}</strong>" in at_commit


def test_error_page_content():
    body = p.error_page(403, "No.").body.decode()
    assert "<title>403 · hub-publish Hub</title>" in body and '<p id="hp-error">No.</p>' in body
    assert f"hub-publish {__version__} embedded Hub" in body


def test_render_card_edges():
    # a heading as the very last token, an image without src, a link without href
    assert render("# End") == '<h1 id="end">End</h1>\n'
    assert render("![]()") == '<p><img alt=""></p>\n'
    assert render("![out](../outside.png)") == '<p><img alt="out"></p>\n'  # the unsafe src is removed
    assert render("[x]()") == '<p><a href="" rel="nofollow noopener noreferrer">x</a></p>\n'
    # reference-style links use the parser's env
    assert render("[ref]\n\n[ref]: https://keras.io\n") == (
        '<p><a href="https://keras.io" rel="nofollow noopener noreferrer">ref</a></p>\n')
    assert render("[ref][r]\n\n[r]: config.json\n", files={"config.json"}) == (
        f'<p><a href="/alice/m/resolve/{SHA}/config.json" rel="nofollow noopener noreferrer">ref</a></p>\n')


def test_front_matter_body_is_kept_verbatim():
    assert p.split_front_matter("---\na: 1\n---\nline 1\nline 2\n") == ({"a": 1}, "line 1\nline 2\n")


def test_eval_results_keep_going_after_a_metric_without_value():
    metadata = {"model-index": [{"results": [{"metrics": [{"type": "skip"}, {"type": "kept", "value": 2}]}]}]}
    assert [r["metric"] for r in p.eval_results(metadata)] == ["kept"]


def test_repo_path_edge_cases():
    assert p._repo_path("https:a.png") is None  # a scheme without netloc
    assert p._repo_path("//host") is None
    assert p._repo_path("a/../..") is None
    assert p._link_href("XX#XX", file_url, set()) == "XX#XX" and p._link_href("#", file_url, set()) == "#"


def test_card_text(tmp_path):
    from hub_publish.server.storage import Storage

    store = Storage(tmp_path / "data")
    small = store.put_blob("# héllo \xff".encode("utf-8") + b"\xff")
    big = store.put_blob(b"x" * (p.MAX_CARD_BYTES + 1))
    limit = store.put_blob(b"y" * p.MAX_CARD_BYTES)

    def commit(sha, size):
        return Commit(SHA, (), {"README.md": FileEntry(sha, size, "o", False)}, "t", "", "a", "d")

    assert p._card_text(store, Commit(SHA, (), {}, "t", "", "a", "d")) == (None, False)
    assert p._card_text(store, commit(small, 14)) == ("# héllo \xff\ufffd", False)
    assert p._card_text(store, commit(big, p.MAX_CARD_BYTES + 1)) == (None, True)
    assert p._card_text(store, commit(limit, p.MAX_CARD_BYTES)) == ("y" * p.MAX_CARD_BYTES, False)


# ----------------------------------------------------------------------------- Hub links, pinned snippets, model module


def test_local_hub_url():
    seen: list[str] = []

    def local(repo: str) -> bool:
        seen.append(repo)
        return repo in ("alice/m", "alice/b")

    url = p._local_hub_url
    assert url("https://huggingface.co/alice/m", local) == "/alice/m"
    assert url("HTTPS://HuggingFace.CO/alice/m/", local) == "/alice/m"
    assert url("http://hf.co/alice/m/blob/main/a.png", local) == "/alice/m/resolve/main/a.png"
    assert url("https://www.huggingface.co/alice/m/tree/main?x=1#frag", local) == "/alice/m/tree/main?x=1#frag"
    assert url("https://huggingface.co/alice/m#usage", local) == "/alice/m#usage"
    assert url("https://huggingface.co/al%69ce/m", local) == "/al%69ce/m"  # the repo is looked up unquoted
    assert seen == ["alice/m"] * 5 + ["alice/m"]
    seen.clear()
    for kept in ("https://huggingface.co/bob/x", "https://huggingface.co/alice", "https://huggingface.co/",
                 "https://huggingface.co/api/models", "https://huggingface.co/datasets/alice/m",
                 "https://huggingface.co/spaces/alice/m", "https://huggingface.co/docs/hub",
                 "https://huggingface.co/models/alice", "https://example.com/alice/m", "ftp://huggingface.co/alice/m",
                 "/alice/m", "alice/m"):
        assert url(kept, local) == kept, kept
    assert seen == ["bob/x"]
    # images: only files (resolve/ or blob/ URLs) come from this server
    assert url("https://huggingface.co/alice/m/resolve/main/p.png", local, resolve=True) == "/alice/m/resolve/main/p.png"
    assert url("https://huggingface.co/alice/m/blob/v1/p.png", local, resolve=True) == "/alice/m/resolve/v1/p.png"
    assert url("https://huggingface.co/alice/m", local, resolve=True) == "https://huggingface.co/alice/m"
    assert url("https://huggingface.co/alice/m/tree/main", local, resolve=True) == "https://huggingface.co/alice/m/tree/main"


def test_render_card_points_hub_links_of_local_repos_here():
    local = lambda repo: repo == "alice/m"  # noqa: E731
    html = p.render_card(
        "[page](https://huggingface.co/alice/m) [file](https://huggingface.co/alice/m/blob/main/a.txt) "
        "[other](https://huggingface.co/bob/x)\n\n![p](https://huggingface.co/alice/m/resolve/main/p.png) "
        "![page](https://huggingface.co/alice/m)\n",
        file_url=file_url, local_repo=local)
    found = tags(html)
    assert [a["href"] for t, a in found if t == "a"] == ["/alice/m", "/alice/m/resolve/main/a.txt", "https://huggingface.co/bob/x"]
    assert [a["src"] for t, a in found if t == "img"] == ["/alice/m/resolve/main/p.png", "https://huggingface.co/alice/m"]


def test_render_card_keeps_safe_schemes_and_table_alignment():
    html = render("[h](http://k.example/a) [m](mailto:a@b.c) ![d](data:image/png;base64,AAAA)\n\n"
                  "| a | b | c |\n|:-|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert [a.get("href") for t, a in tags(html) if t == "a"] == ["http://k.example/a", "mailto:a@b.c"]
    assert [a.get("src") for t, a in tags(html) if t == "img"] == ["data:image/png;base64,AAAA"]
    assert '<th align="left">a</th>\n<th align="center">b</th>\n<th align="right">c</th>' in html
    assert '<td align="center">2</td>' in html and "style" not in html
    # an attribute of a link other than href is not a URL: kept as written
    assert render('<a href="#x" title="javascript: no" name="config.json">t</a>', files={"config.json"}) == (
        '<p><a href="#x" title="javascript: no" name="config.json" rel="nofollow noopener noreferrer">t</a></p>\n')


def test_pin_snippet():
    pin = p.pin_snippet
    assert pin('m = hub_publish.from_pretrained("alice/m")\n', "alice/m", "v1") == (
        'm = hub_publish.from_pretrained("alice/m", revision="v1")\n')
    assert pin('p = snapshot_download("alice/m")', "alice/m", "refs/pr/1") == (
        'p = snapshot_download("alice/m", revision="refs/pr/1")')
    for unchanged in ('from_pretrained("alice/m2")', 'from_pretrained("alice/m", token=t)', 'xfrom_pretrained("alice/m")',
                      'from_pretrained("bob/m")', 'load_model("hf://alice/m2")'.replace("m2", "other")):
        assert pin(unchanged, "alice/m", "v1") == unchanged
    assert pin('import keras\nimport mypkg\n\nm = keras.saving.load_model("hf://alice/m", compile=False)\n', "alice/m", "v1") == (
        'import keras\nimport mypkg\nfrom huggingface_hub import snapshot_download\n\n'
        'm = keras.saving.load_model(snapshot_download("alice/m", revision="v1"), compile=False)\n')
    assert pin('m = keras.saving.load_model("hf://alice/m")', "alice/m", "dev") == (
        'from huggingface_hub import snapshot_download\nm = keras.saving.load_model(snapshot_download("alice/m", revision="dev"))')
    already = 'from huggingface_hub import snapshot_download\nimport keras\nm = keras.saving.load_model("hf://alice/m")'
    assert pin(already, "alice/m", "v1") == (
        'from huggingface_hub import snapshot_download\nimport keras\n'
        'm = keras.saving.load_model(snapshot_download("alice/m", revision="v1"))')
    indented = 'if True:\n    import keras\nx = load_model("hf://alice/m")'  # only top-level imports count
    assert pin(indented, "alice/m", "v1") == (
        'from huggingface_hub import snapshot_download\nif True:\n    import keras\n'
        'x = load_model(snapshot_download("alice/m", revision="v1"))')


def test_render_card_pins_python_snippets_on_a_revision_page():
    md = ('```python\nm = hub_publish.from_pretrained("alice/m")\n```\n\n```PY \nsnapshot_download("alice/m")\n```\n\n'
          '```bash\nfrom_pretrained("alice/m")\n```\n\n`from_pretrained("alice/m")`\n')
    pinned = p.render_card(md, file_url=file_url, pin=("alice/m", "v1"))
    assert pinned == (
        '<pre><code class="language-python">m = hub_publish.from_pretrained("alice/m", revision="v1")\n'
        '</code></pre>\n<pre><code class="language-PY">snapshot_download("alice/m", revision="v1")\n'
        '</code></pre>\n<pre><code class="language-bash">from_pretrained("alice/m")\n</code></pre>\n'
        '<p><code>from_pretrained("alice/m")</code></p>\n')
    assert "revision" not in p.render_card(md, file_url=file_url)  # main's page: unpinned


def test_model_module(tmp_path):
    from hub_publish import constants
    from hub_publish.server.storage import Storage

    store = Storage(tmp_path / "data")

    def module_of(content: bytes | None, size: int | None = None):
        files = {}
        if content is not None:
            files[constants.METADATA_FILE] = FileEntry(store.put_blob(content), len(content) if size is None else size, "o", False)
        return p._model_module(store, Commit(SHA, (), files, "t", "", "a", "d"))

    def meta(value) -> bytes:
        return json.dumps({"keras_version": "3", constants.META_ROOT: value}).encode()

    assert module_of(meta({constants.META_MODULE: "mypkg.models"})) == "mypkg.models"
    assert module_of(meta({constants.META_MODULE: "_p.m2"})) == "_p.m2"
    assert module_of(meta({constants.META_MODULE: "MyPkg.Models"})) == "MyPkg.Models"
    assert module_of(meta({constants.META_MODULE: "mypkg"}), size=p.MAX_CARD_BYTES) == "mypkg"
    assert module_of(meta({constants.META_MODULE: "mypkg"}), size=p.MAX_CARD_BYTES + 1) is None  # not read
    for bad in ("os; import x", "1pkg", "a-b", "", "pkg\n", None, 3, ["x"]):
        assert module_of(meta({constants.META_MODULE: bad})) is None, bad
    assert module_of(None) is None
    for broken in (b"{not json", b"[1, 2]", b"\xff\xfe", meta("a string"), meta(None), meta([1]),
                   json.dumps({"other": {constants.META_MODULE: "x"}}).encode()):
        assert module_of(broken) is None, broken


def test_pin_snippet_after_the_last_import_of_either_form_and_names_with_x():
    assert p.pin_snippet('import keras\nfrom keras import saving\nm = saving.load_model("hf://alice/m")', "alice/m", "v1") == (
        'import keras\nfrom keras import saving\nfrom huggingface_hub import snapshot_download\n'
        'm = saving.load_model(snapshot_download("alice/m", revision="v1"))')
    assert p._local_hub_url("https://huggingface.co/Xo/mX", lambda repo: repo == "Xo/mX") == "/Xo/mX"


def test_render_model_page_passes_local_repos_and_the_model_module_on():
    html = p.render_model_page(repo_id="alice/m", revision="main", commit=_commit({"README.md": 10}),
                               refs={"heads": {"main": SHA}}, private=False,
                               card_text="[base](https://huggingface.co/alice/base)\n", endpoint="http://h",
                               local_repo=lambda repo: repo == "alice/base", model_module="MyPkg.Models")
    assert 'href="/alice/base"' in html and "huggingface.co/alice/base" not in html
    assert "import MyPkg.Models  # registers the model&#39;s class with Keras" in html


def test_render_model_page_pins_the_cards_snippets_on_a_revision_page_only():
    card = '```python\nm = hub_publish.from_pretrained("alice/m")\n```\n'

    def page(revision: str) -> str:
        return _main(p.render_model_page(repo_id="alice/m", revision=revision, commit=_commit({"README.md": 10}),
                                         refs={"heads": {"main": SHA}, "tags": {"v1": SHA}}, private=False,
                                         card_text=card, endpoint="http://h"))

    assert page("v1") == ('<pre><code class="language-python">m = hub_publish.from_pretrained('
                          '"alice/m", revision="v1")\n</code></pre>')
    assert page("main") == ('<pre><code class="language-python">m = hub_publish.from_pretrained('
                            '"alice/m")\n</code></pre>')


def test_eval_results_skip_a_result_whose_metrics_are_not_a_list():
    for metrics in (None, 3, "acc"):
        assert p.eval_results({"model-index": [{"results": [{"metrics": metrics}]}]}) == []
