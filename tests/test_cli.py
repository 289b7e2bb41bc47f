"""The hub-publish command line: help, user errors, and real subprocess runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import hub_publish
from hub_publish import constants
from hub_publish.cli import main
from hub_publish.models import MnistModel

from conftest import REPO_ROOT, subprocess_env

COMMANDS = ["train", "save", "inspect", "card", "push", "pull", "serve", "finetune", "quickstart"]


def _cli(*args: str, cwd: Path | None = None, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub_publish.cli", *args], capture_output=True, text=True,
                          env=subprocess_env(**env), cwd=cwd or REPO_ROOT, timeout=timeout)


def test_help_does_not_import_tensorflow_or_keras():
    code = (
        "import sys; from click.testing import CliRunner; from hub_publish.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import hub_publish; assert 'tensorflow' not in sys.modules\n"
        "print(r.output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert out.returncode == 0, out.stderr
    for command in COMMANDS:
        assert command in out.stdout


def test_command_list_is_complete():
    assert sorted(main.commands) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_save_inspect_and_card(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["save", "MnistDictModel", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "76,810 parameters" in result.output
    result = runner.invoke(main, ["inspect", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    for expected in ("hub_publish.models.mnist.MnistDictModel", "layer walk:", "classification_head (Dense)",
                     "image key='image': shape (None, None, None, 1) dtype uint8", "model.weights.h5", "sha256",
                     "backend-only layers: none (loads under any backend)"):
        assert expected in result.output
    result = runner.invoke(main, ["card", str(tmp_path / "m"), "--validate"])  # issue 11: a card needs a license
    assert result.exit_code == 1 and "'license' is missing" in result.stderr
    result = runner.invoke(main, ["card", str(tmp_path / "m"), "--license", "apache-2.0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["card", str(tmp_path / "m"), "--validate"])
    assert result.exit_code == 0, result.output
    assert "card is valid" in result.output


def test_save_converts_a_keras_file(tmp_path):
    model = MnistModel()
    model.save(tmp_path / "plain.keras")
    result = CliRunner().invoke(main, ["save", str(tmp_path / "plain.keras"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert type(hub_publish.from_pretrained(tmp_path / "out")) is MnistModel


@pytest.mark.parametrize(
    "args, message",
    [
        (["inspect", "/no/such/folder"], "Error: no model folder at /no/such/folder"),
        (["save", "NotAModel", "out"], "is neither a zoo model"),
        (["train", "--epochs", "0", "-o", "x"], "Invalid value for '--epochs'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, tmp_path):
    out = _cli(*args, cwd=tmp_path)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


@pytest.mark.parametrize("output", ["afile/sub", "afile/sub/deeper"])
def test_an_output_below_a_file_is_one_line(output, tmp_path):
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    out = _cli("save", "MnistModel", output, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "afile" in errors[0] and "not a folder" in errors[0], out.stderr
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "not a folder"


def test_tampered_folder_is_reported_in_one_line(tmp_path):
    folder = hub_publish.save_pretrained(MnistModel(), tmp_path / "m")
    weights = folder / constants.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])
    out = _cli("inspect", str(folder))
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "truncated or altered" in errors[0]
    # A local folder has nothing to download again (a Hub cache snapshot does: test_hub_client's pull).
    assert errors[0].endswith("; re-save the model (or copy the folder again).")
    assert "force_download" not in out.stderr and "re-download" not in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("command", [["train", "-o", "out"], ["finetune", "some/repo"]])
def test_a_missing_image_folder_is_one_line_before_tensorflow_starts(command, tmp_path):
    # TensorFlow prints its start-up log on import: the folder is checked before anything imports it.
    result = _cli(*command, "--data", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: --data: no image folder at {tmp_path / 'nowhere'}; give a folder with one subfolder of images per class"
    ]
    assert not (tmp_path / "out").exists()


def test_errors_after_tensorflow_starts_name_the_command_line_options(tmp_path):
    """Refusals raised deep in the library name --data-dir / --overwrite on the command line (Python
    users are told data_dir= / overwrite=True, see test_data.py and test_file_safety.py)."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    out = _cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "tfds"), "-o", str(tmp_path / "out"))
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert out.returncode == 1 and errors == [
        f"Error: MNIST is not prepared in {tmp_path / 'tfds'}. Prepare it once with network access (`tfds build mnist "
        f"--data_dir DIR`), then pass --data-dir DIR or set {constants.ENV_TFDS_DATA_DIR}=DIR."
    ], out.stderr
    out = _cli("train", "--epochs", "1", "-o", str(tmp_path / "taken"))
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert out.returncode == 1 and errors == [
        f"Error: {tmp_path / 'taken'} already exists; pass --overwrite or choose another folder."
    ], out.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_train_command_packages_a_model(tmp_path):
    out = _cli("train", "--epochs", "2", "-o", str(tmp_path / "trained"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "packaged:" in out.stdout
    meta = json.loads((tmp_path / "trained" / constants.METADATA_FILE).read_text())
    assert meta[constants.META_ROOT][constants.META_TRAINING][constants.TRAIN_EPOCHS] == 2


def test_quickstart_runs_end_to_end(tmp_path):
    out = _cli("quickstart", "--output", str(tmp_path / "qs"), cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    for expected in ("1/5", "2/5", "3/5", "4/5", "5/5", "bit-identical", "76,369 parameters", "commit ", "done:"):
        assert expected in text, text
    assert (tmp_path / "qs" / "mnist-digits" / constants.WEIGHTS_FILE).is_file()


def test_the_cli_quiets_tensorflow_unless_the_user_chose_a_log_level(monkeypatch, tmp_path):
    # TF_CPP_MIN_LOG_LEVEL=2 drops TensorFlow's info lines (CPU features, ...) printed after its logging
    # starts; a level the user set is theirs. (TensorFlow 2.21 prints a few lines before that
    # regardless of the variable: docs/testing.md.)
    for preset, expected in ((None, "2"), ("0", "0")):
        if preset is None:
            monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        else:
            monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", preset)
        result = CliRunner().invoke(main, ["card", "--check", str(tmp_path)])
        assert result.exit_code == 1  # no card there: the command ran
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == expected


def test_every_command_shows_hub_publish_warnings_in_one_line(tmp_path):
    """A warning raised deep in the library (the card merge of `save --overwrite`) is one
    "Warning: ..." line, like push's, without Python's file:line, category and source echo."""
    assert _cli("save", "MnistModel", "m", cwd=tmp_path).returncode == 0
    card = tmp_path / "m" / constants.CARD_FILE
    text = card.read_text(encoding="utf-8")
    start = text.index("<!-- hub-publish:begin summary")
    end = text.index("\n", start)
    card.write_text(text[: end + 1] + "\nMy own summary line.\n" + text[end + 1 :], encoding="utf-8")
    out = _cli("save", "MnistModel", "m", "--overwrite", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "arning" in line]
    assert len(warned) == 1 and warned[0].startswith("Warning: the card: your edits inside generated block(s) 'summary'"), out.stderr
    assert "CardConflictWarning" not in out.stderr and "packaging.py" not in out.stderr and "merge.py" not in out.stderr
    assert "My own summary line." in card.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args, message",
    [
        (["push", "nonexistent_dir", "alice/x"], "Error: Invalid value for 'FOLDER': Directory 'nonexistent_dir' does not exist. (see hub-publish push --help)"),
        (["card", "nonexistent"], "Error: Invalid value for 'FOLDER': Directory 'nonexistent' does not exist. (see hub-publish card --help)"),
        (["train"], "Error: Missing option '--output' / '-o'. (see hub-publish train --help)"),
        (["train", "--validation-split", "2", "-o", "x"], "Error: Invalid value for '--validation-split': 2.0 is not in the range 0<=x<1. (see hub-publish train --help)"),
        (["push", "."], "Error: Missing argument 'REPO_ID'. (see hub-publish push --help)"),
        (["pull", "alice/x", "--no-such-option"], "Error: No such option '--no-such-option'. (see hub-publish pull --help)"),
        (["frobnicate"], "Error: No such command 'frobnicate'. (see hub-publish --help)"),
    ],
)
def test_usage_errors_are_one_line_with_exit_status_2(args, message, tmp_path):
    out = _cli(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [message] and out.stdout == ""
    assert not (tmp_path / "x").exists()


def test_a_gain_that_rounds_to_zero_is_printed_without_a_minus_sign():
    from hub_publish.cli import _signed

    assert [_signed(v) for v in (-1e-9, -0.0, 0.0, 1e-9)] == ["+0.0000"] * 4
    assert (_signed(0.01234), _signed(-0.0123), _signed(-0.00006)) == ("+0.0123", "-0.0123", "-0.0001")
