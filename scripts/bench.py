#!/usr/bin/env python
"""Benchmarks of issue 13: hub-publish next to its anchors, measured side by side in one run.

Every subcommand runs both sides interleaved (A, B, A, B, ...) against a real embedded Hub server
on 127.0.0.1, prints a table (min and median per side, ratio of the medians) and writes JSON
(``--json``, default ``bench-results/<subcommand>.json``). ``--quick`` uses small sizes and few
repetitions: CI runs it to prove the scripts work; it asserts nothing about timings.

    python scripts/bench.py warm-load   [--sizes 0,1024] [--reps 7]
    python scripts/bench.py save        [--size-mb 1024]
    python scripts/bench.py push        [--size-mb 1024]
    python scripts/bench.py push-model  [--size-mb 1024]
    python scripts/bench.py pull        [--size-mb 1024]
    python scripts/bench.py keras-xet   [--size-mb 1024]
    python scripts/bench.py rss         [--size-mb 1024]
    python scripts/bench.py wins
    python scripts/bench.py all --quick

Sizes are MB of float32 weights; size 0 is the zoo's MnistModel (77 K parameters). The "before"
figures of BENCHMARKS.md come from running this same script with PYTHONPATH pointing at an older
checkout (it uses only public APIs that existed then). See BENCHMARKS.md for the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_bench_token"
USER = "bench"
MB = 1 << 20


# ----------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(sides: dict[str, Callable[[], Any]], reps: int, setup: Callable[[int], None] | None = None,
                warmup: int = 1) -> dict[str, list[float]]:
    """Run each side once per repetition, alternating the order (A B, B A, ...)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(warmup + reps):
        if setup is not None:
            setup(i)
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            gc.collect()  # untimed: the previous side's garbage (a 1 GB model) is not billed to this one
            t = timed(sides[name])
            if i >= warmup:
                times[name].append(t)
    return times


def summary(times: dict[str, list[float]], ours: str, anchor: str, *, per: float | None = None,
            unit: str = "s") -> dict[str, Any]:
    """min/median per side; ratio = median(ours) / median(anchor) (per > 0: also MB/s)."""
    out: dict[str, Any] = {"sides": {}}
    for name, ts in times.items():
        entry = {"min": min(ts), "median": statistics.median(ts), "n": len(ts), "all": ts}
        if per:
            entry["MB_per_s_median"] = per / MB / entry["median"]
        out["sides"][name] = entry
    out["ratio"] = out["sides"][ours]["median"] / out["sides"][anchor]["median"]
    out["ours"], out["anchor"], out["unit"] = ours, anchor, unit
    return out


def print_table(title: str, rows: list[tuple[str, dict[str, Any]]], ratio_note: str) -> None:
    print(f"\n## {title}")
    print(f"| case | side | min | median | MB/s (median) |")
    print("|---|---|---|---|---|")
    for case, res in rows:
        for name, s in res["sides"].items():
            mbs = f"{s['MB_per_s_median']:.0f}" if "MB_per_s_median" in s else ""
            print(f"| {case} | {name} | {s['min']:.4f} s | {s['median']:.4f} s | {mbs} |")
        print(f"| {case} | **ratio** {res['ours']} / {res['anchor']} | | **{res['ratio']:.3f}** | |")
    print(f"({ratio_note})")


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["load_avg"] = os.getloadavg()
    import hub_publish

    info["hub_publish_path"] = str(Path(hub_publish.__file__).parent)
    with contextlib.suppress(Exception):
        info["git"] = subprocess.run(["git", "-C", str(Path(hub_publish.__file__).parent), "rev-parse", "--short",
                                      "HEAD"], capture_output=True, text=True).stdout.strip()
    return info


def write_json(args: argparse.Namespace, name: str, result: dict[str, Any]) -> Path:
    path = Path(args.json) if args.json else Path("bench-results") / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"measure": name, "quick": args.quick, "machine": machine(), "command": " ".join(sys.argv),
               **result}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"-> {path}")
    return path


# ----------------------------------------------------------------------------- fixtures


@contextlib.contextmanager
def hub_server(tmp: Path, name: str = "hub") -> Iterator[Any]:
    from hub_publish.server import HubServer

    with HubServer(tmp / name, tokens=[f"{USER}={TOKEN}"]) as server:
        yield server


