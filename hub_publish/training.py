"""Train a zoo model the way the Keras guide does, and record the run for its model card.

``train`` compiles the model (``sparse_categorical_crossentropy`` + ``sparse_categorical_accuracy``
by default, as in the guide), fits it on a `hub_publish.data` pipeline with ``steps_per_epoch`` and
the test split as validation data, evaluates it on the test split and returns the model with a
JSON-safe training record. `train_and_package` then writes the model as a hub-publish folder with
the record in its metadata.

The training record (``metadata.json`` -> ``hub_publish`` -> ``training``) holds, under the
``TRAIN_*`` keys of `hub_publish.constants`:

================================  ==========================================================
``dataset``                       name, source, split, sizes, classes, image shape
``num_train_examples``            training examples
``num_test_examples``             test examples
``test_split``                    name of the split the test metrics were measured on
``epochs``, ``batch_size``,       as passed to ``fit``
``steps_per_epoch``
``optimizer``                     optimizer class name (e.g. ``"Adam"``)
``optimizer_config``              ``optimizer.get_config()`` (learning rate, betas, ...)
``loss``, ``metrics``             as compiled
``history``                       ``{metric: [value per epoch]}`` incl. ``val_*``
``test_metrics``                  ``{metric: value}`` of ``model.evaluate`` on the test split
``wall_time_s``                   seconds spent in ``fit``
``hardware``                      platform, machine, processor, CPU count, Keras devices
``backend``                       ``keras.config.backend()``
``library_versions``              keras, tensorflow, numpy, huggingface_hub, hub-publish, ...
``distribute``                    ``{"strategy", "num_replicas", "devices"}`` when trained with
                                  ``distribute="mirrored"``, else the active
                                  ``keras.distribution`` class name, or ``None``
``seed``                          the seed passed to ``keras.utils.set_random_seed``
================================  ==========================================================

The Keras code is backend-agnostic (tf.data only feeds ``fit``), so training works under the
TensorFlow, JAX and PyTorch backends. ``distribute="mirrored"`` (TensorFlow backend only) trains
data-parallel with ``tf.distribute.MirroredStrategy`` over every local device (GPUs, or logical
CPU devices); the model is built, or rebuilt from its config with its weights, inside the
strategy's scope. What is packaged afterwards is the same format as without it.

Pieces reused by `hub_publish.finetune`: `distribution_strategy`, `strategy_scope`,
`build_in_scope` and `training_record`.
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
from hub_publish.data import DEFAULT_BATCH_SIZE, DEFAULT_DATASET, TrainingData, _check_positive_int, load_dataset
from hub_publish.errors import HubPublishError

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
        data: The pipelines the model was trained and evaluated on.
    """

    model: "keras.Model"
    record: dict[str, Any]
    data: TrainingData

    @property
    def test_metrics(self) -> dict[str, float]:
        """``{metric: value}`` on the test split."""
        return self.record[constants.TRAIN_TEST_METRICS]


class PackagedModel(NamedTuple):
    """Outcome of `train_and_package`: the folder written and the training record in it."""

    path: Path
    record: dict[str, Any]


