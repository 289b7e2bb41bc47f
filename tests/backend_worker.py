"""One process of the backend matrix of tests/test_backends.py, run under ``KERAS_BACKEND=<backend>``.

    python tests/backend_worker.py publish|load|verify WORKDIR

Every phase talks to the Hub through huggingface_hub's own settings (``HF_ENDPOINT``, ``HF_TOKEN``,
``HF_HOME``), reads the fixed inputs ``WORKDIR/inputs.npz`` and the earlier phases' JSON files,
and writes ``WORKDIR/<phase>-<backend>.json``; the test module compares them. A failure inside
one cell is recorded in that cell (``"exception"``) so the other cells still report.

* publish: train MnistModel and MnistDictModel briefly (1 epoch of digits), push them, record
  predictions, ``summary()`` text and layer walk; also push a model holding this backend's
  backend-only layer (TorchModuleWrapper / JaxLayer / TFSMLayer).
* load: load the six published models, record the same, re-head each one
  (``surgery.replace_head``), fine-tune it one epoch, push it and record it; try loading the three
  backend-only models.
* verify: load the fine-tuned models whose third backend (`third_backend`) is this one.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from hub_publish import constants

BACKENDS = constants.KERAS_BACKENDS
KINDS = ("MnistModel", "MnistDictModel")
NAMESPACE = "alice"
SEED = 0


# ----------------------------------------------------------------------------- naming (shared with the tests)


def third_backend(train: str, load: str) -> str:
    """The backend a model fine-tuned under ``load`` (from one trained under ``train``) is verified under.

    Neither ``train`` nor ``load``; when they are the same, the next one in `BACKENDS` (cyclic), so
    every backend verifies three cells.
    """
    if train == load:
        return BACKENDS[(BACKENDS.index(train) + 1) % len(BACKENDS)]
    return next(b for b in BACKENDS if b not in (train, load))


def published_repo(kind: str, backend: str) -> str:
    return f"{NAMESPACE}/{kind.lower()}-{backend}"


def finetuned_repo(kind: str, train: str, load: str) -> str:
    return f"{NAMESPACE}/{kind.lower()}-{train}-finetuned-{load}"


def backend_only_repo(backend: str) -> str:
    return f"{NAMESPACE}/backend-only-{backend}"


def result_path(work: Path, phase: str, backend: str) -> Path:
    return work / f"{phase}-{backend}.json"


# ----------------------------------------------------------------------------- what is recorded of a model


def _inputs(work: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(work / "inputs.npz") as data:
        return {name: data[name] for name in data.files}


def _predictions(model: Any, inputs: dict[str, Any]) -> dict[str, list]:
    dict_inputs = isinstance(model.input, dict)
    out = {}
    for name, images in inputs.items():
        x = {"image": images} if dict_inputs else images
        out[name] = model.predict(x, verbose=0).tolist()
    return out


def _architecture(model: Any) -> dict[str, Any]:
    """``summary()`` text and the guide's layer walk: name, class, output shape, parameter count."""
    from hub_publish.inspection import walk_layers

    lines: list[str] = []
    model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    walk = [
        [depth, layer.name, type(layer).__name__, [None if d is None else int(d) for d in layer.output.shape],
         int(layer.count_params())]
        for depth, layer in walk_layers(model)
    ]
    return {"summary": "\n".join(lines), "walk": walk}


def _load(repo: str, revision: str | None = None) -> tuple[Any, dict[str, Any]]:
    """``from_pretrained`` from the Hub, recording every warning, the metadata and the card's backend lines."""
    from hub_publish.loading import from_pretrained, source_of

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = from_pretrained(repo, revision=revision)
    folder = source_of(model).folder
    metadata = json.loads((folder / constants.METADATA_FILE).read_text())
    ours = metadata[constants.META_ROOT]
    # A load fetches only what loading reads; the card comes from the same commit on demand.
    from huggingface_hub import hf_hub_download

    card = Path(hf_hub_download(repo, constants.CARD_FILE, revision=source_of(model).commit)).read_text()
    return model, {
        "class_name": type(model).__name__,
        "warnings": [
            {"category": w.category.__name__, "module": w.category.__module__, "message": str(w.message)}
            for w in caught
        ],
        "saved_backend": ours.get(constants.META_BACKEND),
        "trained_backend": (ours.get(constants.META_TRAINING) or {}).get(constants.TRAIN_BACKEND),
        "backend_layers": ours.get(constants.META_BACKEND_LAYERS),
        "base_model": ours.get(constants.META_BASE_MODEL),
        "test_metrics": (ours.get(constants.META_TRAINING) or {}).get(constants.TRAIN_TEST_METRICS),
        "card_backend_lines": [line.strip() for line in card.splitlines() if "backend" in line.lower()],
    }


