#!/usr/bin/env python
"""Direct A/B of warm loads of MnistModel: from_pretrained(repo, revision=sha) vs keras load_model(snapshot folder),
15 alternating pairs after 3 warm-up pairs, then a cProfile of 10 loads of each (PYTHONPATH=$PWD python bench-results/probes/warm_ab.py)."""
import os, sys, time, tempfile, cProfile, pstats
os.environ["TF_CPP_MIN_LOG_LEVEL"]="2"
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "scripts"))
import bench
import hub_publish, keras
from pathlib import Path
tmp = Path(tempfile.mkdtemp())
with bench.hub_server(tmp) as hub:
    model = bench.make_model(0)
    repo = f"{bench.USER}/w-x1"
    res = hub_publish.push_to_hub(model, repo, token=bench.TOKEN, endpoint=hub.endpoint)
    sha = res.commit_id
    cache = tmp / "cache"
    m = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    from huggingface_hub import snapshot_download
    folder = snapshot_download(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    for _ in range(3):
        hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache); keras.saving.load_model(folder)
    ta=[];tb=[]
    for _ in range(15):
        t=time.perf_counter(); hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache); ta.append(time.perf_counter()-t)
        t=time.perf_counter(); keras.saving.load_model(folder); tb.append(time.perf_counter()-t)
    import statistics
    print("ours", statistics.median(ta), min(ta), "keras", statistics.median(tb), min(tb))
    pr = cProfile.Profile(); pr.enable()
    for _ in range(10): hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    pr.disable()
    pr2 = cProfile.Profile(); pr2.enable()
    for _ in range(10): keras.saving.load_model(folder)
    pr2.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
    pstats.Stats(pr2).sort_stats("cumulative").print_stats(15)
