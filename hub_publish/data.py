"""Training data as one `TrainingData`, and the built-in datasets (the Keras guide's pipelines).

`TrainingData` holds train / validation / test inputs in the form Keras' ``fit`` takes (numpy
arrays, a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``) with what the training record needs
(name, sizes, splits, class names, input range). `hub_publish.user_data.prepare_data` makes one
from the user's data; `load_dataset` from a built-in dataset.

Built-in sources (``"digits"``, ``"mnist"``) follow the Keras guide's Dataset section::

    train:      batch -> cache -> shuffle(reshuffle_each_iteration=True) -> repeat -> prefetch
                (``steps_per_epoch = num_train // batch_size``)
    validation, test: one batch as large as fits `EVAL_BATCH_BYTES` -> cache -> prefetch

* ``"digits"`` (the default): scikit-learn's bundled 8x8 handwritten digits (1,797 real
  samples, nothing is downloaded), pixels scaled from 0..16 to 0..255, split 80/20 stratified
  with a fixed seed so the test set never changes; validation is a stratified part of the 80%.
* ``"mnist"``: MNIST through tensorflow-datasets, read from ``data_dir`` (else
  ``TFDS_DATA_DIR``, else tfds' default). Nothing is downloaded unless ``download=True``.

TensorFlow is imported inside the functions that build tf.data pipelines: importing this module
stays cheap. Bad data raises `hub_publish.errors.DataError` (a ``ValueError``) with one line
saying what is wrong.
"""

from __future__ import annotations

import numbers
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.errors import DataError, HubPublishError, option

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
            return data.map(relabel)

        def relabel(x: Any, y: Any, *rest: Any) -> tuple[Any, ...]:  # named: AutoGraph reads its source
            return (x, tf_fn(y), *rest)

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
            constants.DATASET_INPUT_RANGE: list(self.input_range) if self.input_range is not None else None,
            "dict_inputs": self.dict_inputs,
        }


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


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

    def relabel(x: Any, y: Any) -> tuple[Any, Any]:  # named: AutoGraph reads its source
        return x, tf_binary(y, positive_class)

    return ds.map(relabel)


def with_binary_labels(data: TrainingData, positive_class: int) -> TrainingData:
    """``data`` with every split relabelled: ``positive_class`` -> 1, every other class -> 0 (uint8)."""
    import numpy as np

    _check_class_index(positive_class)

    # Named functions, not two lambdas on one line: AutoGraph cannot tell such lambdas apart by
    # their source and logs "could not transform ... multiple definitions" for each map.
    def numpy_labels(y: Any) -> Any:
        return (np.asarray(y) == positive_class).astype(np.uint8)

    def tf_labels(y: Any) -> Any:
        return tf_binary(y, positive_class)

    return data.map_labels(numpy_labels, tf_labels)


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
        hint = f"resize the images ({option('image_size=', '--image-size')}) or use a model built for this size"
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
            problem = f" and downloading it failed ({type(err).__name__}: {' '.join(str(err).split())})"
            fix = "Prepare it on a machine with network access (`tfds build mnist --data_dir DIR`), copy DIR here"
        else:
            problem = option(" and download=False", "")  # the command line never downloads
            fix = "Prepare it once with network access (`tfds build mnist --data_dir DIR`" + option(", or download=True)", ")")
        raise DatasetNotAvailableError(
            f"MNIST is not prepared in {where}{problem}. {fix}, "
            f"then pass {option('data_dir=DIR', '--data-dir DIR')} or set {constants.ENV_TFDS_DATA_DIR}=DIR."
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
# PyDataset wrapping (dict inputs, relabelling)
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _first_array(x: Any) -> "np.ndarray":
    return next(iter(x.values())) if isinstance(x, Mapping) else x


def _take(x: Any, index: Any) -> Any:
    if isinstance(index, int):
        index = slice(0, index)
    return {k: v[index] for k, v in x.items()} if isinstance(x, Mapping) else x[index]


def _fmt_shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


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
