"""No silent skips in CI (issue 14, item 5): a pytest plugin, loaded by tests/conftest.py.

Under ``CI=true`` (what CI services set), a test that needs Chromium, chromedriver or graphviz
*fails* when they are missing instead of skipping: scripts/test.sh installs them, so a missing
tool in CI is a broken set-up, not a reason to pass. Outside CI, such tests skip as before.

* tests marked ``browser`` fail at set-up when chromium / chromedriver are missing;
* tests marked ``graphviz`` fail at set-up when graphviz's ``dot`` or pydot are missing;
* any skip whose reason names one of these tools is turned into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil

import pytest

TOOL_SKIP = re.compile(r"chrom(e|ium)|chromedriver|graphviz|\bdot\b|pydot|selenium", re.IGNORECASE)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_browser_tools() -> list[str]:
    missing = []
    if not (os.access("/usr/bin/chromium", os.X_OK) or shutil.which("chromium")):
        missing.append("chromium")
    if not (os.access("/usr/bin/chromedriver", os.X_OK) or shutil.which("chromedriver")):
        missing.append("chromedriver")
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    return missing


def missing_graphviz_tools() -> list[str]:
    missing = []
    if shutil.which("dot") is None:
        missing.append("graphviz (dot)")
    if importlib.util.find_spec("pydot") is None:
        missing.append("pydot")
    return missing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "graphviz: needs graphviz's dot and pydot (fails instead of skipping under CI=true)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not in_ci():
        return
    missing = []
    if item.get_closest_marker("browser"):
        missing += missing_browser_tools()
    if item.get_closest_marker("graphviz"):
        missing += missing_graphviz_tools()
    if missing:
        pytest.fail(f"CI=true but {', '.join(missing)} missing: scripts/test.sh installs them; this test may not skip in CI",
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if TOOL_SKIP.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test needing a browser or graphviz may not skip ({reason})"
