"""Fixtures of the Hub server tests: a real server process per test module, users, fresh repos.

Imported by tests/test_server_*.py (``from server_fixtures import ...``); pytest registers the
fixtures of the importing module.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from hub_publish.server import HubServer

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKENS = {"alice": "hf_alice_token", "bob": "hf_bob_token", "carol": "hf_carol_token"}
# alice and carol are members of the "acme" organisation, bob is not.
TOKEN_SPECS = ["alice=hf_alice_token:acme", "bob=hf_bob_token", "carol=hf_carol_token:acme"]


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """One real server process (python -m hub_publish.server) for the whole module."""
    with HubServer(tmp_path_factory.mktemp("hub-data"), tokens=TOKEN_SPECS) as server:
        yield server


@pytest.fixture(scope="module")
def alice(hub_server: HubServer) -> HfApi:
    return HfApi(endpoint=hub_server.endpoint, token=TOKENS["alice"])


@pytest.fixture(scope="module")
def bob(hub_server: HubServer) -> HfApi:
    return HfApi(endpoint=hub_server.endpoint, token=TOKENS["bob"])


@pytest.fixture(scope="module")
def anonymous(hub_server: HubServer) -> HfApi:
    return HfApi(endpoint=hub_server.endpoint, token=False)


@pytest.fixture
def repo_id(alice: HfApi) -> str:
    """A fresh public repo of alice, unique to the test."""
    repo = f"alice/t-{uuid.uuid4().hex[:10]}"
    alice.create_repo(repo)
    return repo


def unique(prefix: str = "r") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client_env(server: HubServer, hf_home: Path, token: str | None = None, **extra: str) -> dict[str, str]:
    """Environment of a stock client subprocess: only HF_ENDPOINT, HF_TOKEN and a fresh HF_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=server.endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    if token:
        env["HF_TOKEN"] = token
    env.update(extra)
    return env


HF_CLI = str(Path(sys.executable).with_name("hf"))


# ---------------------------------------------------------------- hand-made Xet uploads
# Formats of xet-core's spec (spec/xorb.md, spec/shard.md), as hub_publish/server/xet.py reads them.
def xorb_chunk(data: bytes, *, scheme: int = 0, declared: int | None = None, body: bytes | None = None) -> bytes:
    """One serialized xorb chunk: 8-byte header (version, compressed size, scheme, size) + body."""
    if body is None:
        if scheme == 0:
            body = data
        else:
            import lz4.frame

            body = lz4.frame.compress(data)
    usize = len(data) if declared is None else declared
    return bytes([0]) + len(body).to_bytes(3, "little") + bytes([scheme]) + usize.to_bytes(3, "little") + body


def xet_hash_raw(hex_hash: str) -> bytes:
    """The 32 raw bytes whose Xet string form (four little-endian u64 in hex) is ``hex_hash``."""
    import struct

    return b"".join(struct.pack("<Q", int(hex_hash[i : i + 16], 16)) for i in range(0, 64, 16))


def xet_shard(files: list[tuple[list[tuple[str, int, int, int]], bytes | None]]) -> bytes:
    """A shard describing files, each ``([(xorb_hex, start, end, size), ...], sha256 or None)``."""
    import struct

    out = struct.pack("<32sQQ", b"\0" * 32, 2, 0)
    for i, (terms, sha) in enumerate(files):
        flags = (1 << 30) if sha is not None else 0
        out += struct.pack("<32sIIQ", bytes([i + 1]) * 32, flags, len(terms), 0)
        for xorb, start, end, size in terms:
            out += struct.pack("<32sIIII", xet_hash_raw(xorb), 0, size, start, end)
        if sha is not None:
            out += sha + b"\0" * 16
    return out + b"\xff" * 32 + b"\0" * 16


def xet_token(server: HubServer, repo: str, token: str) -> dict[str, str]:
    """Authorization header carrying a Xet write token of ``repo``."""
    import httpx2

    r = httpx2.get(f"{server.url}/api/models/{repo}/xet-write-token/main", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}
