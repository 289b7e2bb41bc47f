"""The README's "Bring your own model" snippets, run as pasted.

The first block is written as my_models.py; every other block runs in its own fresh process (so
"another program" really is one), in order, in one working folder with my_models importable.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.slow


def _blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Bring your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_the_module_and_the_programs() -> None:
    blocks = _blocks()
    assert blocks[0].startswith("# my_models.py") and len(blocks) >= 4


def test_bring_your_own_model_snippets_run(tmp_path: Path) -> None:
    module, *programs = _blocks()
    (tmp_path / "my_models.py").write_text(module)
    env = subprocess_env(PYTHONPATH=f"{tmp_path}:{REPO_ROOT}")
    for i, code in enumerate(programs):
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"README snippet {i + 1} failed:\n{code}\n{proc.stderr[-3000:]}"
        if "units=2" in code:
            # The head re-initialisation says which layer it re-initialised.
            assert "layer(s) head: they are newly initialised" in proc.stderr
