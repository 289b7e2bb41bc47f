"""Pushing (`hub_publish.pushing`): concurrent pushes each get their Xet setting, and a push the Hub
refuses leaves no repo behind. Against the real embedded server, through the stock client."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import keras
import pytest
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants
from server_fixtures import TOKEN_SPECS, TOKENS, unique

import hub_publish
from hub_publish import constants, pushing
from hub_publish.models import MnistModel
from hub_publish.server import HubServer

ALICE = TOKENS["alice"]
LOCAL = "http://127.0.0.1:1"  # any endpoint but huggingface.co: Xet off for the push
PUBLIC = constants.PUBLIC_HUB_ENDPOINT  # the user's own setting


@pytest.fixture(autouse=True)
def xet_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", False)


def _in_thread(manager, entered: threading.Event, leave: threading.Event, seen: list) -> threading.Thread:
    def run() -> None:
        with manager:
            seen.append(hf_constants.HF_HUB_DISABLE_XET)
            entered.set()
            assert leave.wait(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_overlapping_pushes_keep_their_xet_setting_and_restore_the_users() -> None:
    a_in, a_out, b_in, b_out, c_in, c_out = (threading.Event() for _ in range(6))
    seen_a: list = []
    seen_b: list = []
    seen_c: list = []
    a = _in_thread(pushing._xet_for(LOCAL), a_in, a_out, seen_a)
    assert a_in.wait(10)
    b = _in_thread(pushing._xet_for(LOCAL + "/"), b_in, b_out, seen_b)
    assert b_in.wait(10)
    c = _in_thread(pushing._xet_for(PUBLIC), c_in, c_out, seen_c)  # needs the other setting: waits
    a_out.set()
    a.join(10)
    # The first push ended while the second still runs: the second keeps Xet off.
    assert hf_constants.HF_HUB_DISABLE_XET is True
    assert not c_in.wait(0.3), "a push to huggingface.co ran while Xet was switched off for another push"
    b_out.set()
    b.join(10)
    assert c_in.wait(10)
    assert hf_constants.HF_HUB_DISABLE_XET is False  # the public push runs with the user's setting
    c_out.set()
    c.join(10)
    assert (seen_a, seen_b, seen_c) == ([True], [True], [False])
    assert hf_constants.HF_HUB_DISABLE_XET is False  # the user's value is back


@pytest.fixture(scope="module")
def two_hubs(tmp_path_factory: pytest.TempPathFactory):
    with HubServer(tmp_path_factory.mktemp("hub-1"), tokens=TOKEN_SPECS) as one, \
            HubServer(tmp_path_factory.mktemp("hub-2"), tokens=TOKEN_SPECS) as two:
        yield one, two


def _folder(tmp_path: Path, seed: int) -> Path:
    keras.utils.set_random_seed(seed)
    return hub_publish.save_pretrained(MnistModel(), tmp_path / f"model-{seed}")


def test_concurrent_pushes_to_two_hubs(two_hubs, tmp_path: Path) -> None:
    folders = [_folder(tmp_path, 1), _folder(tmp_path, 2)]
    repos = [f"alice/{unique('concurrent')}" for _ in two_hubs]
    start = threading.Barrier(2, timeout=30)
    results: list = [None, None]

    def push(i: int) -> None:
        start.wait()
        try:
            results[i] = hub_publish.push_to_hub(folders[i], repos[i], token=ALICE, endpoint=two_hubs[i].endpoint)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=push, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for i, hub in enumerate(two_hubs):
        assert not isinstance(results[i], BaseException), results[i]
        api = HfApi(endpoint=hub.endpoint, token=ALICE)
        assert api.repo_info(repos[i]).sha == results[i].commit_id
        assert constants.WEIGHTS_FILE in api.list_repo_files(repos[i])
    assert hf_constants.HF_HUB_DISABLE_XET is False


def _refused_card(folder: Path) -> None:
    card = folder / constants.CARD_FILE
    card.write_text(card.read_text(encoding="utf-8").replace("library_name: keras", "library_name: keras\nlicense: my-own-license", 1),
                    encoding="utf-8")


def test_a_refused_push_leaves_no_new_repo_behind(two_hubs, tmp_path: Path) -> None:
    hub = two_hubs[0]
    api = HfApi(endpoint=hub.endpoint, token=ALICE)
    folder = _folder(tmp_path, 3)
    _refused_card(folder)
    repo = f"alice/{unique('refused')}"
    with pytest.raises(ValueError, match="is not a Hub license id"):  # huggingface_hub validates the card
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
    assert not api.repo_exists(repo)  # created for the push, deleted when the commit was refused
    with pytest.raises(ValueError, match="is not a Hub license id"):  # huggingface_hub validates the card
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint, branch="dev")
    assert not api.repo_exists(repo)


def test_a_refused_push_keeps_a_repo_that_existed(two_hubs, tmp_path: Path) -> None:
    hub = two_hubs[0]
    api = HfApi(endpoint=hub.endpoint, token=ALICE)
    repo = f"alice/{unique('kept')}"
    api.create_repo(repo)  # empty, but not this push's
    folder = _folder(tmp_path, 4)
    _refused_card(folder)
    with pytest.raises(ValueError, match="is not a Hub license id"):  # huggingface_hub validates the card
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
    assert api.repo_exists(repo)


def _push_cli(folder: Path, repo: str, endpoint: str):
    import subprocess
    import sys

    from conftest import REPO_ROOT, subprocess_env

    return subprocess.run([sys.executable, "-m", "hub_publish.cli", "push", str(folder), repo, "--endpoint", endpoint,
                           "--token", ALICE], capture_output=True, text=True, env=subprocess_env(), cwd=REPO_ROOT, timeout=300)


def test_a_folder_hub_publish_could_not_load_is_not_pushed(two_hubs, tmp_path: Path) -> None:
    hub = two_hubs[0]
    api = HfApi(endpoint=hub.endpoint, token=ALICE)
    # a folder that is no model at all: a note and an empty config
    notmodel = tmp_path / "notmodel"
    notmodel.mkdir()
    (notmodel / "notes.txt").write_text("hello\n")
    (notmodel / constants.CONFIG_FILE).write_text("{}\n")
    # a real model folder with its manifest and weights removed (config, card, graph left)
    stripped = _folder(tmp_path, 5)
    (stripped / constants.METADATA_FILE).unlink()
    (stripped / constants.WEIGHTS_FILE).unlink()
    # a manifest that names no weights file
    no_weights = _folder(tmp_path, 6)
    meta = json.loads((no_weights / constants.METADATA_FILE).read_text())
    del meta[constants.META_ROOT][constants.META_FILES][constants.WEIGHTS_FILE]
    (no_weights / constants.METADATA_FILE).write_text(json.dumps(meta))
    (no_weights / constants.WEIGHTS_FILE).unlink()
    for folder, expected in ((notmodel, "no metadata.json"), (stripped, "no metadata.json"),
                             (no_weights, "does not name a weights file")):
        repo = f"alice/{unique('notmodel')}"
        with pytest.raises(hub_publish.errors.ModelFolderError, match="hub-publish save"):
            hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
        out = _push_cli(folder, repo, hub.endpoint)
        assert out.returncode == 1, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], out.stderr
        assert not api.repo_exists(repo)  # nothing created on the Hub


def test_a_no_op_push_says_unchanged_once(two_hubs, tmp_path: Path) -> None:
    """huggingface_hub's own "No files have been modified ..." log line is not printed next to ours."""
    hub = two_hubs[0]
    folder = _folder(tmp_path, 7)
    repo = f"alice/{unique('noop')}"
    first = _push_cli(folder, repo, hub.endpoint)
    assert first.returncode == 0 and first.stdout.startswith("pushed: "), first.stderr
    again = _push_cli(folder, repo, hub.endpoint)
    assert again.returncode == 0 and again.stdout.startswith(f"unchanged (no new commit): {repo}@main"), again.stderr
    assert "No files have been modified" not in again.stderr + again.stdout, again.stderr
