"""hub_publish.surgery on models loaded from the embedded Hub (MnistModel, MnistDictModel, a
class-free load) and on a plain Keras functional model; errors; derived models round trip."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from folder_tools import restamp
import hub_publish
from hub_publish import surgery
from hub_publish.base import HubModel
from hub_publish.errors import HubPublishError, SurgeryError
from hub_publish.loading import HubPublishWarning, source_of
from hub_publish.models import MnistDictModel, MnistModel
from hub_publish.server import HubServer

from conftest import subprocess_env

TOKEN = "hf_alice"
BACKBONE = ["pixel_scaling", "conv_1", "conv_2", "conv_3", "global_pool", "hidden", "head_dropout"]
MNIST_LAYERS = ["image", *BACKBONE, "classification_head"]


@dataclass
class Case:
    """A model to operate on, with what the tests need to know about it."""

    model: keras.Model
    head: str  # the layer to cut at
    backbone: list[str]  # layers before the head (input layers excluded)
    feed: Callable[[np.ndarray], Any]  # array -> what the model takes
    sample: np.ndarray
    features: int  # width of the head's input


def _images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(4, 8, 8, 1), dtype=np.uint8)


def _plain_functional() -> keras.Model:
    inputs = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dense(5, activation="relu", name="features")(hidden)
    outputs = keras.layers.Dense(3, activation="softmax", name="logits")(hidden)
    return keras.Model(inputs, outputs, name="plain")


def _class_free_folder(tmp: Path) -> Path:
    """An MnistModel folder whose config names a class from a module nobody trusts."""
    keras.utils.set_random_seed(2)
    folder = hub_publish.save_pretrained(MnistModel(), tmp / "untrusted")
    config = json.loads((folder / "config.json").read_text())
    config.update(module="untrusted_zoo.models", registered_name="untrusted_zoo>MnistModel")
    (folder / "config.json").write_text(json.dumps(config))
    restamp(folder, "config.json")  # the manifest covers config.json: re-record it as the "author" would
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    with HubServer(tmp_path_factory.mktemp("hub-data"), tokens=[f"alice={TOKEN}"]) as server:
        yield server


@pytest.fixture(scope="module")
def cases(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Every kind of model surgery must handle, the first three pushed to and loaded from the Hub."""
    tmp = tmp_path_factory.mktemp("surgery")
    keras.utils.set_random_seed(1)
    hub_publish.push_to_hub(MnistModel(), "alice/mnist", token=TOKEN, endpoint=hub.url)
    hub_publish.push_to_hub(MnistDictModel(), "alice/mnist-dict", token=TOKEN, endpoint=hub.url)
    hub_publish.push_to_hub(_class_free_folder(tmp), "alice/mnist-class-free", token=TOKEN, endpoint=hub.url)

    def load(repo: str) -> keras.Model:
        return hub_publish.from_pretrained(repo, token=TOKEN, endpoint=hub.url, cache_dir=tmp / "cache")

    with pytest.warns(HubPublishWarning, match="untrusted_zoo.models"):
        class_free = load("alice/mnist-class-free")
    images = _images()
    mnist = Case(load("alice/mnist"), "classification_head", BACKBONE, lambda x: x, images, 48)
    return {
        "hub-MnistModel": mnist,
        "hub-MnistDictModel": Case(load("alice/mnist-dict"), "classification_head", BACKBONE, lambda x: {"image": x},
                                   images, 48),
        "hub-class-free": Case(class_free, "classification_head", BACKBONE, lambda x: x, images, 48),
        "plain-functional": Case(_plain_functional(), "logits", ["hidden", "features"], lambda x: x,
                                 np.linspace(-1, 1, 24, dtype="float32").reshape(4, 6), 5),
    }


KINDS = ["hub-MnistModel", "hub-MnistDictModel", "hub-class-free", "plain-functional"]


@pytest.fixture(params=KINDS)
def case(request: pytest.FixtureRequest, cases: dict[str, Case]) -> Case:
    case = cases[request.param]
    surgery.unfreeze(case.model)  # tests share the models; start from a trainable one
    return case


def _predict(model: keras.Model, case: Case) -> Any:
    return model.predict(case.feed(case.sample), verbose=0)


def test_the_hub_models_are_what_the_cases_claim(cases: dict[str, Case]) -> None:
    assert type(cases["hub-MnistModel"].model) is MnistModel
    assert type(cases["hub-MnistDictModel"].model) is MnistDictModel
    assert set(cases["hub-MnistDictModel"].model.input) == {"image"}
    class_free = cases["hub-class-free"].model
    assert type(class_free).__name__ == "Functional" and source_of(class_free).class_free
    assert [layer.name for layer in class_free.layers] == MNIST_LAYERS
    assert source_of(cases["hub-MnistModel"].model).repo_id == "alice/mnist"


