"""CI keeps the mutation-testing set-up working: scripts/mutation.sh on a small, bounded sample.

The full runs (all mutants of the security- and integrity-critical modules) take minutes each and
are run by hand (docs/testing.md has the command and the figures); this runs mutmut end to end on
the ~20 mutants of the server's permission checks with their fast unit tests, in a throw-away copy
of the tree, and requires every one of them to be killed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mutation_sample_is_all_killed(tmp_path):
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.fail("scripts/mutation.sh copies the git working tree: run the suite from a git clone")
    mutmut = Path(sys.executable).with_name("mutmut")
    assert mutmut.exists(), "mutmut is missing: it is in the `test` extra (pip install -e '.[test]')"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MUTANT_UNDER_TEST")}
    env.update(
        PYTHON=sys.executable,
        MUTATION_OUT=str(tmp_path / "out"),
        MUTATION_TESTS="tests/test_unit_auth.py",
        MUTATION_SAMPLE="hub_publish.server.auth.xǁAuthorizerǁcheck_*",
        MUTATION_JOBS="1",
        TMPDIR=str(tmp_path),
    )
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "mutation.sh"), "auth"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    match = re.search(r"^auth: (\d+)/(\d+) killed \(([\d.]+)%\)", out.stdout, re.M)
    assert match, out.stdout
    killed, tested = int(match.group(1)), int(match.group(2))
    assert tested >= 15 and killed == tested, out.stdout
    assert (tmp_path / "out" / "auth.txt").read_text().startswith(f"auth: {killed}/{tested} killed (100.0%)")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("hub-publish-mutation-")]  # the copy is removed
