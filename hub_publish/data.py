"""tf.data input pipelines for the model zoo, in the shape of the Keras guide's Dataset section.

Every pipeline yields uint8 images of shape (H, W, 1) (the models rescale them themselves) and
integer class labels::

    train: batch -> cache -> shuffle(reshuffle_each_iteration=True) -> repeat -> prefetch
           (consumed with ``steps_per_epoch = num_train // batch_size``; as in the guide, the
           shuffle reorders the cached batches every epoch)
    test:  batch -> cache -> prefetch (one pass)

Sources:

* ``"digits"`` (the default): scikit-learn's bundled 8x8 handwritten digits (1,797 real
  samples shipped with scikit-learn, nothing is downloaded), pixels scaled from 0..16 to
  0..255, split 80/20 stratified with a fixed seed so the test set never changes.
* ``"mnist"``: MNIST through tensorflow-datasets, read from ``data_dir`` (else the
  ``TFDS_DATA_DIR`` environment setting, else tfds' default ``~/tensorflow_datasets``). Nothing is
  downloaded unless ``download=True``.

tf.data is used in the input stream only, so the pipelines feed ``keras.Model.fit`` under the
TensorFlow, JAX and PyTorch backends alike. TensorFlow is imported inside the functions: importing
this module stays cheap.
"""

from __future__ import annotations

import numbers
import operator
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.errors import HubPublishError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

DATASETS = ("digits", "mnist")
DEFAULT_DATASET = "digits"
DEFAULT_BATCH_SIZE = 32
TEST_SPLIT = "test"

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SPLIT_SEED = 0  # fixed: the digits test set is the same whatever the training seed
_DIGITS_MAX_VALUE = 16.0  # load_digits() pixels are 0..16
_TFDS_NAME = "mnist"


class DatasetNotAvailableError(HubPublishError, FileNotFoundError):
    """The dataset is not prepared locally and could not (or may not) be downloaded."""


@dataclass(frozen=True)
class TrainingData:
    """Train and test pipelines of one dataset, with what a training record needs.

    Attributes:
        name: Dataset name (``"digits"`` or ``"mnist"``).
        source: Where the examples come from (e.g. ``"sklearn.datasets.load_digits"``).
        train: Batched, shuffled, repeating training pipeline of ``(image, label)`` (or
            ``({"image": image}, label)`` with ``dict_inputs``).
        test: Batched test pipeline, one pass.
        steps_per_epoch: Training batches per epoch (``num_train // batch_size``).
        batch_size: Training batch size.
        num_train: Number of training examples.
        num_test: Number of test examples.
        num_classes: Number of classes.
        image_shape: ``(height, width, channels)`` of the images (uint8).
        dict_inputs: Whether the images come as ``{"image": image}``.
        test_split: Name of the split used as the test set.
        split: How the train and test splits were made.
    """

    name: str
    source: str
    train: "tf.data.Dataset"
    test: "tf.data.Dataset"
    steps_per_epoch: int
    batch_size: int
    num_train: int
    num_test: int
    num_classes: int
    image_shape: tuple[int, int, int]
    dict_inputs: bool
    test_split: str
    split: str

    def describe(self) -> dict[str, Any]:
        """JSON-safe description of the dataset, stored under the training record's ``dataset``."""
        return {
            "name": self.name,
            "source": self.source,
            "split": self.split,
            "test_split": self.test_split,
            constants.TRAIN_NUM_TRAIN_EXAMPLES: self.num_train,
            constants.TRAIN_NUM_TEST_EXAMPLES: self.num_test,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "image_dtype": "uint8",
            "dict_inputs": self.dict_inputs,
        }