# ----------------------------------------------------------------------------- replace_head


def test_replace_head_is_the_seed_recipe(case: Case) -> None:
    model = case.model
    binary = surgery.replace_head(model, 1, at=case.head)
    # What the guide builds by hand.
    manual_head = keras.layers.Dense(1, activation="sigmoid", name="manual_head")
    manual = keras.Model(model.input, manual_head(model.get_layer(case.head).input))
    assert type(binary).__name__ == "Functional"
    assert binary.count_params() == manual.count_params()
    head = binary.get_layer("binary_classification_head")
    assert head.units == 1 and head.activation.__name__ == "sigmoid"
    assert tuple(binary.output.shape) == (None, 1)
    assert case.head not in [layer.name for layer in binary.layers]
    # The input structure is kept (dict stays dict) and the kept layers are the originals.
    assert keras.tree.flatten(binary.input) == keras.tree.flatten(model.input)
    assert type(binary.input) is type(model.input)
    for name in case.backbone:
        assert binary.get_layer(name) is model.get_layer(name)
    out = _predict(binary, case)
    assert out.shape == (len(case.sample), 1)
    # The new head reads the original model's features at the cut: sigmoid(features @ W + b).
    features = _predict(keras.Model(model.input, model.get_layer(case.head).input), case)
    kernel, bias = head.get_weights()
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(features @ kernel + bias))), rtol=1e-4, atol=1e-6)


def test_replace_head_spec_forms_and_default_names(case: Case) -> None:
    model = case.model
    multi = surgery.replace_head(model, 4, at=case.head)
    assert multi.layers[-1].name == "classification_head" and multi.layers[-1].activation.__name__ == "softmax"
    assert tuple(multi.output.shape) == (None, 4)
    spec = surgery.replace_head(model, {"units": 2, "activation": "linear", "name": "logits2"}, at=case.head)
    assert spec.layers[-1].name == "logits2" and spec.layers[-1].activation.__name__ == "linear"
    named = surgery.replace_head(model, 1, activation="relu", name="score", at=case.head)
    assert named.layers[-1].name == "score" and named.layers[-1].activation.__name__ == "relu"
    layer = keras.layers.Dense(3, name="custom_head")
    custom = surgery.replace_head(model, layer, at=case.head)
    assert custom.layers[-1] is layer


def test_replace_head_keeps_the_other_outputs_of_a_multi_output_model(cases: dict[str, Case]) -> None:
    two = surgery.add_heads(cases["hub-MnistModel"].model, {"parity": 2})
    swapped = surgery.replace_head(two, 1, at="parity")
    assert set(swapped.output) == {"classification_head", "parity"}
    assert tuple(swapped.output["parity"].shape) == (None, 1)
    assert swapped.output["classification_head"] is two.output["classification_head"]


# ----------------------------------------------------------------------------- feature_extractor


def test_feature_extractor_ends_at_the_named_layer(case: Case) -> None:
    model = case.model
    features = surgery.feature_extractor(model, at=case.head)
    assert tuple(features.output.shape) == (None, case.features)
    assert type(features.input) is type(model.input)
    expected = keras.Model(model.input, model.get_layer(case.head).input).predict(case.feed(case.sample), verbose=0)
    np.testing.assert_array_equal(_predict(features, case), expected)
    # side="output" of the head is the whole model again.
    whole = surgery.feature_extractor(model, at=case.head, side="output")
    np.testing.assert_array_equal(_predict(whole, case), _predict(model, case))
    first = case.backbone[0]
    assert surgery.feature_extractor(model, at=first, side="output").layers[-1].name == first


# ----------------------------------------------------------------------------- add_heads


def test_add_heads_gives_named_outputs_on_shared_features(case: Case) -> None:
    model = case.model
    heads = surgery.add_heads(model, {"is_zero": 1, "parity": {"units": 2}, "extra": keras.layers.Dense(3, name="x3")},
                              at=case.head)
    assert set(heads.output) == {case.head, "is_zero", "parity", "extra"}
    out = _predict(heads, case)
    np.testing.assert_array_equal(out[case.head], _predict(model, case))  # the original head is kept as is
    assert out["is_zero"].shape == (len(case.sample), 1) and out["parity"].shape == (len(case.sample), 2)
    assert heads.get_layer("is_zero").activation.__name__ == "sigmoid"
    assert heads.get_layer("parity").activation.__name__ == "softmax"
    only_new = surgery.add_heads(model, {"a": 1, "b": 2}, at=case.head, keep_existing=False)
    assert set(only_new.output) == {"a", "b"} and case.head not in [layer.name for layer in only_new.layers]


