"""Fault suite of the Hub server: kills, restarts, racing writers and racing deletes.

Each scenario asserts: no acknowledged commit is lost, no 5xx answer (and no dropped
connection where the server was not killed), `serve --check` is clean afterwards, and
`serve --gc` leaves no unreachable byte. Counts and times are bounded; the larger run is behind
the `stress` marker (see docs/hub.md):

    HUB_PUBLISH_STRESS=1 python -m pytest -m stress tests/test_server_faults.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError
from server_fixtures import TOKEN_SPECS, TOKENS, client_env

from hub_publish.server import HubServer
from hub_publish.server._runner import check, collect
from hub_publish.server.storage import Storage, unreachable_bytes

AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}
STRESS = pytest.mark.skipif(not os.environ.get("HUB_PUBLISH_STRESS"), reason="set HUB_PUBLISH_STRESS=1 for the larger run")
_LOG_LINE = re.compile(r" (GET|POST|PUT|DELETE|HEAD) (\S+) (\d{3}) [\d.]+ms$")
# Figures of the last runs, printed at the end for docs/hub.md.
FIGURES: dict[str, object] = {}


def _statuses(*logs: Path) -> list[tuple[str, int]]:
    out = []
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            m = _LOG_LINE.search(line)
            if m:
                out.append((f"{m.group(1)} {m.group(2)}", int(m.group(3))))
    return out


def _assert_no_5xx(*logs: Path) -> int:
    statuses = _statuses(*logs)
    errors = [(r, s) for r, s in statuses if s >= 500]
    assert not errors, errors[:10]
    text = "".join(log.read_text(errors="replace") for log in logs)
    assert "unexpected error" not in text and "Traceback" not in text
    return len(statuses)


def _assert_consistent_and_collectable(data_dir: Path) -> dict[str, int]:
    problems, summary = check(data_dir)
    assert not problems, problems
    first = collect(data_dir, grace_s=0)
    left = unreachable_bytes(Storage(data_dir))
    assert left.files == 0 and left.bytes == 0, left
    problems, _ = check(data_dir)  # collecting removed nothing that is reachable
    assert not problems, problems
    return {"gc": first, "check": summary}  # type: ignore[dict-item]


def _assert_acked(data_dir: Path, repo: str, acked: list[dict]) -> None:
    """Every acknowledged commit is in main's history, with the content it was sent with."""
    storage = Storage(data_dir)
    history = {c.id: c for c in storage.history(repo, storage.resolve(repo, "main"))}
    for ack in acked:
        assert ack["oid"] in history, f"acknowledged commit {ack['oid']} lost"
        files = history[ack["oid"]].files
        for path, sha in ack["files"].items():
            assert files[path].sha256 == sha, (ack["oid"], path)


# ---------------------------------------------------------------- client killed mid-push
_PUSHER = r"""
import hashlib, json, os, sys
from pathlib import Path
from huggingface_hub import HfApi
repo, folder = sys.argv[1], Path(sys.argv[2])
api = HfApi()
for i in range(1000):
    files = {"weights.bin": os.urandom(3_000_000), "notes.txt": os.urandom(16).hex().encode(), "sub/config.json": json.dumps({"i": i}).encode()}
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    info = api.upload_folder(repo_id=repo, folder_path=folder, commit_message=f"push {i}")
    print(json.dumps({"oid": info.oid, "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}), flush=True)
"""


