"""The Hub server driven by the stock huggingface_hub client (HfApi, hf_hub_download, snapshot_download)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2
import numpy as np
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from server_fixtures import TOKEN_SPECS, TOKENS, alice, anonymous, bob, hub_server, repo_id, unique  # noqa: F401

from hub_publish.server import HubServer

CARD = """---
license: apache-2.0
library_name: keras
pipeline_tag: image-classification
tags:
- mnist
- hub-publish
---
# A model
"""


def _download(server: HubServer, repo: str, filename: str, cache: Path, **kwargs) -> bytes:
    path = hf_hub_download(repo, filename, endpoint=server.endpoint, token=TOKENS["alice"], cache_dir=cache, **kwargs)
    return Path(path).read_bytes()


def test_whoami(alice: HfApi) -> None:
    me = alice.whoami()
    assert me["name"] == "alice"
    assert [o["name"] for o in me["orgs"]] == ["acme"]


def test_create_repo_and_exist_ok(alice: HfApi, hub_server: HubServer) -> None:
    repo = f"alice/{unique()}"
    url = alice.create_repo(repo)
    assert url.repo_id == repo and url.endpoint == hub_server.endpoint
    again = alice.create_repo(repo, exist_ok=True)
    assert again.repo_id == repo
    with pytest.raises(HfHubHTTPError, match=r"409") as err:
        alice.create_repo(repo)
    assert err.value.response.status_code == 409
    # The Hub's initial commit holds a .gitattributes with the LFS patterns.
    assert alice.list_repo_files(repo) == [".gitattributes"]
    assert "*.h5 filter=lfs" in Path(alice.hf_hub_download(repo, ".gitattributes")).read_text()


def test_upload_list_and_download(alice: HfApi, hub_server: HubServer, repo_id: str, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "sub" / "x.txt").write_text("x")
    (folder / "sub" / "deep" / "y.txt").write_text("y")
    alice.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="folder")
    alice.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id)

    files = alice.list_repo_files(repo_id)
    assert files == sorted([".gitattributes", "README.md", "config.json", "sub/x.txt", "sub/deep/y.txt"])

    top = {e.path: type(e).__name__ for e in alice.list_repo_tree(repo_id)}
    assert top == {".gitattributes": "RepoFile", "README.md": "RepoFile", "config.json": "RepoFile", "sub": "RepoFolder"}
    sub = sorted(e.path for e in alice.list_repo_tree(repo_id, path_in_repo="sub", recursive=True))
    assert sub == ["sub/deep", "sub/deep/y.txt", "sub/x.txt"]
    expanded = {e.path: e for e in alice.list_repo_tree(repo_id, expand=True)}
    assert expanded["README.md"].last_commit.title == "Upload README.md with huggingface_hub"
    assert expanded["sub"].last_commit.title == "folder"

    info = alice.get_paths_info(repo_id, ["config.json", "sub", "missing.txt"])
    assert {type(e).__name__: e.path for e in info} == {"RepoFile": "config.json", "RepoFolder": "sub"}
    assert info[0].size == len('{"a": 1}')

    assert _download(hub_server, repo_id, "sub/deep/y.txt", tmp_path / "c") == b"y"
    assert (Path(snapshot_download(repo_id, endpoint=hub_server.endpoint, token=TOKENS["alice"], cache_dir=tmp_path / "s")) / "sub" / "x.txt").read_text() == "x"


def test_model_info_card_and_list_models(alice: HfApi, anonymous: HfApi, repo_id: str) -> None:
    alice.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    info = alice.model_info(repo_id, files_metadata=True)
    assert info.id == repo_id and info.author == "alice" and info.private is False
    assert info.library_name == "keras" and info.pipeline_tag == "image-classification"
    assert {"mnist", "hub-publish", "keras", "license:apache-2.0"} <= set(info.tags)
    assert info.card_data.license == "apache-2.0"
    assert info.sha == alice.list_repo_commits(repo_id)[0].commit_id
    readme = next(s for s in info.siblings if s.rfilename == "README.md")
    assert readme.size == len(CARD) and readme.lfs is None and readme.blob_id
    # lastModified is the head commit's date; the repo was created before it, moments ago.
    assert info.last_modified == alice.list_repo_commits(repo_id)[0].created_at
    assert info.created_at <= info.last_modified
    assert abs(datetime.now(timezone.utc) - info.created_at) < timedelta(minutes=10)

    found = [m.id for m in anonymous.list_models(author="alice", search=repo_id.split("/")[1])]
    assert found == [repo_id]
    assert repo_id in [m.id for m in anonymous.list_models(filter="mnist")]
    assert repo_id in [m.id for m in anonymous.list_models(filter=["keras", "mnist"], author="alice")]
    assert repo_id not in [m.id for m in anonymous.list_models(filter="no-such-tag")]
    assert len(list(anonymous.list_models(limit=1))) == 1


def test_create_commit_with_deletes_and_history(alice: HfApi, repo_id: str) -> None:
    alice.create_commit(
        repo_id,
        operations=[
            CommitOperationAdd("a.txt", b"a"),
            CommitOperationAdd("dir/b.txt", b"b"),
            CommitOperationAdd("dir/c.txt", b"c"),
        ],
        commit_message="add three",
        commit_description="the description",
    )
    alice.create_commit(
        repo_id,
        operations=[CommitOperationDelete("a.txt"), CommitOperationDelete("dir/", is_folder=True)],
        commit_message="delete them",
    )
    assert alice.list_repo_files(repo_id) == [".gitattributes"]
    commits = alice.list_repo_commits(repo_id)
    assert [c.title for c in commits] == ["delete them", "add three", "initial commit"]
    assert commits[1].message == "the description" and commits[1].authors == ["alice"]
    # Unchanged files are skipped by the client thanks to preupload's remote oid: no empty commit.
    alice.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo_id)
    alice.upload_file(path_or_fileobj=b"same", path_in_repo="s.txt", repo_id=repo_id)
    assert len(alice.list_repo_commits(repo_id)) == 4


def test_branches_tags_and_revisions(alice: HfApi, hub_server: HubServer, repo_id: str, tmp_path: Path) -> None:
    first = alice.upload_file(path_or_fileobj=b"v1", path_in_repo="w.txt", repo_id=repo_id).oid
    alice.create_tag(repo_id, tag="v1.0", tag_message="first")
    alice.create_branch(repo_id, branch="dev")
    alice.upload_file(path_or_fileobj=b"dev", path_in_repo="w.txt", repo_id=repo_id, revision="dev")
    alice.upload_file(path_or_fileobj=b"v2", path_in_repo="w.txt", repo_id=repo_id)

    refs = alice.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", first)]

    cache = tmp_path / "cache"
    assert _download(hub_server, repo_id, "w.txt", cache) == b"v2"
    assert _download(hub_server, repo_id, "w.txt", cache, revision="v1.0") == b"v1"
    assert _download(hub_server, repo_id, "w.txt", cache, revision="dev") == b"dev"
    assert _download(hub_server, repo_id, "w.txt", cache, revision=first) == b"v1"
    assert alice.model_info(repo_id, revision="v1.0").sha == first

    meta = get_hf_file_metadata(hf_hub_url(repo_id, "w.txt", revision="v1.0", endpoint=hub_server.endpoint))
    assert meta.commit_hash == first and meta.size == 2 and meta.etag and meta.xet_file_data is None

    alice.delete_tag(repo_id, tag="v1.0")
    alice.delete_branch(repo_id, branch="dev")
    refs = alice.list_repo_refs(repo_id)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []


def test_pull_request_revision(alice: HfApi, hub_server: HubServer, repo_id: str, tmp_path: Path) -> None:
    info = alice.upload_file(path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=repo_id, create_pr=True)
    assert info.pr_num == 1 and info.pr_revision == "refs/pr/1"
    assert "pr.txt" not in alice.list_repo_files(repo_id)
    assert "pr.txt" in alice.list_repo_files(repo_id, revision="refs/pr/1")
    assert _download(hub_server, repo_id, "pr.txt", tmp_path, revision="refs/pr/1") == b"pr"
    refs = alice.list_repo_refs(repo_id, include_pull_requests=True)
    assert [p.ref for p in refs.pull_requests] == ["refs/pr/1"]


def test_range_request(alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    alice.upload_file(path_or_fileobj=b"0123456789", path_in_repo="r.txt", repo_id=repo_id)
    r = httpx2.get(f"{hub_server.url}/{repo_id}/resolve/main/r.txt", headers={"Range": "bytes=2-5"})
    assert r.status_code == 206 and r.content == b"2345"
    assert r.headers["X-Repo-Commit"] == alice.model_info(repo_id).sha


def test_large_and_h5_files_go_through_lfs(alice: HfApi, hub_server: HubServer, repo_id: str, tmp_path: Path) -> None:
    big = os.urandom(11 * 1024 * 1024)
    small_h5 = bytes(1000) + b"weights" * 1000  # below the size threshold, LFS by .gitattributes
    floats = np.linspace(-1, 1, 100_000, dtype="float32").tobytes()  # Xet may byte-group + LZ4 these
    alice.upload_file(path_or_fileobj=big, path_in_repo="big.bin", repo_id=repo_id)
    alice.upload_file(path_or_fileobj=floats, path_in_repo="floats.npy", repo_id=repo_id)
    alice.upload_file(path_or_fileobj=small_h5, path_in_repo="model.weights.h5", repo_id=repo_id)
    alice.upload_file(path_or_fileobj=b"tiny text", path_in_repo="notes.txt", repo_id=repo_id)
    siblings = {s.rfilename: s for s in alice.model_info(repo_id, files_metadata=True).siblings}
    assert siblings["big.bin"].lfs is not None and siblings["big.bin"].lfs.size == len(big)
    assert siblings["model.weights.h5"].lfs is not None
    assert siblings["notes.txt"].lfs is None
    assert _download(hub_server, repo_id, "big.bin", tmp_path) == big
    assert _download(hub_server, repo_id, "model.weights.h5", tmp_path) == small_h5
    assert _download(hub_server, repo_id, "floats.npy", tmp_path) == floats
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "big.bin", endpoint=hub_server.endpoint))
    assert meta.etag == siblings["big.bin"].lfs.sha256 and meta.size == len(big)


def test_settings_move_and_delete(alice: HfApi, anonymous: HfApi) -> None:
    repo = f"alice/{unique()}"
    alice.create_repo(repo)
    alice.update_repo_settings(repo, private=True)
    assert alice.model_info(repo).private is True
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(repo)
    alice.update_repo_settings(repo, private=False)
    assert anonymous.model_info(repo).private is False

    moved = f"acme/{unique()}"
    alice.move_repo(repo, moved)
    assert alice.repo_exists(moved) and not alice.repo_exists(repo)
    alice.delete_repo(moved)
    assert not alice.repo_exists(moved)
    alice.delete_repo(moved, missing_ok=True)


def test_restart_keeps_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/persist")
        api.upload_file(path_or_fileobj=b"kept", path_in_repo="k.txt", repo_id="alice/persist")
        api.create_tag("alice/persist", tag="t")
        sha = api.model_info("alice/persist").sha
        server.restart()
        assert api.model_info("alice/persist").sha == sha
    with HubServer(data, tokens=TOKEN_SPECS) as server:  # a new process, a new port
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        assert api.model_info("alice/persist").sha == sha
        assert _download(server, "alice/persist", "k.txt", tmp_path / "c", revision="t") == b"kept"
        api.upload_file(path_or_fileobj=b"more", path_in_repo="m.txt", repo_id="alice/persist")
        assert len(api.list_repo_commits("alice/persist")) == 3


def test_in_thread_server(tmp_path: Path) -> None:
    with HubServer(tmp_path, tokens=TOKEN_SPECS, in_thread=True) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["bob"])
        api.create_repo("bob/threaded")
        assert api.list_repo_files("bob/threaded") == [".gitattributes"]


def test_concurrent_commits_are_serialized(alice: HfApi, repo_id: str) -> None:
    def upload(i: int) -> str:
        return alice.upload_file(path_or_fileobj=f"file {i}".encode(), path_in_repo=f"c/{i}.txt", repo_id=repo_id).oid

    with ThreadPoolExecutor(8) as pool:
        oids = list(pool.map(upload, range(8)))
    assert len(set(oids)) == 8
    assert alice.list_repo_files(repo_id) == [".gitattributes", *sorted(f"c/{i}.txt" for i in range(8))]
    assert len(alice.list_repo_commits(repo_id)) == 9  # each on top of the previous one, none lost