def _cell(record: dict[str, Any], key: str, fn: Any) -> None:
    """``record[key] = fn()``, or the traceback when it fails."""
    try:
        record[key] = fn()
    except Exception:  # noqa: BLE001  (reported by the test of that cell)
        record[key] = {"exception": traceback.format_exc()}


# ----------------------------------------------------------------------------- backend-only layers


def _register_jax_functions() -> None:
    """The JaxLayer's functions, registered so Keras can serialize (and, under jax/tensorflow, load) them."""
    import keras

    @keras.saving.register_keras_serializable(package="backend_worker")
    def dense_init(rng: Any, inputs: Any) -> dict[str, Any]:
        import jax

        return {"kernel": jax.random.normal(rng, (inputs.shape[-1], 2)) * 0.1}

    @keras.saving.register_keras_serializable(package="backend_worker")
    def dense_call(params: dict[str, Any], inputs: Any) -> Any:
        import jax.numpy as jnp

        return jnp.matmul(inputs, params["kernel"])

    globals().update(dense_init=dense_init, dense_call=dense_call)


def _backend_only_model(backend: str, work: Path) -> Any:
    """A small model holding this backend's backend-only layer."""
    import keras

    inputs = keras.Input((4,), name="features")
    if backend == "torch":
        import torch

        layer = keras.layers.TorchModuleWrapper(torch.nn.Linear(4, 2), output_shape=(None, 2), name="torch_linear")
    elif backend == "jax":
        layer = keras.layers.JaxLayer(dense_call, init_fn=dense_init, name="jax_dense")  # noqa: F821
    else:
        inner = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
        inner.export(str(work / "saved-model"), verbose=False)
        inputs = keras.Input((4,), name="features")
        layer = keras.layers.TFSMLayer(str(work / "saved-model"), call_endpoint="serve", name="saved_model")
    return keras.Model(inputs, layer(inputs), name=f"backend_only_{backend}")


# ----------------------------------------------------------------------------- phases


def publish(work: Path, backend: str) -> dict[str, Any]:
    import keras

    import hub_publish
    from hub_publish import models
    from hub_publish.training import train

    inputs = _inputs(work)
    out: dict[str, Any] = {"backend": backend, "models": {}}
    for kind in KINDS:
        def run(kind: str = kind) -> dict[str, Any]:
            keras.utils.set_random_seed(SEED)
            model = getattr(models, kind)()
            architecture = _architecture(model)  # before compile: summary() then has no optimizer line
            result = train(model, epochs=1, verbose=0, seed=SEED)
            repo = published_repo(kind, backend)
            pushed = hub_publish.push_to_hub(result.model, repo, training_record=result.record)
            return {"repo": repo, "commit": pushed.commit_id, "predictions": _predictions(result.model, inputs),
                    "record_backend": result.record[constants.TRAIN_BACKEND], **architecture}

        _cell(out["models"], kind, run)

    def run_backend_only() -> dict[str, Any]:
        model = _backend_only_model(backend, work)
        repo = backend_only_repo(backend)
        pushed = hub_publish.push_to_hub(model, repo)
        from hub_publish.backends import backend_only_layers

        return {"repo": repo, "commit": pushed.commit_id, "layers": backend_only_layers(model)}

    _cell(out, "backend_only", run_backend_only)
    return out


