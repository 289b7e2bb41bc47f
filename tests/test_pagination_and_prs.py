"""Paginated listings (Link headers of tree, folder tree, models, commits) and pull requests (create_pr=True).

A real server process; the stock huggingface_hub client follows the ``Link: <...>; rel="next"``
headers, and the raw pages are checked too (page sizes are the Hub's, from hub_publish.constants).
"""

from __future__ import annotations

import base64
import json
import re

import httpx2
import keras
import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError
from server_fixtures import TOKENS, alice, hub_server, unique  # noqa: F401

import hub_publish
from hub_publish import constants

AUTH = {"authorization": f"Bearer {TOKENS['alice']}"}


def _pages(url: str, params: dict | None = None) -> list[list]:
    """Every page of a listing, following Link rel="next" by hand."""
    pages = []
    next_url: str | None = url
    while next_url:
        r = httpx2.get(next_url, params=params if not pages else None, headers=AUTH, timeout=60)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        link = r.headers.get("link")
        next_url = re.fullmatch(r'<(.+)>; rel="next"', link).group(1) if link else None
        assert len(pages) < 100
    return pages


@pytest.fixture(scope="module")
def big_repo(alice: HfApi) -> str:
    """1001 files at the root and 3 in a folder, in one commit."""
    repo = f"alice/{unique('many')}"
    alice.create_repo(repo)
    # One raw NDJSON commit (the stock client would preupload a thousand files one by one).
    paths = [f"f{i:04d}.txt" for i in range(constants.SERVER_TREE_PAGE_SIZE + 1)] + [f"dir/g{i}.txt" for i in range(3)]
    lines = [{"key": "header", "value": {"summary": "many files"}}]
    lines += [{"key": "file", "value": {"path": p, "content": base64.b64encode(p.encode()).decode()}} for p in paths]
    r = httpx2.post(f"{alice.endpoint}/api/models/{repo}/commit/main", headers={**AUTH, "content-type": "application/x-ndjson"},
                    content="\n".join(json.dumps(line) for line in lines), timeout=120)
    assert r.status_code == 200, r.text
    return repo


def test_tree_pages(hub_server, alice, big_repo):
    pages = _pages(f"{hub_server.endpoint}/api/models/{big_repo}/tree/main")
    size = constants.SERVER_TREE_PAGE_SIZE
    assert [len(p) for p in pages] == [size, 3]  # the root: a folder, 1001 files and .gitattributes
    paths = [e["path"] for page in pages for e in page]
    assert paths[0] == "dir" and len(paths) == len(set(paths)) == size + 3
    files = alice.list_repo_files(big_repo)  # the stock client follows the Link headers itself
    assert len(files) == size + 1 + 3 + 1 and "f1000.txt" in files and "dir/g2.txt" in files


def test_folder_tree_and_expanded_pages(hub_server, alice, big_repo):
    assert [len(p) for p in _pages(f"{hub_server.endpoint}/api/models/{big_repo}/tree/main/dir")] == [3]
    expanded = _pages(f"{hub_server.endpoint}/api/models/{big_repo}/tree/main", {"expand": "true"})
    size = constants.SERVER_TREE_PAGE_SIZE_EXPAND
    total = constants.SERVER_TREE_PAGE_SIZE + 3  # the root: a folder, 1001 files, .gitattributes
    assert [len(p) for p in expanded] == [size] * (total // size) + ([total % size] if total % size else [])
    entries = [e for page in expanded for e in page]
    assert len({e["path"] for e in entries}) == total
    assert all(e["lastCommit"]["title"] in ("many files", "initial commit") for e in entries)
    tree = list(alice.list_repo_tree(big_repo, expand=True))
    assert len(tree) == total


def test_commit_pages(hub_server, alice):
    repo = f"alice/{unique('commits')}"
    alice.create_repo(repo)
    for i in range(55):
        alice.create_commit(repo, [CommitOperationAdd("n.txt", b"%d" % i)], commit_message=f"c{i}")
    pages = _pages(f"{hub_server.endpoint}/api/models/{repo}/commits/main")
    assert [len(p) for p in pages] == [50, 6]
    titles = [c["title"] for page in pages for c in page]
    assert titles == [f"c{i}" for i in reversed(range(55))] + ["initial commit"]
    assert [c.title for c in alice.list_repo_commits(repo)] == titles


def test_model_list_pages(tmp_path, monkeypatch):
    """/api/models pages. The Hub's page is 1000 repos; this server runs in a thread of the test
    (still over HTTP) so that the page size can be made 3 here instead of creating 1001 repos."""
    from hub_publish.server import HubServer

    monkeypatch.setattr(constants, "SERVER_LIST_PAGE_SIZE", 3)
    with HubServer(tmp_path / "data", tokens=["dave=hf_dave", "erin=hf_erin"], in_thread=True) as server:
        with httpx2.Client(base_url=server.endpoint) as http:
            for i in range(7):
                r = http.post("/api/repos/create", json={"name": f"m{i}", "private": i == 6},
                              headers={"authorization": "Bearer hf_dave"})
                assert r.status_code == 200
            assert http.post("/api/repos/create", json={"name": "other"},
                             headers={"authorization": "Bearer hf_erin"}).status_code == 200
        pages = []
        url: str | None = f"{server.endpoint}/api/models?author=dave&sort=createdAt&direction=1"
        while url:
            r = httpx2.get(url)
            pages.append([m["id"] for m in r.json()])
            link = r.headers.get("link")
            url = re.fullmatch(r'<(.+)>; rel="next"', link).group(1) if link else None
            if url:
                assert "author=dave" in url and "sort=createdAt" in url  # the next page keeps the query
        assert pages == [["dave/m0", "dave/m1", "dave/m2"], ["dave/m3", "dave/m4", "dave/m5"]]  # m6 is private
        models = list(HfApi(endpoint=server.endpoint, token="hf_dave").list_models(author="dave"))
        assert sorted(m.id for m in models) == [f"dave/m{i}" for i in range(7)]  # the client follows the links
        assert httpx2.get(f"{server.endpoint}/api/models", params={"cursor": "x"}).status_code == 400
        assert httpx2.get(f"{server.endpoint}/api/models", params={"limit": "2"}).headers.get("link") is None


# ----------------------------------------------------------------------------- pull requests


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))


