"""save_pretrained -> from_pretrained round trips, and what plain Keras makes of the folder."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings

import keras
import numpy as np
import pytest

import hub_publish
from hub_publish import constants
from hub_publish.models import MnistDictModel, MnistModel

SIZES = [(8, 8), (28, 28), (57, 31)]
# The card draws the layer graph (model.png) when pydot and graphviz's `dot` are installed (CI installs both).
GRAPH_DRAWN = shutil.which("dot") is not None and importlib.util.find_spec("pydot") is not None


def _images(h: int, w: int, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(h * 100 + w).integers(0, 256, size=(3, h, w, channels), dtype=np.uint8)


def _feed(model: keras.Model, x: np.ndarray):
    return {"image": x} if isinstance(model.input, dict) else x


def _layer_signature(model: keras.Model) -> list[tuple[str, str, tuple]]:
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape)) for layer in model.layers]


def _seed_surgery(model: keras.Model) -> keras.Model:
    y = model.get_layer("classification_head").input
    output = keras.layers.Dense(1, activation="sigmoid", name="binary_classification_head")(y)
    return keras.Model(model.input, output)


def test_default_architecture_matches_the_guide():
    model = MnistModel()
    assert model.count_params() == 76_810
    assert [layer.name for layer in model.layers] == [
        "image", "pixel_scaling", "conv_1", "conv_2", "conv_3", "global_pool", "hidden", "head_dropout", "classification_head",
    ]
    assert [type(layer).__name__ for layer in model.layers[1:]] == [
        "Rescaling", "Conv2D", "Conv2D", "Conv2D", "GlobalAveragePooling2D", "Dense", "Dropout", "Dense",
    ]
    assert model.input.dtype == "uint8" and tuple(model.input.shape) == (None, None, None, 1)
    assert [model.get_layer(f"conv_{i}").strides for i in (1, 2, 3)] == [(1, 1), (2, 2), (2, 2)]
    assert model.get_layer("classification_head").activation.__name__ == "softmax"
    assert model.get_layer("head_dropout").rate == 0.4
    dict_model = MnistDictModel()
    assert dict_model.count_params() == 76_810 and set(dict_model.input) == {"image"}


def test_layer_names_do_not_depend_on_models_built_before():
    first, second = MnistModel(), MnistModel()
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]


def test_hyper_parameters_round_trip_through_get_config():
    model = MnistModel(num_classes=3, conv_filters=(8, 8, 12), dense_units=20, dropout_rate=0.1, input_channels=3)
    config = model.get_config()
    clone = MnistModel.from_config(config)
    assert clone.get_config() == config
    assert clone.output.shape[-1] == 3 and clone.input.shape[-1] == 3
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("bad, message", [
    ({"num_classes": 0}, r"^num_classes must be a positive integer; got 0$"),
    ({"dropout_rate": 1.0}, r"^dropout_rate must be in \[0, 1\); got 1\.0$"),
    ({"conv_filters": (8, 8)}, r"^conv_filters, conv_kernel_sizes and conv_strides must be non-empty and of the same length; got \[8, 8\], "),
])
def test_bad_hyper_parameters_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        MnistModel(**bad)


@pytest.mark.parametrize(
    "factory",
    [
        pytest.param(MnistModel, id="default"),
        pytest.param(lambda: MnistModel(num_classes=5, conv_filters=(8, 12, 16), conv_kernel_sizes=(3, 3, 5),
                                        dense_units=24, dropout_rate=0.2), id="non-default"),
        pytest.param(MnistDictModel, id="dict"),
    ],
)
def test_save_and_from_pretrained_round_trip(tmp_path, factory):
    model = factory()
    folder = hub_publish.save_pretrained(model, tmp_path / "model")
    expected = [constants.CONFIG_FILE, constants.METADATA_FILE, constants.WEIGHTS_FILE, constants.GRAPH_FILE, constants.CARD_FILE]
    if GRAPH_DRAWN:
        expected.append(constants.MODEL_PLOT_FILE)
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    loaded = type(model).from_pretrained(folder)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert _layer_signature(loaded) == _layer_signature(model)
    for h, w in SIZES:
        x = _feed(model, _images(h, w))
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # The guide's surgery recipe works on what was loaded.
    binary = _seed_surgery(loaded)
    if model.count_params() == 76_810:
        assert binary.count_params() == 76_369
    assert binary.output.shape[-1] == 1
    assert isinstance(loaded.input, dict) == isinstance(model.input, dict)


def test_metadata_records_keras_keys_and_ours(tmp_path):
    folder = hub_publish.save_pretrained(MnistDictModel(), tmp_path / "m")
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    assert meta[constants.META_KERAS_VERSION] == keras.version()
    assert "@" in meta[constants.META_DATE_SAVED]
    ours = meta[constants.META_ROOT]
    assert ours[constants.META_REGISTERED_NAME] == "hub_publish>MnistDictModel"
    assert ours[constants.META_BACKEND] == keras.config.backend()
    assert ours[constants.META_PARAMETER_COUNT] == 76_810
    assert ours[constants.META_INPUTS] == [{"name": "image", "key": "image", "shape": [None, None, None, 1], "dtype": "uint8"}]
    assert ours[constants.META_HEAD_LAYER] == "classification_head"
    weights = ours[constants.META_FILES][constants.WEIGHTS_FILE]
    assert weights[constants.META_SIZE] == (folder / constants.WEIGHTS_FILE).stat().st_size
    config = json.loads((folder / constants.CONFIG_FILE).read_text())
    assert config["registered_name"] == "hub_publish>MnistDictModel"


def test_plain_keras_loads_the_folder(tmp_path):
    model = MnistModel()
    folder = hub_publish.save_pretrained(model, tmp_path / "m")
    loaded = keras.saving.load_model(folder)
    assert type(loaded) is MnistModel
    x = _images(28, 28)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_graph_json_alone_rebuilds_a_functional_with_the_same_outputs(tmp_path):
    model = MnistModel()
    folder = hub_publish.save_pretrained(model, tmp_path / "m")
    graph = json.loads((folder / constants.GRAPH_FILE).read_text())
    functional = keras.saving.deserialize_keras_object(graph, safe_mode=True)
    assert type(functional).__name__ == "Functional"
    functional.load_weights(folder / constants.WEIGHTS_FILE)
    x = _images(57, 31)
    np.testing.assert_array_equal(functional.predict(x, verbose=0), model.predict(x, verbose=0))


def test_plain_functional_model_round_trips(tmp_path):
    inputs = keras.Input((4,), name="features")
    outputs = keras.layers.Dense(2, name="out")(keras.layers.Dense(3, name="hidden")(inputs))
    model = keras.Model(inputs, outputs)
    folder = hub_publish.save_pretrained(model, tmp_path / "plain")
    loaded = hub_publish.from_pretrained(folder)
    assert type(loaded).__name__ == "Functional"
    x = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    assert meta[constants.META_ROOT][constants.META_HEAD_LAYER] == "out"


def test_sharded_weights_round_trip(tmp_path):
    model = MnistModel()
    folder = hub_publish.save_pretrained(model, tmp_path / "sharded", max_shard_size=0.00025)
    names = sorted(p.name for p in folder.iterdir())
    assert constants.WEIGHTS_INDEX_FILE in names and constants.WEIGHTS_FILE not in names
    shards = [n for n in names if n.startswith("model_") and n.endswith(".weights.h5")]
    assert len(shards) >= 2
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    # The manifest covers every file the loader reads (issue 10): config and graph as well as the weights.
    assert set(meta[constants.META_ROOT][constants.META_FILES]) == {
        constants.CONFIG_FILE, constants.GRAPH_FILE, constants.WEIGHTS_INDEX_FILE, *shards}
    loaded = MnistModel.from_pretrained(folder)
    x = _images(28, 28)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_optimizer_state_only_when_asked(tmp_path):
    import h5py

    model = MnistModel()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(_images(8, 8), np.array([0, 1, 2]), epochs=1, verbose=0)
    lean = hub_publish.save_pretrained(model, tmp_path / "lean")
    full = hub_publish.save_pretrained(model, tmp_path / "full", include_optimizer=True)
    with h5py.File(lean / constants.WEIGHTS_FILE) as f:
        assert "optimizer" not in f
    with h5py.File(full / constants.WEIGHTS_FILE) as f:
        assert "optimizer" in f
    restored = MnistModel.from_pretrained(full, compile=True)
    assert restored.optimizer is not None and restored.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()
    # Without the optimizer, no compile config: plain Keras loads the lean folder without a warning.
    assert json.loads((lean / constants.CONFIG_FILE).read_text())["compile_config"] is None
    assert json.loads((full / constants.CONFIG_FILE).read_text())["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras.saving.load_model(lean)


def test_save_replaces_a_folder_atomically_and_respects_overwrite(tmp_path):
    target = tmp_path / "m"
    hub_publish.save_pretrained(MnistModel(), target)
    # overwrite=False is the default now (issue 9: replacing a model folder must be asked for).
    with pytest.raises(hub_publish.errors.HubPublishError, match="already holds a model"):
        hub_publish.save_pretrained(MnistModel(), target)
    with pytest.raises(hub_publish.errors.HubPublishError, match="already holds a model"):
        hub_publish.save_pretrained(MnistModel(), target, overwrite=False)
    hub_publish.save_pretrained(MnistDictModel(), target, overwrite=True)
    assert json.loads((target / constants.CONFIG_FILE).read_text())["class_name"] == "MnistDictModel"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left behind


def test_failed_save_leaves_nothing_behind(tmp_path):
    class NotFunctional(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(hub_publish.errors.HubPublishError, match="functional"):
        hub_publish.save_pretrained(NotFunctional(), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_hub_model_methods(tmp_path):
    model = MnistModel()
    folder = model.save_pretrained(tmp_path / "m")
    loaded = hub_publish.HubModel.from_pretrained(folder)
    assert type(loaded) is MnistModel
    head = loaded.get_layer("classification_head")  # get_layer raises when missing: check what it is
    assert type(head) is keras.layers.Dense and head.units == model.get_layer("classification_head").units == 10
