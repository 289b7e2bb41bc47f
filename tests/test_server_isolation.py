"""Content is scoped to repos: knowing the sha256 of another repo's file gives nothing.

Blobs are stored once per sha256 for the whole server, so without a per-repo rule bob could
commit an `lfsFile` naming the sha256 of a file in alice's *private* repo and then read alice's
bytes from his own public repo; LFS batch/verify would also tell him whether some content
exists anywhere on the server.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationCopy, HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
from server_fixtures import TOKENS, alice, bob, hub_server, unique, xet_shard, xet_token  # noqa: F401

from hub_publish.server import HubServer

BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}


@pytest.fixture(scope="module")
def secret(alice: HfApi) -> tuple[str, bytes]:
    """A private repo of alice holding an LFS file (uploaded through Xet by the stock client)."""
    repo = f"alice/{unique('private')}"
    alice.create_repo(repo, private=True)
    content = os.urandom(3000)
    alice.upload_file(path_or_fileobj=content, path_in_repo="secret.bin", repo_id=repo)
    return repo, content


def _lfs_line(path: str, content: bytes) -> dict:
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(content).hexdigest(), "size": len(content)}}


def _raw_commit(server: HubServer, repo: str, *lines: dict, headers: dict) -> httpx2.Response:
    import json

    header = {"key": "header", "value": {"summary": "raw", "description": ""}}
    body = b"".join(json.dumps(item).encode() + b"\n" for item in (header, *lines))
    return httpx2.post(f"{server.url}/api/models/{repo}/commit/main", content=body, headers=headers)


def test_a_commit_cannot_name_another_repos_content(hub_server: HubServer, bob: HfApi, secret, tmp_path: Path) -> None:
    _, content = secret
    repo = f"bob/{unique('steal')}"
    bob.create_repo(repo)
    files = bob.list_repo_files(repo)
    r = _raw_commit(hub_server, repo, _lfs_line("stolen.bin", content), headers=BOB)
    assert r.status_code == 400 and "was not uploaded to" in r.json()["error"]
    # The same answer as for content that exists nowhere: nothing tells bob it exists.
    other = os.urandom(3000)
    r2 = _raw_commit(hub_server, repo, _lfs_line("stolen.bin", other), headers=BOB)
    assert r2.status_code == 400
    assert r2.json()["error"].replace(hashlib.sha256(other).hexdigest(), "X") == r.json()["error"].replace(
        hashlib.sha256(content).hexdigest(), "X"
    )
    assert bob.list_repo_files(repo) == files
    with pytest.raises(EntryNotFoundError, match=rf"stolen\.bin does not exist in {repo} at main\."):
        hf_hub_download(repo, "stolen.bin", endpoint=hub_server.endpoint, cache_dir=tmp_path, token=TOKENS["bob"])
    # Through the stock client's copy operation (which names the source's sha256) neither: the
    # server's paths-info shows bob's repo has no secret.bin, so the client refuses the copy.
    with pytest.raises(EntryNotFoundError, match=r"^Cannot copy secret\.bin at revision main: file is missing on repo\.$"):
        bob.create_commit(repo, operations=[CommitOperationCopy("secret.bin", "x.bin", src_revision=None)], commit_message="c")


def test_lfs_batch_and_verify_reveal_nothing(hub_server: HubServer, bob: HfApi, secret) -> None:
    _, content = secret
    repo = f"bob/{unique('probe')}"
    bob.create_repo(repo)
    oid = hashlib.sha256(content).hexdigest()
    batch = httpx2.post(
        f"{hub_server.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(content)}]},
        headers=BOB,
    )
    assert batch.status_code == 200
    # Asked to upload it, exactly like content nobody has.
    assert "upload" in batch.json()["objects"][0]["actions"]
    r = httpx2.post(f"{hub_server.url}/{repo}.git/info/lfs/objects/verify", json={"oid": oid, "size": len(content)}, headers=BOB)
    assert r.status_code == 400
    # Uploading the bytes himself makes them his: then he may commit them (he has them anyway).
    put = httpx2.put(batch.json()["objects"][0]["actions"]["upload"]["href"], content=content)
    assert put.status_code == 200
    assert httpx2.post(f"{hub_server.url}/{repo}.git/info/lfs/objects/verify", json={"oid": oid, "size": len(content)}, headers=BOB).status_code == 200
    assert _raw_commit(hub_server, repo, _lfs_line("mine.bin", content), headers=BOB).status_code == 200


def test_xet_shards_cannot_use_another_repos_xorbs_or_hashes(hub_server: HubServer, bob: HfApi, secret) -> None:
    alice_repo, content = secret
    repo = f"bob/{unique('xet')}"
    bob.create_repo(repo)
    xorbs = list((hub_server.data_dir / "repos" / alice_repo / "xorbs").iterdir())
    assert xorbs, "alice's upload went through Xet"
    headers = xet_token(hub_server, repo, TOKENS["bob"])
    sha = hashlib.sha256(content).digest()
    # A shard naming alice's xorb: that xorb does not exist for bob's repo.
    r = httpx2.post(f"{hub_server.url}/xet-cas/v1/shards", content=xet_shard([([(xorbs[0].name, 0, 1, 10)], sha)]), headers=headers)
    assert r.status_code == 400 and "never uploaded" in r.json()["error"]
    # A shard claiming alice's sha256 over bob's own bytes: rebuilt and checked, so refused.
    xorb = b"\0" + (4).to_bytes(3, "little") + b"\0" + (4).to_bytes(3, "little") + b"fake"
    xhash = "ab" * 32
    assert httpx2.post(f"{hub_server.url}/xet-cas/v1/xorbs/default/{xhash}", content=xorb, headers=headers).status_code == 200
    r = httpx2.post(f"{hub_server.url}/xet-cas/v1/shards", content=xet_shard([([(xhash, 0, 1, 4)], sha)]), headers=headers)
    assert r.status_code == 400 and "does not match its sha256" in r.json()["error"]
    assert _raw_commit(hub_server, repo, _lfs_line("stolen.bin", content), headers=BOB).status_code == 400


def test_own_history_may_be_reused(alice: HfApi, hub_server: HubServer, tmp_path: Path) -> None:
    """Copying a file of the repo's own history (it names the sha256 only) keeps working."""
    repo = f"alice/{unique()}"
    alice.create_repo(repo)
    content = os.urandom(2000)
    alice.upload_file(path_or_fileobj=content, path_in_repo="a.bin", repo_id=repo)
    alice.create_commit(repo, operations=[CommitOperationCopy("a.bin", "b.bin")], commit_message="copy")
    path = hf_hub_download(repo, "b.bin", endpoint=hub_server.endpoint, cache_dir=tmp_path, token=TOKENS["alice"])
    assert Path(path).read_bytes() == content
    # ... and after the upload marker is gone (collected), the history still counts.
    for marker in (hub_server.data_dir / "repos" / repo / "uploads").iterdir():
        marker.unlink()
    alice.create_commit(repo, operations=[CommitOperationCopy("a.bin", "c.bin")], commit_message="copy again")
    assert {"a.bin", "b.bin", "c.bin"} <= set(alice.list_repo_files(repo))


def test_the_same_content_pushed_to_two_repos_through_xet(hub_server: HubServer, alice: HfApi, tmp_path: Path) -> None:
    """A Xet client deduplicates against what it uploaded before for the same CAS URL; the server
    hands out one CAS URL per repo, so a second repo gets its own upload, not a reference to the
    first repo's xorbs (which the server would refuse)."""
    content = os.urandom(200_000)
    repos = [f"alice/{unique('twin')}" for _ in range(2)]
    for repo in repos:
        alice.create_repo(repo)
        alice.upload_file(path_or_fileobj=content, path_in_repo="weights.bin", repo_id=repo)
        token = httpx2.get(f"{hub_server.url}/api/models/{repo}/xet-write-token/main",
                           headers={"Authorization": f"Bearer {TOKENS['alice']}"}).json()
        assert token["casUrl"] == f"{hub_server.url}/xet-cas/r/{repo}"
    for repo in repos:
        got = hf_hub_download(repo, "weights.bin", endpoint=hub_server.endpoint, token=TOKENS["alice"], cache_dir=tmp_path)
        assert Path(got).read_bytes() == content
