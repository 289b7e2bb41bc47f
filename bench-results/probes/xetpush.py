"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): hub-publish push_to_hub(folder) through Xet vs classic LFS vs a raw curl PUT, interleaved; checks the downloaded sha256. usage: xetpush.py SIZE_MB REPS

Run from the repo root with PYTHONPATH=$PWD.
"""
import hashlib, json, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench
import hub_publish
from hub_publish import constants
from huggingface_hub import hf_hub_download
size = int(sys.argv[1]); reps = int(sys.argv[2])
with tempfile.TemporaryDirectory(prefix="xp-") as tmp_, bench.hub_server(Path(tmp_), "a") as a, bench.hub_server(Path(tmp_), "b") as b:
    tmp = Path(tmp_); model = bench.make_model(size); st = {}
    pid = bench.server_pid(a)
    def setup(i):
        bench.perturb(model, i)
        folder = hub_publish.save_pretrained(model, tmp / f"m{i}")
        w = folder / "model.weights.h5"; h = hashlib.sha256(w.read_bytes()).hexdigest()
        st.update(folder=folder, sha=h, put=bench._lfs_put(b.endpoint, bench.new_repo(b.endpoint, "raw"), w, h),
                  xet=bench.new_repo(a.endpoint, "x"), lfs=bench.new_repo(a.endpoint, "l"))
        if i: shutil.rmtree(tmp / f"m{i-1}", ignore_errors=True)
    cpu = {"xet": [], "lfs": []}
    def push(kind):
        def run():
            old = constants.PUBLIC_HUB_ENDPOINT
            if kind == "xet":
                constants.PUBLIC_HUB_ENDPOINT = a.endpoint  # _xet_for leaves Xet on for "the public Hub"
            c0 = bench.cpu_seconds(pid)
            try:
                r = hub_publish.push_to_hub(st["folder"], st[kind], token=bench.TOKEN, endpoint=a.endpoint)
            finally:
                constants.PUBLIC_HUB_ENDPOINT = old
            cpu[kind].append(round(bench.cpu_seconds(pid) - c0, 2))
            st[kind + "_sha"] = r.commit_id
        return run
    sides = {"push Xet": push("xet"), "push LFS": push("lfs"), "raw curl PUT": lambda: st["put"]()}
    times = bench.interleaved(sides, reps, setup=setup)
    for k, v in times.items():
        print(f"{k}: {[round(x, 2) for x in v]} median {sorted(v)[len(v)//2]:.2f}")
    print("server cpu", cpu)
    # correctness: the Xet-pushed weights download with the manifest's sha256
    for kind in ("xet", "lfs"):
        p = hf_hub_download(st[kind], "model.weights.h5", revision=st[kind + "_sha"], endpoint=a.endpoint, token=bench.TOKEN, cache_dir=tmp / "c")
        meta = json.loads(Path(hf_hub_download(st[kind], "metadata.json", revision=st[kind + "_sha"], endpoint=a.endpoint, token=bench.TOKEN, cache_dir=tmp / "c")).read_text())
        d = hashlib.sha256(Path(p).read_bytes()).hexdigest()
        print(kind, "download sha256 == manifest == local:", d == meta["hub_publish"]["files"]["model.weights.h5"]["sha256"] if "hub_publish" in meta and "files" in meta["hub_publish"] else d, d == st["sha"])
