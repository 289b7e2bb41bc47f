"""Fresh-process half of tests/test_conformance.py: load every pushed corpus model and check it.

Usage: python conformance_worker.py JOBS.json RESULT.json   (KERAS_BACKEND, HF_ENDPOINT, HF_TOKEN,
HF_HOME set by the test). For each job: ``hub_publish.from_pretrained(repo)``, then predictions
equal the ones recorded where the model was built, layer names equal, the assets named in the
manifest are present, then an unnamed new head is added by "user code" and fine-tuned one epoch.
With ``interop`` (TensorFlow run only): keras-hub's ``upload_preset`` -> our ``from_pretrained``,
and our push -> keras-hub's ``from_preset``. Each check's failure is recorded, not raised.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import keras
import numpy as np

import hub_publish
from hub_publish import format as fmt
from hub_publish.loading import source_of


def _load_inputs(path: str) -> Any:
    data = np.load(path, allow_pickle=False)
    kind = str(data["__kind__"])
    if kind == "dict":
        return {k[2:]: data[k] for k in data.files if k.startswith("d:")}
    if kind == "list":
        return [data[f"l:{i}"] for i in range(sum(1 for k in data.files if k.startswith("l:")))]
    return data["x"]


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


def _feature(model: keras.Model, head: str | None) -> Any:
    """Where a user puts a new head: the input of the recorded head layer, else the first output."""
    if head:
        layer = model.get_layer(head)
        if len(layer._inbound_nodes) == 1:  # noqa: SLF001 - a test probe of single use
            return layer.input
    first = model.output
    if isinstance(first, dict):
        return first[sorted(first)[0]]
    if isinstance(first, (list, tuple)):
        return first[0]
    return first


def check(job: dict[str, Any], tolerance: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    model = hub_publish.from_pretrained(job["repo"], trusted_modules=job["trusted"])
    out["class"] = f"{type(model).__module__}.{type(model).__name__}"
    x = _feedable(_load_inputs(job["inputs"]))
    expected = np.load(job["expected"])
    got = _flat(model.predict(x, verbose=0))
    out["outputs"] = len(got)
    for i, value in enumerate(got):
        np.testing.assert_allclose(value, expected[f"o{i}"], **tolerance, err_msg=f"{job['name']} output {i}")
    out["predictions_equal"] = True
    out["layer_names"] = [layer.name for layer in model.layers]
    folder = source_of(model).folder
    metadata = fmt.read_metadata(folder)
    out["assets"] = sorted(n for n in metadata.files if n.startswith(fmt.ASSETS_DIR + "/"))
    out["assets_present"] = all((folder / n).is_file() for n in out["assets"])
    # "User code": the transfer-learning recipe. Freeze the loaded model, put an unnamed new head
    # on its features, fine-tune one epoch (the frozen backbone also keeps the test fast).
    model.trainable = False
    features = _feature(model, metadata.head_layer)
    if len(features.shape) > 2:
        features = keras.layers.Flatten()(features)
    head = keras.layers.Dense(2)(features)
    new = keras.Model(model.inputs if isinstance(model, keras.Sequential) else model.input, head)
    new.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = new.fit(x, np.array([0, 1, 0, 1]), epochs=1, batch_size=4, verbose=0)
    out["head_name"] = new.layers[-1].name
    out["fine_tune_loss"] = float(history.history["loss"][-1])
    return out


def interop(spec: dict[str, Any]) -> dict[str, Any]:
    """keras-hub's own Hub path, both ways, through the embedded Hub (HF_ENDPOINT)."""
    import keras_hub

    out: dict[str, Any] = {}
    # 1. keras-hub writes and uploads a preset; hub-publish loads it as its own class.
    model = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=4,
                                          intermediate_dim=8, max_sequence_length=6)
    ids = np.arange(12).reshape(2, 6).astype("int32") % 30
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_to_preset(f"{tmp}/preset")
        keras_hub.upload_preset(f"hf://{spec['upload_repo']}", f"{tmp}/preset")
    loaded = hub_publish.from_pretrained(spec["upload_repo"], trusted_modules=["keras_hub"])
    out["upload_preset_class"] = type(loaded).__name__
    for a, b in zip(_flat(loaded.predict(x, verbose=0)), _flat(model.predict(x, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # 2. keras-hub's from_preset loads what hub-publish pushed.
    theirs = keras_hub.models.Backbone.from_preset(f"hf://{spec['pushed_repo']}")
    out["from_preset_class"] = type(theirs).__name__
    x = _load_inputs(spec["inputs"])
    expected = np.load(spec["expected"])
    for i, value in enumerate(_flat(theirs.predict(x, verbose=0))):
        np.testing.assert_allclose(value, expected[f"o{i}"], rtol=1e-5, atol=1e-6)
    out["from_preset_equal"] = True
    return out


def main() -> None:
    jobs = json.loads(Path(sys.argv[1]).read_text())
    backend = keras.config.backend()
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if backend == "tensorflow" else {"rtol": 1e-3, "atol": 1e-4}
    results: dict[str, Any] = {"backend": backend}
    for job in jobs["models"]:
        start = time.perf_counter()
        try:
            results[job["name"]] = check(job, tolerance)
        except Exception:  # noqa: BLE001 - recorded for the test to show
            results[job["name"]] = {"exception": traceback.format_exc()}
        results[job["name"]]["seconds"] = round(time.perf_counter() - start, 1)
    if jobs.get("interop"):
        try:
            results["interop"] = interop(jobs["interop"])
        except Exception:  # noqa: BLE001
            results["interop"] = {"exception": traceback.format_exc()}
    Path(sys.argv[2]).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
