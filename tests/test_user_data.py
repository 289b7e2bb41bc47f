"""Training and fine-tuning on the user's own data: numpy arrays, tf.data, PyDataset and an image folder
written here as PNG files; from Python and the CLI; records and cards that show that data; one-line refusals."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from huggingface_hub import ModelCard

import hub_publish
from hub_publish import constants
from hub_publish.cli import main
from hub_publish.data import with_binary_labels
from hub_publish.errors import DataError, HubPublishError
from hub_publish.finetune import finetune
from hub_publish.models import MnistModel
from hub_publish.training import train, train_and_package

from conftest import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.slow

CLASSES = ("circle", "cross", "square")
ACCURACY = "sparse_categorical_accuracy"


def _shapes(n: int, seed: int, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``n`` grayscale uint8 images (size x size x 1) of three learnable classes, and their labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, size=(n, size, size, 1)).astype(np.uint8)
    x[y == 0, 2:6, 2:6] = 250  # a blob in the middle
    x[y == 1, :, size // 2] = 250  # a vertical bar
    x[y == 2, 0, :] = 250  # a top edge
    return x, y


def _write_folder(root: Path, n_per_class: int, seed: int) -> Path:
    x, y = _shapes(3 * n_per_class, seed)
    for i, (image, label) in enumerate(zip(x, y)):
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        keras.utils.save_img(folder / f"{i}.png", image, scale=False)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An image folder in Keras' layout (train: 3 classes x 20 PNGs, test: 3 x 6), written by the test."""
    root = tmp_path_factory.mktemp("images")
    return {"train": _write_folder(root / "shapes", 20, 0), "test": _write_folder(root / "shapes-test", 6, 1)}


