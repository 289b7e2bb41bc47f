"""Bad input: each refused with the Hub's status code, one clear message, and nothing stored."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from server_fixtures import TOKEN_SPECS, TOKENS, alice, hub_server, repo_id, unique  # noqa: F401

from hub_publish.server import HubServer

AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}


def _state(api: HfApi, repo: str) -> tuple:
    refs = api.list_repo_refs(repo)
    return (
        sorted((b.name, b.target_commit) for b in refs.branches),
        sorted((t.name, t.target_commit) for t in refs.tags),
        api.list_repo_files(repo),
    )


def _blobs(server: HubServer) -> set[str]:
    return {p.name for p in (server.data_dir / "blobs").rglob("*") if p.is_file()}


def _raw_commit(server: HubServer, repo: str, *lines: dict, token: str = TOKENS["alice"]) -> httpx2.Response:
    header = {"key": "header", "value": {"summary": "raw", "description": ""}}
    body = b"".join(json.dumps(item).encode() + b"\n" for item in (header, *lines))
    return httpx2.post(
        f"{server.url}/api/models/{repo}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


def _file_line(path: str, content: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


def test_unknown_repo_revision_and_file(alice: HfApi, hub_server: HubServer, repo_id: str, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError, match=r"Repository alice/does-not-exist not found\."):
        alice.model_info("alice/does-not-exist")
    with pytest.raises(RepositoryNotFoundError, match=r"Repository alice/does-not-exist not found\."):
        hf_hub_download("alice/does-not-exist", "x", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError, match=r"Invalid rev id: no-such-branch$"):
        alice.model_info(repo_id, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError, match=r"Invalid rev id: no-such-tag$"):
        hf_hub_download(repo_id, ".gitattributes", revision="no-such-tag", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError, match=rf"Invalid rev id: {'0' * 40}$"):
        alice.list_repo_files(repo_id, revision="0" * 40)
    with pytest.raises(EntryNotFoundError, match=rf"missing\.bin does not exist in {repo_id} at main\."):
        hf_hub_download(repo_id, "missing.bin", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    with pytest.raises(EntryNotFoundError, match=rf"Folder 'no/such/folder' not found in {repo_id} at main\."):
        list(alice.list_repo_tree(repo_id, path_in_repo="no/such/folder"))
    with pytest.raises(EntryNotFoundError, match=rf"Cannot delete 'missing\.txt': file not found in {repo_id}@main\."):
        alice.delete_file("missing.txt", repo_id)
    r = httpx2.head(f"{hub_server.url}/{repo_id}/resolve/main/missing.bin")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"


@pytest.mark.parametrize("name", ["bad--name", "-lead", "trail.", "a" * 97, "dot..dot", "sp ace", "x.git", "a/b"])
def test_invalid_repo_names(name: str, alice: HfApi, hub_server: HubServer) -> None:
    before = [m.id for m in alice.list_models(author="alice")]
    r = httpx2.post(f"{hub_server.url}/api/repos/create", json={"name": name, "organization": "alice"}, headers=AUTH)
    assert r.status_code == 400, r.text
    assert "Invalid" in r.json()["error"]
    assert [m.id for m in alice.list_models(author="alice")] == before


def test_invalid_repo_name_in_url(hub_server: HubServer) -> None:
    r = httpx2.get(f"{hub_server.url}/api/models/alice/bad..name")
    assert r.status_code == 400 and "'..'" in r.json()["error"]


@pytest.mark.parametrize(
    "path", ["../x", "/abs", "a/../../b", ".git/config", "a/.git/x", "a\\b", "a//b", "a/./b", "bad\x01char", ""]
)
def test_path_traversal_is_refused(path: str, alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    before, blobs = _state(alice, repo_id), _blobs(hub_server)
    r = _raw_commit(hub_server, repo_id, _file_line("ok.txt", b"fine"), _file_line(path, b"evil"))
    assert r.status_code == 400, r.text
    assert "Invalid path" in r.json()["error"]
    assert _state(alice, repo_id) == before
    assert _blobs(hub_server) == blobs  # not even the valid file of the same commit


def test_deleting_with_a_bad_path_is_refused(alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    before = _state(alice, repo_id)
    r = _raw_commit(hub_server, repo_id, {"key": "deletedFolder", "value": {"path": "../"}})
    assert r.status_code == 400
    assert _state(alice, repo_id) == before


def test_stale_parent_commit_is_412(alice: HfApi, repo_id: str) -> None:
    old = alice.model_info(repo_id).sha
    alice.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo_id)
    before = _state(alice, repo_id)
    with pytest.raises(HfHubHTTPError, match="A commit has happened since") as err:
        alice.create_commit(
            repo_id, operations=[CommitOperationAdd("two.txt", b"2")], commit_message="late", parent_commit=old
        )
    assert err.value.response.status_code == 412
    assert "A commit has happened since" in str(err.value)
    assert _state(alice, repo_id) == before
    # The current head as parent is fine.
    alice.create_commit(
        repo_id, operations=[CommitOperationDelete("one.txt")], commit_message="ok", parent_commit=before[0][0][1]
    )


def test_lfs_content_not_matching_its_oid(alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    declared = os.urandom(2048)
    oid = hashlib.sha256(declared).hexdigest()
    before, blobs = _state(alice, repo_id), _blobs(hub_server)
    batch = httpx2.post(
        f"{hub_server.url}/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(declared)}]},
        headers=AUTH,
    )
    assert batch.status_code == 200 and batch.json()["transfer"] == "basic"
    actions = batch.json()["objects"][0]["actions"]
    # Other bytes of the same size: refused, nothing stored.
    r = httpx2.put(actions["upload"]["href"], content=os.urandom(2048))
    assert r.status_code == 400 and "does not match its declared oid" in r.json()["error"]
    # Fewer bytes than declared: refused too.
    r = httpx2.put(actions["upload"]["href"], content=declared[:100])
    assert r.status_code == 400
    r = httpx2.post(actions["verify"]["href"], json={"oid": oid, "size": len(declared)}, headers=AUTH)
    assert r.status_code == 400
    r = _raw_commit(hub_server, repo_id, {"key": "lfsFile", "value": {"path": "w.h5", "algo": "sha256", "oid": oid, "size": 2048}})
    assert r.status_code == 400 and "not uploaded" in r.json()["error"]
    assert _state(alice, repo_id) == before and _blobs(hub_server) == blobs
    # A forged upload URL is refused.
    r = httpx2.put(actions["upload"]["href"].replace("grant=", "grant=x"), content=declared)
    assert r.status_code == 401
    # The right bytes are accepted and then count.
    assert httpx2.put(actions["upload"]["href"], content=declared).status_code == 200
    assert httpx2.post(actions["verify"]["href"], json={"oid": oid, "size": 2048}, headers=AUTH).status_code == 200


def test_regular_file_over_the_lfs_threshold_is_refused(alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    before = _state(alice, repo_id)
    r = _raw_commit(hub_server, repo_id, _file_line("big.txt", b"x" * (10 * 1024 * 1024)))
    assert r.status_code == 400 and "through LFS" in r.json()["error"]
    assert _state(alice, repo_id) == before


def test_bad_commit_payloads(alice: HfApi, hub_server: HubServer, repo_id: str) -> None:
    before = _state(alice, repo_id)
    r = httpx2.post(f"{hub_server.url}/api/models/{repo_id}/commit/main", content=b"not json\n", headers=AUTH)
    assert r.status_code == 400 and "line 1" in r.json()["error"]
    r = _raw_commit(hub_server, repo_id, {"key": "mystery", "value": {"path": "a"}})
    assert r.status_code == 400 and "unknown operation" in r.json()["error"]
    r = httpx2.post(f"{hub_server.url}/api/models/{repo_id}/commit/main", content=b"", headers=AUTH)
    assert r.status_code == 400 and "header" in r.json()["error"]
    r = _raw_commit(hub_server, repo_id, {"key": "file", "value": {"path": "a.txt", "content": "!!!", "encoding": "base64"}})
    assert r.status_code == 400 and "base64" in r.json()["error"]
    assert _state(alice, repo_id) == before


def test_refs_conflicts(alice: HfApi, repo_id: str) -> None:
    alice.create_branch(repo_id, branch="dev")
    with pytest.raises(HfHubHTTPError, match=r"Reference already exists: refs/heads/dev$") as err:
        alice.create_branch(repo_id, branch="dev")
    assert err.value.response.status_code == 409
    alice.create_branch(repo_id, branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError, match=r"The 'main' branch cannot be deleted\.") as err:
        alice.delete_branch(repo_id, branch="main")
    assert err.value.response.status_code == 403
    alice.create_tag(repo_id, tag="v1")
    with pytest.raises(HfHubHTTPError, match=r"Tag 'v1' already exists\.$") as err:
        alice.create_tag(repo_id, tag="v1")
    assert err.value.response.status_code == 409
    with pytest.raises(RevisionNotFoundError, match=r"Invalid rev id: nope$"):
        alice.create_tag(repo_id, tag="v2", revision="nope")


def test_datasets_are_not_supported(alice: HfApi) -> None:
    with pytest.raises(RepositoryNotFoundError, match="This server hosts model repos only; datasets and spaces are not supported") as err:
        alice.dataset_info("alice/data")
    assert "model repos only" in str(err.value)
    with pytest.raises(HfHubHTTPError, match=r"Repo type 'dataset' is not supported: this server hosts model repos only\.") as err:
        alice.create_repo(f"alice/{unique()}", repo_type="dataset")
    assert err.value.response.status_code == 400


def test_xet_cas_refuses_bad_tokens_and_broken_shards(hub_server: HubServer, repo_id: str) -> None:
    r = httpx2.post(f"{hub_server.url}/xet-cas/v1/shards", content=b"x", headers={"Authorization": "Bearer forged.sig"})
    assert r.status_code == 401
    token = httpx2.get(f"{hub_server.url}/api/models/{repo_id}/xet-write-token/main", headers=AUTH).json()["accessToken"]
    xet_auth = {"Authorization": f"Bearer {token}"}
    # A shard whose only file points at a xorb that was never uploaded.
    shard = struct.pack("<32sQQ", b"\0" * 32, 2, 0)
    shard += struct.pack("<32sIIQ", b"\1" * 32, 0, 1, 0)
    shard += struct.pack("<32sIIII", b"\2" * 32, 0, 10, 0, 1)
    shard += b"\xff" * 32 + b"\0" * 16
    r = httpx2.post(f"{hub_server.url}/xet-cas/v1/shards", content=shard, headers=xet_auth)
    assert r.status_code == 400 and "never uploaded" in r.json()["error"]
    r = httpx2.post(f"{hub_server.url}/xet-cas/v1/shards", content=b"short", headers=xet_auth)
    assert r.status_code == 400
    # Anonymous users get no Xet write token.
    assert httpx2.get(f"{hub_server.url}/api/models/{repo_id}/xet-write-token/main").status_code == 401


def test_oversized_uploads_are_413(tmp_path: Path) -> None:
    limit = 1_000_000
    with HubServer(tmp_path / "data", tokens=TOKEN_SPECS, max_upload_bytes=limit) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/small")
        before, blobs = _state(api, "alice/small"), _blobs(server)
        for name in ("big.txt", "big.h5"):  # a regular file, and an LFS (Xet) one
            with pytest.raises(HfHubHTTPError, match="upload limit") as err:
                api.upload_file(path_or_fileobj=os.urandom(limit + 1), path_in_repo=name, repo_id="alice/small")
            assert err.value.response.status_code == 413
            assert "upload limit" in str(err.value)
        r = _raw_commit(server, "alice/small", _file_line("raw.txt", b"x" * (limit + 1)))
        assert r.status_code == 413
        r = httpx2.post(
            f"{server.url}/alice/small.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": limit + 1}]},
            headers=AUTH,
        )
        assert r.status_code == 413
        assert _state(api, "alice/small") == before and _blobs(server) == blobs
