"""Fine-tune a published model with a new head, on a built-in dataset or the user's own data.

``finetune(src, positive_class=0)`` does what the Keras guide's Model surgery section does by
hand, and makes the result as publishable as the original:

1. load ``src`` (a Hub repo or a local folder) with `hub_publish.from_pretrained`, and note
   where it came from (`hub_publish.loading.source_of`: repo id and resolved commit sha); a
   multi-output model (list or dict outputs) is first narrowed to the output named by
   ``output_name`` (refused in one line without it);
2. read the data with `hub_publish.user_data.prepare_data` (the built-in ``digits`` / ``mnist``, or
   numpy arrays, a ``tf.data.Dataset``, a ``keras.utils.PyDataset``, an image folder), with a
   validation split that is never the test split, and check that the model takes it;
3. cut at the head (``head_layer``, else the layer recorded as ``head_layer`` in its metadata,
   else ``"classification_head"``, else the layer that makes the output) and put a new head
   there (`hub_publish.surgery.replace_head`): for ``task="binary"`` a ``Dense(1, sigmoid)``
   trained on "``positive_class`` vs rest" (the guide's recipe, labels relabelled 1 / 0); for
   ``task="classes"`` a softmax ``Dense`` with one unit per class of the data;
4. train with `hub_publish.training`'s `fit_model` (the same compile / fit / evaluate as
   ``train``): all layers at ``learning_rate``, or with ``freeze_backbone=True`` first the new
   head alone, then all layers at ``learning_rate / 10``; ``callbacks=`` go to every phase;
5. evaluate on the test split (the validation split when there is no test data), next to the
   accuracy of always answering the majority class;
6. package it with `hub_publish.save_pretrained`: the training record (`hub_publish.training`'s,
   plus a ``finetune`` object: task, classes, phases, baseline) and the lineage
   ``base_model={"repo_id": src, "revision": <commit sha>, "relation": "finetune"}``;
7. push it with `hub_publish.push_to_hub` when ``push`` names a repo.

The derived model is a plain Keras functional model: `hub_publish.from_pretrained` and
``keras.saving.load_model`` load it back without any hub-publish class.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.data import DEFAULT_BATCH_SIZE, DEFAULT_DATASET, DATASETS, TEST_SPLIT, _check_positive_int
from hub_publish.errors import DataError, option

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from hub_publish.data import TrainingData
    from hub_publish.pushing import PushResult
    from hub_publish.loading import ModelSource

TASK_BINARY = "binary"  # positive_class vs rest, one sigmoid unit (the guide's recipe)
TASK_CLASSES = "classes"  # one softmax unit per class of the data
TASKS = (TASK_BINARY, TASK_CLASSES)
DEFAULT_EPOCHS = 10
DEFAULT_LEARNING_RATE = 1e-3
UNFROZEN_RATE_FACTOR = 0.1  # second phase of freeze_backbone: all layers at learning_rate * this
LOSS = "binary_crossentropy"
METRICS = ("binary_accuracy", "precision", "recall")
CLASSES_LOSS = "sparse_categorical_crossentropy"
CLASSES_METRICS = ("sparse_categorical_accuracy",)
DEFAULT_OUTPUT_ROOT = Path("runs")


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of `finetune`.

    Attributes:
        model: The fine-tuned model (a plain Keras functional model).
        folder: The packaged folder.
        metrics: Metrics on the test split (the validation split without test data; see
            ``split``): ``binary_accuracy``, ``precision``, ``recall``, ``loss`` for the binary
            task, ``sparse_categorical_accuracy``, ``loss`` for ``classes``.
        baseline: Accuracy of always predicting the majority class on that split (``None``
            without one).
        base_model: The lineage written to metadata.json (``repo_id``, ``revision``,
            ``relation``; ``path`` instead of ``repo_id`` for a local source folder).
        record: The training record stored in metadata.json.
        push: What the push did, when ``push`` was given.
        split: The split ``metrics`` were measured on: ``"test"``, ``"validation"`` or ``None``.
    """

    model: "keras.Model"
    folder: Path
    metrics: dict[str, float]
    baseline: float | None
    base_model: dict[str, Any]
    record: dict[str, Any] = field(repr=False)
    push: "PushResult | None" = None
    split: str | None = TEST_SPLIT

    @property
    def accuracy(self) -> float:
        """Accuracy (binary or sparse categorical) on ``split``."""
        return float(next(v for k, v in self.metrics.items() if k.endswith("accuracy")))


