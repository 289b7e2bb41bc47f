"""Issue 9 items 1, 3, 4, 5: which models save, what is refused, names, head re-initialisation.

Refusals happen before anything is written and name the class or layer and the fix. Checks that
need a fresh process (auto-names, trusted custom layers) run their half in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import hub_publish
from hub_publish import constants, surgery
from hub_publish.errors import HubPublishError, HubPublishWarning
from hub_publish.models import MnistModel

from conftest import subprocess_env


def _x(n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


# ----------------------------------------------------------------------------- refusals (item 3)


@keras.saving.register_keras_serializable(package="test_any_model")
class NoConfig(keras.Model):
    """A functional subclass with a constructor argument and no get_config."""

    def __init__(self, units: int = 3, **kwargs):
        inputs = keras.Input((4,))
        super().__init__(inputs, keras.layers.Dense(units)(inputs), **kwargs)


@keras.saving.register_keras_serializable(package="test_any_model")
class RequiredArg(keras.Model):
    def __init__(self, units, **kwargs):
        inputs = keras.Input((4,))
        super().__init__(inputs, keras.layers.Dense(units)(inputs), **kwargs)


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


class UnregisteredModel(keras.Model):
    def __init__(self, **kwargs):
        inputs = keras.Input((4,))
        super().__init__(inputs, keras.layers.Dense(2)(inputs), **kwargs)


class Subclassed(keras.Model):
    def call(self, x):
        return x


def _in_main(cls: type) -> type:
    """The same class as if a script defined it (its module is __main__)."""
    return type(cls.__name__, (cls,), {"__module__": "__main__"})


def _unregistered_layer_model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, Unregistered()(inputs))


REFUSALS = {
    "no-get-config": (lambda: NoConfig(units=5), r"NoConfig rebuilt from its config differs .*give NoConfig a get_config\(\)"),
    "required-arg": (lambda: RequiredArg(units=5), r"RequiredArg cannot be rebuilt from its config .*get_config\(\)"),
    "unregistered-layer": (_unregistered_layer_model, r"custom class Unregistered \(module test_any_model\) is not registered"),
    "unregistered-model": (UnregisteredModel, r"model class UnregisteredModel is not registered"),
    "main-model": (lambda: _in_main(NoConfig)(), r"model class NoConfig is defined in __main__ .*move it into a module"),
    "subclassed": (Subclassed, r"Subclassed is a subclassed keras.Model whose call\(\) is Python code"),
    "unbuilt-sequential": (lambda: keras.Sequential([keras.layers.Dense(2)]), r"has no input shape yet; start it with keras.Input"),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_what_could_not_be_loaded_back_is_refused_before_writing(tmp_path: Path, case: str) -> None:
    build, pattern = REFUSALS[case]
    with pytest.raises(HubPublishError, match=pattern) as err:
        hub_publish.save_pretrained(build(), tmp_path / "m")
    assert "\n" not in str(err.value) and not str(err.value).endswith(":")
    assert list(tmp_path.iterdir()) == []


def test_a_custom_layer_in_main_is_refused(tmp_path: Path) -> None:
    Scaled = _in_main(Unregistered)
    keras.saving.register_keras_serializable(package="scratch")(Scaled)
    inputs = keras.Input((4,))
    with pytest.raises(HubPublishError, match=r"scratch>Unregistered is defined in __main__"):
        hub_publish.save_pretrained(keras.Model(inputs, Scaled()(inputs)), tmp_path / "m")


LAYERS_MODULE = '''
import keras

@keras.saving.register_keras_serializable(package="my_layers")
class Double(keras.layers.Layer):
    def call(self, x):
        return x * 2.0
'''


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = subprocess_env()
    env["PYTHONPATH"] = f"{cwd}:{env['PYTHONPATH']}"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_trusted_modules_cover_custom_layers_and_auto_names_never_collide(tmp_path: Path) -> None:
    """Two fresh processes: one saves (Keras names the layers dense, dense_1, ...), one loads."""
    (tmp_path / "my_layers.py").write_text(LAYERS_MODULE)
    saved = _run('''
        import keras, hub_publish, my_layers
        inputs = keras.Input((4,))
        x = keras.layers.Dense(8)(inputs)
        x = keras.layers.Dropout(0.1)(my_layers.Double()(x))
        model = keras.Model(inputs, keras.layers.Dense(3)(x))
        print([layer.name for layer in model.layers])
        hub_publish.save_pretrained(model, "custom")
    ''', tmp_path)
    assert saved.returncode == 0, saved.stderr[-2000:]
    assert "'dense', 'double', 'dropout', 'dense_1'" in saved.stdout
    loaded = _run('''
        import keras, numpy as np, hub_publish
        from hub_publish import surgery
        from hub_publish.errors import UnknownLayersError
        try:
            hub_publish.from_pretrained("custom")
        except UnknownLayersError as exc:
            print("refused:", exc)
        model = hub_publish.from_pretrained("custom", trusted_modules=["my_layers"])
        # The guide's recipe with unnamed layers, in a fresh process: no "used 2 times".
        head = keras.layers.Dense(1, activation="sigmoid")(model.get_layer("dense_1").input)
        extra = keras.layers.Dropout(0.2)(head)
        user = keras.Model(model.input, extra)
        rehead = surgery.replace_head(model, keras.layers.Dense(1, activation="sigmoid"))
        print("names:", [l.name for l in user.layers][-2:], rehead.layers[-1].name)
        user.compile("adam", "binary_crossentropy")
        user.fit(np.ones((4, 4)), np.ones((4, 1)), epochs=1, verbose=0)
    ''', tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "refused: the model's graph needs custom layers that are not available: my_layers>Double" in loaded.stdout
    assert "pass trusted_modules=['my_layers'] if you trust them" in loaded.stdout and "--trust" not in loaded.stdout
    names = loaded.stdout.split("names:")[1]
    assert "'dense_2'" in names and "'dropout_1'" in names and "dense_3" in names


def test_sequential_plain_and_nested_models_save_and_load(tmp_path: Path) -> None:
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    a = keras.Input((3,), name="a")
    enc = keras.Model(a, keras.layers.Dense(4, name="enc_dense")(a), name="enc")
    b = keras.Input((3,), name="b")
    nested = keras.Model({"b": b}, {"y": keras.layers.Dense(2, name="y")(enc(b)), "z": enc(b)})
    x = np.ones((2, 3), dtype="float32")
    for name, model, feed in (("seq", seq, x), ("nested", nested, {"b": x})):
        folder = hub_publish.save_pretrained(model, tmp_path / name)
        loaded = hub_publish.from_pretrained(folder)
        assert type(loaded) is type(model)
        assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
        keras.tree.map_structure(np.testing.assert_array_equal, loaded.predict(feed, verbose=0), model.predict(feed, verbose=0))


# ----------------------------------------------------------------------------- heads (items 4, 5)


def test_constructor_overrides_reinitialise_the_head_and_keep_the_rest(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = MnistModel(conv_filters=(4, 6, 8), dense_units=8)
    folder = hub_publish.save_pretrained(model, tmp_path / "m", class_names=[str(i) for i in range(10)])
    assert json.loads((folder / constants.METADATA_FILE).read_text())["hub_publish"]["class_names"][:3] == ["0", "1", "2"]
    with pytest.warns(HubPublishWarning, match=r"num_classes changed the shapes of layer\(s\) classification_head: they are newly initialised") as caught:
        two = MnistModel.from_pretrained(folder, num_classes=2)
    with pytest.warns(HubPublishWarning, match="num_classes changed the shapes") as caught_direct:
        hub_publish.from_pretrained(folder, num_classes=2)
    # the warning points at the caller's line, through either entry point (not at hub_publish's)
    assert {w.filename for w in [*caught, *caught_direct] if issubclass(w.category, HubPublishWarning)} == {__file__}
    assert type(two) is MnistModel and two.output.shape[-1] == 2
    assert two.get_config()["num_classes"] == 2
    for layer in model.layers:
        if layer.name != "classification_head":
            for a, b in zip(layer.get_weights(), two.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(HubPublishError, match=r"num_clases is neither a from_pretrained option nor an argument of MnistModel"):
        MnistModel.from_pretrained(folder, num_clases=2)


def test_class_names_must_match_the_output(tmp_path: Path) -> None:
    with pytest.raises(HubPublishError, match="class_names has 3 names but the model outputs 10 classes"):
        hub_publish.save_pretrained(MnistModel(), tmp_path / "m", class_names=["a", "b", "c"])


def test_replace_head_defaults_to_the_recorded_head_and_takes_a_layer_as_is(tmp_path: Path) -> None:
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, name="features")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(keras.layers.Dense(5, name="extra")(x)))
    folder = hub_publish.save_pretrained(model, tmp_path / "m")
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    meta["hub_publish"]["head_layer"] = "extra"  # the author's recorded head, not the last layer
    (folder / constants.METADATA_FILE).write_text(json.dumps(meta))
    loaded = hub_publish.from_pretrained(folder)
    new = surgery.replace_head(loaded, keras.layers.Dense(2))  # unnamed, used as it is, at the recorded head
    names = [layer.name for layer in new.layers]
    assert "features" in names and "extra" not in names and "logits" not in names
    assert new.output.shape[-1] == 2
    # A built head whose default name another kept layer has gets a unique one.
    keras.utils.set_random_seed(0)
    zoo = MnistModel(conv_filters=(4, 6, 8), dense_units=8)
    side = keras.layers.Dense(1, activation="sigmoid", name="binary_classification_head")(zoo.get_layer("hidden").output)
    two = keras.Model(zoo.input, [zoo.output, side])
    renamed = surgery.replace_head(two, 1, at="classification_head")
    assert sorted(layer.name for layer in renamed.layers if "binary" in layer.name) == [
        "binary_classification_head", "binary_classification_head_2"]


def test_surgery_takes_a_sequential(tmp_path: Path) -> None:
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="h"), keras.layers.Dense(3, name="out")])
    loaded = hub_publish.from_pretrained(hub_publish.save_pretrained(seq, tmp_path / "seq"))
    assert type(loaded) is keras.Sequential
    binary = surgery.replace_head(loaded, 1)  # at the recorded head: "out"
    assert [layer.name for layer in binary.layers][1:] == ["h", "binary_classification_head"]
    assert surgery.feature_extractor(loaded, at="out").output.shape[-1] == 8