def test_a_multi_head_model_trains_with_per_output_losses(cases: dict[str, Case]) -> None:
    case = cases["hub-MnistDictModel"]
    model = surgery.add_heads(case.model, {"is_zero": 1}, keep_existing=False)
    model.compile(optimizer="adam", loss={"is_zero": "binary_crossentropy"})
    x = case.feed(case.sample)
    loss = model.train_on_batch(x, {"is_zero": np.array([[1], [0], [0], [1]], "float32")})
    assert np.isfinite(loss)


# ----------------------------------------------------------------------------- freeze / unfreeze


def test_freeze_up_to_the_head_freezes_the_backbone_only(case: Case) -> None:
    model = surgery.replace_head(case.model, 1, at=case.head)
    head = "binary_classification_head"
    assert surgery.freeze(model, up_to=head) == case.backbone
    assert [layer.name for layer in model.layers if layer.trainable and layer.weights] == [head]
    assert len(model.trainable_weights) == 2  # the new head's kernel and bias
    # Layers are shared: the source model's backbone is frozen too.
    assert not any(case.model.get_layer(name).trainable for name in case.backbone)
    # A frozen backbone does not move during training; the head does.
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(case.feed(case.sample), np.array([[1], [0], [1], [0]], "float32"))
    after = model.get_weights()
    backbone_weights = sum(len(model.get_layer(n).weights) for n in case.backbone)
    assert all(np.array_equal(b, a) for b, a in zip(before[:backbone_weights], after[:backbone_weights]))
    assert not np.array_equal(before[-2], after[-2])
    assert surgery.unfreeze(model) == [*case.backbone, head]
    assert all(layer.trainable for layer in model.layers)


def test_freeze_by_names_and_inclusive(case: Case) -> None:
    model = case.model
    assert surgery.freeze(model, case.backbone[0]) == [case.backbone[0]]
    assert not model.get_layer(case.backbone[0]).trainable and model.get_layer(case.backbone[1]).trainable
    assert surgery.unfreeze(model, [case.backbone[0]]) == [case.backbone[0]]
    assert surgery.freeze(model, up_to=case.head, inclusive=True) == [*case.backbone, case.head]
    assert surgery.unfreeze(model, up_to=case.head) == case.backbone
    assert model.get_layer(case.head).trainable is False
    assert surgery.freeze(model) == [*case.backbone, case.head]  # everything (input layers have no weights)
    assert model.trainable_weights == []


# ----------------------------------------------------------------------------- errors


def test_unknown_layer_names_list_the_valid_ones(case: Case) -> None:
    valid = ", ".join(layer.name for layer in case.model.layers)
    calls = [
        lambda: surgery.replace_head(case.model, 1, at="nope"),
        lambda: surgery.feature_extractor(case.model, at="nope"),
        lambda: surgery.add_heads(case.model, {"a": 1}, at="nope"),
        lambda: surgery.freeze(case.model, ["nope"]),
        lambda: surgery.unfreeze(case.model, up_to="nope"),
    ]
    for call in calls:
        with pytest.raises(SurgeryError, match=rf"^model {re.escape(repr(case.model.name))} has no layer 'nope'; valid layer names: ") as err:
            call()
        message = str(err.value)
        assert "'nope'" in message and f"valid layer names: {valid}" in message and "\n" not in message
        assert isinstance(err.value, HubPublishError)


def _skip_connection_model() -> keras.Model:
    inputs = keras.Input((4,), name="x")
    a = keras.layers.Dense(4, name="a")(inputs)
    b = keras.layers.Dense(4, name="b")(a)
    head = keras.layers.Dense(4, name="head")(b)
    outputs = keras.layers.Add(name="add")([head, a])  # reads 'a' around 'head'
    return keras.Model(inputs, outputs)


def test_a_cut_that_does_not_separate_the_graph_is_refused() -> None:
    model = _skip_connection_model()
    with pytest.raises(SurgeryError, match=r"cutting at 'head' does not separate the graph: 'add', after the cut, "
                                           r"also reads 'a' without going through 'head'"):
        surgery.replace_head(model, 2, at="head")
    # Cutting at 'b' separates it: the skip connection starts at b's input, the cut itself.
    assert tuple(surgery.replace_head(model, 2, at="b").output.shape) == (None, 2)


