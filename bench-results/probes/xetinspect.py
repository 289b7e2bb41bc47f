"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): Which Xet compression scheme hf_xet used for random bytes, and the server's decode + sha256 speed over the stored xorbs (256 MB).

Run from the repo root with PYTHONPATH=$PWD.
"""
import os, sys, time, tempfile, collections
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench
from huggingface_hub import HfApi
from hub_publish.server import xet
tmp = Path(tempfile.mkdtemp(prefix="xi-"))
with bench.hub_server(tmp) as hub:
    api = HfApi(endpoint=hub.endpoint, token=bench.TOKEN)
    f = tmp / "w.bin"; f.write_bytes(os.urandom(256 << 20))
    repo = bench.new_repo(hub.endpoint, "x")
    api.upload_file(path_or_fileobj=str(f), path_in_repo="model.weights.h5", repo_id=repo)
xorbs = list(tmp.rglob("xorbs/*"))
print(len(xorbs), [p.stat().st_size for p in xorbs][:5])
schemes = collections.Counter(); sizes = collections.Counter()
for p in xorbs:
    with open(p, "rb") as fh:
        while (h := fh.read(8)) and len(h) == 8:
            if h[0] != 0: break
            cs = int.from_bytes(h[1:4], "little"); us = int.from_bytes(h[5:8], "little")
            schemes[h[4]] += 1; sizes[us // 4096 * 4] += 1
            fh.seek(cs, 1)
print(schemes, sorted(sizes.items())[:10])
t0 = time.perf_counter(); n = 0
import hashlib
h = hashlib.sha256()
for p in xorbs:
    with open(p, "rb") as fh:
        try:
            for c in xet.iter_chunks(fh, 0, 10**9, 1 << 20):
                h.update(c); n += len(c)
        except Exception: pass
print("iter+hash", n >> 20, "MB", time.perf_counter() - t0)
t0 = time.perf_counter(); h = hashlib.sha256(); 
with open(f, "rb") as fh:
    while b := fh.read(1 << 20): h.update(b)
print("plain hash", time.perf_counter() - t0)
import shutil
shutil.rmtree(tmp, ignore_errors=True)