def load(work: Path, backend: str) -> dict[str, Any]:
    import keras

    import hub_publish
    from hub_publish.data import binary_labels, load_dataset
    from hub_publish.errors import HubPublishError
    from hub_publish.surgery import replace_head
    from hub_publish.training import training_record

    inputs = _inputs(work)
    published = {b: json.loads(result_path(work, "publish", b).read_text()) for b in BACKENDS}
    out: dict[str, Any] = {"backend": backend, "cells": {}, "backend_only": {}}
    for train_backend in BACKENDS:
        for kind in KINDS:
            def run(train_backend: str = train_backend, kind: str = kind) -> dict[str, Any]:
                source = published[train_backend]["models"][kind]
                model, record = _load(source["repo"], source["commit"])
                record.update(predictions=_predictions(model, inputs), **_architecture(model))

                # The guide's fine-tune: a one-unit sigmoid head for "0 vs rest", one epoch of digits.
                keras.utils.set_random_seed(SEED)
                finetuned = replace_head(model, 1, activation="sigmoid")
                architecture = _architecture(finetuned)  # before compile, as in publish
                data = load_dataset("digits", dict_inputs=isinstance(finetuned.input, dict), seed=SEED)
                train_data, test_data = binary_labels(data.train, 0), binary_labels(data.test, 0)
                finetuned.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                                  metrics=["binary_accuracy"])
                start = time.perf_counter()
                history = finetuned.fit(train_data, steps_per_epoch=data.steps_per_epoch, epochs=1, verbose=0)
                wall_time = time.perf_counter() - start
                test_metrics = finetuned.evaluate(test_data, return_dict=True, verbose=0)
                training = training_record(
                    finetuned, data, epochs=1, loss="binary_crossentropy", metrics=["binary_accuracy"],
                    history=history.history, test_metrics=test_metrics, wall_time=wall_time, seed=SEED,
                )
                repo = finetuned_repo(kind, train_backend, backend)
                lineage = {constants.BASE_REPO_ID: source["repo"], constants.BASE_REVISION: source["commit"],
                           constants.BASE_RELATION: constants.RELATION_FINETUNE}
                pushed = hub_publish.push_to_hub(finetuned, repo, training_record=training, base_model=lineage)
                record["finetuned"] = {
                    "repo": repo, "commit": pushed.commit_id,
                    "record_backend": training[constants.TRAIN_BACKEND],
                    "test_metrics": training[constants.TRAIN_TEST_METRICS],
                    "predictions": _predictions(finetuned, inputs),
                    **architecture,
                }
                return record

            _cell(out["cells"], f"{kind}/{train_backend}", run)

    for saved_under in BACKENDS:
        def try_backend_only(saved_under: str = saved_under) -> dict[str, Any]:
            source = published[saved_under]["backend_only"]
            try:
                hub_publish.from_pretrained(source["repo"], revision=source["commit"])
            except HubPublishError as exc:
                return {"error": type(exc).__name__, "message": str(exc)}
            return {"error": None, "message": None}

        _cell(out["backend_only"], saved_under, try_backend_only)
    return out


def verify(work: Path, backend: str) -> dict[str, Any]:
    inputs = _inputs(work)
    out: dict[str, Any] = {"backend": backend, "cells": {}}
    for load_backend in BACKENDS:
        loaded = json.loads(result_path(work, "load", load_backend).read_text())
        for train_backend in BACKENDS:
            if third_backend(train_backend, load_backend) != backend:
                continue
            for kind in KINDS:
                def run(load_backend: str = load_backend, train_backend: str = train_backend,
                        kind: str = kind) -> dict[str, Any]:
                    finetuned = loaded["cells"][f"{kind}/{train_backend}"]["finetuned"]
                    model, record = _load(finetuned["repo"], finetuned["commit"])
                    record.update(predictions=_predictions(model, inputs), **_architecture(model))
                    record.update(_binary_accuracy(model))
                    return record

                _cell(out["cells"], f"{kind}/{train_backend}/{load_backend}", run)
    return out


def _binary_accuracy(model: Any) -> dict[str, Any]:
    """The fine-tuned model's "0 vs rest" accuracy on the test split the load phase evaluated it on,
    computed here with numpy from this backend's predictions (not by Keras' metric)."""
    import numpy as np

    from hub_publish.data import binary_labels, load_dataset

    data = load_dataset("digits", dict_inputs=isinstance(model.input, dict), seed=SEED)
    correct = total = 0
    for x, y in binary_labels(data.test, 0).as_numpy_iterator():
        predicted = np.asarray(model.predict(x, verbose=0)).reshape(-1) > 0.5  # Keras' binary_accuracy threshold
        correct += int((predicted == (np.asarray(y).reshape(-1) == 1)).sum())
        total += len(predicted)
    return {"computed_binary_accuracy": correct / total, "num_test": total}


PHASES = {"publish": publish, "load": load, "verify": verify}


def main(argv: list[str]) -> int:
    phase, work = argv[0], Path(argv[1])
    import keras

    backend = keras.config.backend()
    if backend != os.environ.get("KERAS_BACKEND"):
        raise SystemExit(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r} but Keras runs on {backend!r}")
    _register_jax_functions()
    start = time.perf_counter()
    out = PHASES[phase](work, backend)
    out["wall_time_s"] = round(time.perf_counter() - start, 1)
    result_path(work, phase, backend).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
