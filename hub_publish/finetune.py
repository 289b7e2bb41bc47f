"""Fine-tune a published model with a new head: the Keras guide's "0" vs rest, as one call.

``finetune(src, positive_class=0)`` does what the guide's Model surgery section does by hand,
and makes the result as publishable as the original:

1. load ``src`` (a Hub repo or a local folder) with `hub_publish.from_pretrained`, and note
   where it came from (`hub_publish.loading.source_of`: repo id and resolved commit sha);
2. cut at the head (the layer recorded as ``head_layer`` in its metadata, else
   ``"classification_head"``) and put a ``Dense(1, sigmoid)`` head named
   ``"binary_classification_head"`` there (`hub_publish.surgery.replace_head`);
3. relabel the data as the guide does: the chosen class -> 1, every other class -> 0
   (`hub_publish.data.binary_labels`);
4. train with ``binary_crossentropy``: all layers at ``learning_rate``, or with
   ``freeze_backbone=True`` first the new head alone (backbone frozen), then all layers at
   ``learning_rate / 10``; optionally data-parallel (``distribute="mirrored"``);
5. evaluate binary accuracy, precision and recall on the test split, next to the accuracy of
   always answering the majority class (one class against nine is imbalanced: "never a 0" is
   already right about 90% of the time);
6. package it with `hub_publish.save_pretrained`: the training record (`hub_publish.training`'s,
   plus a ``finetune`` object: task, phases, baseline) and the lineage
   ``base_model={"repo_id": src, "revision": <commit sha>, "relation": "finetune"}``, which the
   model card shows (``base_model`` in its YAML, the pinned revision in its text);
7. push it with `hub_publish.push_to_hub` when ``push`` names a repo.

The derived model is a plain Keras functional model: `hub_publish.from_pretrained` and
``keras.saving.load_model`` load it back without any hub-publish class.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.data import DEFAULT_BATCH_SIZE, DEFAULT_DATASET, _check_positive_int

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from hub_publish.hub import PushResult
    from hub_publish.loading import ModelSource

TASKS = ("binary",)
DEFAULT_EPOCHS = 10
DEFAULT_LEARNING_RATE = 1e-3
UNFROZEN_RATE_FACTOR = 0.1  # second phase of freeze_backbone: all layers at learning_rate * this
LOSS = "binary_crossentropy"
METRICS = ("binary_accuracy", "precision", "recall")
DEFAULT_OUTPUT_ROOT = Path("runs")


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of `finetune`.

    Attributes:
        model: The fine-tuned model (a plain Keras functional model).
        folder: The packaged folder.
        metrics: Test metrics: ``binary_accuracy``, ``precision``, ``recall``, ``loss``.
        baseline: Test accuracy of always predicting the majority class.
        base_model: The lineage written to metadata.json (``repo_id``, ``revision``,
            ``relation``; ``path`` instead of ``repo_id`` for a local source folder).
        record: The training record stored in metadata.json.
        push: What the push did, when ``push`` was given.
    """

    model: "keras.Model"
    folder: Path
    metrics: dict[str, float]
    baseline: float
    base_model: dict[str, Any]
    record: dict[str, Any] = field(repr=False)
    push: "PushResult | None" = None

    @property
    def accuracy(self) -> float:
        """Binary accuracy on the test split."""
        return float(self.metrics["binary_accuracy"])