class CountBatches(keras.callbacks.Callback):
    """Counts training and validation batches (``on_test_batch_end`` runs for ``fit``'s validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.train_batches = self.validation_batches = self.epochs = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches += 1

    def on_test_batch_end(self, batch, logs=None):
        self.validation_batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def _record(folder: Path) -> dict:
    return json.loads((folder / constants.METADATA_FILE).read_text())[constants.META_ROOT][constants.META_TRAINING]


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Exception encountered" not in message


# ------------------------------------------------------------------------------------ built-in data


def test_builtin_digits_validates_on_its_own_split_in_one_batch_per_epoch():
    """Issue 13: validation ran 12 batches of the training size per epoch; and it ran on the test split."""
    counter = CountBatches()
    result = train("MnistModel", epochs=2, callbacks=[counter], verbose=0)
    assert counter.epochs == 2 and counter.validation_batches == 2  # one validation batch per epoch
    assert counter.train_batches == 2 * (1293 // 32)
    record = result.record
    assert record[constants.TRAIN_CALLBACKS] == ["CountBatches"]
    assert record[constants.TRAIN_NUM_VALIDATION_EXAMPLES] == 144 and record[constants.TRAIN_NUM_TEST_EXAMPLES] == 360
    # The validation metrics are the validation split's (not the test split's).
    validation = result.model.evaluate(result.data.validation, return_dict=True, verbose=0)
    assert record[constants.TRAIN_VALIDATION_METRICS][ACCURACY] == pytest.approx(validation[ACCURACY])
    assert result.data.labels("validation").size == 144 and result.data.labels("test").size == 360


# ------------------------------------------------------------------------------------ numpy arrays


def test_numpy_arrays_with_test_data_builds_the_zoo_class_for_the_data_classes():
    x, y = _shapes(90, 0)
    x_test, y_test = _shapes(30, 1)
    counter = CountBatches()
    result = train("MnistModel", (x, y), test_data=(x_test, y_test), epochs=2, batch_size=16, callbacks=counter,
                   dataset_name="shapes", verbose=0)
    assert isinstance(result.model, MnistModel) and result.model.output.shape[-1] == 3  # num_classes=3
    record = result.record
    dataset = record[constants.TRAIN_DATASET]
    assert (dataset["name"], dataset["kind"], dataset["num_classes"]) == ("shapes", "numpy", 3)
    assert (record[constants.TRAIN_NUM_TRAIN_EXAMPLES], record[constants.TRAIN_NUM_VALIDATION_EXAMPLES],
            record[constants.TRAIN_NUM_TEST_EXAMPLES]) == (81, 9, 30)
    assert record[constants.TRAIN_VALIDATION_SPLIT].startswith("10% of the training data, stratified")
    assert dataset["image_shape"] == [8, 8, 1] and dataset["input_range"] == [0.0, 250.0]
    assert record[constants.TRAIN_STEPS_PER_EPOCH] == 6  # ceil(81 / 16): Keras keeps the last partial batch
    assert counter.validation_batches == 2
    assert set(record[constants.TRAIN_TEST_METRICS]) == {"loss", ACCURACY}
    again = result.model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    assert record[constants.TRAIN_TEST_METRICS][ACCURACY] == pytest.approx(again[ACCURACY])


def test_numpy_without_test_data_has_no_test_metrics_but_validation_metrics():
    x, y = _shapes(60, 2)
    result = train("MnistModel", (x[..., 0], y), validation_split=0.2, epochs=1, verbose=0)  # (n, h, w) gets a channel
    record = result.record
    assert record[constants.TRAIN_TEST_METRICS] == {} and record[constants.TRAIN_TEST_SPLIT] is None
    assert record[constants.TRAIN_NUM_VALIDATION_EXAMPLES] == 12
    assert set(record[constants.TRAIN_VALIDATION_METRICS]) == {"loss", ACCURACY}


def test_any_keras_model_sequential_and_dict_input_functional():
    x, y = _shapes(60, 3)
    sequential = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                                   keras.layers.Dense(3, activation="softmax")])
    result = train(sequential, (x.astype("float32"), y), epochs=1, verbose=0)
    assert result.model is sequential and result.record[constants.TRAIN_DATASET]["dict_inputs"] is False
    inputs = keras.Input((8, 8, 1), name="pixels")
    features = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    functional = keras.Model({"pixels": inputs}, keras.layers.Dense(3, activation="softmax")(features))
    result = train(functional, (x, y), epochs=1, verbose=0)
    assert result.record[constants.TRAIN_DATASET]["dict_inputs"] is True


# ------------------------------------------------------------------------------------ tf.data, PyDataset


def test_tf_data_datasets_batched_and_unbatched():
    x, y = _shapes(64, 4)
    xv, yv = _shapes(24, 5)
    xt, yt = _shapes(30, 6)
    train_ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16)
    validation_ds = tf.data.Dataset.from_tensor_slices((xv, yv))  # unbatched: batched for the model
    test_ds = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(10)
    result = train("MnistModel", train_ds, validation_data=validation_ds, test_data=test_ds, epochs=1, verbose=0)
    record = result.record
    assert record[constants.TRAIN_DATASET]["kind"] == "tf.data"
    assert (record[constants.TRAIN_NUM_TRAIN_EXAMPLES], record[constants.TRAIN_NUM_VALIDATION_EXAMPLES],
            record[constants.TRAIN_NUM_TEST_EXAMPLES]) == (64, 24, 30)
    assert record[constants.TRAIN_DATASET]["num_classes"] == 3 and result.model.output.shape[-1] == 3
    assert record[constants.TRAIN_STEPS_PER_EPOCH] == 4 and record[constants.TRAIN_BATCH_SIZE] is None
    assert record[constants.TRAIN_VALIDATION_SPLIT] == "validation_data (given)"


class ShapesSequence(keras.utils.PyDataset):
    def __init__(self, n: int, seed: int, batch_size: int = 16) -> None:
        super().__init__()
        self.x, self.y = _shapes(n, seed)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __getitem__(self, index: int):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def test_py_dataset_and_dict_input_model():
    result = train("MnistDictModel", ShapesSequence(50, 0), validation_data=ShapesSequence(20, 1),
                   test_data=ShapesSequence(20, 2), epochs=1, verbose=0)
    record = result.record
    assert record[constants.TRAIN_DATASET]["kind"] == "PyDataset"
    assert record[constants.TRAIN_DATASET]["name"] == "ShapesSequence"
    assert (record[constants.TRAIN_NUM_TRAIN_EXAMPLES], record[constants.TRAIN_NUM_VALIDATION_EXAMPLES],
            record[constants.TRAIN_NUM_TEST_EXAMPLES]) == (50, 20, 20)
    assert record[constants.TRAIN_DATASET]["dict_inputs"] is True
    assert set(record[constants.TRAIN_TEST_METRICS]) == {"loss", ACCURACY}
    # The fine-tune's relabelling and baseline work on PyDataset batches too.
    binary = with_binary_labels(result.data, 1)
    x, labels = binary.train[0]
    assert set(x) == {"image"} and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, (ShapesSequence(50, 0)[0][1] == 1).astype(np.uint8))
    np.testing.assert_array_equal(binary.labels("test"), (np.arange(20) % 3 == 1).astype(np.uint8))


# ------------------------------------------------------------------------------------ image folders


def test_image_folder_from_python_record_and_card(folders, tmp_path):
    (tmp_path / "model").mkdir()  # an empty folder made beforehand holds nothing to lose: written into
    path, record = train_and_package("MnistModel", tmp_path / "model", dataset=folders["train"],
                                     test_data=folders["test"], validation_split=0.2, epochs=2, batch_size=8,
                                     verbose=0)
    assert record == _record(path)
    dataset = record[constants.TRAIN_DATASET]
    assert (dataset["name"], dataset["kind"]) == ("shapes", "image_folder")
    assert record[constants.TRAIN_CLASS_NAMES] == list(CLASSES) == dataset[constants.TRAIN_CLASS_NAMES]
    assert (record[constants.TRAIN_NUM_TRAIN_EXAMPLES], record[constants.TRAIN_NUM_VALIDATION_EXAMPLES],
            record[constants.TRAIN_NUM_TEST_EXAMPLES]) == (48, 12, 18)
    assert dataset["image_shape"] == [8, 8, 1] and dataset["image_dtype"] == "uint8"
    assert dataset["input_range"] == [0, 255]
    card = (path / constants.CARD_FILE).read_text()
    assert "shapes (`image folder " in card and "48 train / 18 test" in card
    loaded = hub_publish.from_pretrained(path)
    assert loaded.output.shape[-1] == 3


def test_image_folder_from_the_cli_and_overwrite(folders, tmp_path):
    out = tmp_path / "cli-model"
    args = ["train", "--data", str(folders["train"]), "--test-data", str(folders["test"]), "--validation-split", "0.25",
            "--epochs", "1", "--batch-size", "8", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-2].startswith(f"trained MnistModel on shapes: loss=")
    record = _record(out)
    assert record[constants.TRAIN_CLASS_NAMES] == list(CLASSES)
    assert record[constants.TRAIN_NUM_VALIDATION_EXAMPLES] == 15 and record[constants.TRAIN_NUM_TEST_EXAMPLES] == 18
    assert "shapes (`image folder" in (out / constants.CARD_FILE).read_text()
    # The folder exists now: replacing it needs --overwrite, and the refusal comes before any training.
    (out / "notes.txt").write_text("mine")
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "already exists" in again.stderr and "--overwrite" in again.stderr
    assert (out / "notes.txt").read_text() == "mine"
    # --model also takes a model folder (or a .keras file): here the one just trained, replaced in place.
    replaced = CliRunner().invoke(main, [*args, "--overwrite", "--model", str(out)])
    assert replaced.exit_code == 0, replaced.output
    assert _record(out)[constants.TRAIN_EPOCHS] == 1 and hub_publish.from_pretrained(out).output.shape[-1] == 3


# ------------------------------------------------------------------------------------ fine-tuning


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keras.utils.set_random_seed(0)
    return hub_publish.save_pretrained(MnistModel(), tmp_path_factory.mktemp("base") / "mnist", overwrite=True)


def test_finetune_image_folder_new_classes_head_python(base_folder, folders, tmp_path):
    result = finetune(base_folder, folders["train"], test_data=folders["test"], epochs=1, batch_size=8,
                      output_dir=tmp_path / "ft", verbose=0)
    assert result.model.output.shape[-1] == 3 and result.split == "test"
    details = result.record[constants.FINETUNE_RECORD]
    assert (details["task"], details["num_classes"], details["class_names"]) == ("classes", 3, list(CLASSES))
    assert details["baseline"]["label"] in (0, 1, 2)
    record = _record(result.folder)
    assert record[constants.TRAIN_CLASS_NAMES] == list(CLASSES)
    assert record[constants.TRAIN_DATASET]["name"] == "shapes"
    card = ModelCard.load(result.folder / constants.CARD_FILE)
    assert "3 classes of shapes" in card.text and "18 test" in card.text


def test_finetune_binary_by_class_name_on_numpy_and_tf_data(base_folder, tmp_path):
    x, y = _shapes(60, 7)
    xt, yt = _shapes(30, 8)
    result = finetune(base_folder, (x, y), test_data=(xt, yt), task="binary", positive_class="2", epochs=1,
                      output_dir=tmp_path / "np", verbose=0)
    details = result.record[constants.FINETUNE_RECORD]
    assert details["positive_class"] == 2 and result.model.output.shape[-1] == 1
    assert result.baseline == pytest.approx(20 / 30)  # 10 of 30 test labels are class 2
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    test_ds = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(16)
    result = finetune(base_folder, ds, test_data=test_ds, task="binary", positive_class=0, epochs=1,
                      output_dir=tmp_path / "tf", verbose=0)
    assert result.record[constants.TRAIN_DATASET]["kind"] == "tf.data"
    assert set(result.metrics) == {"loss", "binary_accuracy", "precision", "recall"}


def test_cli_finetune_image_folder(base_folder, folders, tmp_path):
    out = tmp_path / "cli-ft"
    result = CliRunner().invoke(main, ["finetune", str(base_folder), "--data", str(folders["train"]), "--test-data",
                                       str(folders["test"]), "--task", "binary", "--positive-class", "square",
                                       "--epochs", "1", "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()[-3:]
    assert lines[0] == f"fine-tuned {base_folder}: class square vs rest on shapes"
    assert lines[1].startswith("test: binary_accuracy=") and "majority-class baseline 0.6667" in lines[1]
    assert lines[2] == f"packaged: {out}"
    assert _record(out)[constants.FINETUNE_RECORD]["positive_class"] == 2


def _two_outputs(dict_outputs: bool) -> keras.Model:
    inputs = keras.Input((8, 8, 1), name="image")
    features = keras.layers.Dense(8, activation="relu", name="features")(keras.layers.Flatten(name="flat")(inputs))
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(features)
    parity = keras.layers.Dense(1, activation="sigmoid", name="parity")(features)
    outputs = {"digit": digit, "parity": parity} if dict_outputs else [digit, parity]
    return keras.Model(inputs, outputs, name="two_heads")


@pytest.mark.parametrize("dict_outputs", [False, True])
def test_finetune_multi_output_chooses_an_output_or_refuses(tmp_path, dict_outputs):
    folder = hub_publish.save_pretrained(_two_outputs(dict_outputs), tmp_path / "two", overwrite=True)
    x, y = _shapes(30, 9)
    with pytest.raises(DataError, match=r"has 2 outputs \(digit, parity\); choose the one to fine-tune with "
                                        r"output_name=$") as info:
        finetune(folder, (x, y), epochs=1, output_dir=tmp_path / "x", verbose=0)
    _one_line(str(info.value))
    with pytest.raises(DataError, match="has no output 'nope'; its outputs are digit, parity"):
        finetune(folder, (x, y), output_name="nope", epochs=1, output_dir=tmp_path / "x", verbose=0)
    assert not (tmp_path / "x").exists()
    result = finetune(folder, (x, y), output_name="digit", epochs=1, output_dir=tmp_path / "ft", verbose=0)
    assert result.model.output.shape[-1] == 3
    assert result.record[constants.FINETUNE_RECORD]["cut_at"] == "digit"


def test_finetune_single_dict_output_model(tmp_path):
    inputs = keras.Input((8, 8, 1))
    probs = keras.layers.Dense(10, activation="softmax", name="probs")(keras.layers.Flatten()(inputs))
    folder = hub_publish.save_pretrained(keras.Model(inputs, {"probs": probs}), tmp_path / "dict", overwrite=True)
    x, y = _shapes(30, 10)
    result = finetune(folder, (x, y), epochs=1, output_dir=tmp_path / "ft", verbose=0)
    assert result.model.output.shape[-1] == 3


def test_finetune_refuses_a_model_that_does_not_fit_the_data(tmp_path):
    inputs = keras.Input((28, 28, 1))
    head = keras.layers.Dense(10, activation="softmax", name="classification_head")
    fixed = keras.Model(inputs, head(keras.layers.Flatten()(inputs)))
    folder = hub_publish.save_pretrained(fixed, tmp_path / "fixed", overwrite=True)
    with pytest.raises(DataError, match=r"the model takes inputs of shape \(28, 28, 1\) but digits has examples of "
                                        r"shape \(8, 8, 1\); use a model that takes \(8, 8, 1\) images") as info:
        finetune(folder, epochs=1, output_dir=tmp_path / "x", verbose=0)
    _one_line(str(info.value))
    # A model whose call fails on the data for another reason: Keras' own reason, on one line.
    inputs = keras.Input((None, None, 1))
    reshaped = keras.layers.Reshape((49,))(inputs)  # only 7x7 images fit
    odd = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="classification_head")(reshaped))
    folder = hub_publish.save_pretrained(odd, tmp_path / "odd", overwrite=True)
    with pytest.raises(DataError, match="cannot take the data 'digits'") as info:
        finetune(folder, epochs=1, output_dir=tmp_path / "x", verbose=0)
    _one_line(str(info.value))
    result = CliRunner().invoke(main, ["finetune", str(folder), "--epochs", "1", "--output", str(tmp_path / "y")])
    assert result.exit_code == 1 and result.stderr.startswith("Error: the model") and "Traceback" not in result.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# ------------------------------------------------------------------------------------ bad input


def _bad_cases(folders: dict[str, Path], tmp: Path) -> list[tuple[dict, str]]:
    x, y = _shapes(20, 11)
    (tmp / "empty").mkdir()
    (tmp / "flat").mkdir()
    keras.utils.save_img(tmp / "flat" / "a.png", x[0], scale=False)
    (tmp / "one" / "cat").mkdir(parents=True)
    keras.utils.save_img(tmp / "one" / "cat" / "a.png", x[0], scale=False)
    return [
        ({"dataset": (x, y[:-1])}, "x has 20 examples but y has 19 labels; give one label per example"),
        ({"dataset": (x[:0], y[:0])}, "the training data has no examples"),
        ({"dataset": (x, y + 0.5)}, "labels must be integer class indices"),
        ({"dataset": (x, y - 1)}, "labels must be class indices from 0; got -1"),
        ({"dataset": (x[:, :, :, 0, None, None], y)}, r"the model takes inputs of shape \(any, any, 1\) but the training data has examples of shape \(8, 8, 1, 1\)"),
        ({"dataset": (x / 255.0, y)}, "the model takes uint8 pixels 0..255 but x holds floats in 0..1"),
        ({"dataset": (x, y), "validation_split": 1.5}, "validation_split must be a number from 0"),
        ({"dataset": (x, y), "validation_split": 0.2, "validation_data": (x, y)}, "give validation_data or validation_split, not both"),
        ({"dataset": (x, y), "validation_data": tf.data.Dataset.from_tensor_slices((x, y))}, r"validation_data must be of the same kind as the training data \(numpy\)"),
        ({"dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()}, "repeats forever"),
        ({"dataset": tf.data.Dataset.from_tensor_slices(x).batch(4)}, r"must yield \(inputs, labels\) pairs"),
        ({"dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4), "validation_split": 0.2}, "for a tf.data.Dataset pass validation_data="),
        ({"dataset": [1, 2, 3]}, "cannot train on a list"),
        ({"dataset": str(tmp / "missing")}, "no image folder at"),
        ({"dataset": tmp / "empty"}, "no images in class subfolders of"),
        ({"dataset": tmp / "flat"}, r"\(1 images lie directly in it\); put each class's images in its own subfolder"),
        ({"dataset": tmp / "one"}, r"has one class folder \(cat\); a classifier needs at least 2 classes"),
        ({"dataset": folders["train"], "test_data": tmp / "one"}, "cannot read the image folder|one class folder"),
        # Named like the command line's "--test-data: ..." (the parameter, in Python's spelling).
        ({"dataset": folders["train"], "test_data": "no_such_dir"}, r"^test_data=: unknown dataset 'no_such_dir'; choose one of"),
        ({"dataset": folders["train"], "validation_data": str(tmp / "missing")}, r"^validation_data=: no image folder at "),
        ({"dataset": folders["train"], "image_size": (0, 4)}, "image_size must be positive"),
        ({"dataset": "digits", "test_data": (x, y)}, "has its own validation and test splits"),
        ({"dataset": "digits", "callbacks": ["early"]}, "callbacks must be keras.callbacks.Callback instances"),
        ({"model": MnistModel(), "dataset": (x, y + 9)}, r"has 12 classes but the model's output has 10 units; build the model with 12 classes"),
    ]


def test_bad_input_is_one_clear_line(folders, tmp_path):
    for kwargs, match in _bad_cases(folders, tmp_path):
        model = kwargs.pop("model", "MnistModel")
        with pytest.raises(ValueError, match=match) as info:
            train(model, epochs=1, verbose=0, **kwargs)
        assert isinstance(info.value, (DataError, ValueError))
        _one_line(str(info.value))
    with pytest.raises(HubPublishError):  # DataError is a HubPublishError: the CLI prints it as one line
        train("MnistModel", ([1], [1, 2]), epochs=1, verbose=0)


def test_cli_bad_data_is_one_line_on_stderr_without_traceback(tmp_path, python):
    (tmp_path / "empty").mkdir()
    out = ["--epochs", "1", "-o", str(tmp_path / "out")]
    proc = subprocess.run([python, "-m", "hub_publish", "train", "--data", str(tmp_path / "empty"), *out],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: the training data: no images in class subfolders of")
    for args, message in [
        (["--data", str(tmp_path / "empty"), "--dataset", "digits"], "give --dataset (a built-in dataset) or --data"),
        (["--test-data", str(tmp_path)], "--validation-data and --test-data go with --data"),
        (["--data", str(tmp_path / "empty"), "--image-size", "big"], "--image-size must be HEIGHTxWIDTH"),
        (["--data", str(tmp_path / "empty"), "--validation-split", "1"], "Invalid value for '--validation-split'"),
    ]:
        result = CliRunner().invoke(main, ["train", *args, *out])
        assert result.exit_code in (1, 2) and result.exception is None or isinstance(result.exception, SystemExit)
        assert message in result.stderr and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ other backends


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_numpy_and_py_dataset_train_without_tensorflow(tmp_path, backend):
    """Outside tf.data nothing assumes TensorFlow: arrays and PyDataset train, fine-tune and package under JAX / torch."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np, keras
        from hub_publish.training import train_and_package
        from hub_publish.finetune import finetune
        def _shapes(n, seed):
            rng = np.random.default_rng(seed)
            return rng.integers(0, 255, size=(n, 8, 8, 1)).astype(np.uint8), np.arange(n) % 3

        class ShapesSequence(keras.utils.PyDataset):
            def __init__(self, n, seed):
                super().__init__()
                self.x, self.y = _shapes(n, seed)

            def __len__(self):
                return -(-len(self.y) // 16)

            def __getitem__(self, i):
                return self.x[i * 16:(i + 1) * 16], self.y[i * 16:(i + 1) * 16]

        def small():  # a small MnistModel: the paths are under test here, not the model's size
            return MnistModel(conv_filters=(4,), conv_kernel_sizes=(3,), conv_strides=(2,), dense_units=8)

        from hub_publish.models import MnistModel
        x, y = _shapes(40, 0)
        path, record = train_and_package(small(), OUT + "/np", dataset=(x, y), test_data=_shapes(12, 1),
                                         batch_size=12, epochs=1, verbose=0)
        seq = train_and_package(small(), OUT + "/seq", dataset=ShapesSequence(32, 2),
                                validation_data=ShapesSequence(16, 3), epochs=1, verbose=0).record
        tuned = finetune(path, (x, y), test_data=_shapes(12, 4), batch_size=12, epochs=1, output_dir=OUT + "/ft",
                         verbose=0)
        print(json.dumps({"tf": "tensorflow" in sys.modules, "backend": record["backend"],
                          "sizes": [record["num_train_examples"], record["num_validation_examples"],
                                    record["num_test_examples"]],
                          "seq": [seq["num_train_examples"], seq["num_validation_examples"]],
                          "tuned_units": int(tuned.model.output.shape[-1])}))
        """
    ).replace("OUT", repr(str(tmp_path)))
    # Stop a TensorFlow import at its source: the test fails if anything on these paths imports it.
    blocker = tmp_path / "block" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('TensorFlow must not be imported on this path')\n")
    env = subprocess_env(KERAS_BACKEND=backend)
    env["PYTHONPATH"] = f"{tmp_path / 'block'}:{env['PYTHONPATH']}"
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == {"tf": False, "backend": backend, "sizes": [36, 4, 12], "seq": [32, 16], "tuned_units": 3}


# ------------------------------------------------------------------------------------ README


def _readme_blocks(language: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Train on your own data", 1)[1].split("\n## ", 1)[0]
    return [block.split("\n", 1)[1] for block in section.split("```")[1::2] if block.startswith(language)]


def test_readme_train_on_your_own_data_runs_as_pasted(tmp_path, monkeypatch, capsys):
    """The README section's Python and shell snippets, run as pasted next to an image folder in Keras' layout."""
    rng = np.random.default_rng(0)
    for folder, count in (("my_images", 12), ("my_images_test", 4)):
        for label, name in enumerate(("cat", "dog")):
            (tmp_path / folder / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 80, size=(16, 16, 3), dtype=np.uint8)
                image[label::2] = 250  # learnable: which rows are bright
                keras.utils.save_img(tmp_path / folder / name / f"{i}.png", image, scale=False)
    (python_block,) = _readme_blocks("python")
    (shell_block,) = _readme_blocks("bash")
    monkeypatch.chdir(tmp_path)
    # In this process (the interpreter and TensorFlow are already up): the block as pasted.
    exec(compile(python_block, "README.md#train-on-your-own-data", "exec"), {"__name__": "__main__"})
    assert "['cat', 'dog']" in capsys.readouterr().out
    record = _record(tmp_path / "runs" / "my-model")
    assert record[constants.TRAIN_CLASS_NAMES] == ["cat", "dog"] and record[constants.TRAIN_NUM_TEST_EXAMPLES] == 8
    assert _record(tmp_path / "runs" / "my-model-tuned")[constants.FINETUNE_RECORD]["class_names"] == ["cat", "dog"]
    # The shell lines through the console script's entry point (hub_publish.cli:main), word for word.
    for line in shell_block.strip().splitlines():
        program, *args = shlex.split(line)
        assert program == "hub-publish"
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (line, result.output)
    assert _record(tmp_path / "runs" / "cli-cat")[constants.FINETUNE_RECORD]["positive_class_name"] == "cat"