# Over ~80 lines only through its Args docstring (one entry per keyword): the body is ~40 lines,
# each step a helper below or one of hub_publish.training's.
def finetune(
    src: str | os.PathLike,
    dataset: Any = DEFAULT_DATASET,
    *,
    task: str | None = None,
    positive_class: int | str = 0,
    output_name: str | None = None,
    validation_data: Any = None,
    validation_split: float | None = None,
    test_data: Any = None,
    callbacks: Sequence[Any] = (),
    epochs: int = DEFAULT_EPOCHS,
    freeze_backbone: bool = False,
    unfrozen_epochs: int | None = None,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    image_size: tuple[int, int] | None = None,
    dataset_name: str | None = None,
    push: str | None = None,
    output_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
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
    """Load ``src``, give it a new head, train on ``dataset``, evaluate, package, push.

    Args:
        src: A Hub repo (``namespace/name``, ``hf://namespace/name[@revision]``) or a model folder.
        dataset: ``"digits"`` / ``"mnist"`` or the user's data, as for `hub_publish.training.train`.
        task: ``"binary"``: ``positive_class`` against all the others (the guide's "0" vs rest);
            ``"classes"``: a new softmax head with one unit per class of the data. Default:
            ``"binary"`` on a built-in dataset, ``"classes"`` on the user's data.
        positive_class: ``"binary"`` only: the class that becomes label 1 (an index, or a class
            name when the data has names, e.g. an image folder's subfolder).
        output_name: Which output of a multi-output ``src`` to fine-tune (its key, or the name
            of the layer that makes it).
        validation_data: Validation data of the same kind as ``dataset``.
        validation_split: Share of ``dataset`` held out for validation (see `train`).
        test_data: Test data of the same kind, for the final metrics only.
        callbacks: Keras callbacks, passed to ``fit`` in every phase.
        epochs: Training epochs (with ``freeze_backbone``: of the frozen phase).
        freeze_backbone: Train the new head alone first (backbone frozen), then all layers at
            ``learning_rate / 10``.
        unfrozen_epochs: Epochs of that second phase (default: ``epochs``).
        learning_rate: Adam learning rate.
        batch_size: Training batch size.
        image_size: ``(height, width)`` to read an image folder at (default: the model's input
            size when fixed, else the first image's).
        dataset_name: Name of the data for the record and card.
        push: Hub repo to push the packaged model to (``None``: do not push).
        output_dir: Folder to package into (default ``runs/<src name>-<class>-vs-rest``, or
            ``runs/<src name>-<data name>`` for ``"classes"``).
        overwrite: Replace an existing folder at ``output_dir`` (default: refuse).
        distribute: ``"mirrored"``: train with ``tf.distribute.MirroredStrategy`` (TensorFlow).
        endpoint: Hub endpoint for loading and pushing (default ``HF_ENDPOINT``).
        token: Hub token for loading and pushing (default ``HF_TOKEN`` / the login cache).
        revision: Branch, tag or commit of ``src`` (default: its main branch).
        cache_dir: huggingface_hub cache folder for ``src``.
        trusted_modules: Modules that may be imported for ``src``'s class.
        head_layer: Layer to replace (default: see step 3 of the module docstring).
        data_dir: tensorflow-datasets data directory for ``mnist``.
        seed: Seed of ``keras.utils.set_random_seed``, of the data shuffle and validation split.
        verbose: Passed to ``fit``.

    Returns:
        The model, its folder, metrics, baseline, lineage, record and push result.

    Raises:
        ValueError: Unknown task or distribute value; bad epochs, batch size or learning rate.
        hub_publish.errors.DataError: A positive class the data does not have; data the model
            cannot take; a multi-output model without (or with an unknown) ``output_name``.
        HubPublishError: ``output_dir`` exists (without ``overwrite``); loading, surgery
            (`hub_publish.errors.SurgeryError`), packaging or the push failed, or
            ``distribute`` is used under a backend other than TensorFlow.
    """
    if push:  # a bad repo id, token or endpoint is one line now, not after the training
        _check_push_target(push, token, endpoint)
    import keras

    from hub_publish import training
    from hub_publish.data import InputSpec
    from hub_publish.user_data import prepare_data
    from hub_publish.loading import from_pretrained, source_of

    builtin = isinstance(dataset, str) and dataset.lower() in DATASETS
    task = (TASK_BINARY if builtin else TASK_CLASSES) if task is None else task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    phases = _phases(epochs, unfrozen_epochs, learning_rate, freeze_backbone)
    callbacks = training.check_callbacks(callbacks)
    strategy = training.distribution_strategy(distribute)
    keras.utils.set_random_seed(seed)

    base = from_pretrained(
        src, revision=revision, token=token, cache_dir=cache_dir, endpoint=endpoint, trusted_modules=trusted_modules
    )
    source = source_of(base)
    base = _single_output(base, output_name, src)
    data = prepare_data(
        dataset, spec=InputSpec.of(base), validation_data=validation_data, validation_split=validation_split,
        test_data=test_data, batch_size=batch_size, image_size=image_size, name=dataset_name, seed=seed,
        data_dir=data_dir,
    )
    training.check_model_fits(base, data, loss=None)
    target = Path(output_dir) if output_dir is not None else _default_output(source, task, positive_class, data)
    overwrite = training.check_output_folder(target, overwrite)  # before training, not after
    cut_at = head_layer or _recorded_head(source) or _default_head(base)
    model, data, details = _new_head(base, data, task, positive_class, cut_at)
    loss, metric_names = (LOSS, METRICS) if task == TASK_BINARY else (CLASSES_LOSS, CLASSES_METRICS)
    with training.strategy_scope(strategy):
        model = training.build_in_scope(model, strategy)
    history, wall_time = _train_phases(model, data, phases, loss, details["head_layer"], strategy, callbacks, verbose)
    split = TEST_SPLIT if data.test is not None else ("validation" if data.validation is not None else None)
    metrics = training.evaluate_model(model, data, split) if split else {}
    details.update(phases=phases, freeze_backbone=bool(freeze_backbone), metrics_split=split,
                   baseline=_majority_baseline(data, split, metric_names[0]))
    record = training.training_record(
        model, data, epochs=sum(p["epochs"] for p in phases), loss=loss, metrics=metric_names, history=history,
        test_metrics=metrics if split == TEST_SPLIT else {}, wall_time=wall_time, seed=seed, strategy=strategy,
        callbacks=callbacks,
    )
    record[constants.FINETUNE_RECORD] = details
    return _package(model, target, record, metrics, _lineage(source, src), src, push, token, endpoint, overwrite, split)


# ----------------------------------------------------------------------------- steps


def _check_push_target(push: str, token: str | None, endpoint: str | None) -> None:
    from hub_publish.pushing import check_push_target

    check_push_target(push, token=token, endpoint=endpoint)


def _phases(epochs: int, unfrozen_epochs: int | None, learning_rate: float, freeze_backbone: bool) -> list[dict[str, Any]]:
    epochs = _check_positive_int("epochs", epochs)
    unfrozen_epochs = epochs if unfrozen_epochs is None else _check_positive_int("unfrozen_epochs", unfrozen_epochs)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
    if not freeze_backbone:
        return [{"name": "all layers", "epochs": epochs, "learning_rate": float(learning_rate), "frozen": False}]
    return [
        {"name": "head only (backbone frozen)", "epochs": epochs, "learning_rate": float(learning_rate), "frozen": True},
        {"name": "all layers", "epochs": unfrozen_epochs, "learning_rate": float(learning_rate) * UNFROZEN_RATE_FACTOR,
         "frozen": False},
    ]


def _single_output(model: "keras.Model", output_name: str | None, src: Any) -> "keras.Model":
    """``model`` itself when it has one output; else a model of the output named ``output_name``."""
    import keras

    outputs = _output(model)
    if isinstance(outputs, Mapping):
        named = dict(outputs)
    elif isinstance(outputs, (list, tuple)):
        named = {t._keras_history.operation.name: t for t in outputs}
    else:
        named = {outputs._keras_history.operation.name: outputs}
    if output_name is None and len(named) == 1:
        output_name = next(iter(named))
    if output_name is None:
        raise DataError(
            f"{src} has {len(named)} outputs ({', '.join(named)}); choose the one to fine-tune with "
            f"{option('output_name=', '--output-name')}"
        )
    if output_name not in named:
        raise DataError(f"{src} has no output {output_name!r}; its outputs are {', '.join(named)}")
    if not isinstance(outputs, (Mapping, list, tuple)):
        return model
    return keras.Model(model.input, named[output_name], name=model.name)


def _default_head(model: "keras.Model") -> str:
    """The zoo's head name when the model has that layer, else the layer that makes its output."""
    if any(layer.name == constants.DEFAULT_HEAD_LAYER for layer in model.layers):
        return constants.DEFAULT_HEAD_LAYER
    return _output(model)._keras_history.operation.name


def _output(model: "keras.Model") -> Any:
    """``model.output``; a ``keras.Sequential`` only has its ``outputs`` list."""
    try:
        return model.output
    except AttributeError:
        return model.outputs[0] if len(model.outputs) == 1 else list(model.outputs)


def _new_head(
    base: "keras.Model", data: "TrainingData", task: str, positive_class: Any, cut_at: str
) -> tuple["keras.Model", "TrainingData", dict[str, Any]]:
    """The model with its new head, the data labelled for the task, and the task's record."""
    from hub_publish import surgery
    from hub_publish.data import with_binary_labels

    names = list(data.class_names) if data.class_names is not None else None
    details: dict[str, Any] = {"task": task, "cut_at": cut_at}
    if task == TASK_BINARY:
        index = _class_index(positive_class, data)
        data = with_binary_labels(data, index)
        model = surgery.replace_head(base, 1, activation="sigmoid", at=cut_at)
        label = names[index] if names else str(index)
        details.update(positive_class=index, positive_class_name=label,
                       labels=f"1 = class {label}, 0 = every other class",
                       class_names=["rest", label])
    else:
        if not data.num_classes or data.num_classes < 2:
            raise DataError(
                f"cannot tell how many classes {data.name!r} has (labels must be integer class indices, "
                "0..N-1, with at least 2 classes); give integer labels or an image folder"
            )
        model = surgery.replace_head(base, data.num_classes, activation="softmax", at=cut_at)
        details.update(num_classes=data.num_classes, class_names=names,
                       labels=f"{data.num_classes} classes of {data.name}")
    details["head_layer"] = _output(model)._keras_history.operation.name
    return model, data, details


def _train_phases(
    model: "keras.Model", data: "TrainingData", phases: list[dict[str, Any]], loss: str, head: str, strategy: Any,
    callbacks: Sequence[Any], verbose: Any,
) -> tuple[dict[str, list[float]], float]:
    import keras

    from hub_publish import surgery, training

    history: dict[str, list[float]] = {}
    wall_time = 0.0
    for phase in phases:
        if phase["frozen"]:
            surgery.freeze(model, up_to=head)
        else:
            surgery.unfreeze(model)
        phase["trainable_parameters"] = sum(math.prod(w.shape) for w in model.trainable_weights)
        with training.strategy_scope(strategy):
            model.compile(optimizer=keras.optimizers.Adam(phase["learning_rate"]), loss=loss, metrics=_metrics(loss))
        fit, seconds = training.fit_model(model, data, epochs=phase["epochs"], callbacks=callbacks, verbose=verbose)
        wall_time += seconds
        for key, values in fit.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return history, wall_time


def _package(
    model: "keras.Model", target: Path, record: dict[str, Any], metrics: dict[str, float], lineage: dict[str, Any],
    src: Any, push: str | None, token: str | None, endpoint: str | None, overwrite: bool, split: str | None,
) -> FinetuneResult:
    from hub_publish.packaging import save_pretrained

    details = record[constants.FINETUNE_RECORD]
    folder = save_pretrained(
        model, target, training_record=record, base_model=lineage, repo_id=push, overwrite=overwrite,
        card_sections={"Fine-tuning": _card_section(details, metrics, lineage, src)},
    )
    pushed = None
    if push:
        from hub_publish.pushing import push_to_hub

        pushed = push_to_hub(folder, push, token=token, endpoint=endpoint,
                             commit_message=f"Fine-tune {src}: {details['labels']}")
    baseline = details["baseline"]
    value = None if baseline is None else next(v for k, v in baseline.items() if k.endswith("accuracy"))
    return FinetuneResult(model=model, folder=Path(folder), metrics=metrics, baseline=value, base_model=lineage,
                          record=record, push=pushed, split=split)


# ----------------------------------------------------------------------------- helpers


def _metrics(loss: str = LOSS) -> list[Any]:
    import keras

    if loss != LOSS:
        return list(CLASSES_METRICS)
    return [
        keras.metrics.BinaryAccuracy(name="binary_accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ]


def _class_index(positive_class: Any, data: "TrainingData") -> int:
    names = list(data.class_names) if data.class_names is not None else []
    if isinstance(positive_class, str) and positive_class in names:
        return names.index(positive_class)
    if isinstance(positive_class, str) and positive_class.isdigit():  # "2" from a command line
        positive_class = int(positive_class)
    count = data.num_classes
    valid = not isinstance(positive_class, bool) and isinstance(positive_class, int) and positive_class >= 0
    if valid and (count is None or positive_class < count):
        return int(positive_class)
    known = f", an integer from 0 to {count - 1}" if count else ""
    named = f" or one of the names {', '.join(names)}" if names and names != [str(i) for i in range(len(names))] else ""
    raise DataError(f"positive_class must be a class of {data.name!r}{known}{named}; got {positive_class!r}")


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
    from hub_publish import format as fmt

    if source is None:
        return None
    try:
        head = fmt.read_metadata(source.folder).head_layer
    except (OSError, fmt.ModelFolderError):
        return None
    return head or None


def _majority_baseline(data: "TrainingData", split: str | None, metric: str) -> dict[str, Any] | None:
    """Always answering the majority label of ``split``: that label and its accuracy (``None`` without a split)."""
    import numpy as np

    if split is None:
        return None
    labels = data.labels(split)
    if not labels.size or labels.dtype.kind not in "iub":
        return None
    counts = np.bincount(labels.astype(np.int64))
    label = int(np.argmax(counts))
    return {"name": "majority class", "label": label, metric: float(counts[label] / labels.size)}


def _default_output(source: "ModelSource", task: str, positive_class: Any, data: "TrainingData") -> Path:
    # The repo's name (the reference was already parsed by loading), else the folder's.
    name = (source.repo_id.rpartition("/")[2] if source.repo_id else source.folder.name) or "model"
    if task == TASK_BINARY:
        return DEFAULT_OUTPUT_ROOT / f"{name}-{positive_class}-vs-rest"
    return DEFAULT_OUTPUT_ROOT / f"{name}-{Path(str(data.name)).name or 'data'}"


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
    if details["task"] == TASK_BINARY:
        head = "a one-unit sigmoid head"
        task = f"\"class {details['positive_class_name']} vs rest\" ({details['labels']})"
        names = METRICS
        note = "The classes are imbalanced (one against all others), so compare the binary accuracy with the baseline."
    else:
        head = f"a {details['num_classes']}-unit softmax head"
        task = f"\"{details['labels']}\""
        names, note = CLASSES_METRICS, "Compare the accuracy with the majority-class baseline."
    split = details.get("metrics_split")
    rows = "\n".join(f"| {name} | {metrics[name]:.4f} |" for name in names if name in metrics)
    if baseline:
        value = next(v for k, v in baseline.items() if k.endswith("accuracy"))
        rows += f"\n| majority-class baseline (always {baseline['label']}) | {value:.4f} |"
    table = f"| Metric ({split} split) | Value |\n|---|---|\n{rows}\n\n{note}" if split else "No evaluation split was given."
    return (
        f"Fine-tuned from {origin}: the layer `{details['cut_at']}` was replaced by {head} "
        f"`{details['head_layer']}` (`hub_publish.surgery.replace_head`), trained on the task {task}. "
        f"Training: {phases}.\n\n{table}"
    )
