"""Diagnostic probe behind a figure of BENCHMARKS.md (not part of CI): save_pretrained timed by phase next to keras.saving.save_model, 6 runs. usage: phases.py SIZE_MB

Run from the repo root with PYTHONPATH=$PWD.
"""
import sys, tempfile, time, shutil, functools
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import bench, hub_publish, keras
from hub_publish import packaging, format as fmt
import model_cards
acc = {}
def wrap(mod, name):
    f = getattr(mod, name)
    @functools.wraps(f)
    def w(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: acc[name] = acc.get(name, 0) + time.perf_counter() - t
    setattr(mod, name, w)
for n in ["check_loadable", "_save_weights", "_metadata", "_carry_over_user_files", "_replace_dir", "_graph_config", "_save_assets", "_check_target"]:
    wrap(packaging, n)
wrap(fmt, "manifest"); wrap(fmt, "write_json")
wrap(model_cards, "write_card")
m = bench.make_model(int(sys.argv[1]))
tmp = Path(tempfile.mkdtemp())
for i in range(6):
    shutil.rmtree(tmp / "h", ignore_errors=True); shutil.rmtree(tmp / "k", ignore_errors=True)
    acc.clear(); t = time.perf_counter(); hub_publish.save_pretrained(m, tmp / "h"); tot = time.perf_counter() - t
    t = time.perf_counter(); keras.saving.save_model(m, tmp / "k", zipped=False); k = time.perf_counter() - t
    print(f"total {tot:.3f} keras {k:.3f}", {a: round(b, 3) for a, b in acc.items()})
shutil.rmtree(tmp)
