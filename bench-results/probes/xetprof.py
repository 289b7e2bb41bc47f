"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): HfApi.upload_file of a random file through Xet vs LFS: wall time, server CPU, client CPU. usage: xetprof.py SIZE_MB

Run from the repo root with PYTHONPATH=$PWD.
"""
import os, sys, time, tempfile, uuid, resource
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench
from huggingface_hub import HfApi, constants as C
size = int(sys.argv[1]) if len(sys.argv) > 1 else 512
with tempfile.TemporaryDirectory(prefix="xp-") as tmp_, bench.hub_server(Path(tmp_)) as hub:
    tmp = Path(tmp_)
    pid = bench.server_pid(hub)
    api = HfApi(endpoint=hub.endpoint, token=bench.TOKEN)
    for rep in range(2):
        for kind in ("xet", "lfs"):
            f = tmp / "w.bin"
            with open(f, "wb") as fh:
                fh.write(os.urandom(size << 20))
            C.HF_HUB_DISABLE_XET = kind == "lfs"
            repo = bench.new_repo(hub.endpoint, kind)
            s0 = bench.cpu_seconds(pid); c0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
            api.upload_file(path_or_fileobj=str(f), path_in_repo="model.weights.h5", repo_id=repo)
            t = time.perf_counter() - t0; c1 = resource.getrusage(resource.RUSAGE_SELF)
            print(f"{kind}: wall {t:.2f}s server cpu {bench.cpu_seconds(pid)-s0:.2f}s client cpu {(c1.ru_utime+c1.ru_stime)-(c0.ru_utime+c0.ru_stime):.2f}s", flush=True)
