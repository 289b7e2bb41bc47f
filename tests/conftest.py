"""Shared test set-up.

The whole session gets its own HF_HOME (so no test touches the user's Hugging Face cache or
token) before huggingface_hub is imported, and quiet TensorFlow logs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# No silent skips in CI: tool-needing tests fail under CI=true when the tools are missing.
from ci_tools import pytest_configure, pytest_runtest_makereport, pytest_runtest_setup  # noqa: F401

_SESSION_HOME = tempfile.mkdtemp(prefix="hub-publish-tests-hf-home-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ["HF_HOME"] = _SESSION_HOME
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python: this interpreter's, the repo importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable
