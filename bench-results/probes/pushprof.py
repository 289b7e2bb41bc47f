"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): push_to_hub(folder) vs a raw curl PUT with the server's CPU, then a cProfile of the last push. usage: pushprof.py SIZE_MB

Run from the repo root with PYTHONPATH=$PWD.
"""
import cProfile, pstats, sys, tempfile, time, hashlib
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench, hub_publish
size = int(sys.argv[1])
with tempfile.TemporaryDirectory(prefix="pp-") as tmp_, bench.hub_server(Path(tmp_), "a") as a:
    tmp = Path(tmp_); m = bench.make_model(size); pid = bench.server_pid(a)
    for i in range(3):
        bench.perturb(m, i); folder = hub_publish.save_pretrained(m, tmp / f"m{i}")
        w = folder / "model.weights.h5"; h = hashlib.sha256(w.read_bytes()).hexdigest()
        put = bench._lfs_put(a.endpoint, bench.new_repo(a.endpoint, "raw"), w, h)
        repo = bench.new_repo(a.endpoint, "p")
        c0 = bench.cpu_seconds(pid); t = time.perf_counter(); put(); print("curl", round(time.perf_counter() - t, 2), "server cpu", round(bench.cpu_seconds(pid) - c0, 2))
        pr = cProfile.Profile()
        c0 = bench.cpu_seconds(pid); t = time.perf_counter()
        if i == 2: pr.enable()
        hub_publish.push_to_hub(folder, repo, token=bench.TOKEN, endpoint=a.endpoint)
        pr.disable()
        print("push", round(time.perf_counter() - t, 2), "server cpu", round(bench.cpu_seconds(pid) - c0, 2))
    pstats.Stats(pr).sort_stats("tottime").print_stats(12)