def load_dataset(
    name: str = DEFAULT_DATASET,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    test_batch_size: int | None = None,
    dict_inputs: bool = False,
    seed: int | None = 0,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> TrainingData:
    """Build the train and test pipelines of a dataset.

    Args:
        name: ``"digits"`` (scikit-learn's bundled 8x8 digits) or ``"mnist"`` (tensorflow-datasets).
        batch_size: Training batch size.
        test_batch_size: Test batch size; defaults to ``batch_size``.
        dict_inputs: Yield ``({"image": image}, label)`` for dictionary-input models such as
            ``MnistDictModel`` instead of ``(image, label)``.
        seed: Seed of the training batches' shuffle (``None``: a fresh order each run).
        data_dir: ``mnist`` only: tensorflow-datasets data directory; defaults to the
            ``TFDS_DATA_DIR`` environment setting, then to tfds' own default.
        download: ``mnist`` only: let tensorflow-datasets download and prepare the data when it
            is not in ``data_dir`` (needs network access).

    Returns:
        The pipelines and their sizes.

    Raises:
        ValueError: Unknown dataset name, or a batch size that is not a positive integer or is
            larger than the training set.
        DatasetNotAvailableError: ``mnist`` is not prepared in the data directory and was not (or
            could not be) downloaded.
    """
    name = _check_name(name)
    batch_size = _check_positive_int("batch_size", batch_size)
    test_batch_size = batch_size if test_batch_size is None else _check_positive_int("test_batch_size", test_batch_size)
    if name == "digits":
        train, test, meta = _digits()
    else:
        train, test, meta = _mnist(data_dir, download)
    return _pipelines(
        train, test, meta, batch_size=batch_size, test_batch_size=test_batch_size, dict_inputs=dict_inputs, seed=seed
    )


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
    import tensorflow as tf

    if isinstance(positive_class, bool) or not isinstance(positive_class, numbers.Integral) or positive_class < 0:
        raise ValueError(f"positive_class must be a non-negative integer class index; got {positive_class!r}")

    def relabel(x: Any, y: tf.Tensor) -> tuple[Any, tf.Tensor]:
        return x, tf.cast(tf.equal(y, tf.cast(positive_class, y.dtype)), tf.uint8)

    return ds.map(relabel, num_parallel_calls=tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------
# Sources: each returns unbatched (image uint8 (H, W, 1), label int64) train and test
# datasets, plus what the pipeline builder and the record need.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SourceInfo:
    name: str
    source: str
    split: str
    num_train: int
    num_test: int
    num_classes: int
    image_shape: tuple[int, int, int]


def _digits() -> tuple["tf.data.Dataset", "tf.data.Dataset", _SourceInfo]:
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
    info = _SourceInfo(
        name="digits",
        source="sklearn.datasets.load_digits",
        split=(
            f"stratified {1 - _DIGITS_TEST_FRACTION:.0%}/{_DIGITS_TEST_FRACTION:.0%}, "
            f"random_state={_DIGITS_SPLIT_SEED}"
        ),
        num_train=len(y_train),
        num_test=len(y_test),
        num_classes=len(digits.target_names),
        image_shape=tuple(int(d) for d in images.shape[1:]),
    )
    return (
        tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        tf.data.Dataset.from_tensor_slices((x_test, y_test)),
        info,
    )


def _mnist(
    data_dir: str | os.PathLike | None, download: bool
) -> tuple["tf.data.Dataset", "tf.data.Dataset", _SourceInfo]:
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
    meta = _SourceInfo(
        name=_TFDS_NAME,
        source=f"tensorflow_datasets:{info.name}/{info.version}",
        split="tensorflow-datasets train/test",
        num_train=_num_examples(train, info, "train"),
        num_test=_num_examples(test, info, TEST_SPLIT),
        num_classes=int(info.features["label"].num_classes),
        image_shape=tuple(int(d) for d in info.features["image"].shape),
    )
    return train, test, meta


def _num_examples(ds: "tf.data.Dataset", info: Any, split: str) -> int:
    """Size of a tfds split: the dataset's cardinality, else the split metadata."""
    cardinality = int(ds.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(info.splits[split].num_examples)


# --------------------------------------------------------------------------------------
# The one pipeline builder (the guide's Dataset section)
# --------------------------------------------------------------------------------------


def _pipelines(
    train: "tf.data.Dataset",
    test: "tf.data.Dataset",
    meta: _SourceInfo,
    *,
    batch_size: int,
    test_batch_size: int,
    dict_inputs: bool,
    seed: int | None,
) -> TrainingData:
    import tensorflow as tf

    steps_per_epoch = meta.num_train // batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {meta.num_train} training examples of "
            f"{meta.name!r}; choose batch_size <= {meta.num_train}"
        )
    if dict_inputs:
        from hub_publish.models.mnist import IMAGE_KEY

        train, test = (ds.map(lambda x, y: ({IMAGE_KEY: x}, y)) for ds in (train, test))
    num_batches = -(-meta.num_train // batch_size)
    train = (
        train.batch(batch_size)
        .cache()
        .shuffle(num_batches, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )
    test = test.batch(test_batch_size).cache().prefetch(tf.data.AUTOTUNE)
    return TrainingData(
        **asdict(meta),
        train=train,
        test=test,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        dict_inputs=bool(dict_inputs),
        test_split=TEST_SPLIT,
    )


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name.lower()


def _check_positive_int(what: str, value: Any) -> int:
    try:
        number = operator.index(value)  # ints and numpy integers, not floats
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{what} must be a positive integer; got {value!r}")
    return number
