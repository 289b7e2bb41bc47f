"""The seed's "0" vs rest fine-tune as one call and one command, on the embedded Hub; lineage;
plain-Keras hf:// loading; MirroredStrategy on 2 logical CPU devices."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from huggingface_hub import ModelCard

import hub_publish
from hub_publish import constants
from hub_publish.cli import main
from hub_publish.errors import HubPublishError
from hub_publish.finetune import finetune
from hub_publish.models import MnistDictModel, MnistModel
from hub_publish.server import HubServer
from hub_publish.training import train_and_package

from conftest import subprocess_env

pytestmark = pytest.mark.slow

TOKEN = "hf_alice"
BASE_REPO = "alice/mnist-digits"


def _probe() -> np.ndarray:
    """The first 64 digits images, as the model takes them (uint8, 8x8x1)."""
    from sklearn.datasets import load_digits

    digits = np.round(load_digits().images[:64] * (255 / 16)).astype(np.uint8)[..., None]
    return digits


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    with HubServer(tmp_path_factory.mktemp("hub-data"), tokens=[f"alice={TOKEN}"]) as server:
        yield server


@pytest.fixture(scope="module")
def base(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """MnistModel trained on digits (10 classes), packaged and pushed: the model users fine-tune."""
    folder, record = train_and_package("MnistModel", tmp_path_factory.mktemp("base") / "mnist-digits",
                                       dataset="digits", verbose=0)
    pushed = hub_publish.push_to_hub(folder, BASE_REPO, token=TOKEN, endpoint=hub.url)
    return {"folder": folder, "commit": pushed.commit_id, "record": record}


@pytest.fixture(scope="module")
def zero_vs_rest(hub: HubServer, base: dict, tmp_path_factory: pytest.TempPathFactory):
    """The seed's fine-tune: SRC from the Hub, "0" vs rest on digits, pushed back to the Hub."""
    tmp = tmp_path_factory.mktemp("finetune")
    return finetune(BASE_REPO, positive_class=0, epochs=5, dataset="digits", push="alice/mnist-digits-zero",
                    output_dir=tmp / "zero", endpoint=hub.url, token=TOKEN, cache_dir=tmp / "cache", verbose=0)


def test_zero_vs_rest_beats_the_majority_baseline(zero_vs_rest) -> None:
    result = zero_vs_rest
    m = result.metrics
    print(f"\n0 vs rest on digits: binary_accuracy={m['binary_accuracy']:.4f} precision={m['precision']:.4f} "
          f"recall={m['recall']:.4f}; majority baseline {result.baseline:.4f}")
    assert result.baseline == pytest.approx(0.90, abs=0.01)  # 36 zeros among 360 test digits
    assert result.accuracy >= 0.97
    assert result.accuracy - result.baseline >= 0.06
    assert m["precision"] >= 0.8 and m["recall"] >= 0.8  # it finds the zeros, not just "never 0"
    assert set(m) == {"binary_accuracy", "precision", "recall", "loss"}
    details = result.record["finetune"]
    assert details["baseline"] == {"name": "majority class", "label": 0, "binary_accuracy": result.baseline}
    assert details["positive_class"] == 0 and details["head_layer"] == "binary_classification_head"
    assert result.record[constants.TRAIN_TEST_METRICS] == m
    assert result.record[constants.TRAIN_LOSS] == "binary_crossentropy"
    assert result.record[constants.TRAIN_DISTRIBUTE] is None


def test_lineage_pins_the_source_revision_in_metadata_and_card(zero_vs_rest, base: dict) -> None:
    folder = zero_vs_rest.folder
    expected = {"repo_id": BASE_REPO, "revision": base["commit"], "relation": "finetune"}
    assert zero_vs_rest.base_model == expected
    metadata = json.loads((folder / constants.METADATA_FILE).read_text())
    assert metadata[constants.META_ROOT][constants.META_BASE_MODEL] == expected
    assert metadata[constants.META_ROOT][constants.META_HEAD_LAYER] == "binary_classification_head"
    card = ModelCard.load(folder / constants.CARD_FILE)
    assert card.data.base_model == BASE_REPO and card.data.base_model_relation == "finetune"
    assert f"at revision `{base['commit']}`" in card.text
    assert "majority-class baseline (always 0) | 0.9000" in card.text


