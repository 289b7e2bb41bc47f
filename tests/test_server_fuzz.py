"""Schemathesis, driven by the server's own /openapi.json: 0 server errors, 0 dropped connections.

Every operation of the schema gets valid and invalid (negative) requests generated from its
declared parameters and bodies, bounded by ``max_examples``; half of them target a real repo
(alice/fuzz, with files) so the handlers run past the repo lookup. Run more examples with
``HUB_PUBLISH_FUZZ_EXAMPLES=500 python -m pytest tests/test_server_fuzz.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from server_fixtures import TOKEN_SPECS, TOKENS  # noqa: E402

from hub_publish.server import HubServer  # noqa: E402

EXAMPLES = int(os.environ.get("HUB_PUBLISH_FUZZ_EXAMPLES", "5"))
AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("fuzz"), tokens=TOKEN_SPECS) as server:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/fuzz")
        api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# fuzz\n", path_in_repo="README.md", repo_id="alice/fuzz")
        api.upload_file(path_or_fileobj=os.urandom(2000), path_in_repo="sub/w.bin", repo_id="alice/fuzz")
        yield server


def _fuzz(server: HubServer, examples: int) -> dict[str, int]:
    """Fuzz every operation of the served schema; returns counts, and the failures it found."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable

    # The commit body is NDJSON (one JSON object per line): sent as the text it is generated as.
    schemathesis.serializer.alias("application/x-ndjson", "text/plain")

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    stats = {"operations": 0, "requests": 0}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        stats["operations"] += 1
        fixed = {k: v for k, v in {"namespace": "alice", "name": "fuzz", "name_git": "fuzz.git"}.items()
                 if k in {p.name for p in operation.path_parameters}}
        strategies, negative = [], []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            made = [operation.as_strategy(generation_mode=mode)]
            if fixed:  # half the cases on a real repo, so handlers run past the repo lookup
                made.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
            strategies += made
            if mode is GenerationMode.NEGATIVE:
                negative += made
        for strategy in strategies:

            @given(case=strategy)
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            def run(case) -> None:
                stats["requests"] += 1
                try:
                    # A dropped connection raises here (requests.ConnectionError); a 5xx fails the check.
                    case.call_and_validate(base_url=server.url, headers=AUTH, checks=[not_a_server_error], timeout=30)
                except Exception as exc:  # recorded, not shrunk: the run stays bounded
                    failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:300]}")

            try:
                run()
            except Unsatisfiable:
                # Negative cases of an operation with nothing to negate (only free-form string
                # parameters): Hypothesis finds no input, nothing was sent.
                if strategy not in negative:
                    failures.append(f"{operation.label}: no valid input could be generated")
            except Exception as exc:  # e.g. a strategy that cannot be built from the schema
                failures.append(f"{operation.label}: generation failed: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures[:20])
    return stats


def test_no_server_error_and_no_dropped_connection(fuzz_server: HubServer) -> None:
    stats = _fuzz(fuzz_server, EXAMPLES)
    assert stats["operations"] >= 25 and stats["requests"] >= stats["operations"] * 2
    print(f"\nschemathesis: {stats['requests']} requests over {stats['operations']} operations, 0 server errors")
    log = Path(fuzz_server.log_file).read_text(errors="replace")
    assert "Traceback" not in log and "unexpected error" not in log
