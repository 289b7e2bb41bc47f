"""`serve --gc` / `serve --check`, start-up cleaning, and one-line errors of `serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from server_fixtures import TOKEN_SPECS, TOKENS

from hub_publish.server import HubServer
from hub_publish.server.errors import RepoNotFound
from hub_publish.server.storage import Storage, unreachable_bytes

HUB_PUBLISH = str(Path(sys.executable).with_name("hub-publish"))


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([HUB_PUBLISH, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with history, a deleted branch, an abandoned upload and leftovers of crashes."""
    data = tmp_path_factory.mktemp("gc") / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/m")
        api.upload_file(path_or_fileobj=os.urandom(5000), path_in_repo="w.bin", repo_id="alice/m")
        api.create_branch("alice/m", branch="dev")
        api.upload_file(path_or_fileobj=os.urandom(7000), path_in_repo="dev-only.bin", repo_id="alice/m", revision="dev")
        api.delete_branch("alice/m", branch="dev")  # its commit and blob are now unreachable
        api.create_repo("alice/gone")
        api.upload_file(path_or_fileobj=os.urandom(3000), path_in_repo="x.bin", repo_id="alice/gone")
        api.delete_repo("alice/gone")
    (data / "tmp" / "partial-upload").write_bytes(b"x" * 1000)  # an upload killed mid-way
    (data / "repos" / "alice" / "m" / ".refs.json.deadbeef.tmp").write_bytes(b"{}")  # a write killed mid-way
    return data


def test_gc_keeps_young_files_then_removes_every_unreachable_byte(populated: Path) -> None:
    before = _cli("serve", "--data-dir", str(populated), "--check")
    assert before.returncode == 0 and "consistent" in before.stdout
    # With the default grace period (uploads in flight), nothing this young goes.
    r = _cli("serve", "--data-dir", str(populated), "--gc")
    assert r.returncode == 0 and "removed nothing" in r.stdout, r.stdout
    assert unreachable_bytes(Storage(populated)).files > 0
    r = _cli("serve", "--data-dir", str(populated), "--gc", "--gc-grace-seconds", "0")
    assert r.returncode == 0 and r.stdout.count("\n") == 1
    for kind in ("blob", "commit", "temp", "upload marker", "xorb"):
        assert kind in r.stdout, r.stdout
    left = unreachable_bytes(Storage(populated))
    assert left.files == 0 and left.bytes == 0
    after = _cli("serve", "--data-dir", str(populated), "--check")
    assert after.returncode == 0 and "consistent" in after.stdout
    # What is reachable is all still there: the server serves main.
    with HubServer(populated, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        assert api.list_repo_files("alice/m") == [".gitattributes", "w.bin"]
        assert api.hf_hub_download("alice/m", "w.bin", cache_dir=str(populated.parent / "cache"))


def test_check_reports_each_inconsistency(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/c")
        api.upload_file(path_or_fileobj=b"a" * 100, path_in_repo="a.txt", repo_id="alice/c")
        api.upload_file(path_or_fileobj=os.urandom(2000), path_in_repo="b.bin", repo_id="alice/c")
        api.create_tag("alice/c", tag="v1")
    storage = Storage(data)
    head = storage.commit("alice/c", storage.resolve("alice/c", "main"))
    a, b = head.files["a.txt"], head.files["b.bin"]
    storage.blob_path(a.sha256).write_bytes(b"b" * 100)  # bit rot
    storage.blob_path(b.sha256).unlink()  # a lost blob
    refs = json.loads((data / "repos/alice/c/refs.json").read_text())
    refs["tags"]["v2"] = "0" * 40  # a ref to nowhere
    (data / "repos/alice/c/refs.json").write_text(json.dumps(refs))
    r = _cli("serve", "--data-dir", str(data), "--check")
    assert r.returncode == 1
    assert f"a.txt: blob {a.sha256} has sha256" in r.stdout
    assert f"b.bin: blob {b.sha256} is missing" in r.stdout
    assert "tags/v2 names commit 0000000000000000000000000000000000000000" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("check: 1 repos")


def test_startup_removes_stale_temp_files_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "tmp").mkdir(parents=True)
    stale, fresh = data / "tmp" / "stale", data / "tmp" / "fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")  # may be another server's upload in flight
    old = time.time() - 3600
    os.utime(stale, (old, old))
    with HubServer(data, tokens=TOKEN_SPECS):
        assert not stale.exists() and fresh.exists()


