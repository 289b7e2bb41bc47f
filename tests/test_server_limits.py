"""Bounded resources: no request can make the server's memory grow with what it decompresses or parses."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx2
import lz4.frame
import pytest
from huggingface_hub import HfApi
from server_fixtures import TOKEN_SPECS, TOKENS, xet_shard, xet_token, xorb_chunk

from hub_publish.server import HubServer

AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}
MiB = 1024 * 1024


def _peak_rss(pid: int) -> int:
    """Peak resident memory of a process (Linux VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_lz4_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    with HubServer(tmp_path / "data", tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/bomb")
        headers = xet_token(server, "alice/bomb", TOKENS["alice"])
        pid = server._proc.pid  # the server subprocess
        blobs = sorted((server.data_dir / "blobs").rglob("*"))
        before = _peak_rss(pid)
        # 40 chunks of (16 MiB - 1) zeros: ~2.6 MB on the wire, 640 MiB once decompressed.
        big = (1 << 24) - 1
        body = lz4.frame.compress(b"\0" * big)
        xorb = b"".join(xorb_chunk(b"", scheme=1, declared=big, body=body) for _ in range(40))
        assert len(xorb) < 3 * MiB
        # A term claiming a small size over those chunks, and one that lies about the chunk sizes.
        for i, (declared, term_size) in enumerate([(big, 1000), (100, 100 * 40)]):
            xhash = f"{i + 1:02x}" * 32
            chunks = xorb if declared == big else b"".join(xorb_chunk(b"", scheme=1, declared=declared, body=body) for _ in range(40))
            r = httpx2.post(f"{server.url}/xet-cas/v1/xorbs/default/{xhash}", content=chunks, headers=headers, timeout=60)
            assert r.status_code == 200
            shard = xet_shard([([(xhash, 0, 40, term_size)], hashlib.sha256(b"x").digest())])
            r = httpx2.post(f"{server.url}/xet-cas/v1/shards", content=shard, headers=headers, timeout=120)
            assert r.status_code == 400, r.text
        growth = _peak_rss(pid) - before
        # One chunk at a time (16 MiB at most) is decompressed; the old code took the whole 640 MiB.
        print(f"\nLZ4 bomb: server peak memory grew by {growth / MiB:.0f} MiB")
        assert growth < 100 * MiB, f"server peak memory grew by {growth / MiB:.0f} MiB"
        assert sorted((server.data_dir / "blobs").rglob("*")) == blobs  # nothing kept


def test_xet_upload_streams_and_skips_known_files(tmp_path: Path) -> None:
    """A legit LZ4 Xet file is rebuilt through the lz4 package; a second shard for it is not rebuilt."""
    with HubServer(tmp_path / "data", tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/x")
        headers = xet_token(server, "alice/x", TOKENS["alice"])
        parts = [os.urandom(1000), b"a" * 70000, bytes(range(256)) * 100]
        xorb = xorb_chunk(parts[0]) + xorb_chunk(parts[1], scheme=1) + xorb_chunk(parts[2], scheme=1)
        content = b"".join(parts)
        xhash = "cd" * 32
        assert httpx2.post(f"{server.url}/xet-cas/v1/xorbs/default/{xhash}", content=xorb, headers=headers).status_code == 200
        shard = xet_shard([([(xhash, 0, 3, len(content))], hashlib.sha256(content).digest())])
        assert httpx2.post(f"{server.url}/xet-cas/v1/shards", content=shard, headers=headers).status_code == 200
        sha = hashlib.sha256(content).hexdigest()
        blob = server.data_dir / "blobs" / sha[:2] / sha
        assert blob.read_bytes() == content
        # The xorb is gone now (e.g. collected): a shard for a file the repo already has still succeeds.
        (server.data_dir / "repos" / "alice" / "x" / "xorbs" / xhash).unlink()
        assert httpx2.post(f"{server.url}/xet-cas/v1/shards", content=shard, headers=headers).status_code == 200


# ---------------------------------------------------------------- hostile YAML front matter
VALID_BUT_NOT_JSON = """---
license: mit
date: 2024-01-02
when: 2024-01-02 10:20:30
score: .nan
big: .inf
blob: !!binary aGVsbG8=
kinds: !!set {a, b}
1: numeric key
tags: [x]
---
# card
"""
RECURSIVE = "---\nlicense: mit\nloop: &a [*a]\n---\n# card\n"
BOMB = "---\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n---\n"
WRONG_TYPES = "---\nmodel-index: [{name: m, results: [{task: {type: t}, dataset: {type: d, name: d}, source: [1], metrics: []}]}]\ntags: 7\nlibrary_name: [a]\npipeline_tag: {x: 1}\nlicense: mit\n---\n"
HUGE = "---\nx: '" + "a" * 300_000 + "'\n---\n"


def _put_readme(server: HubServer, repo: str, text: str) -> None:
    import base64
    import json

    lines = [
        {"key": "header", "value": {"summary": "card", "description": ""}},
        {"key": "file", "value": {"path": "README.md", "content": base64.b64encode(text.encode()).decode(), "encoding": "base64"}},
    ]
    r = httpx2.post(
        f"{server.url}/api/models/{repo}/commit/main",
        content=b"".join(json.dumps(x).encode() + b"\n" for x in lines),
        headers=AUTH,
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def yaml_server(tmp_path_factory: pytest.TempPathFactory):
    with HubServer(tmp_path_factory.mktemp("yaml"), tokens=TOKEN_SPECS) as server:
        yield server


@pytest.mark.parametrize("name,card", [("valid", VALID_BUT_NOT_JSON), ("recursive", RECURSIVE), ("bomb", BOMB), ("types", WRONG_TYPES), ("huge", HUGE)])
def test_hostile_front_matter_breaks_nothing(name: str, card: str, yaml_server: HubServer, tmp_path: Path) -> None:
    from huggingface_hub import snapshot_download

    api = HfApi(endpoint=yaml_server.endpoint, token=TOKENS["alice"])
    repo = f"alice/{name}"
    api.create_repo(repo)
    _put_readme(yaml_server, repo, card)
    for query in ("full=1", "cardData=1", "full=1&cardData=1", ""):
        r = httpx2.get(f"{yaml_server.url}/api/models?{query}")
        assert r.status_code == 200, (query, r.text[:300])
        assert len(r.content) < 1_000_000  # the 345-byte bomb used to answer 47 MB
    r = httpx2.get(f"{yaml_server.url}/api/models/{repo}")
    assert r.status_code == 200 and len(r.content) < 100_000
    info = r.json()
    if name == "valid":
        card_data = info["cardData"]
        assert card_data["date"] == "2024-01-02" and card_data["when"].startswith("2024-01-02T10:20:30")
        assert card_data["score"] is None and card_data["big"] is None
        assert card_data["blob"] == "aGVsbG8=" and card_data["kinds"] == ["a", "b"] and card_data["1"] == "numeric key"
        assert "license:mit" in info["tags"]
    elif name == "types":
        assert info["library_name"] is None and info["pipeline_tag"] is None
        assert info["cardData"] == {"library_name": ["a"], "pipeline_tag": {"x": 1}, "license": "mit"}
    else:
        assert "cardData" not in info  # unusable front matter: no metadata, the repo still works
    assert api.model_info(repo).id == repo
    snapshot_download(repo, endpoint=yaml_server.endpoint, cache_dir=tmp_path, token=TOKENS["alice"])


@pytest.mark.parametrize(
    "card,message",
    [(RECURSIVE, "recursive"), (BOMB, "expands to more than"), (HUGE, "over the limit"), ("---\na: 1\n", "not closed"),
     ("---\n- a\n---\n", "mapping"), ("---\na: [\n---\n", "Invalid YAML")],
)
def test_validate_yaml_says_why(card: str, message: str, yaml_server: HubServer) -> None:
    r = httpx2.post(f"{yaml_server.url}/api/validate-yaml", json={"content": card, "repoType": "model"}, headers=AUTH)
    assert r.status_code == 400 and message in r.json()["errors"][0]["message"]
    ok = httpx2.post(f"{yaml_server.url}/api/validate-yaml", json={"content": VALID_BUT_NOT_JSON, "repoType": "model"}, headers=AUTH)
    assert ok.status_code == 200


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_commit_payload_is_streamed_not_held(tmp_path: Path) -> None:
    """A 130 MB commit of inline files: memory holds one line at a time, not the whole payload."""
    import base64
    import json

    with HubServer(tmp_path / "data", tokens=TOKEN_SPECS) as server:
        HfApi(endpoint=server.endpoint, token=TOKENS["alice"]).create_repo("alice/inline")
        files = {f"f{i}.txt": os.urandom(5 * MiB) for i in range(20)}

        def body():
            yield json.dumps({"key": "header", "value": {"summary": "many files"}}).encode() + b"\n"
            for path, data in files.items():
                line = {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode()}}
                yield json.dumps(line).encode() + b"\n"

        pid = server._proc.pid
        before = _peak_rss(pid)
        r = httpx2.post(f"{server.url}/api/models/alice/inline/commit/main", content=body(), headers=AUTH, timeout=120)
        assert r.status_code == 200, r.text
        growth = _peak_rss(pid) - before
        print(f"\ncommit of 20 x 5 MiB inline files: server peak memory grew by {growth / MiB:.0f} MiB")
        # The whole payload held (as before) took ~2.5x the body: 300+ MiB here.
        assert growth < 80 * MiB, f"server peak memory grew by {growth / MiB:.0f} MiB"
        for path, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            assert (server.data_dir / "blobs" / sha[:2] / sha).read_bytes() == data
        # A payload refused on its last line leaves no blob behind.
        blobs = sorted((server.data_dir / "blobs").rglob("*"))

        def bad_body():
            yield from body()
            yield b'{"key": "nonsense", "value": {}}\n'

        files = {f"g{i}.txt": os.urandom(MiB) for i in range(3)}
        r = httpx2.post(f"{server.url}/api/models/alice/inline/commit/main", content=bad_body(), headers=AUTH, timeout=120)
        assert r.status_code == 400 and "unknown operation" in r.json()["error"]
        assert sorted((server.data_dir / "blobs").rglob("*")) == blobs
        assert not list((server.data_dir / "tmp").iterdir())
