"""Training data: the built-in datasets and the user's own, as one `TrainingData`.

`prepare_data` turns what a user brings into train / validation / test inputs for
``keras.Model.fit`` and ``evaluate``, checked against the model, with what the training record
needs (name, sizes, splits, class names, input range):

==========================  ==============================================================
source                      validation                        test
==========================  ==============================================================
``"digits"`` / ``"mnist"``  ``validation_split`` (default     the dataset's test split
                            10%) of the training split
numpy arrays ``(x, y)``     ``validation_data=(x, y)``, else  ``test_data=(x, y)``
                            ``validation_split`` (default     (none: no test metrics)
                            10%, stratified, seeded)
``tf.data.Dataset``         ``validation_data=`` only (as     ``test_data=``
(batched ``(x, y)``)        with Keras' own ``fit``)
``keras.utils.PyDataset``   ``validation_data=`` only         ``test_data=``
image folder (path)         ``validation_split`` of the       ``test_data=DIR``
``DIR/<class>/*.png``       folder (Keras'                    (same class folders)
                            ``image_dataset_from_directory``)
==========================  ==============================================================

The test split is never used for validation: it only gives the final test metrics.

Built-in sources (``"digits"``, ``"mnist"``) follow the Keras guide's Dataset section::

    train:      batch -> cache -> shuffle(reshuffle_each_iteration=True) -> repeat -> prefetch
                (``steps_per_epoch = num_train // batch_size``)
    validation, test: one batch as large as fits `EVAL_BATCH_BYTES` -> cache -> prefetch

* ``"digits"`` (the default): scikit-learn's bundled 8x8 handwritten digits (1,797 real
  samples, nothing is downloaded), pixels scaled from 0..16 to 0..255, split 80/20 stratified
  with a fixed seed so the test set never changes; validation is a stratified part of the 80%.
* ``"mnist"``: MNIST through tensorflow-datasets, read from ``data_dir`` (else
  ``TFDS_DATA_DIR``, else tfds' default). Nothing is downloaded unless ``download=True``.

Only tf.data (built-in datasets, ``tf.data.Dataset`` and image folders) imports TensorFlow: numpy
arrays and ``PyDataset`` go straight to Keras, so they work under the JAX and PyTorch backends
without TensorFlow. Importing this module stays cheap. Bad data raises
`hub_publish.errors.DataError` (a ``ValueError``) with one line saying what is wrong.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.errors import DataError, HubPublishError

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np
    import tensorflow as tf

DATASETS = ("digits", "mnist")
DEFAULT_DATASET = "digits"
DEFAULT_BATCH_SIZE = 32
TEST_SPLIT = "test"
VALIDATION_SPLIT = 0.1  # default share of the training data held out for validation
# Validation / test batches: as large as this many input bytes allow (the guide evaluates MNIST's
# 10,000 test images in one batch; one big batch is one step instead of dozens), at most
# EVAL_BATCH_MAX examples so activations stay bounded for larger models.
EVAL_BATCH_BYTES = 16 * 1024**2
EVAL_BATCH_MAX = 2048
# The extensions keras.utils.image_dataset_from_directory reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0  # fixed: the digits test set is the same whatever the training seed
_DIGITS_MAX_VALUE = 16.0  # load_digits() pixels are 0..16
_TFDS_NAME = "mnist"
_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}

# Kinds of source (TrainingData.kind, recorded in the training record).
KIND_BUILTIN = "builtin"
KIND_ARRAYS = "numpy"
KIND_TF_DATA = "tf.data"
KIND_PY_DATASET = "PyDataset"
KIND_IMAGE_FOLDER = "image_folder"


class DatasetNotAvailableError(HubPublishError, FileNotFoundError):
    """The dataset is not prepared locally and could not (or may not) be downloaded."""


@dataclass(frozen=True)
class InputSpec:
    """What a single-input model takes: shape without the batch axis, dtype, dict key if any."""

    shape: tuple[int | None, ...]
    dtype: str
    key: str | None = None

    @classmethod
    def of(cls, model: "keras.Model") -> "InputSpec | None":
        """The spec of ``model``'s one input (``{key: tensor}`` with one key counts), else ``None``."""
        try:
            inputs = model.input
        except AttributeError:  # a keras.Sequential has no `input` structure, only its `inputs` list
            inputs = model.inputs
        key = None
        if isinstance(inputs, Mapping):
            if len(inputs) != 1:
                return None
            key, inputs = next(iter(inputs.items()))
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                return None
            inputs = inputs[0]
        shape = tuple(None if d is None else int(d) for d in inputs.shape[1:])
        return cls(shape=shape, dtype=str(inputs.dtype), key=key)

    @property
    def channels(self) -> int | None:
        return self.shape[-1] if len(self.shape) == 3 else None