def train(
    model: "keras.Model | type | str",
    dataset: str = DEFAULT_DATASET,
    *,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float | None = DEFAULT_LEARNING_RATE,
    optimizer: "str | keras.optimizers.Optimizer" = DEFAULT_OPTIMIZER,
    loss: str = DEFAULT_LOSS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = DEFAULT_SEED,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    verbose: int | str = "auto",
    distribute: str | None = None,
) -> TrainingResult:
    """Compile, fit and evaluate a model on a `hub_publish.data` dataset, recording the run.

    Seeds Python, NumPy and the backend with ``keras.utils.set_random_seed(seed)`` first. Pass a
    class or a class name rather than an instance to have the weight initialisation seeded too.
    Dictionary-input models (``MnistDictModel``) get ``{"image": ...}`` batches automatically.
    The model is (re)compiled; the test split doubles as validation data, as in the guide.

    Args:
        model: A Keras model, a model class, or a registered class name (``"MnistModel"`` or
            ``"hub_publish>MnistModel"``); classes are built with their default arguments.
        dataset: ``"digits"`` or ``"mnist"`` (see `hub_publish.data.load_dataset`).
        epochs: Number of epochs.
        batch_size: Training batch size.
        learning_rate: Learning rate of the optimizer named by ``optimizer``; ``None`` keeps
            Keras' default for it. Must be ``None`` when ``optimizer`` is an instance.
        optimizer: Keras optimizer name (``"adam"``, ``"sgd"``, ...) or instance.
        loss: Keras loss name.
        metrics: Keras metric names.
        seed: Seed of ``keras.utils.set_random_seed`` and of the data shuffle.
        data_dir: tensorflow-datasets data directory for ``mnist``.
        download: Let tensorflow-datasets download ``mnist`` if it is not prepared.
        verbose: Passed to ``fit``.
        distribute: ``"mirrored"``: train data-parallel with ``tf.distribute.MirroredStrategy``
            (TensorFlow backend only). A model instance is then rebuilt inside the strategy's
            scope with its weights, and the returned model is that rebuilt copy.

    Returns:
        The trained model, its training record and the data pipelines.

    Raises:
        ValueError: Unknown model name or dataset, bad epochs / batch size / learning rate /
            optimizer, unknown ``distribute`` value.
        HubPublishError: ``distribute="mirrored"`` under a backend other than TensorFlow.
        hub_publish.data.DatasetNotAvailableError: ``mnist`` is not prepared locally.
    """
    import keras

    epochs = _check_positive_int("epochs", epochs)
    valid_rate = isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0
    if learning_rate is not None and (isinstance(learning_rate, bool) or not valid_rate):
        raise ValueError(f"learning_rate must be a positive number or None; got {learning_rate!r}")
    strategy = distribution_strategy(distribute)
    keras.utils.set_random_seed(seed)
    rebuild = isinstance(model, keras.Model)  # an instance was built outside any strategy scope
    with strategy_scope(strategy):
        model = _resolve_model(model)
        if rebuild:
            model = build_in_scope(model, strategy)
        opt = _optimizer(optimizer, learning_rate, strategy)
        model.compile(optimizer=opt, loss=loss, metrics=list(metrics))
    data = load_dataset(
        dataset,
        batch_size=batch_size,
        dict_inputs=isinstance(model.input, Mapping),
        seed=seed,
        data_dir=data_dir,
        download=download,
    )
    start = time.perf_counter()
    history = model.fit(
        data.train,
        steps_per_epoch=data.steps_per_epoch,
        epochs=epochs,
        validation_data=data.test,
        shuffle=False,  # the pipeline shuffles
        verbose=verbose,
    )
    wall_time = time.perf_counter() - start
    test_metrics = model.evaluate(data.test, return_dict=True, verbose=0)
    record = training_record(
        model,
        data,
        epochs=epochs,
        loss=loss,
        metrics=metrics,
        history=history.history,
        test_metrics=test_metrics,
        wall_time=wall_time,
        seed=seed,
        strategy=strategy,
    )
    return TrainingResult(model=model, record=record, data=data)


def train_and_package(
    model_or_class_name: "keras.Model | type | str",
    output_dir: str | os.PathLike,
    **train_kwargs: Any,
) -> PackagedModel:
    """Train a model with `train` and write it with `hub_publish.packaging.save_pretrained`.

    Args:
        model_or_class_name: A model, a model class or a registered class name (see `train`).
        output_dir: Folder to write the packaged model to.
        **train_kwargs: Passed to `train` (``dataset``, ``epochs``, ``batch_size``, ...).

    Returns:
        The folder written and the training record stored in its metadata.

    Raises:
        ValueError: See `train`.
    """
    from hub_publish.packaging import save_pretrained

    result = train(model_or_class_name, **train_kwargs)
    path = save_pretrained(result.model, output_dir, training_record=result.record)
    return PackagedModel(path=Path(path), record=result.record)


# --------------------------------------------------------------------------------------
# Reusable pieces (also used by hub_publish.finetune)
# --------------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """The JSON-safe training record of a run (see the module docstring for its keys).

    Args:
        model: The trained, compiled model (its optimizer is recorded).
        data: The pipelines it was trained and evaluated on.
        epochs: Epochs run.
        loss: Loss name.
        metrics: Metrics as compiled (names, or metric objects: recorded by name).
        history: ``{metric: [value per epoch]}`` (``History.history``).
        test_metrics: ``{metric: value}`` on the test split.
        wall_time: Seconds spent training.
        seed: Seed of the run.
        strategy: The ``tf.distribute`` strategy used, if any (see `distribution_strategy`).

    Returns:
        The record, ready for ``save_pretrained(training_record=...)``.
    """
    import keras

    return {
        constants.TRAIN_DATASET: data.describe(),
        constants.TRAIN_NUM_TRAIN_EXAMPLES: data.num_train,
        constants.TRAIN_NUM_TEST_EXAMPLES: data.num_test,
        constants.TRAIN_TEST_SPLIT: data.test_split,
        constants.TRAIN_EPOCHS: epochs,
        constants.TRAIN_BATCH_SIZE: data.batch_size,
        constants.TRAIN_STEPS_PER_EPOCH: data.steps_per_epoch,
        constants.TRAIN_OPTIMIZER: type(model.optimizer).__name__,
        constants.TRAIN_OPTIMIZER_CONFIG: _json_safe(model.optimizer.get_config()),
        constants.TRAIN_LOSS: loss,
        constants.TRAIN_METRICS: [m if isinstance(m, str) else getattr(m, "name", str(m)) for m in metrics],
        constants.TRAIN_HISTORY: _json_safe(history),
        constants.TRAIN_TEST_METRICS: _json_safe(test_metrics),
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


def _json_safe(value: Any) -> Any:
    """Plain JSON types for nested configs / histories (numpy and backend scalars to float/int)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and "int" in type(value).__name__.lower():
        return int(number)
    return number if math.isfinite(number) else None