def test_other_surgery_errors_are_one_clear_line(cases: dict[str, Case]) -> None:
    model = cases["hub-MnistModel"].model
    shared = keras.layers.Dense(4, name="shared")
    inputs = keras.Input((4,))
    twice = keras.Model(inputs, keras.layers.Dense(2, name="out")(shared(shared(inputs))))
    two_outputs = surgery.add_heads(model, {"parity": 2})
    problems = {
        r"layer 'shared' is used 2 times": lambda: surgery.replace_head(twice, 1, at="shared"),
        r"new head's name 'hidden' is already a layer": lambda: surgery.replace_head(model, 1, name="hidden"),
        r"positive integer number of units; got 0": lambda: surgery.replace_head(model, 0),
        r"a head is a number of classes": lambda: surgery.replace_head(model, "ten"),
        r"invalid head spec": lambda: surgery.replace_head(model, {"units": 2, "colour": "red"}),
        r"not to a layer instance": lambda: surgery.replace_head(model, keras.layers.Dense(1), name="x"),
        r"feeds 2 outputs": lambda: surgery.replace_head(two_outputs, 1, at="hidden"),
        r"output 'classification_head' exists already": lambda: surgery.add_heads(model, {"classification_head": 1}),
        r"non-empty": lambda: surgery.add_heads(model, {}),
        r"not both": lambda: surgery.freeze(model, ["hidden"], up_to="hidden"),
        r"side must be": lambda: surgery.feature_extractor(model, side="middle"),
        r"is an input layer": lambda: surgery.feature_extractor(model, at="image"),
        r"needs a Keras functional model": lambda: surgery.replace_head(keras.layers.Dense(2), 1),
    }
    for pattern, call in problems.items():
        with pytest.raises(SurgeryError, match=pattern) as err:
            call()
        assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- derived models publish


@keras.saving.register_keras_serializable(package="test_surgery")
class ZeroDetector(HubModel):
    """An author's class around a re-headed MnistModel (the functional subclassing pattern)."""

    head_layer = "binary_classification_head"

    def __init__(self, **kwargs: Any) -> None:
        binary = surgery.replace_head(MnistModel(), 1)
        super().__init__(inputs=binary.input, outputs=binary.output, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}


@pytest.mark.parametrize("kind", ["hub-MnistModel", "hub-MnistDictModel", "hub-class-free"])
def test_derived_models_push_and_load_back_identically(kind: str, cases: dict[str, Case], hub: HubServer,
                                                       tmp_path: Path) -> None:
    case = cases[kind]
    derived = surgery.replace_head(case.model, 1)
    repo = f"alice/derived-{kind.lower()}"
    hub_publish.push_to_hub(derived, repo, token=TOKEN, endpoint=hub.url)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HubPublishWarning)  # a Functional loads as itself, no fallback
        loaded = hub_publish.from_pretrained(repo, token=TOKEN, endpoint=hub.url, cache_dir=tmp_path)
    assert type(loaded).__name__ == "Functional"
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in derived.layers]
    assert type(loaded.input) is type(derived.input)
    np.testing.assert_array_equal(_predict(loaded, case), _predict(derived, case))


def test_a_derived_model_wrapped_in_a_registered_class_loads_as_that_class(tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    model = ZeroDetector()
    folder = model.save_pretrained(tmp_path / "zero")
    loaded = ZeroDetector.from_pretrained(folder)
    assert type(loaded) is ZeroDetector
    images = _images()
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["hub_publish"]["head_layer"] == "binary_classification_head"


def test_surgery_runs_under_the_jax_backend(tmp_path: Path) -> None:
    """Keras-only code: the same calls under JAX (and distribute= refuses a non-TF backend clearly)."""
    pytest.importorskip("jax")
    script = textwrap.dedent(
        """
        import numpy as np, keras
        from hub_publish import surgery
        from hub_publish.errors import HubPublishError
        from hub_publish.models import MnistDictModel
        from hub_publish.training import train
        assert keras.config.backend() == "jax"
        model = MnistDictModel()
        x = {"image": np.zeros((2, 8, 8, 1), "uint8")}
        binary = surgery.replace_head(model, 1)
        assert binary.predict(x, verbose=0).shape == (2, 1)
        assert surgery.feature_extractor(model).predict(x, verbose=0).shape == (2, 48)
        assert set(surgery.add_heads(model, {"a": 2}).predict(x, verbose=0)) == {"classification_head", "a"}
        assert surgery.freeze(binary, up_to="binary_classification_head")[-1] == "head_dropout"
        try:
            train("MnistModel", epochs=1, distribute="mirrored")
        except HubPublishError as err:
            assert "needs the TensorFlow backend" in str(err) and "'jax'" in str(err), err
        else:
            raise AssertionError("distribute='mirrored' accepted under JAX")
        print("JAX_OK")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env=subprocess_env(KERAS_BACKEND="jax"),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JAX_OK" in proc.stdout
