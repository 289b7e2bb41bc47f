"""hub_publish.training: real training on scikit-learn's digits, MNIST under tfds' mock_data."""

from __future__ import annotations

import json

import keras
import pytest
import tensorflow_datasets as tfds

from hub_publish import constants
from hub_publish.models import MnistDictModel, MnistModel
from hub_publish.training import train, train_and_package

pytestmark = pytest.mark.slow

ACCURACY = "sparse_categorical_accuracy"
# Every training-record key the module docstring promises.
RECORD_KEYS = {value for name, value in vars(constants).items() if name.startswith("TRAIN_")}


@pytest.fixture(scope="module")
def digits_run():
    """One training run with the defaults (seconds on 2 CPU cores)."""
    return train("MnistModel", verbose=0)


def _check_record(record: dict, *, epochs: int) -> None:
    assert set(record) == RECORD_KEYS
    assert json.loads(json.dumps(record, allow_nan=False)) == record  # plain JSON, nothing lost
    for values in record[constants.TRAIN_HISTORY].values():
        assert len(values) == epochs and all(isinstance(v, float) for v in values)
    assert set(record[constants.TRAIN_HISTORY]) == {"loss", ACCURACY, "val_loss", f"val_{ACCURACY}"}
    assert set(record[constants.TRAIN_TEST_METRICS]) == {"loss", ACCURACY}
    assert record[constants.TRAIN_EPOCHS] == epochs
    assert record[constants.TRAIN_BACKEND] == keras.config.backend()
    assert record[constants.TRAIN_WALL_TIME] > 0
    versions = record[constants.TRAIN_LIBRARY_VERSIONS]
    assert {"keras", "numpy", "huggingface_hub", "hub-publish"} <= set(versions)
    hardware = record[constants.TRAIN_HARDWARE]
    assert hardware["cpu_count"] >= 1 and hardware["platform"]
    dataset = record[constants.TRAIN_DATASET]
    assert dataset[constants.TRAIN_NUM_TRAIN_EXAMPLES] == record[constants.TRAIN_NUM_TRAIN_EXAMPLES]
    assert record[constants.TRAIN_STEPS_PER_EPOCH] == (
        record[constants.TRAIN_NUM_TRAIN_EXAMPLES] // record[constants.TRAIN_BATCH_SIZE]
    )


def test_defaults_reach_95_percent_on_digits(digits_run):
    assert digits_run.test_metrics[ACCURACY] >= 0.95
    assert isinstance(digits_run.model, MnistModel)
    # the test metrics are those of the trained model on the test split
    again = digits_run.model.evaluate(digits_run.data.test, return_dict=True, verbose=0)
    assert again[ACCURACY] == pytest.approx(digits_run.test_metrics[ACCURACY])


def test_record_is_complete_and_json_safe(digits_run):
    record = digits_run.record
    _check_record(record, epochs=record[constants.TRAIN_EPOCHS])
    assert record[constants.TRAIN_DATASET]["name"] == "digits"
    assert record[constants.TRAIN_DATASET]["source"] == "sklearn.datasets.load_digits"
    # 1,437 training digits, of which 10% (stratified) validate each epoch; the 360 test digits
    # are only used for the final test metrics.
    sizes = (constants.TRAIN_NUM_TRAIN_EXAMPLES, constants.TRAIN_NUM_VALIDATION_EXAMPLES, constants.TRAIN_NUM_TEST_EXAMPLES)
    assert tuple(record[k] for k in sizes) == (1293, 144, 360)
    assert record[constants.TRAIN_TEST_SPLIT] == "test"
    assert record[constants.TRAIN_VALIDATION_SPLIT].startswith("10% of the training split, stratified")
    assert record[constants.TRAIN_OPTIMIZER] == "Adam"
    assert record[constants.TRAIN_OPTIMIZER_CONFIG]["learning_rate"] == pytest.approx(2e-3)
    assert record[constants.TRAIN_LOSS] == "sparse_categorical_crossentropy"
    assert record[constants.TRAIN_METRICS] == [ACCURACY]
    assert record[constants.TRAIN_DISTRIBUTE] is None
    assert record[constants.TRAIN_SEED] == 0


