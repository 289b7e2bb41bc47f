"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): hf_hub_download vs curl GET of one file, interleaved, with the server's CPU per download. usage: dl.py SIZE_MB REPS

Run from the repo root with PYTHONPATH=$PWD.
"""
import os, sys, tempfile, time, shutil, subprocess, uuid, statistics, resource
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench
from huggingface_hub import HfApi, hf_hub_download
size = int(sys.argv[1]); reps = int(sys.argv[2])
with tempfile.TemporaryDirectory(prefix="dl-") as tmp_, bench.hub_server(Path(tmp_)) as hub:
    tmp = Path(tmp_); pid = bench.server_pid(hub)
    api = HfApi(endpoint=hub.endpoint, token=bench.TOKEN)
    f = tmp / "w.bin"; f.write_bytes(os.urandom(size << 20))
    repo = bench.new_repo(hub.endpoint, "d")
    from huggingface_hub import constants as C; C.HF_HUB_DISABLE_XET = True
    sha = api.upload_file(path_or_fileobj=str(f), path_in_repo="model.weights.h5", repo_id=repo).oid
    f.unlink()
    url = f"{hub.endpoint}/{repo}/resolve/{sha}/model.weights.h5"
    cpu = {"hf": [], "curl": []}
    def hf():
        c = tmp / f"c-{uuid.uuid4().hex[:6]}"
        hf_hub_download(repo, "model.weights.h5", revision=sha, endpoint=hub.endpoint, cache_dir=c)
    def curl():
        subprocess.run(["curl", "-sSf", "-o", str(tmp / "curl.out"), url], check=True)
    def clean(_):
        for p in tmp.glob("c-*"): shutil.rmtree(p)
        (tmp / "curl.out").unlink(missing_ok=True)
    def withcpu(name, fn):
        def run():
            c0 = bench.cpu_seconds(pid); fn(); cpu[name].append(round(bench.cpu_seconds(pid) - c0, 2))
        return run
    t = bench.interleaved({"hf": withcpu("hf", hf), "curl": withcpu("curl", curl)}, reps, setup=clean)
    mh, mc = statistics.median(t["hf"]), statistics.median(t["curl"])
    print({k: [round(x, 2) for x in v] for k, v in t.items()}, "throughput ratio hf/curl", round(mc / mh, 3), "server cpu", cpu)