def test_push_with_create_pr_opens_a_pull_request_and_leaves_main(hub_server, alice, tmp_path):
    repo = f"alice/{unique('pr')}"
    first = hub_publish.push_to_hub(_model(1), repo, token=TOKENS["alice"], endpoint=hub_server.endpoint)
    proposed = _model(2)
    result = hub_publish.push_to_hub(proposed, repo, token=TOKENS["alice"], endpoint=hub_server.endpoint,
                                     create_pr=True, commit_message="Proposal")
    assert result.changed and result.pr_url == f"{hub_server.endpoint}/{repo}/discussions/1"
    assert result.revision == "refs/pr/1"  # where the commit went, not the branch it proposes to change
    assert alice.repo_info(repo).sha == first.commit_id  # main did not move
    refs = alice.list_repo_refs(repo, include_pull_requests=True)
    assert [(p.name, p.target_commit) for p in refs.pull_requests] == [("refs/pr/1", result.commit_id)]
    pr_commit = alice.list_repo_commits(repo, revision="refs/pr/1")
    assert pr_commit[0].title == "Proposal" and pr_commit[1].commit_id == first.commit_id
    loaded = hub_publish.from_pretrained(repo, revision="refs/pr/1", endpoint=hub_server.endpoint,
                                         token=TOKENS["alice"], cache_dir=tmp_path / "c1")
    np.testing.assert_array_equal(loaded.get_layer("head").get_weights()[0], proposed.get_layer("head").get_weights()[0])
    on_main = hub_publish.from_pretrained(repo, endpoint=hub_server.endpoint, token=TOKENS["alice"],
                                          cache_dir=tmp_path / "c2")
    np.testing.assert_array_equal(on_main.get_layer("head").get_weights()[0], _model(1).get_layer("head").get_weights()[0])


def test_another_user_may_not_open_a_pull_request_on_a_repo_they_cannot_write(hub_server, alice):
    repo = f"alice/{unique('pr-other')}"
    alice.create_repo(repo)
    bob = HfApi(endpoint=hub_server.endpoint, token=TOKENS["bob"])
    with pytest.raises(HfHubHTTPError, match=rf"403 Forbidden: You don't have the rights to write to {repo} \(namespace 'alice'\)") as err:
        bob.create_commit(repo, [CommitOperationAdd("x.txt", b"x")], commit_message="drive-by", create_pr=True)
    assert err.value.response.status_code == 403
    assert alice.list_repo_refs(repo, include_pull_requests=True).pull_requests == []


def test_pull_requests_are_numbered_and_independent(hub_server, alice):
    repo = f"alice/{unique('prs')}"
    alice.create_repo(repo)
    one = alice.create_commit(repo, [CommitOperationAdd("a.txt", b"a")], commit_message="one", create_pr=True)
    two = alice.create_commit(repo, [CommitOperationAdd("b.txt", b"b")], commit_message="two", create_pr=True)
    assert one.pr_num == 1 and two.pr_num == 2
    assert alice.list_repo_files(repo, revision="refs/pr/1") == [".gitattributes", "a.txt"]
    assert alice.list_repo_files(repo, revision="refs/pr/2") == [".gitattributes", "b.txt"]
    alice.create_commit(repo, [CommitOperationAdd("c.txt", b"c")], commit_message="more", revision="refs/pr/1")
    assert alice.list_repo_files(repo, revision="refs/pr/1") == [".gitattributes", "a.txt", "c.txt"]
    assert alice.list_repo_files(repo) == [".gitattributes"]
