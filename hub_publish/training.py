"""Train any Keras graph model on a built-in dataset or the user's own data, and record the run.

``train`` compiles the model (``sparse_categorical_crossentropy`` + ``sparse_categorical_accuracy``
by default, as in the Keras guide), fits it on `hub_publish.user_data.prepare_data`'s inputs (the
built-in ``digits`` / ``mnist``, or numpy arrays, a ``tf.data.Dataset``, a
``keras.utils.PyDataset``, an image folder), validates each epoch on a validation split (never
the test split), evaluates once on the test split and returns the model with a JSON-safe
training record. `train_and_package` then writes the model as a hub-publish folder with the
record in its metadata (and so on its card).

The training record (``metadata.json`` -> ``hub_publish`` -> ``training``) holds, under the
``TRAIN_*`` keys of `hub_publish.constants`:

================================  ==========================================================
``dataset``                       name, source, kind, splits, sizes, classes, class names,
                                  image shape, input dtype and range
``num_train_examples``            training examples
``num_validation_examples``       validation examples (0 without validation)
``num_test_examples``             test examples (0 without a test split)
``validation_split``              how the validation split was made, in words, or ``None``
``test_split``                    name of the split the test metrics were measured on, or ``None``
``class_names``                   class names by label index (folder names...), or ``None``
``epochs``, ``batch_size``,       as passed to ``fit`` (``batch_size`` is ``None`` when the
``steps_per_epoch``               data came batched)
``optimizer``                     optimizer class name (e.g. ``"Adam"``)
``optimizer_config``              ``optimizer.get_config()`` (learning rate, betas, ...)
``loss``, ``metrics``             as compiled
``callbacks``                     class names of the user's callbacks
``history``                       ``{metric: [value per epoch]}`` incl. ``val_*``
``validation_metrics``            ``{metric: value}`` on the validation split after the last epoch
``test_metrics``                  ``{metric: value}`` of ``model.evaluate`` on the test split
                                  (``{}`` without one)
``wall_time_s``                   seconds spent in ``fit``
``hardware``                      platform, machine, processor, CPU count, Keras devices
``backend``                       ``keras.config.backend()``
``library_versions``              keras, tensorflow, numpy, huggingface_hub, hub-publish, ...
``distribute``                    ``{"strategy", "num_replicas", "devices"}`` when trained with
                                  ``distribute="mirrored"``, else the active
                                  ``keras.distribution`` class name, or ``None``
``seed``                          the seed passed to ``keras.utils.set_random_seed``
================================  ==========================================================

The Keras code is backend-agnostic (tf.data only feeds ``fit``; numpy arrays and PyDataset go to
Keras directly), so training works under the TensorFlow, JAX and PyTorch backends.
``distribute="mirrored"`` (TensorFlow backend only) trains data-parallel with
``tf.distribute.MirroredStrategy`` over every local device (GPUs, or logical CPU devices); the
model is built, or rebuilt from its config with its weights, inside the strategy's scope. What
is packaged afterwards is the same format as without it.

Pieces reused by `hub_publish.finetune`: `check_model_fits`, `fit_model`, `evaluate_model`,
`check_callbacks`, `distribution_strategy`, `strategy_scope`, `build_in_scope` and
`training_record`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hub_publish import constants
from hub_publish._versions import library_versions
from hub_publish.data import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATASET,
    TEST_SPLIT,
    InputSpec,
    TrainingData,
    _check_positive_int,
)
from hub_publish.errors import DataError, HubPublishError, option
from hub_publish.user_data import prepare_data
from hub_publish.format import json_safe
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras

# Defaults: the guide's MnistModel reaches ~0.97 test accuracy on `digits` in ~3 s on 2 CPU cores.
DEFAULT_EPOCHS = 20
DEFAULT_LEARNING_RATE = 2e-3
DEFAULT_OPTIMIZER = "adam"
DEFAULT_LOSS = "sparse_categorical_crossentropy"
DEFAULT_METRICS = ("sparse_categorical_accuracy",)
DEFAULT_SEED = 0
DISTRIBUTE_CHOICES = ("mirrored",)  # values of ``distribute=`` / ``--distribute``
_MIRRORED: Any = None  # the process's MirroredStrategy, created on first use


class TrainingResult(NamedTuple):
    """Outcome of `train`.

    Attributes:
        model: The trained model.
        record: JSON-safe training record (see the module docstring).
        data: The inputs the model was trained, validated and evaluated on.
    """

    model: "keras.Model"
    record: dict[str, Any]
    data: TrainingData

    @property
    def test_metrics(self) -> dict[str, float]:
        """``{metric: value}`` on the test split (empty without one)."""
        return self.record[constants.TRAIN_TEST_METRICS]


class PackagedModel(NamedTuple):
    """Outcome of `train_and_package`: the folder written and the training record in it."""

    path: Path
    record: dict[str, Any]


# Over ~80 lines only through its Args docstring: the body is ~30 lines.
def train(
    model: "keras.Model | type | str",
    dataset: Any = DEFAULT_DATASET,
    *,
    validation_data: Any = None,
    validation_split: float | None = None,
    test_data: Any = None,
    callbacks: Sequence["keras.callbacks.Callback"] = (),
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float | None = DEFAULT_LEARNING_RATE,
    optimizer: "str | keras.optimizers.Optimizer" = DEFAULT_OPTIMIZER,
    loss: str = DEFAULT_LOSS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = DEFAULT_SEED,
    image_size: tuple[int, int] | None = None,
    dataset_name: str | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    verbose: int | str = "auto",
    distribute: str | None = None,
) -> TrainingResult:
    """Compile, fit and evaluate a model on a built-in dataset or the user's data, recording the run.

    Seeds Python, NumPy and the backend with ``keras.utils.set_random_seed(seed)`` first. Pass a
    class or a class name rather than an instance to have the weight initialisation seeded too;
    a class (or name) whose constructor takes ``num_classes`` is built with the data's number of
    classes. Single-input dict models (``MnistDictModel``) get ``{key: x}`` batches automatically.
    The model is (re)compiled, validated each epoch on the validation split (never the test
    split) and evaluated once on the test split at the end.

    Args:
        model: Any Keras graph model (functional subclass, ``keras.Model(inputs, outputs)``,
            ``keras.Sequential``), a model class, or a registered class name (``"MnistModel"``
            or ``"hub_publish>MnistModel"``); classes are built with their default arguments.
        dataset: ``"digits"`` / ``"mnist"``, numpy arrays ``(x, y)``, a batched ``tf.data.Dataset``
            of ``(x, y)``, a ``keras.utils.PyDataset`` or an image folder (one subfolder per
            class). See `hub_publish.user_data.prepare_data`.
        validation_data: Validation data of the same kind as ``dataset`` (not for built-ins).
        validation_split: Share of ``dataset`` held out for validation (arrays, image folders and
            built-ins; default 0.1 there, ``0`` for none).
        test_data: Test data of the same kind, for the final test metrics only.
        callbacks: Keras callbacks passed to ``fit`` (recorded by class name).
        epochs: Number of epochs.
        batch_size: Training batch size (ignored for sources that come batched).
        learning_rate: Learning rate of the optimizer named by ``optimizer``; ``None`` keeps
            Keras' default for it. Must be ``None`` when ``optimizer`` is an instance.
        optimizer: Keras optimizer name (``"adam"``, ``"sgd"``, ...) or instance.
        loss: Keras loss name.
        metrics: Keras metric names.
        seed: Seed of ``keras.utils.set_random_seed``, of the data shuffle and of the validation split.
        image_size: ``(height, width)`` to read an image folder at (default: the model's input
            size when fixed, else the size of the first image).
        dataset_name: Name of the data for the record and card (default: derived from it).
        data_dir: tensorflow-datasets data directory for ``mnist``.
        download: Let tensorflow-datasets download ``mnist`` if it is not prepared.
        verbose: Passed to ``fit``.
        distribute: ``"mirrored"``: train data-parallel with ``tf.distribute.MirroredStrategy``
            (TensorFlow backend only). A model instance is then rebuilt inside the strategy's
            scope with its weights, and the returned model is that rebuilt copy.

    Returns:
        The trained model, its training record and the data.

    Raises:
        ValueError: Unknown model name, bad epochs / learning rate / optimizer, unknown
            ``distribute`` value.
        hub_publish.errors.DataError: Data the model cannot take (wrong shapes, more classes than
            the model's outputs, mismatched x / y, an empty folder, ...), one line.
        HubPublishError: ``distribute="mirrored"`` under a backend other than TensorFlow.
        hub_publish.data.DatasetNotAvailableError: ``mnist`` is not prepared locally.
    """
    import keras

    epochs = _check_positive_int("epochs", epochs)
    _check_learning_rate(learning_rate)
    callbacks = check_callbacks(callbacks)
    strategy = distribution_strategy(distribute)
    keras.utils.set_random_seed(seed)
    rebuild = isinstance(model, keras.Model)  # an instance was built outside any strategy scope
    with strategy_scope(strategy):
        built = _resolve_model(model)
    data = prepare_data(
        dataset, spec=InputSpec.of(built), validation_data=validation_data, validation_split=validation_split,
        test_data=test_data, batch_size=batch_size, image_size=image_size, name=dataset_name, seed=seed,
        data_dir=data_dir, download=download,
    )
    with strategy_scope(strategy):
        if not rebuild:
            built = _with_num_classes(model, built, data.num_classes, seed)
        elif strategy is not None:
            built = build_in_scope(built, strategy)
        check_model_fits(built, data, loss)
        built.compile(optimizer=_optimizer(optimizer, learning_rate, strategy), loss=loss, metrics=list(metrics))
    history, wall_time = fit_model(built, data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    record = training_record(
        built, data, epochs=epochs, loss=loss, metrics=metrics, history=history,
        test_metrics=evaluate_model(built, data), wall_time=wall_time, seed=seed, strategy=strategy,
        callbacks=callbacks,
    )
    return TrainingResult(model=built, record=record, data=data)


def train_and_package(
    model_or_class_name: "keras.Model | type | str",
    output_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    **train_kwargs: Any,
) -> PackagedModel:
    """Train a model with `train` and write it with `hub_publish.packaging.save_pretrained`.

    The data is checked (and the model trained) before anything is written, so bad data leaves
    no folder behind.

    Args:
        model_or_class_name: A model, a model class or a registered class name (see `train`).
        output_dir: Folder to write the packaged model to.
        overwrite: Replace an existing model folder there (default: refuse).
        **train_kwargs: Passed to `train` (``dataset``, ``epochs``, ``batch_size``, ...).

    Returns:
        The folder written and the training record stored in its metadata.

    Raises:
        ValueError: See `train`.
        HubPublishError: ``output_dir`` exists and ``overwrite`` is false, or packaging failed.
    """
    from hub_publish.packaging import save_pretrained

    target = Path(output_dir)
    replace = check_output_folder(target, overwrite)  # before hours of training, not after
    result = train(model_or_class_name, **train_kwargs)
    path = save_pretrained(result.model, target, training_record=result.record, overwrite=replace)
    return PackagedModel(path=Path(path), record=result.record)


# --------------------------------------------------------------------------------------
# Reusable pieces (also used by hub_publish.finetune)
# --------------------------------------------------------------------------------------


def fit_model(
    model: "keras.Model",
    data: TrainingData,
    *,
    epochs: int,
    callbacks: Sequence[Any] = (),
    verbose: int | str = "auto",
) -> tuple[dict[str, list[float]], float]:
    """``model.fit`` on ``data``'s training input, validated on its validation input.

    Returns:
        ``History.history`` and the seconds spent in ``fit``.
    """
    start = time.perf_counter()
    history = model.fit(**data.fit_args(), epochs=epochs, callbacks=list(callbacks), verbose=verbose)
    return history.history, time.perf_counter() - start


def evaluate_model(model: "keras.Model", data: TrainingData, split: str = TEST_SPLIT) -> dict[str, float]:
    """``{metric: value}`` of ``model.evaluate`` on ``data``'s test (or validation) split; ``{}`` without one."""
    args = data.evaluate_args(split)
    if args is None:
        return {}
    return {k: float(v) for k, v in model.evaluate(**args, return_dict=True, verbose=0).items()}


def check_model_fits(model: "keras.Model", data: TrainingData, loss: Any = DEFAULT_LOSS) -> None:
    """Refuse, in one line, data the model cannot train on: checked before anything is compiled or fit.

    Passes the shapes and dtypes of a two-example sample of the data through the model's graph
    (so a shape or dtype problem shows up here in the model's own words, not deep inside
    ``fit``), then compares the labels with
    the model's outputs: one output per label array, and for ``sparse_categorical_crossentropy``
    at least as many output units as the data has classes.

    Raises:
        DataError: The model cannot take the inputs, or the labels do not match its outputs.
    """
    import keras
    import numpy as np

    outputs = model.outputs
    if data.sample is None:
        return
    x, y = data.sample
    if len(outputs) > 1 and not isinstance(y, (Mapping, list, tuple)):
        names = ", ".join(t._keras_history.operation.name for t in outputs)
        raise DataError(
            f"the model has {len(outputs)} outputs ({names}) but {data.name} gives one label array; train a "
            "single-output model, or give labels as {output: labels} with a tf.data.Dataset or PyDataset"
        )
    # Symbolic (KerasTensors through the graph): shape and dtype errors in the model's own words,
    # in about a millisecond, without running the model.
    symbolic = keras.tree.map_structure(lambda a: keras.KerasTensor(np.shape(a), dtype=str(np.asarray(a).dtype)), x)
    try:
        model.compute_output_spec(symbolic)
    except Exception as err:  # noqa: BLE001  (Keras and the backends raise many kinds; the message is kept)
        raise DataError(f"the model {model.name!r} cannot take the data {data.name!r}: {first_line(err)}") from None
    units = outputs[0].shape[-1] if len(outputs) == 1 else None
    loss_name = loss if isinstance(loss, str) else getattr(loss, "name", "")
    if units is None or loss_name != "sparse_categorical_crossentropy":
        return
    seen = data.num_classes
    labels = np.asarray(keras.tree.flatten(y)[0])
    if labels.size and labels.dtype.kind in "iu":
        seen = max(seen or 0, int(labels.max()) + 1)
    if seen is not None and seen > units:
        raise DataError(
            f"{data.name!r} has {seen} classes but the model's output has {units} units; build the model with "
            f"{seen} classes (e.g. num_classes={seen}) or fine-tune it with a new head (hub_publish.finetune)"
        )


def check_output_folder(target: Path, overwrite: bool) -> bool:
    """Refuse an existing, non-empty output folder unless ``overwrite``; the ``overwrite=`` to save with.

    An empty folder (``mkdir out`` first) holds nothing to lose, so it is written into.

    Raises:
        HubPublishError: ``target`` exists, is not an empty folder, and ``overwrite`` is false.
    """
    if not target.exists():
        return overwrite
    if target.is_dir() and not any(target.iterdir()):
        return True
    if not overwrite:
        raise HubPublishError(f"{target} already exists; pass {option('overwrite=True', '--overwrite')} or choose another folder.")
    return True


def check_callbacks(callbacks: Any) -> list[Any]:
    """``callbacks`` as a list of Keras callbacks; one clear line otherwise."""
    import keras

    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(f"callbacks must be keras.callbacks.Callback instances; got {callback!r}")
    return callbacks


def training_record(
    model: "keras.Model",
    data: TrainingData,
    *,
    epochs: int,
    loss: str,
    metrics: Sequence[Any],
    history: Mapping[str, Sequence[float]],
    test_metrics: Mapping[str, float],
    wall_time: float,
    seed: int,
    strategy: Any = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """The JSON-safe training record of a run (see the module docstring for its keys).

    Args:
        model: The trained, compiled model (its optimizer is recorded).
        data: The data it was trained, validated and evaluated on.
        epochs: Epochs run.
        loss: Loss name.
        metrics: Metrics as compiled (names, or metric objects: recorded by name).
        history: ``{metric: [value per epoch]}`` (``History.history``).
        test_metrics: ``{metric: value}`` on the test split (``{}`` without one).
        wall_time: Seconds spent training.
        seed: Seed of the run.
        strategy: The ``tf.distribute`` strategy used, if any (see `distribution_strategy`).
        callbacks: The user's callbacks.

    Returns:
        The record, ready for ``save_pretrained(training_record=...)``.
    """
    import keras

    validation = {k[len("val_"):]: v[-1] for k, v in history.items() if k.startswith("val_") and v}
    return {
        constants.TRAIN_DATASET: data.describe(),
        constants.TRAIN_NUM_TRAIN_EXAMPLES: data.num_train,
        constants.TRAIN_NUM_VALIDATION_EXAMPLES: data.num_validation,
        constants.TRAIN_NUM_TEST_EXAMPLES: data.num_test,
        constants.TRAIN_VALIDATION_SPLIT: data.validation_split,
        constants.TRAIN_TEST_SPLIT: data.test_split,
        constants.TRAIN_CLASS_NAMES: list(data.class_names) if data.class_names is not None else None,
        constants.TRAIN_EPOCHS: epochs,
        constants.TRAIN_BATCH_SIZE: data.batch_size,
        constants.TRAIN_STEPS_PER_EPOCH: data.steps_per_epoch,
        constants.TRAIN_OPTIMIZER: type(model.optimizer).__name__,
        constants.TRAIN_OPTIMIZER_CONFIG: json_safe(model.optimizer.get_config()),
        constants.TRAIN_LOSS: loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__),
        constants.TRAIN_METRICS: [m if isinstance(m, str) else getattr(m, "name", str(m)) for m in metrics],
        constants.TRAIN_CALLBACKS: [type(c).__name__ for c in callbacks],
        constants.TRAIN_HISTORY: json_safe(history),
        constants.TRAIN_VALIDATION_METRICS: json_safe(validation),
        constants.TRAIN_TEST_METRICS: json_safe(test_metrics),
        constants.TRAIN_WALL_TIME: round(wall_time, 3),
        constants.TRAIN_HARDWARE: _hardware(),
        constants.TRAIN_BACKEND: keras.config.backend(),
        constants.TRAIN_LIBRARY_VERSIONS: library_versions(),
        constants.TRAIN_DISTRIBUTE: _distribution(strategy),
        constants.TRAIN_SEED: seed,
    }


def distribution_strategy(distribute: str | None) -> Any:
    """The ``tf.distribute`` strategy named by ``distribute``, or ``None``.

    Args:
        distribute: ``None`` (no strategy) or ``"mirrored"`` (``tf.distribute.MirroredStrategy``
            over every local device: the GPUs, else the CPU's logical devices).

    Returns:
        The strategy, or ``None``. The same ``MirroredStrategy`` is returned for the whole
        process (created on first use, over the devices visible then).

    Raises:
        ValueError: Unknown value.
        HubPublishError: A strategy was asked for under a backend other than TensorFlow.
    """
    import keras

    if distribute is None:
        return None
    if not isinstance(distribute, str) or distribute.lower() not in DISTRIBUTE_CHOICES:
        raise ValueError(f"distribute must be None or one of {', '.join(DISTRIBUTE_CHOICES)}; got {distribute!r}")
    backend = keras.config.backend()
    if backend != "tensorflow":
        raise HubPublishError(
            f"distribute={distribute!r} uses tf.distribute.MirroredStrategy, which needs the TensorFlow backend; "
            f"Keras runs on {backend!r} here (set KERAS_BACKEND=tensorflow)"
        )
    global _MIRRORED
    if _MIRRORED is None:
        import tensorflow as tf

        # One strategy per process: each new MirroredStrategy numbers its collective ops from
        # the same start, so a second one in the same process mixes up its all-reduces with
        # the first one's ("Shape mismatch in the collective instance").
        _MIRRORED = tf.distribute.MirroredStrategy()
    return _MIRRORED


@contextlib.contextmanager
def strategy_scope(strategy: Any) -> Iterator[None]:
    """``strategy.scope()``, or nothing when ``strategy`` is ``None``."""
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        yield


def build_in_scope(model: "keras.Model", strategy: Any) -> "keras.Model":
    """``model`` itself without a strategy; else a copy built inside the strategy's scope.

    A model's variables belong to the strategy that was current when they were created, so a
    model built outside ``strategy.scope()`` cannot be trained under it. The copy is rebuilt
    from the model's config (its class kept when registered, else as a functional clone), with
    the same weights and ``trainable`` flags, and without the compile state. Call it inside
    `strategy_scope`.

    Args:
        model: A built model.
        strategy: A ``tf.distribute`` strategy, or ``None``.

    Returns:
        The model to train.
    """
    import keras

    if strategy is None:
        return model
    config = keras.saving.serialize_keras_object(model)
    config["compile_config"] = None
    try:
        clone = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except (TypeError, ValueError):  # an unregistered class: clone its layer graph instead
        clone = keras.models.clone_model(model)
    clone.trainable = model.trainable
    originals = {layer.name: layer for layer in model.layers}
    for layer in clone.layers:
        original = originals[layer.name]
        layer.trainable = original.trainable
        layer.set_weights(original.get_weights())
    return clone


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _resolve_model(model: Any) -> "keras.Model":
    """An instance for ``model``: itself, its class built with defaults, or a registered name."""
    import keras

    import hub_publish.models  # noqa: F401  (registers the zoo's classes)

    if isinstance(model, keras.Model):
        return model
    if isinstance(model, str):
        name = model
        model = keras.saving.get_registered_object(name) or keras.saving.get_registered_object(
            f"{constants.KERAS_PACKAGE}>{name}"
        )
        if model is None:
            raise ValueError(
                f"unknown model class {name!r}; pass a keras.Model, a model class, or a registered "
                f"name such as 'MnistModel' or '{constants.KERAS_PACKAGE}>MnistModel'"
            )
    if isinstance(model, type) and issubclass(model, keras.Model):
        return model()
    raise ValueError(f"model must be a keras.Model, a model class or a class name; got {model!r}")


def _with_num_classes(requested: Any, model: "keras.Model", num_classes: int | None, seed: int) -> "keras.Model":
    """``model`` rebuilt with ``num_classes=`` when its class takes it and the data has another class count."""
    import inspect

    import keras

    units = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if not num_classes or units is None or units == num_classes or num_classes < 2:
        return model
    cls = type(model)
    try:
        takes = "num_classes" in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        takes = False
    if not takes:
        return model
    keras.utils.set_random_seed(seed)  # the same initialisation as a first build
    return cls(num_classes=num_classes)


def _check_learning_rate(learning_rate: Any) -> None:
    valid_rate = isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0
    if learning_rate is not None and (isinstance(learning_rate, bool) or not valid_rate):
        raise ValueError(f"learning_rate must be a positive number or None; got {learning_rate!r}")


def _optimizer(optimizer: Any, learning_rate: float | None, strategy: Any = None) -> "keras.optimizers.Optimizer":
    import keras

    if isinstance(optimizer, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate cannot be combined with an optimizer instance; "
                "set it on the optimizer, or pass learning_rate=None"
            )
        if strategy is not None:  # an optimizer belongs to the strategy current at its creation
            return type(optimizer).from_config(optimizer.get_config())
        return optimizer
    if not isinstance(optimizer, str):
        raise ValueError(f"optimizer must be a Keras optimizer name or instance; got {optimizer!r}")
    config = {} if learning_rate is None else {"learning_rate": float(learning_rate)}
    try:
        return keras.optimizers.get({"class_name": optimizer, "config": config})
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; use a Keras optimizer name such as 'adam' or 'sgd'"
        ) from err


def _hardware() -> dict[str, Any]:
    import keras

    try:
        devices = [str(d) for d in keras.distribution.list_devices()]
    except Exception:  # noqa: BLE001  (informational only; some backends cannot list devices)
        devices = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "devices": devices,
    }


def _distribution(strategy: Any = None) -> str | dict[str, Any] | None:
    import keras

    if strategy is not None:
        extended = getattr(strategy, "extended", None)
        devices = getattr(extended, "worker_devices", None) or ()
        return {
            "strategy": type(strategy).__name__,
            "num_replicas": int(strategy.num_replicas_in_sync),
            "devices": [str(d) for d in devices],
        }
    distribution = keras.distribution.distribution()
    return None if distribution is None else type(distribution).__name__