def _client_kills(tmp_path: Path, kills: int) -> None:
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        repo = "alice/pushed"
        HfApi(endpoint=server.endpoint, token=TOKENS["alice"]).create_repo(repo)
        acked: list[dict] = []
        rng = random.Random(10)
        killed_mid_push = 0
        for k in range(kills):
            folder = tmp_path / f"f{k}"
            folder.mkdir()
            # Half the pushes through Xet (the stock default), half through the classic LFS API.
            extra = {"HF_HUB_DISABLE_XET": "1"} if k % 2 else {}
            env = client_env(server, tmp_path / "hf-home", TOKENS["alice"], **extra)
            before = len(_statuses(server.log_file))
            proc = subprocess.Popen(
                [sys.executable, "-c", _PUSHER, repo, str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(1.0, 3.0))  # the client needs ~1 s to import and start pushing
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            acked += [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
            killed_mid_push += len(_statuses(server.log_file)) > before
        _assert_acked(data, repo, acked)
        requests = _assert_no_5xx(server.log_file)
    assert killed_mid_push >= kills // 2, "most kills must land while the client talks to the server"
    FIGURES["client kills"] = {"kills": kills, "mid_push": killed_mid_push, "acked": len(acked), "requests": requests, "lost": 0}
    FIGURES["client kills"].update(_assert_consistent_and_collectable(data))  # type: ignore[union-attr]


def test_client_sigkill_mid_push(tmp_path: Path) -> None:
    _client_kills(tmp_path, kills=10)


@pytest.mark.stress
@STRESS
def test_client_sigkill_mid_push_stress(tmp_path: Path) -> None:
    _client_kills(tmp_path, kills=40)


# ---------------------------------------------------------------- server killed mid-commit
def _commit_loop(server: HubServer, repo: str, acked: list[dict], stop: threading.Event, errors: list[str]) -> None:
    """Raw commits (LFS object + inline files) until the server dies or ``stop`` is set."""
    try:
        _commits(server, repo, acked, stop)
    except BaseException as exc:  # a thread's failure must fail the test
        errors.append(repr(exc))


def _commits(server: HubServer, repo: str, acked: list[dict], stop: threading.Event) -> None:
    i = 0
    with httpx2.Client(timeout=30) as http:
        while not stop.is_set():
            i += 1
            try:
                lfs = os.urandom(1_000_000)
                oid = hashlib.sha256(lfs).hexdigest()
                batch = http.post(
                    f"{server.url}/{repo}.git/info/lfs/objects/batch",
                    json={"operation": "upload", "objects": [{"oid": oid, "size": len(lfs)}]},
                    headers=AUTH,
                )
                assert batch.status_code == 200, batch.text
                href = batch.json()["objects"][0]["actions"]["upload"]["href"]
                assert http.put(href, content=lfs).status_code == 200
                inline = {f"part{j}.txt": os.urandom(200_000) for j in range(4)}
                lines = [
                    {"key": "header", "value": {"summary": f"c{i}", "description": ""}},
                    {"key": "lfsFile", "value": {"path": "weights.bin", "algo": "sha256", "oid": oid, "size": len(lfs)}},
                    *({"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode()}} for p, d in inline.items()),
                ]
                r = http.post(
                    f"{server.url}/api/models/{repo}/commit/main",
                    content=b"".join(json.dumps(x).encode() + b"\n" for x in lines),
                    headers=AUTH,
                )
            except httpx2.TransportError:
                return  # the server was killed: this commit was never acknowledged
            assert r.status_code == 200, r.text
            files = {"weights.bin": oid, **{p: hashlib.sha256(d).hexdigest() for p, d in inline.items()}}
            acked.append({"oid": r.json()["commitOid"], "files": files})


def _server_kills(tmp_path: Path, kills: int) -> None:
    data = tmp_path / "data"
    server = HubServer(data, tokens=TOKEN_SPECS).start()
    logs = []
    try:
        repo = "alice/crashy"
        HfApi(endpoint=server.endpoint, token=TOKENS["alice"]).create_repo(repo)
        acked: list[dict] = []
        rng = random.Random(5)
        errors: list[str] = []
        for k in range(kills):
            stop = threading.Event()
            writer = threading.Thread(target=_commit_loop, args=(server, repo, acked, stop, errors))
            writer.start()
            time.sleep(rng.uniform(0.3, 1.5))
            server._proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            server._proc.wait()  # type: ignore[union-attr]
            server._proc = None
            writer.join(60)
            assert not writer.is_alive()
            logs.append(server.log_file.rename(tmp_path / f"server-{k}.log"))
            server.start()  # same port, same data dir
        assert not errors, errors
        _assert_acked(data, repo, acked)
        assert len(acked) >= kills  # the kills landed while commits were going on
    finally:
        server.stop()
    requests = _assert_no_5xx(*logs, server.log_file)
    FIGURES["server kills"] = {"kills": kills, "acked": len(acked), "requests": requests, "lost": 0}
    FIGURES["server kills"].update(_assert_consistent_and_collectable(data))  # type: ignore[union-attr]


def test_server_sigkill_mid_commit_and_restart(tmp_path: Path) -> None:
    _server_kills(tmp_path, kills=5)


@pytest.mark.stress
@STRESS
def test_server_sigkill_mid_commit_stress(tmp_path: Path) -> None:
    _server_kills(tmp_path, kills=25)


# ---------------------------------------------------------------- collecting while pushing
def test_gc_while_commits_go_on_loses_nothing(tmp_path: Path) -> None:
    """`serve --gc` runs while a client uploads and commits: garbage goes, every commit succeeds."""
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        repo = "alice/busy"
        HfApi(endpoint=server.endpoint, token=TOKENS["alice"]).create_repo(repo)
        # Old garbage: an abandoned partial upload and an unreferenced blob, both a day old.
        old = time.time() - 86400
        stale_tmp, stale_blob = data / "tmp" / "abandoned", data / "blobs" / "ab" / ("ab" * 32)
        stale_blob.parent.mkdir(parents=True, exist_ok=True)
        for path in (stale_tmp, stale_blob):
            path.write_bytes(os.urandom(1000))
            os.utime(path, (old, old))
        acked: list[dict] = []
        errors: list[str] = []
        stop = threading.Event()
        writer = threading.Thread(target=_commit_loop, args=(server, repo, acked, stop, errors))
        writer.start()
        runs = 0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            # A grace period far shorter than the default, still longer than one upload + commit.
            collect(data, grace_s=3)
            runs += 1
        stop.set()
        writer.join(60)
        assert not errors, errors  # no commit refused because its upload was collected
        assert len(acked) >= 3 and runs >= 5
        assert not stale_tmp.exists() and not stale_blob.exists()
        _assert_acked(data, repo, acked)
        _assert_no_5xx(server.log_file)
    _assert_consistent_and_collectable(data)


# ---------------------------------------------------------------- racing writers, two processes
def _racing_writers(tmp_path: Path, writers: int, commits: int) -> None:
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS, log_file=tmp_path / "a.log") as a, HubServer(
        data, tokens=TOKEN_SPECS, log_file=tmp_path / "b.log"
    ) as b:
        repo = "alice/race"
        HfApi(endpoint=a.endpoint, token=TOKENS["alice"]).create_repo(repo)
        acked: list[dict] = []
        refused = [0]
        lock = threading.Lock()

        def write(w: int) -> None:
            api = HfApi(endpoint=(a, b)[w % 2].endpoint, token=TOKENS["alice"])
            for c in range(commits):
                content = f"writer {w} commit {c}".encode()
                path = f"w{w}/c{c}.txt"
                for _ in range(500):
                    head = api.model_info(repo).sha
                    try:
                        info = api.create_commit(
                            repo, [CommitOperationAdd(path, content)], commit_message=path, parent_commit=head
                        )
                        break
                    except HfHubHTTPError as err:
                        assert err.response.status_code == 412, err
                        with lock:
                            refused[0] += 1
                        time.sleep(random.uniform(0, 0.02))
                else:
                    raise AssertionError("never got through")
                with lock:
                    acked.append({"oid": info.oid, "files": {path: hashlib.sha256(content).hexdigest()}})

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not any(t.is_alive() for t in threads)
        assert len(acked) == writers * commits
        _assert_acked(data, repo, acked)
        main = Storage(data).commit(repo, Storage(data).resolve(repo, "main"))
        assert {f"w{w}/c{c}.txt" for w in range(writers) for c in range(commits)} <= main.files.keys()
        # parentCommit makes history linear: one commit per acknowledged write, plus the initial one.
        assert len(list(Storage(data).history(repo, main.id))) == writers * commits + 1
        requests = _assert_no_5xx(tmp_path / "a.log", tmp_path / "b.log")
    FIGURES["racing writers"] = {
        "writers": writers, "commits": len(acked), "refused_412": refused[0], "requests": requests, "lost": 0,
    }
    FIGURES["racing writers"].update(_assert_consistent_and_collectable(data))  # type: ignore[union-attr]


def test_racing_writers_with_parent_commit_on_two_servers(tmp_path: Path) -> None:
    _racing_writers(tmp_path, writers=8, commits=10)


@pytest.mark.stress
@STRESS
def test_racing_writers_stress(tmp_path: Path) -> None:
    _racing_writers(tmp_path, writers=16, commits=25)


# ---------------------------------------------------------------- reads racing deletes
def _reads_racing_deletes(tmp_path: Path, cycles: int) -> None:
    data = tmp_path / "data"
    with HubServer(data, tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        repos = [f"alice/doomed{i}" for i in range(3)]
        stop = threading.Event()
        seen: dict[int, int] = {}
        failures: list[str] = []
        lock = threading.Lock()

        def read(k: int) -> None:
            rng = random.Random(k)
            with httpx2.Client(timeout=30) as http:
                while not stop.is_set():
                    repo = rng.choice(repos)
                    path = rng.choice(
                        [
                            f"/api/models/{repo}", f"/api/models/{repo}?blobs=1", f"/api/models/{repo}/tree/main?recursive=1&expand=1",
                            f"/api/models/{repo}/refs", f"/api/models/{repo}/commits/main", f"/{repo}/resolve/main/a.txt",
                            f"/{repo}/resolve/main/w.bin", "/api/models?full=1&cardData=1", f"/{repo}",
                        ]
                    )
                    try:
                        r = http.get(server.url + path, headers=AUTH)
                    except httpx2.TransportError as exc:
                        with lock:
                            failures.append(f"{path}: {exc!r}")
                        continue
                    with lock:
                        seen[r.status_code] = seen.get(r.status_code, 0) + 1

        readers = [threading.Thread(target=read, args=(k,)) for k in range(4)]
        for t in readers:
            t.start()
        try:
            for _ in range(cycles):
                for repo in repos:
                    api.create_repo(repo, exist_ok=True)
                    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo)
                    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# hi\n", path_in_repo="README.md", repo_id=repo)
                for repo in repos:
                    api.delete_repo(repo)
        finally:
            stop.set()
            for t in readers:
                t.join(60)
        assert not failures, failures[:5]
        assert not [s for s in seen if s >= 500], seen
        assert seen.get(200) and seen.get(404)  # the reads did race the deletes
        requests = _assert_no_5xx(server.log_file)
    FIGURES["reads racing deletes"] = {"cycles": cycles, "reads": sum(seen.values()), "statuses": seen, "requests": requests}
    FIGURES["reads racing deletes"].update(_assert_consistent_and_collectable(data))  # type: ignore[union-attr]


def test_reads_racing_deletes(tmp_path: Path) -> None:
    _reads_racing_deletes(tmp_path, cycles=8)


@pytest.mark.stress
@STRESS
def test_reads_racing_deletes_stress(tmp_path: Path) -> None:
    _reads_racing_deletes(tmp_path, cycles=60)


def teardown_module() -> None:
    if FIGURES:
        print("\nfault suite figures:", json.dumps(FIGURES, indent=1, default=str))
