"""hub_publish.data: real tf.data pipelines on scikit-learn's digits, and MNIST under tfds' mock_data."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from hub_publish import constants
from hub_publish.data import DatasetNotAvailableError, TrainingData, binary_labels, load_dataset

DIGITS_TRAIN, DIGITS_TEST = 1437, 360  # 80/20 of the 1,797 digits


@pytest.fixture(scope="module")
def digits() -> TrainingData:
    return load_dataset("digits", batch_size=32, seed=0)


def _labels(ds: tf.data.Dataset) -> np.ndarray:
    return np.concatenate([y.numpy() for _, y in ds])


def test_import_does_not_import_tensorflow():
    code = "import sys, hub_publish.data, hub_publish.user_data; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_digits_shapes_dtypes_and_sizes(digits):
    assert (digits.name, digits.num_classes, digits.image_shape) == ("digits", 10, (8, 8, 1))
    assert (digits.num_train, digits.num_test) == (DIGITS_TRAIN, DIGITS_TEST)
    assert digits.steps_per_epoch == DIGITS_TRAIN // 32
    x_spec, y_spec = digits.train.element_spec
    assert x_spec.dtype == tf.uint8 and tuple(x_spec.shape) == (None, 8, 8, 1)
    assert y_spec.dtype.is_integer
    x, y = next(iter(digits.train))
    assert x.shape == (32, 8, 8, 1) and x.dtype == tf.uint8
    # 0..16 scaled to the full uint8 range
    all_x = np.concatenate([x.numpy() for x, _ in digits.test])
    assert all_x.min() == 0 and all_x.max() == 255


def test_digits_test_is_one_pass_and_stratified(digits):
    labels = _labels(digits.test)
    assert len(labels) == DIGITS_TEST
    counts = np.bincount(labels, minlength=10)
    assert counts.min() >= 35  # ~36 of each digit: the split is stratified
    assert digits.describe()[constants.TRAIN_NUM_TEST_EXAMPLES] == DIGITS_TEST


def test_digits_split_is_fixed_whatever_the_seed(digits):
    other = load_dataset("digits", batch_size=64, seed=123)
    np.testing.assert_array_equal(_labels(other.test), _labels(digits.test))


def test_train_repeats_and_reshuffles_each_epoch(digits):
    steps = digits.steps_per_epoch
    batches = [y.numpy() for _, y in digits.train.take(3 * steps)]
    assert len(batches) == 3 * steps  # repeats past one epoch
    first, second = batches[:steps], batches[steps : 2 * steps]
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(first, second))  # new order per epoch


def test_same_seed_same_order():
    a = load_dataset("digits", batch_size=16, seed=7)
    b = load_dataset("digits", batch_size=16, seed=7)
    for (_, ya), (_, yb) in zip(a.train.take(5), b.train.take(5)):
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_dict_inputs():
    data = load_dataset("digits", batch_size=8, dict_inputs=True)
    x_spec, _ = data.train.element_spec
    assert set(x_spec) == {"image"} and x_spec["image"].dtype == tf.uint8
    x, _ = next(iter(data.test))
    assert x["image"].shape[1:] == (8, 8, 1)
    assert data.describe()["dict_inputs"] is True


@pytest.mark.parametrize("dict_inputs", [False, True])
def test_binary_labels(digits, dict_inputs):
    data = load_dataset("digits", batch_size=50, dict_inputs=dict_inputs) if dict_inputs else digits
    binary = binary_labels(data.test, positive_class=0)
    labels = _labels(binary)
    assert binary.element_spec[1].dtype == tf.uint8
    assert set(np.unique(labels)) == {0, 1}
    np.testing.assert_array_equal(labels, (_labels(data.test) == 0).astype(np.uint8))


@pytest.mark.parametrize("bad", [-1, 1.0, True, "0"])
def test_binary_labels_rejects_bad_class(digits, bad):
    with pytest.raises(ValueError, match="positive_class"):
        binary_labels(digits.test, bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "cifar10"}, "unknown dataset 'cifar10'; choose one of digits, mnist"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": -3}, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"batch_size": True}, "batch_size must be a positive integer"),
        ({"test_batch_size": 0}, "test_batch_size must be a positive integer"),
        ({"batch_size": 5000}, "larger than the 1437 training examples"),
    ],
)
def test_bad_input_is_one_clear_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        load_dataset(**kwargs)
    assert "\n" not in str(info.value)


def test_numpy_integer_batch_size_is_accepted():
    assert load_dataset("digits", batch_size=np.int64(64)).steps_per_epoch == DIGITS_TRAIN // 64


# ------------------------------------------------------------------------------------
# MNIST through tensorflow-datasets, offline
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dict_inputs", [False, True])
def test_mnist_under_tfds_mock_data(tmp_path, dict_inputs):
    with tfds.testing.mock_data(num_examples=40):
        data = load_dataset("mnist", batch_size=16, dict_inputs=dict_inputs, data_dir=tmp_path)
        assert (data.name, data.num_train, data.num_test, data.num_classes) == ("mnist", 40, 40, 10)
        assert data.image_shape == (28, 28, 1) and data.steps_per_epoch == 2
        assert data.source.startswith("tensorflow_datasets:mnist/")
        x, y = next(iter(data.train))
        image = x["image"] if dict_inputs else x
        assert image.dtype == tf.uint8 and image.shape == (16, 28, 28, 1)
        assert y.dtype.is_integer
        assert len(_labels(data.test)) == 40  # one pass


def test_mnist_not_prepared_raises_one_clear_error(tmp_path):
    with pytest.raises(DatasetNotAvailableError, match=rf"^MNIST is not prepared in {re.escape(str(tmp_path))} and download=False\. "
                                                       r"Prepare it once with network access \(`tfds build mnist") as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path) in message and "tfds build mnist" in message and constants.ENV_TFDS_DATA_DIR in message
    assert "\n" not in message
    # A Python user is told of Python's options, never of the command line's.
    assert message.endswith(", or download=True), then pass data_dir=DIR or set TFDS_DATA_DIR=DIR.") and "--data-dir" not in message


def test_mnist_honours_tfds_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(constants.ENV_TFDS_DATA_DIR, str(tmp_path / "from-env"))
    with pytest.raises(DatasetNotAvailableError, match="from-env"):
        load_dataset("mnist")


def test_a_wrong_image_size_names_the_option_of_the_interface_used():
    from hub_publish.data import InputSpec, check_input_shape
    from hub_publish.errors import DataError, command_line_messages

    spec = InputSpec(shape=(28, 28, 1), dtype="uint8")
    expected = "the model takes inputs of shape (28, 28, 1) but my-folder has examples of shape (32, 32, 1); resize the images ({}) "
    with pytest.raises(DataError, match=re.escape(expected.format("image_size=")) + "or use a model built for this size$"):
        check_input_shape(spec, (32, 32, 1), "my-folder")
    with command_line_messages(), pytest.raises(DataError, match=re.escape(expected.format("--image-size"))):
        check_input_shape(spec, (32, 32, 1), "my-folder")


def test_binary_relabelling_of_tf_data_logs_no_autograph_warning():
    """The binary fine-tune's relabelling (every split of tf.data input, plain and dict inputs) is
    converted by AutoGraph without its "could not transform" warning (a fresh process: AutoGraph
    warns once per function)."""
    from conftest import REPO_ROOT, subprocess_env

    code = (
        "import numpy as np, tensorflow as tf\n"
        "from hub_publish.data import TrainingData, binary_labels, load_dataset, with_binary_labels\n"
        "for d in (load_dataset('digits', batch_size=64), load_dataset('digits', batch_size=64, dict_inputs=True)):\n"
        "    b = with_binary_labels(d, 0)\n"
        "    for split in (b.train.take(2), b.test, binary_labels(d.test, 1)):\n"
        "        labels = np.concatenate([y.numpy() for _, y in split])\n"
        "        assert set(np.unique(labels)) <= {0, 1}, labels\n"
        "print('relabelled')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(),
                         cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0 and "relabelled" in out.stdout, out.stderr
    assert "AutoGraph" not in out.stderr and "could not transform" not in out.stderr, out.stderr
