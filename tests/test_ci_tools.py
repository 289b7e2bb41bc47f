"""The no-silent-skip rule of CI (tests/ci_tools.py), checked on throw-away test files in a child pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ci_tools import in_ci, missing_browser_tools, missing_graphviz_tools

from conftest import subprocess_env

TESTS_DIR = Path(__file__).resolve().parent

SAMPLE = textwrap.dedent(
    """
    import pytest

    def test_needs_chromium():
        pytest.skip("headless browser test needs chromium and chromedriver")

    def test_skips_for_another_reason():
        pytest.skip("only on Windows")

    @pytest.mark.graphviz
    def test_draws_a_graph():
        pass
    """
)


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this folder is the rootdir: the project's config stays out
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    env = subprocess_env(PATH=str(empty), PYTHONPATH=str(TESTS_DIR))  # no `dot` on this PATH
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ci_tools", "-rA", "-q", "-p", "no:cacheprovider", "test_sample.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    return out.stdout


def test_outside_ci_missing_tools_skip(tmp_path):
    out = _run(tmp_path, None)
    assert "SKIPPED [1] test_sample.py:5: headless browser test needs chromium and chromedriver" in out
    assert "PASSED test_sample.py::test_draws_a_graph" in out
    assert "1 passed, 2 skipped in" in out


def test_under_ci_a_tool_skip_or_missing_tool_fails(tmp_path):
    out = _run(tmp_path, "true")
    assert "FAILED test_sample.py::test_needs_chromium" in out
    assert "ERROR test_sample.py::test_draws_a_graph" in out  # refused at set-up
    assert "graphviz (dot) missing" in out
    assert "SKIPPED [1] test_sample.py:8: only on Windows" in out  # other skips stay skips
    assert "1 failed, 1 skipped, 1 error in" in out


def test_ci_has_every_tool_the_suite_uses():
    """In CI the browser and graphviz tools must be there (the graph-drawing tests branch on them silently)."""
    if not in_ci():
        pytest.skip("not running under CI=true")
    assert missing_browser_tools() + missing_graphviz_tools() == []