def finetune(
    src: str | os.PathLike,
    *,
    task: str = "binary",
    positive_class: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    freeze_backbone: bool = False,
    unfrozen_epochs: int | None = None,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    dataset: str = DEFAULT_DATASET,
    batch_size: int = DEFAULT_BATCH_SIZE,
    push: str | None = None,
    output_dir: str | os.PathLike | None = None,
    distribute: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    trusted_modules: Iterable[str] = (),
    head_layer: str | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
) -> FinetuneResult:
    """Load ``src``, give it a binary "``positive_class`` vs rest" head, train, evaluate, package, push.

    Args:
        src: A Hub repo (``namespace/name``, ``hf://namespace/name[@revision]``) or a model folder.
        task: ``"binary"``: the chosen class against all the others (the guide's "0" vs rest).
        positive_class: The class that becomes label 1.
        epochs: Training epochs (with ``freeze_backbone``: of the frozen phase).
        freeze_backbone: Train the new head alone first (backbone frozen), then all layers at
            ``learning_rate / 10``.
        unfrozen_epochs: Epochs of that second phase (default: ``epochs``).
        learning_rate: Adam learning rate.
        dataset: ``"digits"`` or ``"mnist"`` (see `hub_publish.data.load_dataset`).
        batch_size: Training batch size.
        push: Hub repo to push the packaged model to (``None``: do not push).
        output_dir: Folder to package into (default ``runs/<src name>-<class>-vs-rest``).
        distribute: ``"mirrored"``: train with ``tf.distribute.MirroredStrategy`` (TensorFlow).
        endpoint: Hub endpoint for loading and pushing (default ``HF_ENDPOINT``).
        token: Hub token for loading and pushing (default ``HF_TOKEN`` / the login cache).
        revision: Branch, tag or commit of ``src`` (default: its main branch).
        cache_dir: huggingface_hub cache folder for ``src``.
        trusted_modules: Modules that may be imported for ``src``'s class.
        head_layer: Layer to replace (default: the source's recorded head, else
            ``"classification_head"``).
        data_dir: tensorflow-datasets data directory for ``mnist``.
        seed: Seed of ``keras.utils.set_random_seed`` and of the data shuffle.
        verbose: Passed to ``fit``.

    Returns:
        The model, its folder, test metrics, baseline, lineage, record and push result.

    Raises:
        ValueError: Unknown task, dataset or distribute value; a positive class the dataset does
            not have; bad epochs, batch size or learning rate.
        HubPublishError: Loading, surgery (`hub_publish.errors.SurgeryError`), packaging or the
            push failed, or ``distribute`` is used under a backend other than TensorFlow.
    """
    import keras

    from hub_publish import surgery, training
    from hub_publish.data import binary_labels, load_dataset
    from hub_publish.loading import from_pretrained, source_of
    from hub_publish.packaging import save_pretrained

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    epochs = _check_positive_int("epochs", epochs)
    unfrozen_epochs = epochs if unfrozen_epochs is None else _check_positive_int("unfrozen_epochs", unfrozen_epochs)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
    strategy = training.distribution_strategy(distribute)
    keras.utils.set_random_seed(seed)

    base = from_pretrained(
        src, revision=revision, token=token, cache_dir=cache_dir, endpoint=endpoint, trusted_modules=trusted_modules
    )
    source = source_of(base)
    lineage = _lineage(source, src)
    data = load_dataset(
        dataset, batch_size=batch_size, dict_inputs=isinstance(base.input, Mapping), seed=seed, data_dir=data_dir
    )
    _check_class(positive_class, data.num_classes, dataset)
    train_data, test_data = binary_labels(data.train, positive_class), binary_labels(data.test, positive_class)
    cut_at = head_layer or _recorded_head(source) or constants.DEFAULT_HEAD_LAYER
    model = surgery.replace_head(base, 1, activation="sigmoid", at=cut_at)
    head = model.output._keras_history.operation.name

    phases: list[dict[str, Any]] = []
    if freeze_backbone:
        phases.append({"name": "head only (backbone frozen)", "epochs": epochs, "learning_rate": float(learning_rate),
                       "frozen": True})
        phases.append({"name": "all layers", "epochs": unfrozen_epochs,
                       "learning_rate": float(learning_rate) * UNFROZEN_RATE_FACTOR, "frozen": False})
    else:
        phases.append({"name": "all layers", "epochs": epochs, "learning_rate": float(learning_rate), "frozen": False})

    with training.strategy_scope(strategy):
        model = training.build_in_scope(model, strategy)
    history: dict[str, list[float]] = {}
    start = time.perf_counter()
    for phase in phases:
        if phase["frozen"]:
            surgery.freeze(model, up_to=head)
        else:
            surgery.unfreeze(model)
        phase["trainable_parameters"] = sum(math.prod(w.shape) for w in model.trainable_weights)
        with training.strategy_scope(strategy):
            model.compile(optimizer=keras.optimizers.Adam(phase["learning_rate"]), loss=LOSS, metrics=_metrics())
        fit = model.fit(train_data, steps_per_epoch=data.steps_per_epoch, epochs=phase["epochs"],
                        validation_data=test_data, shuffle=False, verbose=verbose)
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    wall_time = time.perf_counter() - start
    metrics = {k: float(v) for k, v in model.evaluate(test_data, return_dict=True, verbose=0).items()}
    majority_label, baseline = _majority_baseline(test_data)

    record = training.training_record(
        model, data, epochs=sum(p["epochs"] for p in phases), loss=LOSS, metrics=METRICS, history=history,
        test_metrics=metrics, wall_time=wall_time, seed=seed, strategy=strategy,
    )
    record[constants.FINETUNE_RECORD] = {
        "task": task,
        "positive_class": int(positive_class),
        "labels": f"1 = class {positive_class}, 0 = every other class",
        "cut_at": cut_at,
        "head_layer": head,
        "freeze_backbone": bool(freeze_backbone),
        "phases": phases,
        "baseline": {"name": "majority class", "label": majority_label, "binary_accuracy": baseline},
    }
    folder = save_pretrained(
        model,
        Path(output_dir) if output_dir is not None else _default_output(src, positive_class),
        training_record=record,
        base_model=lineage,
        repo_id=push,
        card_sections={"Fine-tuning": _card_section(record[constants.FINETUNE_RECORD], metrics, lineage, src)},
    )
    pushed = None
    if push:
        from hub_publish.hub import push_to_hub

        pushed = push_to_hub(folder, push, token=token, endpoint=endpoint,
                             commit_message=f"Fine-tune {src}: class {positive_class} vs rest")
    return FinetuneResult(model=model, folder=Path(folder), metrics=metrics, baseline=baseline, base_model=lineage,
                          record=record, push=pushed)