def test_reads_of_a_repo_deleted_meanwhile_are_404(tmp_path: Path) -> None:
    """The window between reading repo.json and refs.json of a repo being deleted (was a 500)."""
    storage = Storage(tmp_path)
    storage.create_repo("alice/x", private=False, creator="alice")
    (tmp_path / "repos/alice/x/refs.json").unlink()  # as seen by a reader racing delete_repo
    with pytest.raises(RepoNotFound):
        storage.resolve("alice/x", "main")
    head_commit = next((tmp_path / "repos/alice/x/commits").glob("*.json")).stem
    os.replace(tmp_path / "repos/alice/x", tmp_path / "tmp" / "trash")
    with pytest.raises(RepoNotFound):
        storage.commit("alice/x", head_commit)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--config", "{cfg}/bad.json"], "not valid JSON"),
        (["--config", "{cfg}/bad.yaml"], "not valid YAML"),
        (["--config", "{cfg}/list.yaml"], "must map to"),
        (["--token", "noequals"], "Invalid token spec 'noequals'"),
        (["--token", "a b=t"], "Invalid user name"),
    ],
)
def test_serve_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "bad.yaml").write_text("users: [\n")
    (tmp_path / "list.yaml").write_text("users:\n  alice: hf_x\n")
    args = [a.replace("{cfg}", str(tmp_path)) for a in args]
    r = _cli("serve", "--data-dir", str(tmp_path / "d"), "--port", "0", *args)
    assert r.returncode == 1 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists()  # refused before anything is written


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _cli("serve", "--data-dir", str(tmp_path / "d"), "--port", str(port))
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [
            f"Error: Cannot listen on 127.0.0.1:{port}: Address already in use. Is another server running there? Choose another --port."
        ]
        r = subprocess.run(
            [sys.executable, "-m", "hub_publish.server", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("host", ["256.1.1.1", "192.0.2.1"])  # not an address; an address this machine does not have
def test_serve_on_a_host_it_cannot_bind_names_the_host_not_the_port(host: str, tmp_path: Path) -> None:
    r = _cli("serve", "--data-dir", str(tmp_path / "d"), "--host", host, "--port", "0")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: Cannot listen on {host}:0: "), r.stderr
    assert "--host" in lines[0] and "another server" not in lines[0] and "--port" not in lines[0], lines[0]
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_bad_max_upload_setting_in_the_environment_is_one_line(value: str, tmp_path: Path) -> None:
    env = dict(os.environ, HUB_PUBLISH_MAX_UPLOAD_BYTES=value,
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    helped = subprocess.run([HUB_PUBLISH, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert helped.returncode == 0, helped.stderr  # other commands are not affected by a server setting
    r = subprocess.run([HUB_PUBLISH, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"Error: HUB_PUBLISH_MAX_UPLOAD_BYTES={value!r} is not a positive number of bytes; fix or unset it, or pass --max-upload-bytes."
    ]
    assert not (tmp_path / "d").exists()


def test_gc_and_check_refuse_a_folder_that_is_not_a_data_dir(tmp_path: Path) -> None:
    for flag in ("--gc", "--check"):
        r = _cli("serve", "--data-dir", str(tmp_path / "nothing"), flag)
        assert r.returncode == 1 and "is not a hub-publish server data dir" in r.stderr
        assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize("damage", ["refs", "commit"])
def test_gc_refuses_a_data_dir_whose_refs_cannot_be_walked(tmp_path: Path, damage: str) -> None:
    """A damaged refs.json (or a commit a ref names) hides what is reachable: gc removes nothing."""
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/m")
        api.upload_file(path_or_fileobj=os.urandom(5000), path_in_repo="w.bin", repo_id="alice/m")
        head = api.upload_file(path_or_fileobj=b"v2", path_in_repo="notes.txt", repo_id="alice/m").oid
    repo = data / "repos" / "alice" / "m"
    if damage == "refs":
        (repo / "refs.json").write_text("{", encoding="utf-8")
    else:
        (repo / "commits" / f"{head}.json").write_text("{", encoding="utf-8")
    before = sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file())
    r = _cli("serve", "--data-dir", str(data), "--gc", "--gc-grace-seconds", "0")
    assert r.returncode == 1, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "--check" in r.stderr and "alice/m" in r.stderr, r.stderr
    assert sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file()) == before
