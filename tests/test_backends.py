"""Backend portability: the train x load matrix over TensorFlow, JAX and PyTorch, through the embedded Hub.

One fixture runs nine subprocesses (tests/backend_worker.py), each with its own ``KERAS_BACKEND``
and ``HF_HOME``, against one embedded Hub server, two at a time:

1. publish (one per backend): train MnistModel and MnistDictModel one epoch, push both, record
   predictions on fixed uint8 inputs of two sizes, ``summary()`` text and layer walk; push a model
   holding that backend's backend-only layer.
2. load (one per backend): load all six published models, record the same; re-head each
   (``surgery.replace_head``), fine-tune one epoch and push it; try the backend-only models.
3. verify (one per backend): load the fine-tuned models whose third backend is this one.

The tests below only compare what those processes recorded, one visible test per cell. See
docs/backends.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hub_publish import constants
from hub_publish.backends import backend_only_layers, check_backend
from hub_publish.errors import BackendError, HubPublishError
from hub_publish.server import HubServer

from backend_worker import (
    BACKENDS,
    KINDS,
    backend_only_repo,
    finetuned_repo,
    published_repo,
    result_path,
    third_backend,
)
from server_fixtures import TOKENS, client_env, hub_server  # noqa: F401  (hub_server: the module's Hub)

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("backend_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[1]
PARALLEL = 2  # subprocesses at a time (the CI machine has 2 cores)
TIMEOUT_S = 600
ATOL = 1e-5
# The backend-only layer each publish process saves, and the backends it runs under.
BACKEND_ONLY = {"torch": ("TorchModuleWrapper", "torch_linear"), "jax": ("JaxLayer", "jax_dense"),
                "tensorflow": ("TFSMLayer", "saved_model")}
CELLS = [(kind, train, load) for kind in KINDS for train in BACKENDS for load in BACKENDS]


def _cell_id(cell: tuple[str, str, str]) -> str:
    kind, train, load = cell
    return f"{kind}-train_{train}-load_{load}"


@dataclass
class Matrix:
    """What the nine subprocesses recorded, and how each process ended."""

    work: Path
    failures: dict[str, str] = field(default_factory=dict)  # "phase/backend" -> stderr tail
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # "phase/backend" -> JSON
    wall_time_s: dict[str, float] = field(default_factory=dict)

    def get(self, phase: str, backend: str) -> dict[str, Any]:
        key = f"{phase}/{backend}"
        if key not in self.results:
            pytest.fail(f"the {phase} process under {backend} failed:\n{self.failures.get(key, 'not run')}")
        return self.results[key]


def cell_of(record: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = record.get(key)
    if value is None:
        pytest.fail(f"{what}: not recorded")
    if "exception" in value:
        pytest.fail(f"{what} failed in its subprocess:\n{value['exception']}")
    return value


# ----------------------------------------------------------------------------- the fixture


def _inputs() -> dict[str, np.ndarray]:
    """Fixed uint8 inputs of two sizes: 16 digits images (8x8) and 8 random 28x28 images."""
    from sklearn.datasets import load_digits

    digits = np.round(load_digits().images[:16] * (255 / 16)).astype(np.uint8)[..., None]
    noise = np.random.RandomState(0).randint(0, 256, size=(8, 28, 28, 1)).astype(np.uint8)
    return {"digits_8x8": digits, "random_28x28": noise}


def _run_phase(matrix: Matrix, phase: str, server: HubServer) -> None:
    def run(backend: str) -> None:
        key = f"{phase}/{backend}"
        env = client_env(server, matrix.work / f"hf-home-{phase}-{backend}", TOKENS["alice"], KERAS_BACKEND=backend,
                         TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_DISABLE_PROGRESS_BARS="1")
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(WORKER), phase, str(matrix.work)], env=env, cwd=REPO_ROOT,
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            matrix.failures[key] = f"timed out after {TIMEOUT_S} s\n{(exc.stderr or b'')[-4000:]!r}"
            return
        finally:
            matrix.wall_time_s[key] = round(time.perf_counter() - start, 1)
        path = result_path(matrix.work, phase, backend)
        if proc.returncode != 0 or not path.is_file():
            matrix.failures[key] = f"exit code {proc.returncode}\n{proc.stderr[-6000:]}"
            return
        matrix.results[key] = json.loads(path.read_text())

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        list(pool.map(run, BACKENDS))


@pytest.fixture(scope="module")
def matrix(hub_server: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """Run the three phases (three backends each, ``PARALLEL`` at a time) and collect their records."""
    matrix = Matrix(work=tmp_path_factory.mktemp("backend-matrix"))
    np.savez(matrix.work / "inputs.npz", **_inputs())
    for phase in ("publish", "load", "verify"):
        _run_phase(matrix, phase, hub_server)
    print(f"\nbackend matrix wall times (s): {matrix.wall_time_s}")
    return matrix


# ----------------------------------------------------------------------------- publish


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_and_card_record_the_training_and_saving_backend(matrix: Matrix, backend: str) -> None:
    published = matrix.get("publish", backend)
    assert published["backend"] == backend  # the subprocess really ran under it
    for kind in KINDS:
        model = cell_of(published["models"], kind, f"{kind} trained under {backend}")
        assert model["record_backend"] == backend
        # As downloaded from the Hub by each load process, whatever its own backend.
        for load in BACKENDS:
            cell = cell_of(matrix.get("load", load)["cells"], f"{kind}/{backend}", f"{kind} loaded under {load}")
            assert cell["saved_backend"] == backend, f"metadata.json under {load}"
            assert cell["trained_backend"] == backend
            assert cell["backend_layers"] == {}  # recorded as backend-agnostic
            lines = "\n".join(cell["card_backend_lines"])
            assert f"| Keras backend | {backend} |" in lines, lines
            assert f", {backend} backend)" in lines, lines  # the card's footer: saved with


# ----------------------------------------------------------------------------- the 3x3 matrix (x 2 classes)


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_a_published_model_loads_identically_under_every_backend(matrix: Matrix, cell: tuple[str, str, str]) -> None:
    kind, train, load = cell
    reference = cell_of(matrix.get("publish", train)["models"], kind, f"{kind} trained under {train}")
    loaded = cell_of(matrix.get("load", load)["cells"], f"{kind}/{train}", f"{kind} from {train} loaded under {load}")
    assert loaded["class_name"] == kind
    for name, expected in reference["predictions"].items():
        np.testing.assert_allclose(np.array(loaded["predictions"][name]), np.array(expected), atol=ATOL, rtol=0,
                                   err_msg=f"{name}: trained under {train}, loaded under {load}")
    assert loaded["summary"] == reference["summary"]
    assert loaded["walk"] == reference["walk"]
    # Loading under another backend is silent: the format is backend-agnostic.
    ours = [w for w in loaded["warnings"] if w["module"].startswith("hub_publish")]
    about_backends = [w for w in loaded["warnings"] if "backend" in w["message"].lower()]
    assert ours == [] and about_backends == []


@pytest.mark.parametrize("cell", CELLS, ids=_cell_id)
def test_a_model_fine_tuned_under_the_load_backend_loads_under_a_third_backend(
    matrix: Matrix, cell: tuple[str, str, str]
) -> None:
    kind, train, load = cell
    third = third_backend(train, load)
    assert third not in (train, load)
    loaded = cell_of(matrix.get("load", load)["cells"], f"{kind}/{train}", f"{kind} from {train} loaded under {load}")
    finetuned = cell_of(loaded, "finetuned", f"fine-tune under {load}")
    assert finetuned["repo"] == finetuned_repo(kind, train, load)
    assert finetuned["record_backend"] == load  # the fine-tune ran under the load backend
    assert finetuned["walk"][-1][1:] == ["binary_classification_head", "Dense", [None, 1], 49]

    verified = cell_of(matrix.get("verify", third)["cells"], f"{kind}/{train}/{load}",
                       f"fine-tuned {kind} ({train} -> {load}) loaded under {third}")
    for name, expected in finetuned["predictions"].items():
        np.testing.assert_allclose(np.array(verified["predictions"][name]), np.array(expected), atol=ATOL, rtol=0,
                                   err_msg=f"{name}: fine-tuned under {load}, loaded under {third}")
    assert verified["class_name"] == "Functional"
    assert verified["summary"] == finetuned["summary"]
    assert verified["walk"] == finetuned["walk"]
    # The test accuracy the fine-tune recorded is the commit's metadata, and it is the accuracy of the
    # published weights: recomputed from the third backend's predictions on the same test split (one
    # sample's worth of slack, for a prediction within float noise of the 0.5 threshold).
    recorded = finetuned["test_metrics"]["binary_accuracy"]
    assert verified["test_metrics"] == finetuned["test_metrics"]
    assert verified["num_test"] > 0
    assert abs(verified["computed_binary_accuracy"] - recorded) <= 1 / verified["num_test"] + 1e-6, (
        f"recorded {recorded}, recomputed {verified['computed_binary_accuracy']} on {verified['num_test']} images")
    assert verified["saved_backend"] == load and verified["trained_backend"] == load
    assert verified["base_model"][constants.BASE_REPO_ID] == published_repo(kind, train)
    assert f"| Keras backend | {load} |" in "\n".join(verified["card_backend_lines"])
    assert [w for w in verified["warnings"] if w["module"].startswith("hub_publish")] == []


def test_every_backend_verifies_three_cells() -> None:
    counts = {b: sum(third_backend(t, l) == b for t in BACKENDS for l in BACKENDS) for b in BACKENDS}
    assert counts == dict.fromkeys(BACKENDS, 3)
    assert all(third_backend(t, l) not in (t, l) for t in BACKENDS for l in BACKENDS)


# ----------------------------------------------------------------------------- backend-only layers


@pytest.mark.parametrize("load", BACKENDS, ids=lambda b: f"load_{b}")
@pytest.mark.parametrize("saved", BACKENDS, ids=lambda b: f"saved_{b}")
def test_a_backend_only_layer_needs_its_backend(matrix: Matrix, saved: str, load: str) -> None:
    class_name, layer = BACKEND_ONLY[saved]
    runs_under = constants.BACKEND_ONLY_LAYERS[class_name]
    published = cell_of(matrix.get("publish", saved), "backend_only", f"the {class_name} model saved under {saved}")
    assert published["repo"] == backend_only_repo(saved)
    assert published["layers"] == {layer: {"class_name": class_name, "backends": list(runs_under)}}
    outcome = cell_of(matrix.get("load", load)["backend_only"], saved, f"loading the {class_name} model under {load}")
    if load in runs_under:
        # Its own backend gets past the check; Keras' safe mode may still refuse pickled/external code.
        assert outcome["error"] != "BackendError", outcome["message"]
        expected = {"TorchModuleWrapper": "UnsafeModelError", "TFSMLayer": "UnsafeModelError", "JaxLayer": None}
        assert outcome["error"] == expected[class_name], outcome["message"]
        return
    assert outcome["error"] == "BackendError"
    message = outcome["message"]
    assert "\n" not in message
    assert f"layer {layer!r} is a {class_name}" in message
    assert f"Keras runs on {load} here" in message
    assert f"KERAS_BACKEND={runs_under[0]}" in message
    assert f"needs the {' or '.join(runs_under)} backend" in message


# ----------------------------------------------------------------------------- in-process unit checks


def test_check_backend_reads_the_config_and_the_metadata_record() -> None:
    config = {"class_name": "Functional", "config": {"layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "x"}},
        {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {"name": "wrapped"}},
    ]}}
    assert backend_only_layers(config) == {"wrapped": {"class_name": "TorchModuleWrapper", "backends": ["torch"]}}
    check_backend(config, backend="torch")
    with pytest.raises(BackendError, match=r"needs the torch backend but Keras runs on jax here"):
        check_backend(config, backend="jax")
    # A class of the author's own that happens to share the name is not Keras' layer.
    own = {"module": "author.layers", "class_name": "JaxLayer", "config": {"name": "mine"}}
    assert backend_only_layers({"config": {"layers": [own]}}) == {}
    # A functional subclass's config does not list its layers: the record written at save time does.
    metadata = {constants.META_ROOT: {constants.META_BACKEND_LAYERS: {
        "jax_dense": {"class_name": "JaxLayer", "backends": ["jax", "tensorflow"]}}}}
    check_backend({"class_name": "Mine", "config": {}}, metadata, backend="tensorflow")
    with pytest.raises(BackendError, match=r"KERAS_BACKEND=jax\.$"):
        check_backend({"class_name": "Mine", "config": {}}, metadata, backend="torch")
    # Layers no single backend runs: said so.
    both = {"config": {"layers": [config["config"]["layers"][1],
                                  {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"name": "sm"}}]}}
    with pytest.raises(BackendError, match="cannot be loaded under any single Keras backend"):
        check_backend(both, backend="jax")
    assert issubclass(BackendError, HubPublishError)


def test_zoo_models_record_no_backend_only_layers(tmp_path: Path) -> None:
    import hub_publish
    from hub_publish.models import MnistDictModel

    folder = hub_publish.save_pretrained(MnistDictModel(), tmp_path / "m", card=False)
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    assert meta[constants.META_ROOT][constants.META_BACKEND_LAYERS] == {}


# Library modules allowed to import TensorFlow: the tf.data input pipeline, and training's opt-in
# tf.distribute.MirroredStrategy (distribute="mirrored", refused with a clear error on other backends).
TF_ALLOWED = {"hub_publish/data.py": "tf.data input pipeline",
              # the user's tf.data / image-folder input (numpy and PyDataset paths stay TensorFlow-free:
              # test_user_data.py::test_numpy_and_py_dataset_train_without_tensorflow)
              "hub_publish/user_data.py": "tf.data input pipeline of the user's data",
              "hub_publish/training.py": "distribute='mirrored' (tf.distribute)"}


def test_library_code_imports_no_backend_outside_the_input_pipeline() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(tensorflow|jax|torch|flax)\b|\btf\.(?!data\b|distribute\b)", re.M)
    offenders = {}
    for package in ("hub_publish", "model_cards"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            hits = [m.group(0).strip() for m in pattern.finditer(path.read_text())]
            if hits and rel not in TF_ALLOWED:
                offenders[rel] = hits
    assert offenders == {}