# ----------------------------------------------------------------------------- helpers


def _metrics() -> list[Any]:
    import keras

    return [
        keras.metrics.BinaryAccuracy(name="binary_accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ]


def _lineage(source: "ModelSource | None", src: str | os.PathLike) -> dict[str, Any]:
    """``base_model`` for metadata.json: the repo at its resolved commit, or the local folder."""
    if source is not None and source.repo_id:
        return {
            constants.BASE_REPO_ID: source.repo_id,
            constants.BASE_REVISION: source.commit or source.revision,
            constants.BASE_RELATION: constants.RELATION_FINETUNE,
        }
    folder = source.folder if source is not None else Path(src).resolve()
    return {constants.BASE_PATH: str(folder), constants.BASE_REVISION: None, constants.BASE_RELATION: constants.RELATION_FINETUNE}


def _recorded_head(source: "ModelSource | None") -> str | None:
    import json

    if source is None:
        return None
    try:
        metadata = json.loads((source.folder / constants.METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    head = (metadata.get(constants.META_ROOT) or {}).get(constants.META_HEAD_LAYER)
    return head if isinstance(head, str) and head else None


def _check_class(positive_class: Any, num_classes: int, dataset: str) -> None:
    if isinstance(positive_class, bool) or not isinstance(positive_class, int) or not 0 <= positive_class < num_classes:
        raise ValueError(
            f"positive_class must be a class of {dataset!r}, an integer from 0 to {num_classes - 1}; "
            f"got {positive_class!r}"
        )


def _majority_baseline(test_data: Any) -> tuple[int, float]:
    """The majority label of the (binary) test labels and the accuracy of always predicting it."""
    import numpy as np

    labels = np.concatenate([np.asarray(y).reshape(-1) for _, y in test_data.as_numpy_iterator()])
    positives = float(np.mean(labels == 1)) if labels.size else 0.0
    return (1, positives) if positives > 0.5 else (0, 1.0 - positives)


def _default_output(src: str | os.PathLike, positive_class: int) -> Path:
    name = Path(os.fspath(src).split("@")[0].rstrip("/")).name or "model"
    return DEFAULT_OUTPUT_ROOT / f"{name}-{positive_class}-vs-rest"


def _card_section(details: Mapping[str, Any], metrics: Mapping[str, float], lineage: Mapping[str, Any],
                  src: str | os.PathLike) -> str:
    baseline = details["baseline"]
    if lineage.get(constants.BASE_REPO_ID):
        origin = f"`{lineage[constants.BASE_REPO_ID]}` at revision `{lineage.get(constants.BASE_REVISION)}`"
    else:
        origin = f"the local folder `{lineage.get('path', src)}`"
    phases = "; ".join(
        f"{p['name']}: {p['epochs']} epochs at learning rate {p['learning_rate']:g}" for p in details["phases"]
    )
    rows = "\n".join(
        f"| {name} | {metrics[name]:.4f} |" for name in METRICS if name in metrics
    )
    return (
        f"Fine-tuned from {origin}: the layer `{details['cut_at']}` was replaced by a one-unit sigmoid head "
        f"`{details['head_layer']}` (`hub_publish.surgery.replace_head`), trained on the task "
        f"\"class {details['positive_class']} vs rest\" ({details['labels']}). Training: {phases}.\n\n"
        "| Metric (test split) | Value |\n|---|---|\n"
        f"{rows}\n"
        f"| majority-class baseline (always {baseline['label']}) | {baseline['binary_accuracy']:.4f} |\n\n"
        "The classes are imbalanced (one against all others), so compare the binary accuracy with the baseline."
    )
