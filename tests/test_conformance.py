"""Conformance: real models this project did not write round-trip through the embedded Hub.

The corpus (tests/conformance_models.py): Keras applications built with weights=None, keras-hub
backbones (image and text, tiny configs), a Sequential, adapted StringLookup / IntegerLookup /
TextVectorization / Normalization / Discretization, nested and multi-input/multi-output (dict
and list) models, a registered custom layer, a model whose layers Keras named itself. Each is
pushed with ``hub_publish.push_to_hub`` from this process, then loaded in a FRESH process
(tests/conformance_worker.py) under TensorFlow, and under JAX for the backend-agnostic ones:
predictions equal, layer names equal, assets present; then an unnamed new head is added by user
code and fine-tuned one epoch. The same TensorFlow process checks keras-hub interop both ways.
Two worker processes in all, run side by side.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import hub_publish
from hub_publish.server import HubServer

from conformance_models import CORPUS
from server_fixtures import TOKENS, client_env, hub_server  # noqa: F401  (hub_server: the module's Hub)

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
TOKEN = TOKENS["alice"]
TIMEOUT_S = 600


def _save_inputs(path: Path, x: Any) -> None:
    if isinstance(x, dict):
        np.savez(path, __kind__="dict", **{f"d:{k}": v for k, v in x.items()})
    elif isinstance(x, (list, tuple)):
        np.savez(path, __kind__="list", **{f"l:{i}": v for i, v in enumerate(x)})
    else:
        np.savez(path, __kind__="single", x=x)


def _feedable(x: Any) -> Any:
    """Keras takes string inputs as TensorFlow tensors, not NumPy unicode arrays (string models are TF-only)."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "U":
        import tensorflow as tf

        return tf.constant(x)
    return x


def _flat(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


@pytest.fixture(scope="module")
def runs(hub_server: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    work = tmp_path_factory.mktemp("conformance")
    built: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    jobs = []
    for name, entry in CORPUS.items():
        keras.utils.set_random_seed(1)
        model, x = entry.build()
        repo = f"alice/conformance-{name.replace('_', '-')}"
        start = time.perf_counter()
        # No card: cards have their own tests, and drawing a large graph costs more than all the rest.
        hub_publish.push_to_hub(model, repo, token=TOKEN, endpoint=hub_server.endpoint, card=False)
        seconds[name] = round(time.perf_counter() - start, 1)
        _save_inputs(work / f"{name}.in.npz", x)
        np.savez(work / f"{name}.out.npz", **{f"o{i}": v for i, v in enumerate(_flat(model.predict(_feedable(x), verbose=0)))})
        built[name] = {"class": f"{type(model).__module__}.{type(model).__name__}",
                       "layer_names": [layer.name for layer in model.layers]}
        jobs.append({"name": name, "repo": repo, "trusted": list(entry.trusted), "any_backend": entry.any_backend,
                     "inputs": str(work / f"{name}.in.npz"), "expected": str(work / f"{name}.out.npz")})
    interop = {"upload_repo": "alice/keras-hub-upload", "pushed_repo": "alice/conformance-bert-backbone",
               "inputs": str(work / "bert_backbone.in.npz"), "expected": str(work / "bert_backbone.out.npz")}
    plans = {"tensorflow": {"models": jobs, "interop": interop},
             "jax": {"models": [j for j in jobs if j["any_backend"]]}}

    def run(backend: str) -> dict[str, Any]:
        (work / f"{backend}.jobs.json").write_text(json.dumps(plans[backend]))
        env = client_env(hub_server, work / f"hf-home-{backend}", token=TOKEN, KERAS_BACKEND=backend)
        env["PYTHONPATH"] = f"{TESTS}:{env['PYTHONPATH']}"  # conformance_models: the custom layer's module
        proc = subprocess.run(
            [sys.executable, str(TESTS / "conformance_worker.py"), str(work / f"{backend}.jobs.json"),
             str(work / f"{backend}.result.json")],
            env=env, cwd=work, capture_output=True, text=True, timeout=TIMEOUT_S,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((work / f"{backend}.result.json").read_text())

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(plans, pool.map(run, plans)))
    print("conformance push seconds:", seconds)
    print("conformance load seconds:", {b: {k: v.get("seconds") for k, v in r.items() if isinstance(v, dict)} for b, r in results.items()})
    return {"built": built, "results": results}


def test_the_corpus_is_at_least_ten_models_this_project_did_not_write() -> None:
    assert len(CORPUS) >= 10
    assert sum(entry.any_backend for entry in CORPUS.values()) >= 8


CELLS = [(name, backend) for name, entry in CORPUS.items() for backend in ("tensorflow", "jax")
         if backend == "tensorflow" or entry.any_backend]


@pytest.mark.parametrize(("name", "backend"), CELLS, ids=[f"{n}-{b}" for n, b in CELLS])
def test_pushed_model_loads_in_a_fresh_process(runs: dict[str, Any], name: str, backend: str) -> None:
    results = runs["results"][backend]
    assert results["backend"] == backend
    got = results[name]
    assert "exception" not in got, got.get("exception")
    built = runs["built"][name]
    assert got["class"] == built["class"]  # the same class, keras-hub's own included
    assert got["predictions_equal"]
    assert got["layer_names"] == built["layer_names"]
    if CORPUS[name].assets:
        assert got["assets"] and got["assets_present"], got["assets"]
    # The user's unnamed head got a name of its own (no "used 2 times" collision) and trained.
    assert got["head_name"] not in built["layer_names"]
    assert math.isfinite(got["fine_tune_loss"])


def test_keras_hub_interop_both_ways_through_the_hub(runs: dict[str, Any]) -> None:
    got = runs["results"]["tensorflow"]["interop"]
    assert "exception" not in got, got.get("exception")
    assert got["upload_preset_class"] == "BertBackbone"  # keras-hub's upload_preset -> our from_pretrained
    assert got["from_preset_class"] == "BertBackbone" and got["from_preset_equal"]  # our push -> its from_preset
