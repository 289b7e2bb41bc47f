"""User files are sacred, pushes never leave a stale layout, malformed folders fail in one line.

Issue 9 item 7 (save targets, overwrite, stale weights/assets on push, files named by metadata)
and issue 10's client-side items (links out of a pushed folder, files the manifest does not name,
malformed metadata/config/graph, eviction of cached files that fail, a refused token answered from
the cache). Everything runs against a real embedded Hub over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi

import hub_publish
from hub_publish import constants
from hub_publish.cli import main as cli
from hub_publish.errors import HubPublishError, HubPublishWarning, IntegrityError, ModelFolderError
from hub_publish.models import MnistModel
from hub_publish.server import HubServer

from conftest import subprocess_env
from server_fixtures import TOKENS, hub_server, unique  # noqa: F401  (hub_server: the module's Hub)

ALICE = TOKENS["alice"]


def _small(seed: int = 0) -> MnistModel:
    keras.utils.set_random_seed(seed)
    return MnistModel(conv_filters=(4, 6, 8), dense_units=8)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


def _images(n: int = 2) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


# ----------------------------------------------------------------------------- save targets


def test_saving_into_a_folder_of_other_files_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    folder = _user_folder(tmp_path)
    before = _tree(folder)
    for overwrite in (False, True):
        with pytest.raises(HubPublishError, match="not empty and is not a hub-publish model folder") as err:
            hub_publish.save_pretrained(_small(), folder, overwrite=overwrite)
        assert "\n" not in str(err.value)
    assert _tree(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # no temporary folder left next to it


def test_cli_save_into_the_current_folder_of_other_files_leaves_every_file(tmp_path: Path) -> None:
    folder = _user_folder(tmp_path)
    before = _tree(folder)
    proc = subprocess.run([sys.executable, "-m", "hub_publish", "save", "MnistModel", "."], cwd=folder,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "not a hub-publish model folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _tree(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_replacing_a_model_folder_needs_overwrite_and_keeps_the_users_files(tmp_path: Path) -> None:
    target = tmp_path / "model"
    hub_publish.save_pretrained(_small(0), target)
    (target / "notes.txt").write_text("mine")
    (target / "extra").mkdir()
    (target / "extra" / "eval.json").write_text("{}")
    first = _tree(target)
    with pytest.raises(HubPublishError, match=r"already holds a model; pass overwrite=True to replace it, or choose") as err:
        hub_publish.save_pretrained(_small(1), target)
    assert "--overwrite" not in str(err.value)
    assert _tree(target) == first
    result = CliRunner().invoke(cli, ["save", "MnistModel", str(target)])
    assert result.exit_code == 1 and "already holds a model; pass --overwrite to replace it, or choose" in result.output
    assert "overwrite=" not in result.output
    result = CliRunner().invoke(cli, ["save", "MnistModel", str(target), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "extra" / "eval.json").read_text() == "{}"
    assert (target / constants.WEIGHTS_FILE).read_bytes() != first[constants.WEIGHTS_FILE]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_an_empty_folder_is_a_fine_target(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    hub_publish.save_pretrained(_small(), tmp_path / "empty")
    assert (tmp_path / "empty" / constants.CONFIG_FILE).is_file()


def test_cli_save_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["save", "MnistModel", str(tmp_path / "file" / "sub")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "is a file, not a folder" in result.output
    assert (tmp_path / "file").read_text() == "x"


def test_loading_reads_the_weights_file_metadata_names_not_whichever_exists(tmp_path: Path) -> None:
    model = _small()
    sharded = hub_publish.save_pretrained(model, tmp_path / "sharded", max_shard_size=0.00002)
    plain = hub_publish.save_pretrained(model, tmp_path / "plain")
    # A stale sharded index (and its shards) lying next to the single file of a newer save ...
    for p in sharded.glob("model*.weights.*"):
        (plain / p.name).write_bytes(p.read_bytes())
    (plain / constants.WEIGHTS_INDEX_FILE).write_text("{not json")
    # ... is never read: metadata.json names model.weights.h5.
    loaded = MnistModel.from_pretrained(plain)
    np.testing.assert_array_equal(loaded.predict(_images(), verbose=0), model.predict(_images(), verbose=0))


# ----------------------------------------------------------------------------- push


def test_sharded_unsharded_sharded_pushes_load_at_every_step(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    api = HfApi(endpoint=hub_server.endpoint, token=ALICE)
    repo = f"alice/{unique('layouts')}"
    for step, shard in enumerate([0.00002, None, 0.00003]):
        model = _small(step)
        folder = hub_publish.save_pretrained(model, tmp_path / f"step{step}", max_shard_size=shard)
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub_server.endpoint)
        files = set(api.list_repo_files(repo))
        local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert files - {".gitattributes"} == local, f"step {step}: the repo keeps files the folder does not have"
        loaded = MnistModel.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=tmp_path / "cache")
        np.testing.assert_array_equal(loaded.predict(_images(), verbose=0), model.predict(_images(), verbose=0))


def test_stale_assets_are_removed_from_the_repo(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    api = HfApi(endpoint=hub_server.endpoint, token=ALICE)
    repo = f"alice/{unique('assets')}"
    lookup = keras.layers.StringLookup()
    lookup.adapt(np.array([["a"], ["b"]]))  # adapted state is kept as an asset (a vocabulary file)
    inputs = keras.Input((1,), dtype="string")
    with_assets = keras.Model(inputs, keras.layers.Dense(2)(lookup(inputs)))
    hub_publish.push_to_hub(with_assets, repo, token=ALICE, endpoint=hub_server.endpoint)
    assert any(f.startswith("assets/") for f in api.list_repo_files(repo))
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint)
    assert not any(f.startswith("assets/") for f in api.list_repo_files(repo))
    assert type(hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=tmp_path / "c")) is MnistModel


def test_push_refuses_a_link_out_of_the_folder(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    folder = hub_publish.save_pretrained(_small(), tmp_path / "model")
    os.symlink("/etc/hostname", folder / "notes.txt")
    repo = f"alice/{unique('link')}"
    with pytest.raises(HubPublishError, match="notes.txt .* is a link to /etc/hostname, outside the folder"):
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub_server.endpoint)
    result = CliRunner().invoke(cli, ["push", str(folder), repo, "--endpoint", hub_server.endpoint, "--token", ALICE])
    assert result.exit_code == 1 and "outside the folder" in result.output
    assert not HfApi(endpoint=hub_server.endpoint, token=ALICE).repo_exists(repo)  # nothing was created


def test_push_says_which_files_the_manifest_does_not_name(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    folder = hub_publish.save_pretrained(_small(), tmp_path / "model")
    (folder / "scratch.txt").write_text("draft")
    os.symlink("README.md", folder / "inside-link.md")  # a link that stays inside is published as its content
    repo = f"alice/{unique('extra')}"
    with pytest.warns(HubPublishWarning, match=r"uploading 2 file\(s\) the model's manifest does not name: inside-link.md, scratch.txt") as caught:
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub_server.endpoint)
    assert [w.filename for w in caught if issubclass(w.category, HubPublishWarning)] == [__file__]  # the caller's line
    result = CliRunner().invoke(cli, ["push", str(folder), repo, "--endpoint", hub_server.endpoint, "--token", ALICE])
    assert result.exit_code == 0 and "Warning: uploading 2 file(s)" in result.output


# ----------------------------------------------------------------------------- malformed folders


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda m: m["hub_publish"].update(files=["model.weights.h5"]), "'files' is not an object"),
        (lambda m: m["hub_publish"]["files"].update({"model.weights.h5": "abc"}), "record of 'model.weights.h5' is not an object"),
        (lambda m: m.update(hub_publish=["x"]), "'hub_publish' is not an object"),
        (lambda m: m["hub_publish"].update(head_layer=3), "'head_layer' is not a string"),
        (lambda m: m["hub_publish"]["files"]["model.weights.h5"].update(size="big"), "size of 'model.weights.h5'"),
    ],
    ids=["files-list", "record-string", "hub_publish-list", "head-number", "size-string"],
)
def test_malformed_metadata_is_one_line(tmp_path: Path, edit, pattern: str) -> None:
    folder = hub_publish.save_pretrained(_small(), tmp_path / "m")
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    edit(meta)
    (folder / constants.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelFolderError, match=pattern) as err:
        hub_publish.from_pretrained(folder)
    assert "\n" not in str(err.value)
    result = CliRunner().invoke(cli, ["inspect", str(folder)])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and pattern.split("'")[1] in result.output


@pytest.mark.parametrize("name", [constants.METADATA_FILE, constants.CONFIG_FILE, constants.GRAPH_FILE])
def test_json_nested_900_deep_is_one_line(tmp_path: Path, name: str) -> None:
    folder = hub_publish.save_pretrained(_small(), tmp_path / "m")
    (folder / name).write_text('{"a": ' * 900 + "1" + "}" * 900)
    if name != constants.METADATA_FILE:
        from folder_tools import restamp

        restamp(folder, name)
    config = json.loads((folder / constants.CONFIG_FILE).read_text()) if name == constants.GRAPH_FILE else None
    if config is not None:  # make the loader need graph.json: a class from an untrusted module
        config.update(module="untrusted_zoo", registered_name="untrusted_zoo>MnistModel")
        (folder / constants.CONFIG_FILE).write_text(json.dumps(config))
        from folder_tools import restamp

        restamp(folder, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match=f"{name} .* nested deeper than") as err:
        hub_publish.from_pretrained(folder)
    assert "\n" not in str(err.value)


def test_graph_json_is_verified_too(tmp_path: Path) -> None:
    folder = hub_publish.save_pretrained(_small(), tmp_path / "m")
    graph = json.loads((folder / constants.GRAPH_FILE).read_text())
    graph["config"]["name"] = "tampered"
    (folder / constants.GRAPH_FILE).write_text(json.dumps(graph))
    # graph.json is checked when it is used (the class-free fallback), not on a load that does not read it.
    assert type(hub_publish.from_pretrained(folder)) is MnistModel
    from folder_tools import restamp

    config = json.loads((folder / constants.CONFIG_FILE).read_text())
    config.update(module="gone_pkg", registered_name="gone_pkg>MnistModel")
    (folder / constants.CONFIG_FILE).write_text(json.dumps(config))
    restamp(folder, constants.CONFIG_FILE)
    with pytest.raises(IntegrityError, match="graph.json .*does not match its sha256|graph.json .*truncated or altered"):
        hub_publish.from_pretrained(folder)


def _cached(cache: Path, name: str) -> Path:
    [path] = list(cache.glob(f"models--*/snapshots/*/{name}"))
    return path


@pytest.mark.parametrize("name", [constants.CONFIG_FILE, constants.METADATA_FILE])
def test_a_cached_file_that_fails_is_evicted_and_the_next_load_repairs_it(
    hub_server: HubServer, tmp_path: Path, name: str  # noqa: F811
) -> None:
    repo = f"alice/{unique('evict')}"
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint)
    cache = tmp_path / "cache"
    load = lambda: hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)  # noqa: E731
    load()
    cached = _cached(cache, name)
    blob = cached.resolve()
    blob.write_text("[1, 2" if name == constants.METADATA_FILE else '{"tampered": true}')
    with pytest.raises(ModelFolderError):
        load()
    assert not cached.exists() and not blob.exists()  # evicted: no corrupt entry stays
    assert type(load()) is MnistModel  # downloaded again


def test_a_cached_graph_json_that_fails_is_evicted(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    # A load fetches graph.json only for the class-free fallback; a whole snapshot (pull) has it,
    # and the same check evicts it when it fails.
    from hub_publish.format import verify_folder
    from hub_publish.hub import download_snapshot

    repo = f"alice/{unique('evict')}"
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint)
    cache = tmp_path / "cache"
    folder, _ = download_snapshot(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)
    cached = _cached(cache, constants.GRAPH_FILE)
    blob = cached.resolve()
    blob.write_text('{"tampered": true}')
    with pytest.raises(IntegrityError, match=r"^graph\.json in .* is \d+ bytes, metadata\.json says \d+ \(truncated or altered\); "
                                             r"re-download it \(force_download=True\) or re-save the model\.$"):
        verify_folder(folder, evict=True)
    assert not cached.exists() and not blob.exists()  # evicted: no corrupt entry stays
    download_snapshot(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)
    assert constants.GRAPH_FILE in verify_folder(folder)  # downloaded again, and it checks


def test_a_refused_token_answered_from_the_cache_says_so(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    repo = f"alice/{unique('private')}"
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint, private=True)
    cache = tmp_path / "cache"
    hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)
    for token in ("hf_wrong_token", TOKENS["bob"]):
        with pytest.warns(HubPublishWarning, match="the Hub refused access to .*local cache") as caught:
            model = hub_publish.from_pretrained(repo, token=token, endpoint=hub_server.endpoint, cache_dir=cache)
        assert type(model) is MnistModel
        assert [w.filename for w in caught if issubclass(w.category, HubPublishWarning)] == [__file__]  # the caller's line
        # A Python user is told of token=, never of the command line's --token.
        (message,) = [str(w.message) for w in caught if issubclass(w.category, HubPublishWarning)]
        assert message.endswith("pass a valid token (token= or HF_TOKEN) to check for updates.") and "--token" not in message
    with warnings.catch_warnings():  # a good token: no warning
        warnings.simplefilter("error", HubPublishWarning)
        hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)
    # Nothing cached: the refusal is the error.
    with pytest.raises(HubPublishError, match="token is missing or invalid: pass token= or set HF_TOKEN") as err:
        hub_publish.from_pretrained(repo, token="hf_wrong_token", endpoint=hub_server.endpoint, cache_dir=tmp_path / "empty")
    assert "--token" not in str(err.value)


@pytest.mark.parametrize(
    "change",
    [{"config": []}, {"config": {"layers": "x"}}, {"config": {"num_classes": "ten"}}, {"config": {"num_classes": -1}},
     {"class_name": "Functional", "module": "keras.src.models.functional", "registered_name": "Functional",
      "config": {"layers": [1, 2]}}],
    ids=["config-list", "layers-string", "arg-string", "arg-negative", "functional-garbage"],
)
def test_malformed_config_is_one_line(tmp_path: Path, change: dict) -> None:
    from folder_tools import restamp

    folder = hub_publish.save_pretrained(_small(), tmp_path / "m")
    config = json.loads((folder / constants.CONFIG_FILE).read_text())
    config.update(change)
    (folder / constants.CONFIG_FILE).write_text(json.dumps(config))
    restamp(folder, constants.CONFIG_FILE)  # a well-formed manifest: the config itself is the problem
    with pytest.raises(ModelFolderError) as err:
        hub_publish.from_pretrained(folder)
    assert "\n" not in str(err.value) and str(err.value).startswith("cannot ")


def test_cli_pull_with_a_refused_token_says_it_used_the_cache(hub_server: HubServer) -> None:  # noqa: F811
    repo = f"alice/{unique('pull-private')}"
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint, private=True)
    ok = CliRunner().invoke(cli, ["pull", repo, "--endpoint", hub_server.endpoint, "--token", ALICE])
    assert ok.exit_code == 0 and "warning" not in ok.output, ok.output
    cached = CliRunner().invoke(cli, ["pull", repo, "--endpoint", hub_server.endpoint, "--token", "hf_wrong_token"])
    assert cached.exit_code == 0
    assert "Warning: the Hub refused access to" in cached.output and "local cache" in cached.output
    # A command-line user is told of --token, never of Python's token=.
    assert "pass a valid token (--token or HF_TOKEN) to check for updates." in cached.output
    assert "token=" not in cached.output
    # Never cached: the refusal is the error, with the same option.
    never = f"alice/{unique('pull-never')}"
    hub_publish.push_to_hub(_small(), never, token=ALICE, endpoint=hub_server.endpoint, private=True)
    refused = CliRunner().invoke(cli, ["pull", never, "--endpoint", hub_server.endpoint, "--token", "hf_wrong_token"])
    assert refused.exit_code == 1
    assert "the token is missing or invalid: pass --token or set HF_TOKEN" in refused.output and "token=" not in refused.output
    # The command line's spelling ends with the command: Python code run afterwards is told of token=.
    from hub_publish.errors import option

    assert option("token=", "--token") == "token="
    fresh = CliRunner().invoke(cli, ["pull", f"alice/{unique('nothing')}", "--endpoint", hub_server.endpoint, "--token", "hf_wrong_token"])
    assert fresh.exit_code == 1 and fresh.output.count("\n") == 1


def test_pushing_what_is_no_model_folder_says_which_and_how_to_write_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emptydir").mkdir()
    # Python names Python's way to write a folder; refused before any request (the endpoint is never reached).
    for folder, why in [("nonexistent_dir", "no such folder"), ("emptydir", f"no {constants.CONFIG_FILE}")]:
        with pytest.raises(ModelFolderError) as err:
            hub_publish.push_to_hub(folder, "alice/x", token=ALICE, endpoint="http://127.0.0.1:9")
        assert str(err.value) == f"{folder} is not a model folder ({why}); write one with hub_publish.save_pretrained."
    result = CliRunner().invoke(cli, ["push", "emptydir", "alice/x", "--endpoint", "http://127.0.0.1:9", "--token", ALICE])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: emptydir is not a model folder (no {constants.CONFIG_FILE}); write one with hub-publish save."]


def test_force_download_that_cannot_download_fails_instead_of_using_the_cache(hub_server: HubServer, tmp_path: Path) -> None:  # noqa: F811
    # huggingface_hub answers a failed first request with the cached snapshot, force_download or not;
    # force_download means "not the cache", so the refusal (or the unreachable Hub) is the error.
    import socket

    repo = f"alice/{unique('forced')}"
    hub_publish.push_to_hub(_small(), repo, token=ALICE, endpoint=hub_server.endpoint, private=True)
    cache = tmp_path / "cache"
    hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache)
    with pytest.raises(HubPublishError, match=r"token is missing or invalid: pass token= or set HF_TOKEN") as err:
        hub_publish.from_pretrained(repo, token="hf_wrong_token", endpoint=hub_server.endpoint, cache_dir=cache, force_download=True)
    assert "\n" not in str(err.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(HubPublishError, match=r"could not be reached"):
        hub_publish.from_pretrained(repo, token=ALICE, endpoint=closed, cache_dir=cache, force_download=True)
    # The good token still downloads again.
    assert type(hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub_server.endpoint, cache_dir=cache,
                                            force_download=True)) is MnistModel
    # The command line: exit 1, one line naming --token, no "using the cache" warning.
    ok = CliRunner().invoke(cli, ["pull", repo, "--endpoint", hub_server.endpoint, "--token", ALICE])
    assert ok.exit_code == 0, ok.output
    forced = CliRunner().invoke(cli, ["pull", repo, "--endpoint", hub_server.endpoint, "--token", "hf_wrong_token", "--force-download"])
    assert forced.exit_code == 1, forced.output
    assert forced.output.count("\n") == 1 and "pass --token or set HF_TOKEN" in forced.output and "local cache" not in forced.output


def test_an_edited_card_survives_an_overwrite(tmp_path: Path) -> None:
    target = hub_publish.save_pretrained(_small(0), tmp_path / "model")
    card = target / constants.CARD_FILE
    card.write_text(card.read_text() + "\n## My notes\n\nHand-written by the author.\n")
    hub_publish.save_pretrained(_small(1), target, overwrite=True)
    assert "Hand-written by the author." in card.read_text()
    # An unedited card is simply regenerated.
    plain = hub_publish.save_pretrained(_small(0), tmp_path / "plain")
    before = (plain / constants.CARD_FILE).read_text()
    hub_publish.save_pretrained(_small(0), plain, overwrite=True)
    assert "Hand-written" not in (plain / constants.CARD_FILE).read_text() and before
