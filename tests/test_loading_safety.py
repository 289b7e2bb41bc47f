"""Bad input to the loader: each case fails with one clear error, and nothing is half-loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from folder_tools import restamp
import hub_publish
from hub_publish import constants
from hub_publish.errors import (
    ClassMismatchError,
    IntegrityError,
    ModelFolderError,
    UnknownLayersError,
    UnsafeModelError,
)
from hub_publish.loading import HubPublishWarning
from hub_publish.models import MnistDictModel, MnistModel

from conftest import subprocess_env

# An author's own model module, as a third party would write it (registered, functional subclass).
AUTHOR_MODULE = textwrap.dedent(
    """
    import keras
    from pathlib import Path
    from hub_publish import HubModel

    MARKER = Path(__file__).with_suffix(".imported")
    MARKER.write_text("imported")  # a side effect that tells whether the loader imported us

    @keras.saving.register_keras_serializable(package="author")
    class TinyNet(HubModel):
        def __init__(self, units=4, **kwargs):
            inputs = keras.Input((6,), name="x")
            hidden = keras.layers.Dense(units, activation="relu", name="hidden")(inputs)
            outputs = keras.layers.Dense(2, name="head")(hidden)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.units = units

        def get_config(self):
            return {"name": self.name, "units": self.units}

    @keras.saving.register_keras_serializable(package="author")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2
    """
)


@pytest.fixture()
def saved(tmp_path) -> Path:
    model = MnistModel()
    return hub_publish.save_pretrained(model, tmp_path / "model")


def _author_folder(tmp_path: Path, script: str, module: str = "author_models") -> Path:
    """Save a model defined in an author module, in a child process that can import it.

    Each test names its own module: a class registered in this process by one test must not
    make another test's "unknown class" known.
    """
    (tmp_path / f"{module}.py").write_text(AUTHOR_MODULE.replace('package="author"', f'package="{module}"'))
    code = "\n".join(
        ["import sys, numpy as np", f"sys.path.insert(0, {str(tmp_path)!r})",
         f"import keras, hub_publish, {module} as author_models", script]
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(), cwd=tmp_path)
    (tmp_path / f"{module}.imported").unlink()
    return tmp_path / "folder"


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="no model folder"):
        hub_publish.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="no model folder"):
        hub_publish.from_pretrained(str(tmp_path / "nope"))


def test_missing_config(saved):
    (saved / constants.CONFIG_FILE).unlink()
    with pytest.raises(ModelFolderError, match="has no config.json"):
        hub_publish.from_pretrained(saved)


def test_garbled_config(saved):
    (saved / constants.CONFIG_FILE).write_text('{"class_name": "MnistModel", ')
    # The manifest covers config.json (issue 10): an altered config fails its hash first ...
    with pytest.raises(IntegrityError, match="config.json .*truncated or altered"):
        hub_publish.from_pretrained(saved)
    # ... and one whose record matches (or a folder Keras wrote, without a manifest) is not JSON.
    restamp(saved, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match="config.json .* is not valid JSON"):
        hub_publish.from_pretrained(saved)


def test_config_that_is_not_a_model(saved):
    (saved / constants.CONFIG_FILE).write_text(json.dumps({"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}, "registered_name": None}))
    restamp(saved, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match=r"config\.json in .* does not describe a Keras model \(got Dense\)\.$"):
        hub_publish.from_pretrained(saved)


def test_truncated_weights(saved):
    weights = saved / constants.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(IntegrityError, match="1000 bytes.*truncated or altered"):
        hub_publish.from_pretrained(saved)


def test_altered_weights(saved):
    weights = saved / constants.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        hub_publish.from_pretrained(saved)


@pytest.mark.parametrize("name", ["../outside.h5", "/etc/hostname", "sub/../../outside.h5"])
def test_metadata_naming_files_outside_the_folder_is_refused(saved, name):
    (saved.parent / "outside.h5").write_bytes(b"not yours")
    metadata = json.loads((saved / constants.METADATA_FILE).read_text())
    metadata[constants.META_ROOT][constants.META_FILES][name] = {constants.META_SHA256: "0" * 64, constants.META_SIZE: 9}
    (saved / constants.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelFolderError, match="names a file outside the folder"):
        hub_publish.from_pretrained(saved)
    assert (saved.parent / "outside.h5").read_bytes() == b"not yours"


def test_missing_weights(saved):
    (saved / constants.WEIGHTS_FILE).unlink()
    with pytest.raises(ModelFolderError, match="has no model.weights.h5"):
        hub_publish.from_pretrained(saved)


def test_wrong_class_is_refused_naming_both(tmp_path):
    folder = hub_publish.save_pretrained(MnistDictModel(), tmp_path / "dict")
    with pytest.raises(ClassMismatchError, match=r"holds hub_publish>MnistDictModel, not hub_publish>MnistModel"):
        MnistModel.from_pretrained(folder)
    plain = hub_publish.save_pretrained(keras.Model(*_tiny_graph()), tmp_path / "plain")
    with pytest.raises(ClassMismatchError, match="holds Functional, not hub_publish>MnistModel"):
        MnistModel.from_pretrained(plain)


def _tiny_graph():
    inputs = keras.Input((3,))
    return inputs, keras.layers.Dense(2)(inputs)


def test_lambda_with_bytecode_is_refused(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0, name="double")(inputs)
    folder = hub_publish.save_pretrained(keras.Model(inputs, outputs), tmp_path / "lambda")
    with pytest.raises(UnsafeModelError, match="Python code"):
        hub_publish.from_pretrained(folder)


def test_newer_keras_warns_naming_both_versions(saved):
    meta_path = saved / constants.METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta[constants.META_KERAS_VERSION] = "99.1.0"
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(HubPublishWarning, match=rf"Keras 99\.1\.0, newer than the installed Keras {keras.version()}"):
        model = hub_publish.from_pretrained(saved)
    assert type(model) is MnistModel


def test_untrusted_module_is_never_imported(tmp_path, monkeypatch):
    folder = _author_folder(
        tmp_path,
        "m = author_models.TinyNet(); hub_publish.save_pretrained(m, 'folder')\n"
        "np.save('expected.npy', m.predict(np.ones((2, 6), 'float32'), verbose=0))",
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, but the config alone must not import it
    with pytest.warns(HubPublishWarning, match=r"class 'TinyNet' comes from module 'author_models', which is not trusted"):
        model = hub_publish.from_pretrained(folder)
    assert not (tmp_path / "author_models.imported").exists()
    assert "author_models" not in sys.modules
    assert type(model).__name__ == "Functional"
    np.testing.assert_array_equal(model.predict(np.ones((2, 6), "float32"), verbose=0), np.load(tmp_path / "expected.npy"))
    # Named by the caller, it is trusted: imported, and the class comes back.
    trusted = hub_publish.from_pretrained(folder, trusted_modules=["author_models"])
    assert type(trusted).__name__ == "TinyNet" and (tmp_path / "author_models.imported").exists()


def test_class_free_fallback_in_a_process_that_cannot_import_the_module(tmp_path):
    folder = _author_folder(
        tmp_path,
        "m = author_models.TinyNet(units=5); hub_publish.save_pretrained(m, 'folder')\n"
        "np.save('expected.npy', m.predict(np.linspace(-1, 1, 12, dtype='float32').reshape(2, 6), verbose=0))",
    )
    (tmp_path / "author_models.py").unlink()  # the class's module is gone
    check = textwrap.dedent(
        f"""
        import warnings, numpy as np, hub_publish
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = hub_publish.from_pretrained({str(folder)!r}, trusted_modules=["author_models"])
        messages = [str(w.message) for w in caught if "TinyNet" in str(w.message)]
        assert messages and "author_models" in messages[0], messages
        assert type(model).__name__ == "Functional", type(model)
        assert [l.name for l in model.layers] == ["x", "hidden", "head"]
        got = model.predict(np.linspace(-1, 1, 12, dtype="float32").reshape(2, 6), verbose=0)
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
        print("class-free ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", check], env=subprocess_env(), cwd=tmp_path / "folder",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "class-free ok" in out.stdout


def test_graph_with_unknown_custom_layers_names_them(tmp_path):
    folder = _author_folder(
        tmp_path,
        "i = keras.Input((3,)); o = author_models.Doubler(name='doubler')(i)\n"
        "hub_publish.save_pretrained(keras.Model(i, o), 'folder')",
        module="author_layers",
    )
    with pytest.raises(UnknownLayersError, match=r"author_layers>Doubler \(module author_layers\)"):
        hub_publish.from_pretrained(folder)


def test_invalid_repo_reference_is_clear(tmp_path):
    with pytest.raises(hub_publish.errors.HubPublishError, match="not a valid Hub repo id"):
        hub_publish.from_pretrained("hf://a/b/c")
