"""Rules that used to be written in several modules and now have one home (issue 12).

Each test checks the one shared implementation, so breaking it fails here whichever caller
used to hold its own copy. Fast unit tests: no server, no training.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from server_fixtures import alice, hub_server, repo_id  # noqa: F401

from hub_publish.text import first_line


# ----------------------------------------------------------------------------- first_line


def test_first_line_is_the_first_non_blank_line():
    assert first_line(ValueError("\n  bad shape (3,)  \nmore detail\n")) == "bad shape (3,)"


def test_first_line_of_an_empty_message_is_the_exception_type():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("  \n ")) == "ValueError"
    assert first_line("") == ""


def test_first_line_skips_the_frame_keras_puts_around_a_layer_call_error():
    message = (
        "\x1b[1mException encountered when calling Dense.call().\x1b[0m\n\n"
        "\x1b[1mInput 0 of layer \"dense\" is incompatible with the layer: expected axis -1 to have value 4\x1b[0m\n\n"
        "Arguments received by Dense.call():\n  • inputs=tf.Tensor(shape=(1, 3), dtype=float32)"
    )
    assert first_line(ValueError(message)) == 'Input 0 of layer "dense" is incompatible with the layer: expected axis -1 to have value 4'
    # Nothing but the frame: the type name, never the arguments.
    assert first_line(ValueError("Exception encountered when calling X.\nArguments received by X:\n  • x=1")) == "ValueError"


def test_first_line_with_reasons_appends_huggingface_hubs_reason_lines():
    message = "403 Forbidden: you cannot push here.\nCannot access content at: http://x/api.\n- token is read-only\n- repo is archived"
    assert first_line(ValueError(message)) == "403 Forbidden: you cannot push here."
    assert first_line(ValueError(message), reasons=True) == (
        "403 Forbidden: you cannot push here. token is read-only repo is archived"
    )


def test_a_warning_message_is_one_line():
    assert first_line(UserWarning("kept the cached copy\nsecond line")) == "kept the cached copy"


# ----------------------------------------------------------------------------- hash shapes


def test_commit_sha_and_sha256_shapes():
    from hub_publish.text import is_commit_sha, is_sha256

    sha1, sha256 = "0123456789abcdef" * 2 + "01234567", "0123456789abcdef" * 4
    assert is_commit_sha(sha1) and is_sha256(sha256)
    assert not is_commit_sha(sha256) and not is_sha256(sha1)
    for bad in (sha1 + "\n", sha1.upper(), sha1[:-1] + "g", "main", "", None, 40):
        assert not is_commit_sha(bad), bad
    for bad in (sha256 + "\n", sha256.upper(), sha256[1:], None):
        assert not is_sha256(bad), bad


def test_the_server_schema_takes_the_same_commit_sha_shape():
    from pydantic import ValidationError

    from hub_publish.server.schemas import CommitHeader

    sha1 = "ab" * 20
    assert CommitHeader.model_validate({"summary": "x", "parentCommit": sha1}).parentCommit == sha1
    with pytest.raises(ValidationError):
        CommitHeader.model_validate({"summary": "x", "parentCommit": "AB" * 20})


# ----------------------------------------------------------------------------- graph models


def _models():
    import keras

    class Subclassed(keras.Model):  # call() is Python code: no layer graph
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    class FunctionalSubclass(keras.Model):
        def __init__(self):
            x = keras.Input((3,))
            super().__init__(inputs=x, outputs=keras.layers.Dense(2)(x))

    x = keras.Input((3,))
    plain = keras.Model(x, keras.layers.Dense(2)(x))
    built = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    called = Subclassed()
    called(np.zeros((1, 3), "float32"))
    return plain, FunctionalSubclass(), built, unbuilt, called


def test_graph_model_checks_shared_by_saving_and_surgery():
    from hub_publish.packaging import is_built_sequential, is_functional, is_graph_model

    plain, subclass, built, unbuilt, called = _models()
    assert [is_functional(m) for m in (plain, subclass, built, unbuilt, called)] == [True, True, False, False, False]
    assert [is_built_sequential(m) for m in (plain, subclass, built, unbuilt, called)] == [False, False, True, False, False]
    assert [is_graph_model(m) for m in (plain, subclass, built, unbuilt, called)] == [True, True, True, False, False]
    assert not is_functional("a string") and not is_graph_model(None)

    import keras

    class NoShape(keras.layers.Layer):  # shape inference not implemented: Keras builds the Sequential without a graph
        def compute_output_spec(self, x):
            raise NotImplementedError

        def call(self, x):
            return x

    graphless = keras.Sequential([NoShape()])
    graphless.build((None, 3))
    assert graphless.built and not is_built_sequential(graphless) and not is_graph_model(graphless)


def test_surgery_takes_the_graph_models_and_refuses_the_others():
    from hub_publish.errors import SurgeryError
    from hub_publish.surgery import replace_head

    plain, subclass, built, unbuilt, called = _models()
    for model in (plain, subclass, built):
        assert replace_head(model, 4, at=model.layers[-1].name).outputs[0].shape == (None, 4)
    for model in (unbuilt, called):
        with pytest.raises(SurgeryError, match=r"^surgery needs a Keras functional model"):
            replace_head(model, 4, at="dense")


# ----------------------------------------------------------------------------- image classifier


def test_image_classifier_rule_shared_by_the_card_builder_and_check_card():
    from hub_publish import constants
    from model_cards.builder import is_image_classifier_metadata

    image = {"name": "image", "shape": [None, 28, 28, 1], "dtype": "float32"}
    probs = {"name": "probs", "shape": [None, 10], "dtype": "float32"}
    ours = {constants.META_INPUTS: [image], constants.META_OUTPUTS: [probs], constants.META_HEAD_LAYER: "classification_head"}
    assert is_image_classifier_metadata(ours)
    assert not is_image_classifier_metadata({**ours, constants.META_INPUTS: [{**image, "shape": [None, 784]}]})  # not an image
    assert not is_image_classifier_metadata({**ours, constants.META_HEAD_LAYER: None})  # no head
    assert not is_image_classifier_metadata({**ours, constants.META_OUTPUTS: [probs, probs]})  # two outputs
    assert not is_image_classifier_metadata({**ours, constants.META_OUTPUTS: [{**probs, "shape": [None, 4, 4, 2]}]})  # a map
    assert not is_image_classifier_metadata({**ours, constants.META_OUTPUTS: [{"name": "probs"}]})  # shape unknown
    assert not is_image_classifier_metadata({})


# ----------------------------------------------------------------------------- JSON


def test_json_safe_is_the_one_sanitizer_of_records_and_configs(tmp_path):
    import json
    import math

    from hub_publish import format as fmt

    record = {
        1: np.float32(0.5), "loss": [np.float64(1.5), float("nan"), np.float32("inf")], "epochs": np.int64(3),
        "shape": (None, 28), "matrix": np.arange(4).reshape(2, 2), "flag": np.bool_(True), "name": "adam", "none": None,
        "object": object,
    }
    safe = fmt.json_safe(record)
    assert safe == {
        "1": 0.5, "loss": [1.5, None, None], "epochs": 3, "shape": [None, 28], "matrix": [[0, 1], [2, 3]],
        "flag": True, "name": "adam", "none": None, "object": str(object),
    }
    assert type(safe["epochs"]) is int and type(safe["matrix"][0][0]) is int
    json.dumps(safe, allow_nan=False)  # strict JSON
    assert fmt.json_safe(record["loss"], finite=False)[0] == 1.5 and math.isnan(fmt.json_safe(record["loss"], finite=False)[1])
    assert record["shape"] == (None, 28)  # the input is not modified

    # write_json (config.json, graph.json, metadata.json) takes numpy values anywhere, arrays included.
    fmt.write_json(tmp_path / "x.json", {"mean": np.array([0.5, 0.25], "float32"), "n": np.int32(7), "nan": np.float32("nan")})
    written = json.loads((tmp_path / "x.json").read_text())
    assert written["mean"] == [0.5, 0.25] and written["n"] == 7 and math.isnan(written["nan"])


# ----------------------------------------------------------------------------- one file of a repo


def test_read_remote_text_leaves_no_trace(alice, repo_id, tmp_path, monkeypatch):
    """The push and the card merge read README.md / metadata.json of the target branch with it."""
    import tempfile

    from hub_publish.remote_file import read_remote_text

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    alice.upload_file(path_or_fileobj="\ufeff# card\n".encode(), path_in_repo="README.md", repo_id=repo_id)
    assert read_remote_text(alice, repo_id, "README.md") == "# card\n"  # the byte-order mark is dropped
    assert read_remote_text(alice, repo_id, "metadata.json") is None  # no such file
    assert read_remote_text(alice, repo_id, "README.md", revision="no-such-branch") is None
    assert not (tmp_path / "user-cache").exists() and list((tmp_path / "tmp").iterdir()) == []


# ----------------------------------------------------------------------------- custom objects of a config


def test_custom_objects_walk_shared_by_saving_and_loading():
    from hub_publish import format as fmt
    from hub_publish.loading import _custom_objects

    def obj(class_name, module, registered_name=None, **config):
        return {"class_name": class_name, "module": module, "registered_name": registered_name, "config": config}

    config = obj("Functional", "keras", layers=[
        obj("Dense", "keras.layers", kernel_initializer=obj("MyInit", "author.inits", "author>MyInit")),
        obj("Doubler", "author_layers"),
        obj("Scripted", None, "Scripted"),  # defined in a script: no module
        obj("function", "builtins"),
        {"nested": [[obj("Deep", "deep.mod", "deep>Deep")]]},
        {"class_name": "NoConfig", "module": "x"},  # not a serialized object
    ])
    assert sorted(fmt.custom_objects(config), key=str) == sorted(
        [("author>MyInit", "author.inits"), ("Doubler", "author_layers"), ("Scripted", None), ("deep>Deep", "deep.mod")], key=str)
    assert ("Scripted", None) not in _custom_objects(config) and len(_custom_objects(config)) == 3  # loading: a module to import
    deep = obj("Deep", "deep.mod")
    for _ in range(5000):  # no recursion limit
        deep = {"class_name": "Wrap", "module": "keras", "config": {"inner": deep}}
    assert fmt.custom_objects({"config": deep}) == [("Deep", "deep.mod")]


# ----------------------------------------------------------------------------- repo ids


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("mnist-digits_v1.2", None),
        ("_private", None),
        ("a" * 96, None),
        ("a" * 97, "use 1 to 96 characters"),
        ("", "use 1 to 96 characters"),
        ("café", "use 1 to 96 characters"),
        ("name\n", "use 1 to 96 characters"),
        ("a--b", "'--' and '..' are forbidden"),
        ("a..b", "'--' and '..' are forbidden"),
        ("-a", "cannot start or end with '-' or '.'"),
        ("a.", "cannot start or end with '-' or '.'"),
        ("model.git", "cannot end with '.git'"),
    ],
)
def test_one_repo_name_rule_for_the_server_and_the_card_checks(name, problem):
    from hub_publish.hub_lists import is_repo_id, repo_name_problem
    from hub_publish.server.errors import BadRequest
    from hub_publish.server.validation import validate_repo_id

    found = repo_name_problem(name)
    assert (found is None) if problem is None else (problem in found)
    assert is_repo_id(f"alice/{name}") == (problem is None) == is_repo_id(f"{name}/model")
    if problem is None:
        assert validate_repo_id(f"alice/{name}") == f"alice/{name}"
    else:
        with pytest.raises(BadRequest, match="^" + re.escape(f"Invalid repo name {name!r}: ")):
            validate_repo_id(f"alice/{name}")


def test_a_repo_id_has_exactly_two_parts():
    from hub_publish.hub_lists import is_repo_id

    for bad in ("mnist", "a/b/c", "/b", "a/", "hf://a/b", "a/b@v1", None, 3):
        assert not is_repo_id(bad), bad


def test_finetune_names_its_default_output_after_the_parsed_source(tmp_path):
    """finetune once split the reference on "@" itself; it now takes the name loading resolved."""
    from types import SimpleNamespace

    from hub_publish.finetune import DEFAULT_OUTPUT_ROOT, TASK_BINARY, _default_output
    from hub_publish.loading import ModelSource

    data = SimpleNamespace(name="digits")
    hub = ModelSource(folder=tmp_path / "snapshots" / ("ab" * 20), repo_id="alice/mnist", revision="refs/pr/1")
    assert _default_output(hub, TASK_BINARY, 3, data) == DEFAULT_OUTPUT_ROOT / "mnist-3-vs-rest"
    local = ModelSource(folder=tmp_path / "runs" / "base@2")
    assert _default_output(local, "classes", 0, data) == DEFAULT_OUTPUT_ROOT / "base@2-digits"
