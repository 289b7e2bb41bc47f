"""CI runs the benchmark scripts in --quick mode: they run end to end and write their JSON.

No timing is asserted here (timings on a shared CI machine mean nothing); BENCHMARKS.md holds the
figures and the commands that produced them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, subprocess_env

MEASURES = ["warm-load", "save", "push", "push-model", "pull", "keras-xet", "rss", "wins"]


def test_bench_quick_runs_every_measure_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "bench.py"), "all", "--quick", "--json", str(out)],
                          env=subprocess_env(), cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in MEASURES:
        data = json.loads((out / f"{name}.json").read_text())
        assert data["measure"] == name and data["quick"] is True and data["machine"]["cpus"]
        if name in ("rss", "wins"):
            continue
        for case in data["cases"].values():
            assert case["ratio"] > 0 and len(case["sides"]) >= 2
            for side in case["sides"].values():
                assert 0 < side["min"] <= side["median"]
        assert "| **ratio**" in proc.stdout or "ratio" in proc.stdout
    wins = json.loads((out / "wins.json").read_text())
    assert wins["cached_sha_load_requests"] == 0 and wins["unchanged_repush_new_commit"] is False
    assert wins["concurrent_16_clients"]["errors"] == 0 and not wins["help"]["imports_tensorflow"]
    rss = json.loads((out / "rss.json").read_text())
    assert rss["weights_bytes"] > 0 and len(next(iter(rss["cases"].values()))) == 2