def server_pid(server: Any) -> int | None:
    proc = getattr(server, "_proc", None)  # benchmark only: the subprocess' pid, for its RSS / CPU time
    return proc.pid if proc is not None else None


def proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_model(size_mb: int, seed: int = 0) -> Any:
    """MnistModel for size 0, else a functional model of ~size_mb MB of float32 weights."""
    import keras

    keras.utils.set_random_seed(seed)
    if size_mb <= 0:
        from hub_publish.models import MnistModel

        return MnistModel()
    layers = 4
    width = max(8, int((size_mb * MB / 4 / layers) ** 0.5))
    inputs = keras.Input((width,), name="x")
    x = inputs
    for i in range(layers):
        x = keras.layers.Dense(width, name=f"dense_{i}")(x)
    return keras.Model(inputs, x, name=f"bench_{size_mb}mb")


def perturb(model: Any, seed: int) -> None:
    """New bytes for the next repetition (content-addressed stores would skip identical blobs)."""
    import numpy as np

    var = model.weights[-1]
    var.assign(np.random.default_rng(seed).standard_normal(tuple(var.shape)).astype("float32"))


def weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.weights.h5"))


def _shard_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``max_shard_size`` (GB) for save/push when ``--shard-mb`` asks for sharded weights."""
    shard_mb = getattr(args, "shard_mb", 0)
    return {"max_shard_size": shard_mb / 1024} if shard_mb else {}


def new_repo(endpoint: str, prefix: str) -> str:
    from huggingface_hub import HfApi

    repo = f"{USER}/{prefix}-{uuid.uuid4().hex[:8]}"
    HfApi(endpoint=endpoint, token=TOKEN).create_repo(repo)
    return repo


# ----------------------------------------------------------------------------- measures


def cmd_warm_load(args: argparse.Namespace) -> dict[str, Any]:
    """Warm-cache from_pretrained pinned to a commit vs keras.saving.load_model(folder)."""
    import keras

    import hub_publish
    from hub_publish.loading import source_of

    sizes = [0, 4] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        tmp = Path(tmp_)
        for size in sizes:
            model = make_model(size)
            repo = f"{USER}/warm-{size}-{uuid.uuid4().hex[:6]}"
            sha = hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub.endpoint).commit_id
            cache = tmp / f"cache-{size}"
            loaded = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
            snapshot = source_of(loaded).folder
            del model, loaded
            # Keras reads the same files (the snapshot folder holds everything a load needs).
            sides = {
                "hub-publish from_pretrained(repo@sha)": lambda: hub_publish.from_pretrained(
                    repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache),
                "keras.saving.load_model(folder)": lambda: keras.saving.load_model(snapshot),
            }
            reps = args.reps or (3 if args.quick else (21 if size < 64 else 7))  # small loads are noisier
            times = interleaved(sides, reps)
            res = summary(times, *sides)
            res["weights_bytes"] = weights_bytes(snapshot)
            case = "MnistModel 77K" if size == 0 else f"{size} MB"
            rows.append((case, res))
            results[case] = res
    print_table("warm-cache load", rows, "goal: ratio <= 1.05 at every size")
    return {"cases": results, "goal": "ratio <= 1.05"}


def cmd_save(args: argparse.Namespace) -> dict[str, Any]:
    """save_pretrained vs keras.saving.save_model(dir, zipped=False)."""
    import keras

    import hub_publish

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_:
        tmp = Path(tmp_)
        model = make_model(size)
        sides = {
            "hub-publish save_pretrained": lambda: hub_publish.save_pretrained(model, tmp / "hp"),
            "keras.saving.save_model(dir)": lambda: keras.saving.save_model(model, tmp / "k", zipped=False),
        }

        def clean(_: int) -> None:  # both write into a fresh folder
            for name in ("hp", "k"):
                shutil.rmtree(tmp / name, ignore_errors=True)

        times = interleaved(sides, reps, setup=clean)
        res = summary(times, *sides, per=size * MB)
    print_table("save", [(f"{size} MB", res)], "goal: ratio <= 1.15")
    return {"cases": {f"{size} MB": res}, "goal": "ratio <= 1.15"}


def _lfs_put(endpoint: str, repo: str, path: Path, sha: str) -> Callable[[], None]:
    """The raw transfer of the anchor: the LFS batch call, then one PUT of the bytes with curl."""
    import urllib.request

    size = path.stat().st_size

    def run() -> None:
        body = json.dumps({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": sha, "size": size}]})
        req = urllib.request.Request(f"{endpoint}/{repo}.git/info/lfs/objects/batch", data=body.encode(),
                                     headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            obj = json.load(r)["objects"][0]
        href = obj["actions"]["upload"]["href"]
        if not shutil.which("curl"):  # a machine without curl (CI images): the stdlib, 1 MB blocks
            _stdlib_transfer("PUT", href, path)
            return
        subprocess.run(["curl", "-sSf", "-X", "PUT", "-T", str(path), "-H", "Content-Type: application/octet-stream",
                        href], check=True, stdout=subprocess.DEVNULL)

    return run


def _raw_tool() -> str:
    return "curl" if shutil.which("curl") else "http.client"


def _stdlib_transfer(method: str, url: str, path: Path) -> None:
    """The raw anchor where curl is missing: one http.client request, 1 MB blocks."""
    import http.client
    import urllib.parse

    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, blocksize=1 << 20, timeout=600)
    target = u.path + (f"?{u.query}" if u.query else "")
    if method == "PUT":
        with open(path, "rb") as f:
            conn.request("PUT", target, body=f, headers={"Content-Length": str(path.stat().st_size)})
        resp = conn.getresponse()
        resp.read()
    else:
        conn.request("GET", target)
        resp = conn.getresponse()
        with open(path, "wb") as f:
            while chunk := resp.read(1 << 20):
                f.write(chunk)
    conn.close()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {url}: HTTP {resp.status}")


def cmd_push(args: argparse.Namespace) -> dict[str, Any]:
    """Push of a saved folder (new bytes each time) vs a raw LFS PUT of the same bytes (another server)."""
    import hashlib

    import hub_publish

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (2 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_), "a") as hub_a, \
            hub_server(Path(tmp_), "b") as hub_b:
        tmp = Path(tmp_)
        model = make_model(size)
        state: dict[str, Any] = {}

        def setup(i: int) -> None:  # untimed: a freshly saved folder with new bytes, as a user has it
            perturb(model, i)
            folder = hub_publish.save_pretrained(model, tmp / f"m{i}", **_shard_kwargs(args))
            raw_repo = new_repo(hub_b.endpoint, "raw")
            puts = [_lfs_put(hub_b.endpoint, raw_repo, w, hashlib.sha256(w.read_bytes()).hexdigest())
                    for w in sorted(folder.glob("*.weights.h5"))]
            # The raw side sends the weights files one after the other.
            state.update(folder=folder, put=lambda: [put() for put in puts], repo=new_repo(hub_a.endpoint, "push"),
                         files=len(puts))
            if i > 0:
                shutil.rmtree(tmp / f"m{i - 1}", ignore_errors=True)

        sides = {
            "hub-publish push_to_hub(folder)": lambda: hub_publish.push_to_hub(
                state["folder"], state["repo"], token=TOKEN, endpoint=hub_a.endpoint),
            f"raw LFS PUT ({_raw_tool()})": lambda: state["put"](),
        }
        times = interleaved(sides, reps, setup=setup)
        res = summary(times, *sides, per=size * MB)
        # throughput ratio = inverse of the time ratio
        res["throughput_ratio"] = 1 / res["ratio"]
    case = f"{size} MB" + (f" in {state['files']} shards" if args.shard_mb else "")
    print_table("push of a saved folder", [(case, res)],
                f"throughput ratio ours/raw = {res['throughput_ratio']:.3f}; goal >= 0.85")
    return {"cases": {case: res}, "goal": "throughput ratio >= 0.85"}


def cmd_push_model(args: argparse.Namespace) -> dict[str, Any]:
    """push_to_hub(model) of an unchanged model vs pushing its (unchanged) folder."""
    import hub_publish

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        tmp = Path(tmp_)
        model = make_model(size)
        folder = hub_publish.save_pretrained(model, tmp / "model")
        repo = f"{USER}/unchanged-{uuid.uuid4().hex[:6]}"
        first = hub_publish.push_to_hub(folder, repo, token=TOKEN, endpoint=hub.endpoint)
        results: list[Any] = []
        sides = {
            "push_to_hub(model), unchanged": lambda: results.append(
                hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub.endpoint)),
            "push_to_hub(folder), unchanged": lambda: results.append(
                hub_publish.push_to_hub(folder, repo, token=TOKEN, endpoint=hub.endpoint)),
        }
        times = interleaved(sides, reps)
        res = summary(times, *sides)
        res["commits_made"] = sum(1 for r in results if r.changed)
        res["head_unchanged"] = all(r.commit_id == first.commit_id for r in results)
    print_table("unchanged push", [(f"{size} MB", res)], "goal: ratio <= 1.2; no commit made")
    return {"cases": {f"{size} MB": res}, "goal": "ratio <= 1.2"}


def cmd_pull(args: argparse.Namespace) -> dict[str, Any]:
    """Cold pull + load (empty cache each time) vs curl GET of the same weights bytes."""
    import hub_publish

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (2 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        tmp = Path(tmp_)
        model = make_model(size)
        repo = f"{USER}/pull-{uuid.uuid4().hex[:6]}"
        sha = hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub.endpoint, **_shard_kwargs(args)).commit_id
        del model
        from huggingface_hub import HfApi

        weights = [f for f in HfApi(endpoint=hub.endpoint).list_repo_files(repo, revision=sha) if f.endswith(".weights.h5")]
        urls = [f"{hub.endpoint}/{repo}/resolve/{sha}/{name}" for name in weights]
        caches: list[Path] = []

        def fresh() -> Path:
            cache = tmp / f"cache-{uuid.uuid4().hex[:6]}"
            caches.append(cache)
            return cache

        def clean(_: int) -> None:
            while caches:
                shutil.rmtree(caches.pop(), ignore_errors=True)
            for out in tmp.glob("curl.out*"):
                with contextlib.suppress(OSError):
                    out.unlink()

        def download_only() -> None:
            from huggingface_hub import snapshot_download

            snapshot_download(repo, revision=sha, endpoint=hub.endpoint, cache_dir=fresh(), allow_patterns=weights)

        def raw_get() -> None:  # one process, the files one after the other (one connection with curl)
            if shutil.which("curl"):
                outputs = [a for i, url in enumerate(urls) for a in ("-o", str(tmp / f"curl.out{i}"), url)]
                subprocess.run(["curl", "-sSf", *outputs], check=True)
            else:
                for i, url in enumerate(urls):
                    _stdlib_transfer("GET", url, tmp / f"curl.out{i}")

        sides = {
            "hub-publish from_pretrained, cold cache": lambda: hub_publish.from_pretrained(
                repo, revision=sha, endpoint=hub.endpoint, cache_dir=fresh()),
            "huggingface_hub download of the weights": download_only,
            f"{_raw_tool()} GET of the weights": raw_get,
        }
        times = interleaved(sides, reps, setup=clean)
        names = list(sides)
        res = summary(times, names[0], names[2], per=size * MB)
        res["download_ratio"] = (statistics.median(times[names[2]]) / statistics.median(times[names[1]]))
        clean(0)
    case = f"{size} MB" + (f" in {len(weights)} shards" if args.shard_mb else "")
    print_table("cold pull + load", [(case, res)],
                f"download throughput huggingface_hub/curl = {res['download_ratio']:.3f} (goal >= 0.85)")
    return {"cases": {case: res}, "goal": "download throughput >= 0.85x curl"}


def cmd_keras_xet(args: argparse.Namespace) -> dict[str, Any]:
    """Keras' stock model.save('hf://') through the server's Xet path vs classic LFS (server RSS too).

    Keras reads HF_ENDPOINT / HF_TOKEN when huggingface_hub is imported, as its users set them, so
    the Keras side runs in a child process with those set; it reads the server's /proc entries.
    """
    if args.child_endpoint:
        return _keras_xet_child(args)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        out = Path(tmp_) / "child.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=TOKEN, HF_HOME=str(Path(tmp_) / "hf-home"),
                   HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO_ROOT)])))
        argv = [sys.executable, str(Path(__file__).resolve()), "keras-xet", "--child-endpoint", hub.endpoint,
                "--child-pid", str(server_pid(hub) or 0), "--json", str(out), "--size-mb", str(args.size_mb)]
        if args.quick:
            argv.append("--quick")
        if args.reps:
            argv += ["--reps", str(args.reps)]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
        if proc.returncode:
            raise SystemExit(proc.stderr[-4000:])
        print(proc.stdout[proc.stdout.find("## "):] if "## " in proc.stdout else proc.stdout)
        result = json.loads(out.read_text())
        return {k: result[k] for k in ("cases", "goal")}


def _keras_xet_child(args: argparse.Namespace) -> dict[str, Any]:
    from huggingface_hub import constants as hf_constants

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (2 if args.quick else 3)
    endpoint, pid = args.child_endpoint, args.child_pid or None
    model = make_model(size)
    peaks: dict[str, list[int]] = {"xet": [], "lfs": []}
    state: dict[str, Any] = {}

    def save(kind: str) -> Callable[[], None]:
        def run() -> None:
            hf_constants.HF_HUB_DISABLE_XET = kind == "lfs"  # read by huggingface_hub at call time
            if pid:
                reset_peak_rss(pid)
            model.save(f"hf://{state[kind]}")
            if pid:
                peaks[kind].append(proc_status(pid, "VmHWM"))
        return run

    def setup(i: int) -> None:
        perturb(model, 100 + i)
        state["xet"], state["lfs"] = new_repo(endpoint, "kx"), new_repo(endpoint, "kl")

    sides = {"keras hf:// push, Xet path": save("xet"), "keras hf:// push, LFS path": save("lfs")}
    times = interleaved(sides, reps, setup=setup)
    res = summary(times, *sides, per=size * MB)
    res["throughput_ratio"] = 1 / res["ratio"]
    res["server_peak_rss_bytes"] = {k: max(v) if v else None for k, v in peaks.items()}
    # Unchanged re-push through Xet: the server's CPU time for it.
    hf_constants.HF_HUB_DISABLE_XET = False
    repush = []
    for _ in range(2 if args.quick else 3):
        before = cpu_seconds(pid) if pid else 0.0
        wall = timed(lambda: model.save(f"hf://{state['xet']}"))
        repush.append({"wall_s": wall, "server_cpu_s": (cpu_seconds(pid) - before) if pid else None})
    res["unchanged_xet_repush"] = repush
    print_table("Keras' stock hf:// push", [(f"{size} MB", res)],
                f"throughput Xet/LFS = {res['throughput_ratio']:.3f} (goal >= 0.8); server peak RSS "
                f"{ {k: (v or 0) // MB for k, v in res['server_peak_rss_bytes'].items()} } MB (goal <= 256 MB); "
                f"unchanged re-push server CPU {[round(r['server_cpu_s'] or 0, 2) for r in repush]} s (goal < 1 s)")
    return {"cases": {f"{size} MB": res},
            "goal": "Xet throughput >= 0.8x LFS; server peak RSS <= 256 MB; unchanged re-push < 1 s server time"}


_RSS_CHILD = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras, numpy, hub_publish, hub_publish.loading, huggingface_hub
keras.layers.Dense(2)(keras.Input((2,)))  # backend ready

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

# The import floor: RSS once everything is imported; the high-water mark is reset to it (the
# imports' own transient peak is not the load's).
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
floor = status("VmRSS")
mode, ref, endpoint, cache = sys.argv[1:5]
if mode == "hub":
    model = hub_publish.from_pretrained(ref, endpoint=endpoint, cache_dir=cache)
else:
    model = keras.saving.load_model(ref)
peak = status("VmHWM")
print(json.dumps({"floor": floor, "peak": peak, "after": status("VmRSS")}))
"""