def test_pushed_model_loads_back_with_identical_predictions(zero_vs_rest, hub: HubServer, tmp_path: Path) -> None:
    assert zero_vs_rest.push is not None and zero_vs_rest.push.changed
    repo = "alice/mnist-digits-zero"
    images = _probe()
    expected = zero_vs_rest.model.predict(images, verbose=0)
    loaded = hub_publish.from_pretrained(repo, token=TOKEN, endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert type(loaded).__name__ == "Functional"
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in zero_vs_rest.model.layers]
    assert hub_publish.loading.source_of(loaded).commit == zero_vs_rest.push.commit_id
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)
    # Plain Keras, no hub-publish class involved: keras.saving.load_model("hf://...") in a fresh process
    # (huggingface_hub reads HF_ENDPOINT when it is imported).
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        model = keras.saving.load_model("hf://{repo}")
        np.save("keras.npy", model.predict(np.load("images.npy"), verbose=0))
        print(type(model).__name__)
        """
    )
    env = subprocess_env(HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf-home"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "Functional"
    np.testing.assert_array_equal(np.load(tmp_path / "keras.npy"), expected)


def test_cli_finetune_two_phases_from_a_local_folder(base: dict, hub: HubServer, tmp_path: Path) -> None:
    out = tmp_path / "zero-cli"
    result = CliRunner().invoke(main, [
        "finetune", str(base["folder"]), "--task", "binary", "--positive-class", "0", "--epochs", "4",
        "--freeze-backbone", "--learning-rate", "0.002", "--dataset", "digits", "--output", str(out),
        "--push", "alice/zero-cli", "--endpoint", hub.url, "--token", TOKEN,
    ])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()[-5:]  # the summary, after Keras' progress lines
    assert lines[0] == f"fine-tuned {base['folder']}: class 0 vs rest on digits"
    assert "binary_accuracy=" in lines[1] and "precision=" in lines[1] and "recall=" in lines[1]
    assert "majority-class baseline 0.9000" in lines[1]
    assert lines[2] == f"packaged: {out}"
    assert lines[3].startswith("pushed: alice/zero-cli commit ") and "alice/zero-cli" in lines[4]
    metadata = json.loads((out / constants.METADATA_FILE).read_text())[constants.META_ROOT]
    # A local source: its folder is recorded, and there is no revision to pin.
    lineage = {"path": str(base["folder"]), "revision": None, "relation": "finetune"}
    assert metadata[constants.META_BASE_MODEL] == lineage
    training = metadata[constants.META_TRAINING]
    phases = training["finetune"]["phases"]
    assert [(p["frozen"], p["epochs"], p["learning_rate"]) for p in phases] == [(True, 4, 0.002), (False, 4, 0.0002)]
    assert phases[0]["trainable_parameters"] == 49 and phases[1]["trainable_parameters"] == 76_369
    assert training[constants.TRAIN_EPOCHS] == 8 and len(training[constants.TRAIN_HISTORY]["loss"]) == 8
    assert training[constants.TRAIN_TEST_METRICS]["binary_accuracy"] >= 0.97
    loaded = hub_publish.from_pretrained(out)
    assert all(layer.trainable for layer in loaded.layers)


def test_finetune_keeps_dict_inputs(tmp_path: Path) -> None:
    keras.utils.set_random_seed(4)
    source = hub_publish.save_pretrained(MnistDictModel(), tmp_path / "dict")
    result = finetune(source, epochs=1, output_dir=tmp_path / "zero", verbose=0)
    assert set(result.model.input) == {"image"}
    metadata = json.loads((result.folder / constants.METADATA_FILE).read_text())[constants.META_ROOT]
    assert metadata[constants.META_INPUT_STRUCTURE] == "dict"
    loaded = hub_publish.from_pretrained(result.folder)
    x = {"image": _probe()}
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0))


def test_finetune_bad_input_is_clear(base: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = base["folder"]
    with pytest.raises(ValueError, match="unknown task 'multiclass'"):
        finetune(folder, task="multiclass", output_dir=tmp_path / "x")
    with pytest.raises(ValueError, match=r"positive_class must be a class of 'digits', an integer from 0 to 9; got 10"):
        finetune(folder, positive_class=10, output_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="distribute must be None or one of mirrored"):
        finetune(folder, distribute="ring", output_dir=tmp_path / "x")
    monkeypatch.setattr(keras.config, "backend", lambda: "jax")
    with pytest.raises(HubPublishError, match=r"needs the TensorFlow backend; Keras runs on 'jax'"):
        finetune(folder, distribute="mirrored", output_dir=tmp_path / "x")
    monkeypatch.undo()
    result = CliRunner().invoke(main, ["finetune", str(tmp_path / "missing"), "--output", str(tmp_path / "y")])
    assert result.exit_code == 1 and result.output.startswith("Error: no model folder at")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_mirrored_strategy_on_two_logical_cpu_devices(tmp_path: Path) -> None:
    """Data-parallel training and fine-tuning on one machine split into 2 logical CPU devices."""
    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np
        from hub_publish.cli import main
        from hub_publish.finetune import finetune
        from hub_publish.models import MnistDictModel, MnistModel
        from hub_publish.training import train

        # The CLI's train --distribute mirrored, then a fine-tune of what it packaged.
        main(["train", "--epochs", "3", "--distribute", "mirrored", "-o", "base"], standalone_mode=False)
        result = finetune("base", epochs=3, freeze_backbone=True, distribute="mirrored", output_dir="zero", verbose=0)
        np.save("zero.npy", result.model.predict(np.load("images.npy"), verbose=0))
        # An instance built outside the strategy's scope is rebuilt inside it, keeping its class.
        instance = train(MnistModel(), epochs=1, distribute="mirrored", verbose=0)
        print(json.dumps({"accuracy": result.accuracy, "baseline": result.baseline,
                          "instance_class": type(instance.model).__name__,
                          "instance_distribute": instance.record["distribute"]}))
        """
    )
    np.save(tmp_path / "images.npy", _probe())
    proc = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), cwd=tmp_path, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["instance_class"] == "MnistModel"
    assert summary["instance_distribute"]["num_replicas"] == 2
    assert summary["accuracy"] > summary["baseline"]
    for name in ("base", "zero"):
        training = json.loads((tmp_path / name / constants.METADATA_FILE).read_text())[constants.META_ROOT]["training"]
        distribute = training[constants.TRAIN_DISTRIBUTE]
        assert distribute["strategy"] == "MirroredStrategy" and distribute["num_replicas"] == 2
        assert [d.rsplit("/", 1)[-1] for d in distribute["devices"]] == ["device:CPU:0", "device:CPU:1"]
        card = (tmp_path / name / constants.CARD_FILE).read_text()
        assert "| Distribution | `MirroredStrategy`, 2 replicas (" in card
    # What they publish is the same format: same files, loadable here (1 device) as usual.
    files = {name: sorted(p.name for p in (tmp_path / name).iterdir()) for name in ("base", "zero")}
    assert files["base"] == files["zero"]
    assert type(hub_publish.from_pretrained(tmp_path / "base")) is MnistModel
    zero = hub_publish.from_pretrained(tmp_path / "zero")
    images = np.load(tmp_path / "images.npy")
    np.testing.assert_array_equal(zero.predict(images, verbose=0), np.load(tmp_path / "zero.npy"))