@dataclass(frozen=True)
class TrainingData:
    """Train, validation and test inputs of one dataset, with what a training record needs.

    ``train`` / ``validation`` / ``test`` are in the form ``kind`` says: ``(x, y)`` numpy arrays
    (``"numpy"``), a ``tf.data.Dataset`` (``"builtin"``: the training one repeats, use
    ``steps_per_epoch``; ``"tf.data"``, ``"image_folder"``) or a ``keras.utils.PyDataset``. Use
    `fit_args` / `evaluate_args` to feed them to Keras. ``validation`` and ``test`` may be ``None``.

    Attributes:
        name: Dataset name (``"digits"``, a folder's name, ``"numpy arrays"``, ...).
        source: Where the examples come from (e.g. ``"sklearn.datasets.load_digits"``, a path).
        train: Training input.
        test: Test input, or ``None``.
        steps_per_epoch: Training batches per epoch.
        batch_size: Training batch size (``None`` when the source came batched).
        num_train: Training examples.
        num_test: Test examples (0 without a test split).
        num_classes: Number of classes (``None`` when unknown).
        image_shape: ``(height, width, channels)`` of image inputs, else ``None``.
        dict_inputs: Whether the inputs are fed as ``{key: x}``.
        test_split: Name of the test split (``None`` without one).
        split: How the splits were made, in words.
        kind: Kind of source (see above).
        validation: Validation input, or ``None``.
        num_validation: Validation examples.
        validation_split: How the validation split was made, in words (``None`` without one).
        class_names: Names of the classes, by label index, when known.
        input_dtype: Dtype of the inputs.
        input_range: ``[min, max]`` of the input values when known.
        eval_batch_size: Batch size of validation and test arrays / built-in pipelines.
        sample: A batch of at most 2 examples ``(x, y)`` as numpy, to check the model against.
    """

    name: str
    source: str
    train: Any
    test: Any
    steps_per_epoch: int
    batch_size: int | None
    num_train: int
    num_test: int
    num_classes: int | None
    image_shape: tuple[int, int, int] | None
    dict_inputs: bool
    test_split: str | None
    split: str
    kind: str = KIND_BUILTIN
    validation: Any = None
    num_validation: int = 0
    validation_split: str | None = None
    class_names: tuple[str, ...] | None = None
    input_dtype: str | None = "uint8"
    input_range: tuple[float, float] | None = (0, 255)
    eval_batch_size: int | None = None
    sample: Any = field(default=None, repr=False)

    def fit_args(self) -> dict[str, Any]:
        """Keyword arguments of ``model.fit`` for the training and validation inputs."""
        if self.kind == KIND_ARRAYS:
            x, y = self.train
            args: dict[str, Any] = {"x": x, "y": y, "batch_size": self.batch_size, "shuffle": True}
            if self.validation is not None:
                args.update(validation_data=self.validation, validation_batch_size=self.eval_batch_size)
            return args
        args = {"x": self.train, "validation_data": self.validation}
        if self.kind == KIND_BUILTIN:  # a repeating pipeline that shuffles itself
            args.update(steps_per_epoch=self.steps_per_epoch)
        if self.kind != KIND_PY_DATASET:  # tf.data shuffles in the pipeline (Keras warns on shuffle=True)
            args.update(shuffle=False)
        return args

    def evaluate_args(self, split: str = TEST_SPLIT) -> dict[str, Any] | None:
        """Keyword arguments of ``model.evaluate`` for the test (or ``"validation"``) input, or ``None``."""
        data = self.test if split == TEST_SPLIT else self.validation
        if data is None:
            return None
        if self.kind == KIND_ARRAYS:
            return {"x": data[0], "y": data[1], "batch_size": self.eval_batch_size}
        return {"x": data}

    def labels(self, split: str = TEST_SPLIT) -> "np.ndarray":
        """All labels of the test (or ``"validation"``) split, flattened, as numpy (one pass)."""
        import numpy as np

        data = self.test if split == TEST_SPLIT else self.validation
        if data is None:
            return np.zeros((0,), dtype=np.int64)
        if self.kind == KIND_ARRAYS:
            return np.asarray(data[1]).reshape(-1)
        if self.kind == KIND_PY_DATASET:
            batches = (data[i][1] for i in range(len(data)))
        else:
            batches = (batch[1] for batch in data.as_numpy_iterator())
        return np.concatenate([np.asarray(y).reshape(-1) for y in batches] or [np.zeros((0,), dtype=np.int64)])

    def map_labels(self, numpy_fn: Callable[[Any], Any], tf_fn: Callable[[Any], Any]) -> "TrainingData":
        """A copy whose labels of every split go through ``numpy_fn`` (numpy, PyDataset) or ``tf_fn`` (tf.data)."""

        def one(data: Any) -> Any:
            if data is None:
                return None
            if self.kind == KIND_ARRAYS:
                return data[0], numpy_fn(data[1])
            if self.kind == KIND_PY_DATASET:
                return _MappedPyDataset(data, lambda batch: (batch[0], numpy_fn(batch[1]), *batch[2:]))
            return data.map(lambda x, y, *rest: (x, tf_fn(y), *rest))

        sample = None if self.sample is None else (self.sample[0], numpy_fn(self.sample[1]))
        return replace(self, train=one(self.train), validation=one(self.validation), test=one(self.test), sample=sample)

    def describe(self) -> dict[str, Any]:
        """JSON-safe description of the dataset, stored under the training record's ``dataset``."""
        return {
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "split": self.split,
            "validation_split": self.validation_split,
            "test_split": self.test_split,
            constants.TRAIN_NUM_TRAIN_EXAMPLES: self.num_train,
            constants.TRAIN_NUM_VALIDATION_EXAMPLES: self.num_validation,
            constants.TRAIN_NUM_TEST_EXAMPLES: self.num_test,
            "num_classes": self.num_classes,
            constants.TRAIN_CLASS_NAMES: list(self.class_names) if self.class_names is not None else None,
            "image_shape": list(self.image_shape) if self.image_shape is not None else None,
            "image_dtype": self.input_dtype,
            "input_range": list(self.input_range) if self.input_range is not None else None,
            "dict_inputs": self.dict_inputs,
        }


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def prepare_data(
    source: Any = DEFAULT_DATASET,
    *,
    spec: InputSpec | None = None,
    validation_data: Any = None,
    validation_split: float | None = None,
    test_data: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    image_size: tuple[int, int] | None = None,
    name: str | None = None,
    seed: int | None = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> TrainingData:
    """Turn a built-in dataset name or the user's data into `TrainingData` for a model.

    Args:
        source: ``"digits"`` / ``"mnist"``; numpy arrays ``(x, y)``; a batched ``tf.data.Dataset``
            of ``(x, y)`` (an unbatched one is batched with ``batch_size``); a
            ``keras.utils.PyDataset``; or a folder of images with one subfolder per class.
        spec: The model's input (`InputSpec.of`): inputs are wrapped as ``{key: x}`` for a
            dict-input model, image folders are read at its size, channels and dtype, and the
            data's shape is checked against it.
        validation_data: Validation data in one of the same forms (a folder for a folder).
        validation_split: Share of the training data held out for validation (arrays, image
            folders, built-in datasets); default `VALIDATION_SPLIT` there, none for tf.data
            and PyDataset; ``0`` for no validation.
        test_data: Test data in one of the same forms, only used for the final test metrics.
        batch_size: Training batch size (arrays, image folders, built-in, unbatched tf.data).
        image_size: ``(height, width)`` to read an image folder at (default: the model's input
            size when fixed, else the size of the folder's first image).
        name: Dataset name for the record (default: derived from the source).
        seed: Seed of the shuffles and of the validation split.
        data_dir: ``mnist`` only: tensorflow-datasets data directory.
        download: ``mnist`` only: let tensorflow-datasets download it.

    Returns:
        The data, checked against ``spec``.

    Raises:
        DataError: Unknown dataset, bad batch size or split, mismatched x / y, wrong shapes, an
            empty or unreadable folder, and the like (one line).
        DatasetNotAvailableError: ``mnist`` is not prepared locally.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    if validation_split is not None:
        validation_split = _check_fraction(validation_split)
    if validation_data is not None and validation_split:
        raise DataError("give validation_data or validation_split, not both")
    if isinstance(source, str) and source.lower() in DATASETS:
        if validation_data is not None or test_data is not None:
            raise DataError(
                f"the built-in dataset {source.lower()!r} has its own validation and test splits; "
                "validation_data and test_data go with your own data"
            )
        return load_dataset(
            source, batch_size=batch_size, spec=spec, seed=seed, data_dir=data_dir, download=download,
            validation_split=VALIDATION_SPLIT if validation_split is None else validation_split,
        )
    kind = source_kind(source)
    reader = _READERS[kind]
    return reader(
        source, spec=spec, validation_data=validation_data, validation_split=validation_split, test_data=test_data,
        batch_size=batch_size, image_size=image_size, name=name, seed=seed,
    )


def source_kind(source: Any) -> str:
    """`KIND_ARRAYS`, `KIND_TF_DATA`, `KIND_PY_DATASET` or `KIND_IMAGE_FOLDER` for a user's data.

    Raises:
        DataError: None of those (the message lists what is accepted).
    """
    if isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            return KIND_IMAGE_FOLDER
        if isinstance(source, str) and not any(sep in source for sep in ("/", os.sep)) and not os.path.exists(source):
            raise DataError(
                f"unknown dataset {source!r}; choose one of {', '.join(DATASETS)}, or give numpy arrays (x, y), "
                "a tf.data.Dataset, a keras.utils.PyDataset or a folder of images"
            )
        raise DataError(f"no image folder at {os.fspath(source)}; give a folder with one subfolder of images per class")
    if isinstance(source, tuple) and len(source) in (2, 3):
        return KIND_ARRAYS
    if "tensorflow" in sys.modules and isinstance(source, sys.modules["tensorflow"].data.Dataset):
        return KIND_TF_DATA
    if "keras" in sys.modules and isinstance(source, sys.modules["keras"].utils.PyDataset):
        return KIND_PY_DATASET
    raise DataError(
        f"cannot train on a {type(source).__name__}; give {' or '.join(repr(d) for d in DATASETS)}, numpy arrays "
        "as a tuple (x, y), a tf.data.Dataset, a keras.utils.PyDataset or a folder of images"
    )


def load_dataset(
    name: str = DEFAULT_DATASET,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    test_batch_size: int | None = None,
    dict_inputs: bool = False,
    seed: int | None = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    validation_split: float = 0.0,
    spec: InputSpec | None = None,
) -> TrainingData:
    """Build the train, validation and test pipelines of a built-in dataset.

    Args:
        name: ``"digits"`` (scikit-learn's bundled 8x8 digits) or ``"mnist"`` (tensorflow-datasets).
        batch_size: Training batch size.
        test_batch_size: Validation and test batch size; defaults to the whole split when it
            fits `EVAL_BATCH_BYTES` (see `eval_batch_size`).
        dict_inputs: Yield ``({"image": image}, label)`` (for ``MnistDictModel``) instead of
            ``(image, label)``; implied by a ``spec`` with a key.
        seed: Seed of the training batches' shuffle (``None``: a fresh order each run).
        data_dir: ``mnist`` only: tensorflow-datasets data directory; defaults to the
            ``TFDS_DATA_DIR`` environment setting, then to tfds' own default.
        download: ``mnist`` only: let tensorflow-datasets download and prepare the data when it
            is not in ``data_dir`` (needs network access).
        validation_split: Share of the training split held out for validation (stratified for
            ``digits``, the first examples for ``mnist``); ``0`` (the default here) for none.
        spec: The model's input, checked against the images.

    Returns:
        The pipelines and their sizes.

    Raises:
        DataError: Unknown dataset name, a batch size that is not a positive integer or is
            larger than the training set, a bad ``validation_split``, images the model cannot take.
        DatasetNotAvailableError: ``mnist`` is not prepared in the data directory and was not (or
            could not be) downloaded.
    """
    name = _check_name(name)
    batch_size = _check_positive_int("batch_size", batch_size)
    if test_batch_size is not None:
        test_batch_size = _check_positive_int("test_batch_size", test_batch_size)
    validation_split = _check_fraction(validation_split) if validation_split else 0.0
    key = spec.key if spec is not None else None
    if dict_inputs and key is None:
        from hub_publish.models.mnist import IMAGE_KEY

        key = IMAGE_KEY
    if name == "digits":
        train, validation, test, meta = _digits(validation_split)
    else:
        train, validation, test, meta = _mnist(data_dir, download, validation_split)
    if spec is not None:
        check_input_shape(spec, meta.image_shape, meta.name, resizable=False)
    return _pipelines(train, validation, test, meta, batch_size=batch_size, test_batch_size=test_batch_size, key=key,
                      seed=seed)


def binary_labels(ds: "tf.data.Dataset", positive_class: int) -> "tf.data.Dataset":
    """Relabel a classification dataset for the guide's binary fine-tune.

    Maps ``(x, y)`` to ``(x, 1 if y == positive_class else 0)`` with uint8 labels, which
    ``binary_crossentropy`` and ``binary_accuracy`` accept. Works on batched or unbatched
    datasets, with plain or dictionary inputs.

    Args:
        ds: Dataset of ``(inputs, label)`` pairs, e.g. ``TrainingData.train``.
        positive_class: The class that becomes label 1.

    Returns:
        The relabelled dataset.

    Raises:
        ValueError: ``positive_class`` is not a non-negative integer.
    """
    _check_class_index(positive_class)
    return ds.map(lambda x, y: (x, tf_binary(y, positive_class)))


def with_binary_labels(data: TrainingData, positive_class: int) -> TrainingData:
    """``data`` with every split relabelled: ``positive_class`` -> 1, every other class -> 0 (uint8)."""
    import numpy as np

    _check_class_index(positive_class)
    return data.map_labels(
        lambda y: (np.asarray(y) == positive_class).astype(np.uint8), lambda y: tf_binary(y, positive_class)
    )


def tf_binary(y: Any, positive_class: int) -> Any:
    """``y == positive_class`` as uint8, in a tf.data map."""
    import tensorflow as tf

    return tf.cast(tf.equal(y, tf.cast(positive_class, y.dtype)), tf.uint8)


def eval_batch_size(num_examples: int, example_bytes: int, batch_size: int) -> int:
    """Batch size for validation / test: the whole split when it fits `EVAL_BATCH_BYTES` and `EVAL_BATCH_MAX`.

    Never below the training batch size (which already fits), never above the split's size.
    """
    fits = max(1, EVAL_BATCH_BYTES // max(1, int(example_bytes)))
    return max(1, min(int(num_examples), max(int(batch_size), min(fits, EVAL_BATCH_MAX))))


def check_input_shape(spec: InputSpec, shape: Sequence[int | None] | None, what: str, *, resizable: bool = True) -> None:
    """Refuse data whose per-example shape the model cannot take (rank, or a fixed dimension).

    ``resizable``: the data can be read at another size (an image folder, ``image_size=``).
    """
    if shape is None or spec is None:
        return
    shape = tuple(shape)
    fits = len(shape) == len(spec.shape) and all(m is None or d is None or m == d for m, d in zip(spec.shape, shape))
    if fits:
        return
    hint = "reshape the data or use a model built for it"
    if len(spec.shape) == 3 and len(shape) == 3:
        hint = "resize the images (image_size=, CLI --image-size) or use a model built for this size"
        if not resizable:
            hint = f"use a model that takes {_fmt_shape(shape)} images (the zoo's MnistModel takes any size)"
        if spec.shape[-1] is not None and shape[-1] != spec.shape[-1]:
            hint = f"give images with {spec.shape[-1]} channel(s) or use a model built for {shape[-1]}"
    raise DataError(
        f"the model takes inputs of shape {_fmt_shape(spec.shape)} but {what} has examples of shape "
        f"{_fmt_shape(shape)}; {hint}"
    )


# --------------------------------------------------------------------------------------
# Built-in sources: each returns unbatched (image uint8 (H, W, 1), label int64) train,
# validation (or None) and test datasets, plus what the pipeline builder and the record need.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SourceInfo:
    name: str
    source: str
    split: str
    num_train: int
    num_validation: int
    num_test: int
    num_classes: int
    image_shape: tuple[int, int, int]
    validation_split: str | None
    sample: Any = None  # (x, y) of 2 training examples, when at hand without reading the pipeline


def _digits(validation_split: float) -> tuple[Any, Any, Any, _SourceInfo]:
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / _DIGITS_MAX_VALUE)).astype(np.uint8)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=_DIGITS_TEST_FRACTION, stratify=labels, random_state=_DIGITS_SPLIT_SEED
    )
    validation = None
    described = None
    if validation_split:
        x_train, x_val, y_train, y_val = train_test_split(
            x_train, y_train, test_size=validation_split, stratify=y_train, random_state=_DIGITS_SPLIT_SEED
        )
        validation = tf.data.Dataset.from_tensor_slices((x_val, y_val))
        described = f"{validation_split:.0%} of the training split, stratified, random_state={_DIGITS_SPLIT_SEED}"
    info = _SourceInfo(
        name="digits",
        source="sklearn.datasets.load_digits",
        split=(
            f"stratified {1 - _DIGITS_TEST_FRACTION:.0%}/{_DIGITS_TEST_FRACTION:.0%}, "
            f"random_state={_DIGITS_SPLIT_SEED}"
        ),
        num_train=len(y_train),
        num_validation=0 if validation is None else len(y_val),
        num_test=len(y_test),
        num_classes=len(digits.target_names),
        image_shape=tuple(int(d) for d in images.shape[1:]),
        validation_split=described,
        sample=(x_train[:2], y_train[:2]),
    )
    return (
        tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        validation,
        tf.data.Dataset.from_tensor_slices((x_test, y_test)),
        info,
    )


def _mnist(data_dir: str | os.PathLike | None, download: bool, validation_split: float) -> tuple[Any, Any, Any, _SourceInfo]:
    import tensorflow_datasets as tfds

    data_dir = os.fspath(data_dir) if data_dir is not None else os.environ.get(constants.ENV_TFDS_DATA_DIR) or None
    where = data_dir or "tensorflow-datasets' default data directory (~/tensorflow_datasets)"
    try:
        (train, test), info = tfds.load(
            _TFDS_NAME,
            split=["train", TEST_SPLIT],
            data_dir=data_dir,
            download=download,
            as_supervised=True,
            with_info=True,
        )
    except Exception as err:  # tfds raises AssertionError when not prepared, network errors when downloading
        if download:
            problem = f"and downloading it failed ({type(err).__name__}: {' '.join(str(err).split())})"
            fix = "Prepare it on a machine with network access (`tfds build mnist --data_dir DIR`), copy DIR here"
        else:
            problem = "and download=False"
            fix = "Prepare it once with network access (`tfds build mnist --data_dir DIR`, or download=True)"
        raise DatasetNotAvailableError(
            f"MNIST is not prepared in {where} {problem}. {fix}, "
            f"then pass data_dir=DIR or set {constants.ENV_TFDS_DATA_DIR}=DIR."
        ) from err
    num_train = _num_examples(train, info, "train")
    num_validation = round(num_train * validation_split) if validation_split else 0
    validation = None
    if num_validation:
        # tfds reads the split in its stored order (no shuffle_files): the first examples are a
        # fixed validation set; the shuffle of the training pipeline happens after this.
        validation, train = train.take(num_validation), train.skip(num_validation)
    meta = _SourceInfo(
        name=_TFDS_NAME,
        source=f"tensorflow_datasets:{info.name}/{info.version}",
        split="tensorflow-datasets train/test",
        num_train=num_train - num_validation,
        num_validation=num_validation,
        num_test=_num_examples(test, info, TEST_SPLIT),
        num_classes=int(info.features["label"].num_classes),
        image_shape=tuple(int(d) for d in info.features["image"].shape),
        validation_split=f"the first {validation_split:.0%} of the train split" if num_validation else None,
    )
    return train, validation, test, meta


def _num_examples(ds: "tf.data.Dataset", info: Any, split: str) -> int:
    """Size of a tfds split: the dataset's cardinality, else the split metadata."""
    cardinality = int(ds.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(info.splits[split].num_examples)


def _pipelines(
    train: "tf.data.Dataset",
    validation: "tf.data.Dataset | None",
    test: "tf.data.Dataset",
    meta: _SourceInfo,
    *,
    batch_size: int,
    test_batch_size: int | None,
    key: str | None,
    seed: int | None,
) -> TrainingData:
    """The guide's Dataset section: the one pipeline builder of the built-in datasets."""
    import numpy as np
    import tensorflow as tf

    steps_per_epoch = meta.num_train // batch_size
    if steps_per_epoch < 1:
        raise DataError(
            f"batch_size={batch_size} is larger than the {meta.num_train} training examples of "
            f"{meta.name!r}; choose batch_size <= {meta.num_train}"
        )
    sample = meta.sample if meta.sample is not None else next(train.take(2).batch(2).as_numpy_iterator())
    if key is not None:
        train, validation, test = (
            None if ds is None else ds.map(lambda x, y: ({key: x}, y)) for ds in (train, validation, test)
        )
        sample = ({key: sample[0]}, sample[1])
    example_bytes = int(np.prod(meta.image_shape))
    sizes = {"validation": meta.num_validation, "test": meta.num_test}
    eval_sizes = {k: test_batch_size or eval_batch_size(n, example_bytes, batch_size) for k, n in sizes.items()}
    num_batches = -(-meta.num_train // batch_size)
    train = (
        train.batch(batch_size)
        .cache()
        .shuffle(num_batches, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    if validation is not None:
        validation = validation.batch(eval_sizes["validation"]).cache().prefetch(tf.data.AUTOTUNE)
    test = test.batch(eval_sizes["test"]).cache().prefetch(tf.data.AUTOTUNE)
    return TrainingData(
        name=meta.name,
        source=meta.source,
        split=meta.split,
        train=train,
        validation=validation,
        test=test,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        num_train=meta.num_train,
        num_validation=meta.num_validation,
        num_test=meta.num_test,
        num_classes=meta.num_classes,
        class_names=tuple(str(i) for i in range(meta.num_classes)),
        image_shape=meta.image_shape,
        dict_inputs=key is not None,
        test_split=TEST_SPLIT,
        validation_split=meta.validation_split,
        kind=KIND_BUILTIN,
        eval_batch_size=eval_sizes["test"],
        sample=sample,
    )


# --------------------------------------------------------------------------------------
# The user's data
# --------------------------------------------------------------------------------------


def _read_arrays(
    source: Any, *, spec: InputSpec | None, validation_data: Any, validation_split: float | None, test_data: Any,
    batch_size: int, name: str | None, seed: int | None, **_: Any,
) -> TrainingData:
    import numpy as np

    x, y = _arrays(source, "the training data", spec)
    validation = test = None
    described = None
    if validation_data is not None:
        validation = _arrays(_as_tuple(validation_data, KIND_ARRAYS, "validation_data"), "validation_data", spec)
        described = "validation_data (given)"
    else:
        share = VALIDATION_SPLIT if validation_split is None else validation_split
        if share:
            (x, y), validation, described = _split_arrays(x, y, share, seed)
    if test_data is not None:
        test = _arrays(_as_tuple(test_data, KIND_ARRAYS, "test_data"), "test_data", spec)
    labels = [y] + [part[1] for part in (validation, test) if part is not None]
    num_classes = int(max(int(np.max(v)) for v in labels if v.size)) + 1 if _integer_labels(labels) else None
    first = _first_array(x)
    example_bytes = int(first[0].nbytes) if len(first) else 1
    sizes = [len(_first_array(part[0])) for part in (validation, test) if part is not None]
    image_shape = tuple(int(d) for d in first.shape[1:]) if first.ndim == 4 else None
    low, high = (float(np.min(first)), float(np.max(first))) if first.size and first.dtype != object else (None, None)
    wrapped = (lambda a: {spec.key: a}) if spec is not None and spec.key and not isinstance(x, Mapping) else (lambda a: a)
    return TrainingData(
        name=name or "numpy arrays",
        source="numpy arrays",
        kind=KIND_ARRAYS,
        split="given" if test is not None else "given (no test split)",
        train=(wrapped(x), y),
        validation=None if validation is None else (wrapped(validation[0]), validation[1]),
        test=None if test is None else (wrapped(test[0]), test[1]),
        steps_per_epoch=math.ceil(len(first) / batch_size),
        batch_size=batch_size,
        num_train=len(first),
        num_validation=sizes[0] if validation is not None else 0,
        num_test=sizes[-1] if test is not None else 0,
        num_classes=num_classes,
        image_shape=image_shape,
        dict_inputs=wrapped(x) is not x,
        test_split=TEST_SPLIT if test is not None else None,
        validation_split=described,
        input_dtype=str(first.dtype),
        input_range=None if low is None else (low, high),
        eval_batch_size=eval_batch_size(max([1, *sizes]), example_bytes, batch_size),
        sample=(_take(wrapped(x), 2), y[:2]),
    )


def _arrays(source: Any, what: str, spec: InputSpec | None) -> tuple[Any, "np.ndarray"]:
    """``(x, y)`` as numpy, checked: same length, at least one example, integer class labels, shapes."""
    import numpy as np

    if not isinstance(source, (tuple, list)) or len(source) != 2:
        raise DataError(f"{what} must be a pair of arrays (x, y); got {type(source).__name__}")
    x, y = source
    x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, Mapping) else np.asarray(x)
    y = np.asarray(y)
    first = _first_array(x)
    if first.ndim == 0 or y.ndim == 0:
        raise DataError(f"{what}: x and y must be arrays with one entry per example (got a scalar)")
    lengths = {len(v) for v in (x.values() if isinstance(x, Mapping) else [x])}
    if len(lengths) != 1 or len(y) not in lengths:
        raise DataError(
            f"{what}: x has {len(first)} examples but y has {len(y)} labels; give one label per example"
        )
    if len(y) == 0:
        raise DataError(f"{what} has no examples")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.dtype == bool:
        y = y.astype(np.int64)
    if y.ndim == 1 and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    if y.ndim == 1 and y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels must be integer class indices (0, 1, 2, ...); got {y.dtype} values")
    if y.ndim == 1 and y.min() < 0:
        raise DataError(f"{what}: labels must be class indices from 0; got {int(y.min())}")
    if spec is not None and not isinstance(x, Mapping):
        if first.ndim == len(spec.shape) and spec.shape and spec.shape[-1] == 1:
            x = first = x[..., np.newaxis]  # (n, h, w) grayscale images for a (h, w, 1) model, as the guide does
        check_input_shape(spec, first.shape[1:], what)
        if spec.dtype == "uint8" and first.dtype.kind == "f" and first.size and float(np.max(first)) <= 1.0:
            raise DataError(
                f"{what}: the model takes uint8 pixels 0..255 but x holds floats in 0..1; pass (x * 255).astype('uint8')"
            )
    return x, y


def _split_arrays(x: Any, y: "np.ndarray", share: float, seed: int | None) -> tuple[tuple[Any, Any], tuple[Any, Any], str]:
    import numpy as np

    n = len(y)
    n_val = max(1, round(n * share))
    if n - n_val < 1:
        raise DataError(f"validation_split={share} leaves no training examples out of {n}; lower it")
    rng = np.random.default_rng(seed)
    stratified = y.ndim == 1 and n_val >= len(np.unique(y)) and np.min(np.bincount(y)[np.unique(y)]) >= 2
    if stratified:
        from sklearn.model_selection import train_test_split

        train_idx, val_idx = train_test_split(np.arange(n), test_size=n_val, stratify=y, random_state=seed)
    else:
        order = rng.permutation(n)
        train_idx, val_idx = order[n_val:], order[:n_val]
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    how = f"{share:.0%} of the training data{', stratified' if stratified else ''}, seed={seed}"
    return (_take(x, train_idx), y[train_idx]), (_take(x, val_idx), y[val_idx]), how


def _read_tf_data(
    source: Any, *, spec: InputSpec | None, validation_data: Any, validation_split: float | None, test_data: Any,
    batch_size: int, name: str | None, seed: int | None, **_: Any,
) -> TrainingData:
    if validation_split:
        raise DataError("validation_split works with arrays and image folders; for a tf.data.Dataset pass validation_data=")
    train, count, num_classes, batched_by_us = _tf_split(source, "the training data", spec, batch_size)
    parts = {}
    for what, data in (("validation_data", validation_data), ("test_data", test_data)):
        parts[what] = None if data is None else _tf_split(
            _as_kind(data, KIND_TF_DATA, what), what, spec, batch_size
        )
    classes = [c for c in (num_classes, *(p[2] for p in parts.values() if p)) if c is not None]
    return _from_datasets(
        KIND_TF_DATA, name or "tf.data.Dataset", "tf.data.Dataset", train, count,
        parts["validation_data"], parts["test_data"], num_classes=max(classes) if classes else None,
        batch_size=batch_size if batched_by_us else None, sample=_tf_sample(train),
    )


def _tf_split(ds: Any, what: str, spec: InputSpec | None, batch_size: int) -> tuple[Any, int, int | None, bool]:
    """A user's tf.data split: checked (pairs, finite, shapes), batched if needed, dict-wrapped; its size and classes."""
    import tensorflow as tf

    element = ds.element_spec
    if not isinstance(element, tuple) or len(element) not in (2, 3):
        raise DataError(f"{what}: a tf.data.Dataset must yield (inputs, labels) pairs; this one yields {element}")
    if int(ds.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise DataError(f"{what}: this tf.data.Dataset repeats forever; pass it without .repeat() (each epoch is one pass)")
    x_spec = element[0]
    batched_by_us = False
    if spec is not None and isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None:
        if x_spec.shape.rank == len(spec.shape):  # unbatched examples: batch them as fit needs
            ds, batched_by_us = ds.batch(batch_size), True
            x_spec = ds.element_spec[0]
        check_input_shape(spec, tuple(x_spec.shape)[1:], what)
    if spec is not None and spec.key and not isinstance(x_spec, Mapping):
        key = spec.key
        ds = ds.map(lambda x, *rest: ({key: x}, *rest))
    count, num_classes = _tf_count(ds)
    if count == 0:
        raise DataError(f"{what}: the tf.data.Dataset is empty")
    return ds, count, num_classes, batched_by_us


def _tf_count(ds: Any) -> tuple[int, int | None]:
    """Examples and (integer labels) classes of a finite batched dataset, in one pass over it."""
    import tensorflow as tf

    label_spec = ds.element_spec[1]
    integer = isinstance(label_spec, tf.TensorSpec) and label_spec.dtype.is_integer

    def sizes(x: Any, y: Any, *rest: Any) -> tuple[Any, Any]:
        first = tf.nest.flatten(y)[0]
        top = tf.cast(tf.reduce_max(first), tf.int64) if integer else tf.constant(-1, tf.int64)
        return tf.cast(tf.shape(first)[0], tf.int64), top

    count, top = ds.map(sizes).reduce(
        (tf.constant(0, tf.int64), tf.constant(-1, tf.int64)), lambda s, e: (s[0] + e[0], tf.maximum(s[1], e[1]))
    )
    return int(count), (int(top) + 1 if integer and int(top) >= 0 else None)


def _tf_sample(ds: Any) -> Any:
    import keras

    for batch in ds.take(1).as_numpy_iterator():
        return keras.tree.map_structure(lambda a: a[:2], (batch[0], batch[1]))
    return None


def _read_py_dataset(
    source: Any, *, spec: InputSpec | None, validation_data: Any, validation_split: float | None, test_data: Any,
    name: str | None, **_: Any,
) -> TrainingData:
    if validation_split:
        raise DataError("validation_split works with arrays and image folders; for a PyDataset pass validation_data=")
    train, count = _py_split(source, "the training data", spec)
    parts = {}
    for what, data in (("validation_data", validation_data), ("test_data", test_data)):
        parts[what] = None if data is None else (*_py_split(_as_kind(data, KIND_PY_DATASET, what), what, spec), None)
    first = train[0]
    return _from_datasets(
        KIND_PY_DATASET, name or type(source).__name__, f"keras.utils.PyDataset {type(source).__name__}", train,
        count, parts["validation_data"], parts["test_data"], num_classes=None, batch_size=None,
        sample=(_take(first[0], slice(0, 2)), first[1][:2]),
    )


def _py_split(ds: Any, what: str, spec: InputSpec | None) -> tuple[Any, int]:
    """A user's PyDataset split: checked, dict-wrapped; its size from its first and last batches."""
    import numpy as np

    batches = ds.num_batches if getattr(ds, "num_batches", None) is not None else len(ds)
    if not batches:
        raise DataError(f"{what}: the PyDataset has no batches")
    first = ds[0]
    if not isinstance(first, tuple) or len(first) not in (2, 3):
        raise DataError(f"{what}: a PyDataset must return (inputs, labels) batches; batch 0 is a {type(first).__name__}")
    x = first[0]
    if spec is not None and not isinstance(x, Mapping):
        check_input_shape(spec, np.shape(x)[1:], what)
        if spec.key:
            key = spec.key
            ds = _MappedPyDataset(ds, lambda batch: ({key: batch[0]}, *batch[1:]))
    last = ds[batches - 1] if batches > 1 else first
    # Keras' convention: every batch but the last is full.
    count = (batches - 1) * len(first[1]) + len(last[1])
    return ds, int(count)


class _MappedPyDataset:  # a keras.utils.PyDataset subclass, made on first use (keras is imported lazily)
    def __new__(cls, base: Any, fn: Callable[[Any], Any]) -> Any:
        return _mapped_py_dataset_class()(base, fn)


def _mapped_py_dataset_class() -> type:
    global _MAPPED
    if _MAPPED is None:
        import keras

        class MappedPyDataset(keras.utils.PyDataset):
            """A PyDataset whose batches go through ``fn`` (dict inputs, relabelling)."""

            def __init__(self, base: Any, fn: Callable[[Any], Any]) -> None:
                super().__init__(workers=getattr(base, "workers", 1), use_multiprocessing=getattr(
                    base, "use_multiprocessing", False), max_queue_size=getattr(base, "max_queue_size", 10))
                self.base, self.fn = base, fn

            def __len__(self) -> int:
                return len(self.base)

            @property
            def num_batches(self) -> int | None:
                return self.base.num_batches

            def __getitem__(self, index: int) -> Any:
                return self.fn(self.base[index])

            def on_epoch_end(self) -> None:
                self.base.on_epoch_end()

        _MAPPED = MappedPyDataset
    return _MAPPED


_MAPPED: type | None = None


def _read_image_folder(
    source: Any, *, spec: InputSpec | None, validation_data: Any, validation_split: float | None, test_data: Any,
    batch_size: int, image_size: tuple[int, int] | None, name: str | None, seed: int | None, **_: Any,
) -> TrainingData:
    """Keras' image folder convention (``image_dataset_from_directory``), read for the model."""
    folder = Path(source)
    class_names = _class_folders(folder, "the training data")
    size = _image_size(folder, spec, image_size)
    channels = (spec.channels if spec is not None else None) or 3
    if channels not in _COLOR_MODES:
        raise DataError(f"the model takes images with {channels} channels; image folders give 1, 3 or 4")
    share = None
    if validation_data is None:
        share = VALIDATION_SPLIT if validation_split is None else validation_split
    options = {"color_mode": _COLOR_MODES[channels], "image_size": size, "seed": 0 if seed is None else seed}
    train, validation = _image_dataset(folder, batch_size, options, share, class_names)
    described = f"{share:.0%} of the folder's images (image_dataset_from_directory, seed={options['seed']})" if share else None
    if validation_data is not None:
        validation_folder = Path(_as_kind(validation_data, KIND_IMAGE_FOLDER, "validation_data"))
        validation = _image_dataset(validation_folder, batch_size, options, None, class_names)[0]
        described = f"the folder {validation_folder}"
    test = None
    if test_data is not None:
        test_folder = Path(_as_kind(test_data, KIND_IMAGE_FOLDER, "test_data"))
        test = _image_dataset(test_folder, batch_size, options, None, class_names)[0]
    shape = (*size, channels)
    if spec is not None:
        check_input_shape(spec, shape, str(folder))
    dtype = spec.dtype if spec is not None and spec.dtype == "uint8" else "float32"
    key = spec.key if spec is not None else None
    example_bytes = int(math.prod(shape)) * 4
    sizes = [len(ds.file_paths) for ds in (validation, test) if ds is not None]
    eval_size = eval_batch_size(max([1, *sizes]), example_bytes, batch_size)
    counts = {k: (len(ds.file_paths) if ds is not None else 0) for k, ds in
              (("train", train), ("validation", validation), ("test", test))}
    train, validation, test = (
        None if ds is None else _adapt_images(ds, dtype, key, None if role == "train" else eval_size)
        for role, ds in (("train", train), ("validation", validation), ("test", test))
    )
    return TrainingData(
        name=name or folder.resolve().name,
        source=f"image folder {folder}",
        kind=KIND_IMAGE_FOLDER,
        split=f"test: the folder {Path(test_data)}" if test is not None else "no test split",
        train=train,
        validation=validation,
        test=test,
        steps_per_epoch=math.ceil(counts["train"] / batch_size),
        batch_size=batch_size,
        num_train=counts["train"],
        num_validation=counts["validation"],
        num_test=counts["test"],
        num_classes=len(class_names),
        class_names=tuple(class_names),
        image_shape=shape,
        dict_inputs=key is not None,
        test_split=TEST_SPLIT if test is not None else None,
        validation_split=described,
        input_dtype=dtype,
        input_range=(0, 255),
        eval_batch_size=eval_size,
        sample=_tf_sample(train),
    )


def _class_folders(folder: Path, what: str) -> list[str]:
    """The class subfolders of an image folder that hold images; refuse an empty or flat folder."""
    if not folder.is_dir():
        raise DataError(f"{what}: no folder at {folder}; give a folder with one subfolder of images per class")
    classes, stray = [], 0
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entry.rglob("*") if p.is_file()):
                classes.append(entry.name)
        elif entry.suffix.lower() in IMAGE_EXTENSIONS:
            stray += 1
    if not classes:
        found = f" ({stray} images lie directly in it)" if stray else ""
        raise DataError(
            f"{what}: no images in class subfolders of {folder}{found}; put each class's images in its own "
            f"subfolder, e.g. {folder / 'cat' / '1.png'} ({', '.join(IMAGE_EXTENSIONS)})"
        )
    if len(classes) < 2:
        raise DataError(f"{what}: {folder} has one class folder ({classes[0]}); a classifier needs at least 2 classes")
    return classes


def _image_size(folder: Path, spec: InputSpec | None, image_size: Any) -> tuple[int, int]:
    if image_size is not None:
        try:
            height, width = (int(d) for d in image_size)
        except (TypeError, ValueError):
            raise DataError(f"image_size must be (height, width); got {image_size!r}") from None
        if height < 1 or width < 1:
            raise DataError(f"image_size must be positive; got {image_size!r}")
        return height, width
    if spec is not None and len(spec.shape) == 3 and spec.shape[0] and spec.shape[1]:
        return int(spec.shape[0]), int(spec.shape[1])
    import keras

    first = next(p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    try:
        width, height = keras.utils.load_img(first).size
    except Exception as err:  # noqa: BLE001  (PIL raises many kinds)
        raise DataError(f"cannot read the image {first}: {_one_line(err)}") from None
    return int(height), int(width)


def _image_dataset(folder: Path, batch_size: int, options: dict, share: float | None, class_names: list[str]) -> tuple[Any, Any]:
    import keras

    subset = {"validation_split": share, "subset": "both"} if share else {}
    _class_folders(folder, str(folder))
    try:
        result = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", class_names=class_names, batch_size=batch_size,
            shuffle=True, verbose=False, **options, **subset,
        )
    except (ValueError, OSError) as err:
        raise DataError(f"cannot read the image folder {folder}: {_one_line(err)}") from None
    return result if share else (result, None)


def _adapt_images(ds: Any, dtype: str, key: str | None, rebatch: int | None) -> Any:
    import tensorflow as tf

    file_paths = ds.file_paths
    if rebatch is not None:  # unbatch() loses the cardinality, and Keras then warns of "running out of data"
        batches = math.ceil(len(file_paths) / rebatch)
        ds = ds.unbatch().batch(rebatch).apply(tf.data.experimental.assert_cardinality(batches))
    if dtype == "uint8":  # image_dataset_from_directory yields float32 0..255
        ds = ds.map(lambda x, y: (tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8), y))
    if key is not None:
        ds = ds.map(lambda x, y: ({key: x}, y))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.file_paths = file_paths
    return ds


def _from_datasets(
    kind: str, name: str, source: str, train: Any, count: int, validation: Any, test: Any, *,
    num_classes: int | None, batch_size: int | None, sample: Any,
) -> TrainingData:
    import keras

    x = sample[0] if sample is not None else None
    first = keras.tree.flatten(x)[0] if x is not None else None
    image_shape = tuple(int(d) for d in first.shape[1:]) if first is not None and first.ndim == 4 else None
    return TrainingData(
        name=name,
        source=source,
        kind=kind,
        split="given" if test is not None else "given (no test split)",
        train=train,
        validation=None if validation is None else validation[0],
        test=None if test is None else test[0],
        steps_per_epoch=len(train) if kind == KIND_PY_DATASET else int(train.cardinality()),
        batch_size=batch_size,
        num_train=count,
        num_validation=0 if validation is None else validation[1],
        num_test=0 if test is None else test[1],
        num_classes=num_classes,
        image_shape=image_shape,
        dict_inputs=isinstance(x, Mapping),
        test_split=TEST_SPLIT if test is not None else None,
        validation_split="validation_data (given)" if validation is not None else None,
        input_dtype=str(first.dtype) if first is not None else None,
        input_range=None,
        sample=sample,
    )


_READERS: dict[str, Callable[..., TrainingData]] = {
    KIND_ARRAYS: _read_arrays,
    KIND_TF_DATA: _read_tf_data,
    KIND_PY_DATASET: _read_py_dataset,
    KIND_IMAGE_FOLDER: _read_image_folder,
}


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _as_kind(data: Any, kind: str, what: str) -> Any:
    """``data`` when it is of the same kind as the training data, else a one-line refusal."""
    found = KIND_ARRAYS if isinstance(data, (tuple, list)) else source_kind(data)
    if found != kind:
        raise DataError(f"{what} must be of the same kind as the training data ({kind}); got {found}")
    return data


def _as_tuple(data: Any, kind: str, what: str) -> Any:
    return tuple(_as_kind(data, kind, what))


def _first_array(x: Any) -> "np.ndarray":
    return next(iter(x.values())) if isinstance(x, Mapping) else x


def _take(x: Any, index: Any) -> Any:
    if isinstance(index, int):
        index = slice(0, index)
    return {k: v[index] for k, v in x.items()} if isinstance(x, Mapping) else x[index]


def _integer_labels(labels: list[Any]) -> bool:
    return all(v.ndim == 1 and v.dtype.kind in "iu" for v in labels)


def _fmt_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _one_line(err: BaseException) -> str:
    """The first informative line of an exception's message, without terminal escape codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Exception encountered when calling"):
            continue
        if line.startswith("Arguments received by"):
            break
        return line
    return type(err).__name__


def _check_class_index(positive_class: Any) -> None:
    if isinstance(positive_class, bool) or not isinstance(positive_class, numbers.Integral) or positive_class < 0:
        raise DataError(f"positive_class must be a non-negative integer class index; got {positive_class!r}")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name.lower()


def _check_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < 1:
        raise DataError(f"validation_split must be a number from 0 (none) to below 1, e.g. 0.1; got {value!r}")
    return float(value)


def _check_positive_int(what: str, value: Any) -> int:
    try:
        number = operator.index(value)  # ints and numpy integers, not floats
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise DataError(f"{what} must be a positive integer; got {value!r}")
    return number
