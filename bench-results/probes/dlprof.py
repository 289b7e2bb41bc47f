"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): cProfile of hf_hub_download of a 512 MB file from the embedded server.

Run from the repo root with PYTHONPATH=$PWD.
"""
import os, sys, tempfile, time, cProfile, pstats
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench
from huggingface_hub import HfApi, hf_hub_download, constants as C
C.HF_HUB_DISABLE_XET = True
with tempfile.TemporaryDirectory(prefix="dl-") as tmp_, bench.hub_server(Path(tmp_)) as hub:
    tmp = Path(tmp_); api = HfApi(endpoint=hub.endpoint, token=bench.TOKEN)
    f = tmp / "w.bin"; f.write_bytes(os.urandom(512 << 20)); repo = bench.new_repo(hub.endpoint, "d")
    sha = api.upload_file(path_or_fileobj=str(f), path_in_repo="w.bin", repo_id=repo).oid
    pr = cProfile.Profile(); pr.enable()
    hf_hub_download(repo, "w.bin", revision=sha, endpoint=hub.endpoint, cache_dir=tmp / "c")
    pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(14)