def test_a_bad_push_target_is_refused_before_training(base: dict, hub: HubServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad --push repo id, --token or --endpoint is one line before any training or packaging."""
    from hub_publish import finetune as finetune_module
    from hub_publish import training

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the push target was checked")

    monkeypatch.setattr(finetune_module, "_train_phases", no_training)
    monkeypatch.setattr(training, "train_and_package", no_training)
    out = tmp_path / "ft-bad"
    targets = [
        ({"push": "bad repo"}, r"'bad repo' is not a Hub repo id"),
        ({"push": "alice/ok", "token": "hf_wrong"}, r"alice/ok: the token is missing or invalid"),
        ({"push": "alice/ok", "endpoint": "http://127.0.0.1:9"}, r"the Hub at http://127.0.0.1:9 could not be reached"),
        ({"push": "bob/ok"}, r"bob/ok: the token of alice may not push to the namespace 'bob'"),
    ]
    for kwargs, message in targets:
        call = {"token": TOKEN, "endpoint": hub.url, **kwargs}
        with pytest.raises(HubPublishError, match=message):
            finetune(base["folder"], epochs=1, dataset="digits", output_dir=out, verbose=0, **call)
        args = ["finetune", str(base["folder"]), "--epochs", "1", "--output", str(out),
                "--push", call["push"], "--token", call["token"], "--endpoint", call["endpoint"]]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: "), result.stderr
        assert not out.exists()
    for args, message in ((["--endpoint", "http://127.0.0.1:9"], "could not be reached"),
                          (["--endpoint", hub.url, "--token", "hf_wrong"], "the token is missing or invalid: pass --token"),
                          (["--repo-id", "not a repo"], "is not a Hub repo id")):
        result = CliRunner().invoke(main, ["quickstart", "-o", str(tmp_path / "qs"), *args])
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "qs").exists()
