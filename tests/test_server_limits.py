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