def test_same_seed_same_run():
    a = train("MnistModel", epochs=2, seed=3, verbose=0).record[constants.TRAIN_HISTORY]
    b = train(MnistModel, epochs=2, seed=3, verbose=0).record[constants.TRAIN_HISTORY]
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-4)


def test_dict_model_gets_dict_batches():
    result = train(MnistDictModel(), epochs=2, batch_size=64, optimizer="sgd", learning_rate=0.05, verbose=0)
    assert result.record[constants.TRAIN_DATASET]["dict_inputs"] is True
    assert result.record[constants.TRAIN_OPTIMIZER] == "SGD"
    _check_record(result.record, epochs=2)


def test_optimizer_instance():
    result = train("MnistModel", epochs=1, optimizer=keras.optimizers.RMSprop(1e-3), learning_rate=None, verbose=0)
    assert result.record[constants.TRAIN_OPTIMIZER] == "RMSprop"


def test_mnist_under_tfds_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=64):
        result = train(MnistModel(), "mnist", epochs=2, batch_size=16, data_dir=tmp_path, verbose=0)
    record = result.record
    _check_record(record, epochs=2)
    assert record[constants.TRAIN_DATASET]["name"] == "mnist"
    assert record[constants.TRAIN_DATASET]["image_shape"] == [28, 28, 1]
    # 64 mock training examples: the first 6 (10%) validate, 58 train in 3 batches of 16.
    assert record[constants.TRAIN_STEPS_PER_EPOCH] == 3
    sizes = (constants.TRAIN_NUM_TRAIN_EXAMPLES, constants.TRAIN_NUM_VALIDATION_EXAMPLES, constants.TRAIN_NUM_TEST_EXAMPLES)
    assert tuple(record[k] for k in sizes) == (58, 6, 64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "NoSuchModel"}, "unknown model class 'NoSuchModel'"),
        ({"model": 42}, "model must be a keras.Model"),
        ({"dataset": "cifar10"}, "unknown dataset 'cifar10'"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive number"),
        ({"optimizer": "nope"}, "unknown optimizer 'nope'"),
        ({"optimizer": keras.optimizers.SGD()}, "learning_rate cannot be combined"),
    ],
)
def test_bad_input_is_one_clear_value_error(kwargs, match):
    kwargs = {"model": "MnistModel", **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        train(kwargs.pop("model"), verbose=0, **kwargs)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------
# Packaging (hub_publish.packaging.save_pretrained) and the script
# ------------------------------------------------------------------------------------


def test_train_and_package_stores_the_record(tmp_path):
    path, record = train_and_package("MnistDictModel", tmp_path / "model", epochs=2, verbose=0)
    assert path == tmp_path / "model"
    metadata = json.loads((path / constants.METADATA_FILE).read_text())
    assert metadata[constants.META_ROOT][constants.META_TRAINING] == record
    _check_record(record, epochs=2)
    assert (path / constants.WEIGHTS_FILE).is_file()


def test_bench_training_quick_mode_runs(tmp_path, capsys):
    """scripts/bench_training.py prints min/median per side and the ratio, and writes JSON (no timing asserted)."""
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_training.py"
    spec = spec_from_file_location("bench_training", script)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "bench.json"
    assert module.main(["--quick", "--epochs", "1", "--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["measures"]) == {"end_to_end", "fit"} and result["epochs"] == 1
    for row in result["measures"].values():
        assert set(row) == {"guide", "hub-publish", "ratio_median", "ratio_min"}
        assert row["ratio_median"] > 0 and len(row["guide"]["runs"]) == len(row["hub-publish"]["runs"]) == 1
    printed = capsys.readouterr().out
    assert "guide med" in printed and "ratio (med)" in printed and str(out) in printed
