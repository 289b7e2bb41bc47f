"""The user's own training data: numpy arrays, ``tf.data.Dataset``, ``keras.utils.PyDataset``, image folders.

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

Only tf.data (built-in datasets, ``tf.data.Dataset`` and image folders) imports TensorFlow: numpy
arrays and ``PyDataset`` go straight to Keras, so they work under the JAX and PyTorch backends
without TensorFlow. Importing this module stays cheap (no TensorFlow, no Keras). Bad data raises
`hub_publish.errors.DataError` (a ``ValueError``) with one line saying what is wrong; see
docs/training.md for the decisions.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish.data import (
    _COLOR_MODES,
    DATASETS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_DATASET,
    IMAGE_EXTENSIONS,
    KIND_ARRAYS,
    KIND_IMAGE_FOLDER,
    KIND_PY_DATASET,
    KIND_TF_DATA,
    TEST_SPLIT,
    VALIDATION_SPLIT,
    InputSpec,
    TrainingData,
    _check_fraction,
    _check_positive_int,
    _first_array,
    _MappedPyDataset,
    _take,
    check_input_shape,
    eval_batch_size,
    load_dataset,
)
from hub_publish.errors import DataError, option
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


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
        split="test: test_data (given)" if test is not None else "no test split",
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
        raise DataError(f"cannot read the image {first}: {first_line(err)}") from None
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
        raise DataError(f"cannot read the image folder {folder}: {first_line(err)}") from None
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
        split="test: test_data (given)" if test is not None else "no test split",
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


def _as_kind(data: Any, kind: str, what: str) -> Any:
    """``data`` when it is of the same kind as the training data, else a one-line refusal naming the
    parameter (``test_data=``; ``--test-data`` on the command line, as the CLI's own checks say)."""
    try:
        found = KIND_ARRAYS if isinstance(data, (tuple, list)) else source_kind(data)
    except DataError as exc:
        raise DataError(f"{option(what + '=', '--' + what.replace('_', '-'))}: {exc}") from None
    if found != kind:
        raise DataError(f"{what} must be of the same kind as the training data ({kind}); got {found}")
    return data


def _as_tuple(data: Any, kind: str, what: str) -> Any:
    return tuple(_as_kind(data, kind, what))


def _integer_labels(labels: list[Any]) -> bool:
    return all(v.ndim == 1 and v.dtype.kind in "iu" for v in labels)