def cmd_rss(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS above the import floor: cold pull + from_pretrained vs keras.saving.load_model(folder)."""
    import hub_publish

    size = 4 if args.quick else args.size_mb
    reps = args.reps or (1 if args.quick else 2)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        tmp = Path(tmp_)
        model = make_model(size)
        repo = f"{USER}/rss-{uuid.uuid4().hex[:6]}"
        sha = hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub.endpoint).commit_id
        folder = tmp / "keras-folder"
        import keras

        keras.saving.save_model(model, folder, zipped=False)
        del model
        wbytes = weights_bytes(folder)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO_ROOT)])))
        runs: dict[str, list[float]] = {"hub-publish pull + load": [], "keras.saving.load_model(folder)": []}
        for i in range(reps):
            for name, argv in (("hub-publish pull + load", ["hub", f"{repo}@{sha}", hub.endpoint, str(tmp / f"c{i}")]),
                               ("keras.saving.load_model(folder)", ["keras", str(folder), "-", "-"])):
                proc = subprocess.run([sys.executable, "-c", _RSS_CHILD, *argv], env=env, capture_output=True,
                                      text=True, timeout=900)
                if proc.returncode:
                    raise SystemExit(proc.stderr[-3000:])
                m = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[name].append((m["peak"] - m["floor"]) / wbytes)
        print("\n## peak RSS above the import floor, as a multiple of the weight bytes")
        print("| side | min | median |\n|---|---|---|")
        for name, xs in runs.items():
            print(f"| {name} | {min(xs):.2f}x | {statistics.median(xs):.2f}x |")
            out[name] = {"min": min(xs), "median": statistics.median(xs), "all": xs}
        print(f"(weights {wbytes / MB:.0f} MB; goal: hub-publish <= 1.5x)")
    return {"cases": {f"{size} MB": out}, "weights_bytes": wbytes, "goal": "<= 1.5x weight bytes above the floor"}


def cmd_wins(args: argparse.Namespace) -> dict[str, Any]:
    """The wins to keep: 0 requests for a cached sha, no-op re-push, 16 clients 0 errors, fast --help."""
    import threading

    import hub_publish

    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_, hub_server(Path(tmp_)) as hub:
        tmp = Path(tmp_)
        model = make_model(4 if args.quick else 16)
        repo = f"{USER}/wins-{uuid.uuid4().hex[:6]}"
        first = hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub.endpoint)
        cache = tmp / "cache"
        hub_publish.from_pretrained(repo, revision=first.commit_id, endpoint=hub.endpoint, cache_dir=cache)
        mark = len(hub.log_file.read_text().splitlines())
        hub_publish.from_pretrained(repo, revision=first.commit_id, endpoint=hub.endpoint, cache_dir=cache)
        lines = hub.log_file.read_text().splitlines()[mark:]
        res["cached_sha_load_requests"] = sum(1 for line in lines if any(f" {m} " in line for m in
                                                                         ("GET", "HEAD", "POST", "PUT")))
        folder = hub_publish.save_pretrained(model, tmp / "m", repo_id=repo)  # same model, saved again
        again = hub_publish.push_to_hub(folder, repo, token=TOKEN, endpoint=hub.endpoint)
        res["unchanged_repush_new_commit"] = again.changed
        # 16 concurrent snapshot_download clients
        from huggingface_hub import snapshot_download

        errors: list[str] = []
        done = [0]
        stop = time.monotonic() + (3 if args.quick else 30)

        def client(k: int) -> None:
            n = 0
            while time.monotonic() < stop:
                try:
                    snapshot_download(repo, endpoint=hub.endpoint, cache_dir=tmp / f"cc{k}-{n % 2}", force_download=True)
                except Exception as exc:  # noqa: BLE001  (counted, reported)
                    errors.append(repr(exc)[:200])
                n += 1
            done[0] += n

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res["concurrent_16_clients"] = {"downloads": done[0], "errors": len(errors), "first_errors": errors[:3]}
    # --help without TensorFlow
    exe = shutil.which("hub-publish") or str(Path(sys.executable).with_name("hub-publish"))
    helps = [timed(lambda: subprocess.run([exe, "--help"], check=True, capture_output=True)) for _ in range(5)]
    probe = subprocess.run([sys.executable, "-c", "import sys, hub_publish.cli; print('tensorflow' in sys.modules)"],
                           capture_output=True, text=True)
    res["help"] = {"median_s": statistics.median(helps), "min_s": min(helps),
                   "imports_tensorflow": probe.stdout.strip() == "True"}
    print("\n## wins to keep")
    for k, v in res.items():
        print(f"- {k}: {v}")
    return res


def report(before: Path, after: Path) -> str:
    """The before/after table of BENCHMARKS.md from two result folders (``bench.py report B A``)."""

    def load(folder: Path, name: str) -> dict[str, Any] | None:
        path = folder / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def case(data: dict[str, Any] | None) -> dict[str, Any] | None:
        return next(iter(data["cases"].values())) if data else None

    def med(res: dict[str, Any] | None, i: int) -> str:  # median of the i-th side
        if not res:
            return "—"
        side = list(res["sides"].values())[i]
        return f"{side['median']:.3f} s"

    rows = []

    def timing(label: str, name: str, goal: str, key: str = "ratio", sides: tuple[int, int] = (0, 1)) -> None:
        b, a = case(load(before, name)), case(load(after, name))
        val = lambda r: f"{r[key]:.2f}" if r and key in r else "—"  # noqa: E731
        i, j = sides
        rows.append(f"| {label} | {med(b, i)} vs {med(b, j)} | **{val(b)}** | {med(a, i)} vs {med(a, j)} | "
                    f"**{val(a)}** | {goal} |")

    timing("warm-cache load, MnistModel (77 K) — from_pretrained(repo@sha) vs keras load_model(folder)",
           "warm-load-mnist", "≤ 1.05")
    timing("warm-cache load pinned to a commit, 1 GB", "warm-load-1g", "≤ 1.05")
    timing("save_pretrained vs keras save_model(dir), 1 GB", "save", "≤ 1.15")
    timing("push of a saved 1 GB folder vs raw LFS PUT (throughput ratio)", "push", "≥ 0.85", "throughput_ratio")
    timing("push_to_hub(model) unchanged vs push of its folder, 1 GB", "push-model", "≤ 1.2")
    timing("cold pull + load vs curl GET of the weights, 1 GB (time ratio)", "pull", "—", sides=(0, 2))
    timing("↳ download alone: huggingface_hub vs curl (throughput ratio)", "pull", "≥ 0.85", "download_ratio", (1, 2))
    timing("Keras hf:// push, Xet vs LFS path, 1 GB (throughput ratio)", "keras-xet", "≥ 0.8", "throughput_ratio")
    lines = ["| measure | before: ours vs anchor (median) | before ratio | after: ours vs anchor (median) | "
             "after ratio | goal |", "|---|---|---|---|---|---|", *rows]
    extra = []
    for label, folder in (("before", before), ("after", after)):
        kx = case(load(folder, "keras-xet"))
        if kx:
            rss = {k: f"{(v or 0) / MB:.0f} MB" for k, v in kx["server_peak_rss_bytes"].items()}
            cpu = [round(r["server_cpu_s"] or 0, 2) for r in kx["unchanged_xet_repush"]]
            extra.append(f"- {label}: Keras hf:// server peak RSS {rss}; unchanged Xet re-push server CPU {cpu} s")
        rs = load(folder, "rss")
        if rs:
            c = case(rs)
            extra.append(f"- {label}: peak RSS above the import floor / weight bytes: "
                         + ", ".join(f"{k} {v['median']:.2f}x" for k, v in c.items()))
        w = load(folder, "wins")
        if w:
            extra.append(f"- {label}: cached-sha load requests {w['cached_sha_load_requests']}; unchanged re-push new "
                         f"commit {w['unchanged_repush_new_commit']}; 16 clients {w['concurrent_16_clients']}; "
                         f"--help {w['help']['median_s'] * 1000:.0f} ms, imports TensorFlow "
                         f"{w['help']['imports_tensorflow']}")
    return "\n".join(lines + [""] + extra) + "\n"


COMMANDS = {
    "warm-load": cmd_warm_load,
    "save": cmd_save,
    "push": cmd_push,
    "push-model": cmd_push_model,
    "pull": cmd_pull,
    "keras-xet": cmd_keras_xet,
    "rss": cmd_rss,
    "wins": cmd_wins,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("measure", choices=[*COMMANDS, "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions (CI)")
    parser.add_argument("--size-mb", type=int, default=1024, help="weights size in MB (default 1024)")
    parser.add_argument("--sizes", default="0,1024", help="warm-load: comma-separated sizes in MB (0 = MnistModel)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per side")
    parser.add_argument("--shard-mb", type=int, default=0,
                        help="push/pull: save the weights in shards of this many MB (default: one file)")
    parser.add_argument("--child-endpoint", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="output file (default bench-results/<measure>.json); "
                        "with 'all': a folder")
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["report"]:  # bench.py report BEFORE_DIR AFTER_DIR: the BENCHMARKS.md table
        print(report(Path(argv[1]), Path(argv[2])), end="")
        return 0
    args = parser.parse_args(argv)
    names = list(COMMANDS) if args.measure == "all" else [args.measure]
    folder = Path(args.json) if (args.json and args.measure == "all") else None
    for name in names:
        sub = argparse.Namespace(**vars(args))
        if folder is not None:
            sub.json = str(folder / f"{name}.json")
        result = COMMANDS[name](sub)
        write_json(sub, name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
