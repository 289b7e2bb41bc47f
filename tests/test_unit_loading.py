"""hub_publish.loading: folder verification, the trust policy and the class-free fallback, in-process.

Fast tests on one tiny functional model (no server, no child process), pinning each rule of the
loader, so that mutation testing (scripts/mutation.sh loading) has a quick test for every line.
Loading from the Hub is tested in test_hub_client.py; bad folders end to end in test_loading_safety.py.
"""

from __future__ import annotations

import hashlib
import re
import json
import shutil
import uuid
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import hub_publish
from hub_publish import constants, loading
from hub_publish import format as fmt
from hub_publish import verify_cache
from hub_publish.errors import (
    ClassMismatchError,
    HubPublishError,
    IntegrityError,
    ModelFolderError,
    UnknownLayersError,
    UnsafeModelError,
)
from hub_publish.loading import HubPublishWarning, ModelSource, parse_repo_ref, source_of, verify_folder
from hub_publish.models import MnistModel
from folder_tools import restamp

X = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)


def _model() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="tiny")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, np.ndarray]:
    model = _model()
    folder = hub_publish.save_pretrained(model, tmp_path_factory.mktemp("pristine") / "tiny", card=False)
    return folder, model.predict(X, verbose=0)


@pytest.fixture()
def folder(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine[0], tmp_path / "tiny"))


def _edit(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _files(folder: Path) -> dict:
    return json.loads((folder / constants.METADATA_FILE).read_text())[constants.META_ROOT][constants.META_FILES]


# What a save of the tiny model records: the loader reads each of these (config, graph, weights).
MANIFEST = [constants.CONFIG_FILE, constants.GRAPH_FILE, constants.WEIGHTS_FILE]


# ----------------------------------------------------------------------------- verify


def test_verify_folder_checks_every_recorded_file(folder):
    assert sorted(_files(folder)) == MANIFEST
    assert verify_folder(folder) == MANIFEST
    meta = json.loads((folder / constants.METADATA_FILE).read_text())
    assert verify_folder(folder, meta) == MANIFEST
    assert verify_folder(folder, fmt.Metadata.from_dict(meta)) == MANIFEST
    assert verify_folder(folder, only=(constants.GRAPH_FILE,)) == [constants.GRAPH_FILE]
    assert verify_folder(folder, skip=(constants.GRAPH_FILE,)) == [constants.CONFIG_FILE, constants.WEIGHTS_FILE]
    assert verify_folder(folder, only=(constants.GRAPH_FILE,), skip=(constants.GRAPH_FILE,)) == []
    assert verify_folder(folder, {}) == [] and verify_folder(folder, {constants.META_ROOT: None}) == []


def test_verify_folder_without_metadata_checks_nothing(folder):
    (folder / constants.METADATA_FILE).unlink()
    assert verify_folder(folder) == []


def test_missing_weights_file(folder):
    (folder / constants.WEIGHTS_FILE).unlink()
    with pytest.raises(IntegrityError, match=rf"^{folder} has no {constants.WEIGHTS_FILE} \(metadata\.json lists it\); re-save the model \(or copy the folder again\)\.$") as err:
        verify_folder(folder)
    assert Path(err.value.path) == folder / constants.WEIGHTS_FILE


@pytest.mark.parametrize("name", [constants.CONFIG_FILE, constants.GRAPH_FILE])
def test_config_and_graph_are_verified_like_the_weights(folder, name):
    """The manifest records config.json and graph.json: an edited one is refused before it is read."""
    path = folder / name
    _edit(path, lambda config: config.update(module="evil_mod"))
    with pytest.raises(IntegrityError, match=rf"^{name} in {folder} is \d+ bytes, metadata\.json says \d+ \(truncated or altered\); ") as err:
        verify_folder(folder)
    assert Path(err.value.path) == path
    assert verify_folder(folder, skip=(name,)) == [n for n in MANIFEST if n != name]
    path.unlink()
    with pytest.raises(IntegrityError, match=rf"^{folder} has no {name} \(metadata\.json lists it\); "):
        verify_folder(folder)


def test_truncated_weights_file(folder):
    weights = folder / constants.WEIGHTS_FILE
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match=rf"^{constants.WEIGHTS_FILE} in {folder} is {size - 1} bytes, metadata\.json says {size} \(truncated or altered\); re-save the model \(or copy the folder again\)\.$") as err:
        verify_folder(folder)
    assert Path(err.value.path) == weights


def test_altered_weights_file_of_the_same_size(folder):
    weights = folder / constants.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"^{constants.WEIGHTS_FILE} in {folder} does not match its sha256 in metadata\.json \(altered or corrupted\); re-save the model \(or copy the folder again\)\.$"):
        verify_folder(folder)


def test_a_record_without_size_is_malformed_and_check_files_still_checks_the_hash(folder):
    """metadata.json must record a size for every file (Metadata refuses it otherwise); the check
    itself, given a record without a size, still compares the hash."""
    record = dict(_files(folder)[constants.WEIGHTS_FILE])

    def drop_size(meta):
        del meta[constants.META_ROOT][constants.META_FILES][constants.WEIGHTS_FILE][constants.META_SIZE]

    _edit(folder / constants.METADATA_FILE, drop_size)
    with pytest.raises(ModelFolderError, match=rf"^metadata\.json in {folder} is malformed: the size of '{constants.WEIGHTS_FILE}' is not a byte count; re-download \(force_download=True\) or re-save the model\.$"):
        verify_folder(folder)
    del record[constants.META_SIZE]
    fmt._check_files(folder, {constants.WEIGHTS_FILE: record})
    (folder / constants.WEIGHTS_FILE).write_bytes(b"other")
    with pytest.raises(IntegrityError, match=rf"^{constants.WEIGHTS_FILE} in {folder} does not match its sha256"):
        fmt._check_files(folder, {constants.WEIGHTS_FILE: record})


@pytest.mark.parametrize("name", ["../outside.h5", "/etc/passwd", "\\windows", "a/../../b", ""])
def test_metadata_naming_files_outside_the_folder(folder, name):
    def point_outside(meta):
        meta[constants.META_ROOT][constants.META_FILES] = {name: {"sha256": "0" * 64, "size": 1}}

    _edit(folder / constants.METADATA_FILE, point_outside)
    with pytest.raises(ModelFolderError, match=rf"^metadata\.json in {folder} is malformed: it names a file outside the folder \({re.escape(repr(name))}\); re-download \(force_download=True\) or re-save the model\.$"):
        verify_folder(folder)
    with pytest.raises(ModelFolderError, match=rf"^metadata\.json in {folder} is malformed: it names a file outside the folder \({re.escape(repr(name))}\); "):
        verify_folder(folder, json.loads((folder / constants.METADATA_FILE).read_text()))  # parsed by the caller
    # The check itself refuses them too (a second line of defence behind Metadata's parsing).
    with pytest.raises(ModelFolderError, match=rf"^metadata\.json in {folder} names a weights file outside the folder \({re.escape(repr(name))}\); re-save the model\.$"):
        fmt._check_files(folder, {name: {"sha256": "0" * 64, "size": 1}})


def test_files_in_subfolders_are_allowed(folder):
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.h5").write_bytes(b"abc")

    def add(meta):
        meta[constants.META_ROOT][constants.META_FILES]["sub/extra.h5"] = {
            "sha256": hashlib.sha256(b"abc").hexdigest(), "size": 3}

    _edit(folder / constants.METADATA_FILE, add)
    assert verify_folder(folder) == [*MANIFEST, "sub/extra.h5"]


def _cache_layout(tmp_path: Path, content: bytes, name: str = constants.WEIGHTS_FILE, revision: str = "1" * 40,
                  blob_name: str = "deadbeef") -> tuple[Path, Path]:
    """A huggingface_hub-like cache entry: snapshots/<rev>/file -> ../../blobs/<hash>."""
    blobs = tmp_path / "models--a--b" / "blobs"
    snapshot = tmp_path / "models--a--b" / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    blob = blobs / blob_name
    blob.write_bytes(content)
    (snapshot / name).symlink_to(Path("../../blobs") / blob_name)
    return snapshot, blob


def test_evict_removes_every_entry_of_the_corrupt_blob_and_nothing_else(tmp_path):
    """Two revisions share the corrupt blob: both entries go (or the blob would be kept for the
    other one and served again); another file of the snapshot stays."""
    snapshot, blob = _cache_layout(tmp_path, b"corrupt")
    other, _ = _cache_layout(tmp_path, b"corrupt", revision="2" * 40)
    (other / constants.WEIGHTS_FILE).unlink()
    (other / constants.WEIGHTS_FILE).symlink_to(Path("../../blobs/deadbeef"))
    _, good = _cache_layout(tmp_path, b"good", name=constants.CONFIG_FILE, blob_name="cafe")
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 7}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(snapshot, meta, evict=True)
    assert not blob.exists()
    assert not (snapshot / constants.WEIGHTS_FILE).is_symlink() and not (other / constants.WEIGHTS_FILE).is_symlink()
    assert (snapshot / constants.CONFIG_FILE).read_bytes() == b"good" and good.exists()


@pytest.mark.parametrize("evict", [True, False])
def test_a_cached_metadata_file_that_cannot_be_parsed_is_evicted(tmp_path, evict):
    snapshot, blob = _cache_layout(tmp_path, b"{not json", name=constants.METADATA_FILE)
    with pytest.raises(ModelFolderError, match=rf"^{constants.METADATA_FILE} in {snapshot} is not valid JSON \("):
        verify_folder(snapshot, evict=evict)
    assert (snapshot / constants.METADATA_FILE).is_symlink() is (not evict) and blob.exists() is (not evict)


def test_evict_on_error_evicts_only_on_a_folder_error(tmp_path):
    snapshot, blob = _cache_layout(tmp_path, b"x", name=constants.CONFIG_FILE)
    path = snapshot / constants.CONFIG_FILE
    with pytest.raises(KeyError):
        with fmt.evict_on_error(path, True):
            raise KeyError("not ours")
    with fmt.evict_on_error(path, True):
        pass
    assert path.is_symlink() and blob.exists()
    with pytest.raises(ModelFolderError, match="^bad$"):
        with fmt.evict_on_error(path, False):
            raise ModelFolderError("bad")
    assert path.is_symlink() and blob.exists()
    with pytest.raises(ModelFolderError, match="^bad$"):
        with fmt.evict_on_error(path, True):
            raise ModelFolderError("bad")
    assert not path.is_symlink() and not blob.exists()


def test_rehash_ignores_the_verification_records(folder):
    """A file verified once is trusted from its record until it changes; rehash=True hashes again."""
    assert verify_folder(folder) == MANIFEST
    weights = folder / constants.WEIGHTS_FILE
    verify_cache._write_record(verify_cache._stat(weights), "f" * 64)  # a record that says "another content"
    with pytest.raises(IntegrityError, match=rf"^{constants.WEIGHTS_FILE} in {folder} does not match its sha256"):
        verify_folder(folder)
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        fmt._check_files(folder, {constants.WEIGHTS_FILE: _files(folder)[constants.WEIGHTS_FILE]})
    fmt._check_files(folder, {constants.WEIGHTS_FILE: _files(folder)[constants.WEIGHTS_FILE]}, rehash=True)
    verify_cache._write_record(verify_cache._stat(weights), "f" * 64)
    assert verify_folder(folder, rehash=True) == MANIFEST
    assert verify_folder(folder) == MANIFEST  # the re-hash recorded the true digest


def test_evict_removes_a_corrupt_cache_entry_and_its_blob(tmp_path):
    snapshot, blob = _cache_layout(tmp_path, b"corrupt")
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 7}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(snapshot, meta, evict=True)
    assert not (snapshot / constants.WEIGHTS_FILE).is_symlink() and not blob.exists()


def test_without_evict_the_cache_entry_stays(tmp_path):
    snapshot, blob = _cache_layout(tmp_path, b"corrupt")
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 7}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(snapshot, meta)
    assert (snapshot / constants.WEIGHTS_FILE).is_symlink() and blob.read_bytes() == b"corrupt"


def test_evict_leaves_link_targets_outside_a_cache_layout(folder, tmp_path):
    """A symlink into a folder that is not a huggingface_hub ``blobs`` folder is the user's: kept.
    A plain file outside a cache snapshot is the user's too: kept."""
    target = tmp_path / "mine.h5"
    target.write_bytes(b"user data")
    (folder / constants.WEIGHTS_FILE).unlink()
    (folder / constants.WEIGHTS_FILE).symlink_to(target)
    with pytest.raises(IntegrityError, match=r"is 9 bytes, metadata\.json says"):
        verify_folder(folder, evict=True)
    assert target.read_bytes() == b"user data" and (folder / constants.WEIGHTS_FILE).is_symlink()
    (folder / constants.WEIGHTS_FILE).unlink()
    (folder / constants.WEIGHTS_FILE).write_bytes(b"plain file")
    with pytest.raises(IntegrityError, match=r"is 10 bytes"):
        verify_folder(folder, evict=True)
    assert (folder / constants.WEIGHTS_FILE).read_bytes() == b"plain file"


# ----------------------------------------------------------------------------- reading the folder


def test_from_pretrained_round_trip_and_source(pristine, folder):
    model = hub_publish.from_pretrained(folder)
    np.testing.assert_allclose(model.predict(X, verbose=0), pristine[1], rtol=0, atol=0)
    assert type(model).__name__ == "Functional"
    assert source_of(model) == ModelSource(folder=folder.resolve())
    assert source_of(_model()) is None


def test_missing_or_garbled_files(folder, tmp_path):
    """Garbled files as their author recorded them (restamped: the manifest matches, the parse fails)."""
    with pytest.raises(ModelFolderError, match=rf"^no model folder at {tmp_path / 'none'}; pass an existing folder or a Hub repo id such as 'org/name'\.$"):
        hub_publish.from_pretrained(tmp_path / "none")
    (folder / constants.CONFIG_FILE).write_text("{not json")
    restamp(folder, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match=rf"^{constants.CONFIG_FILE} in {folder} is not valid JSON \(.+\); re-download \(force_download=True\) or re-save the model\.$"):
        hub_publish.from_pretrained(folder)
    (folder / constants.CONFIG_FILE).write_text("[1, 2]")
    restamp(folder, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match=rf"^{constants.CONFIG_FILE} in {folder} is malformed: it is not a JSON object; re-download \(force_download=True\) or re-save the model\.$"):
        hub_publish.from_pretrained(folder)
    (folder / constants.CONFIG_FILE).write_bytes(b"\xff\xfe")
    restamp(folder, constants.CONFIG_FILE)
    with pytest.raises(ModelFolderError, match=rf"^{constants.CONFIG_FILE} in {folder} is not valid JSON \("):
        hub_publish.from_pretrained(folder)
    (folder / constants.METADATA_FILE).write_text("{not json")
    with pytest.raises(ModelFolderError, match=rf"^{constants.METADATA_FILE} in {folder} is not valid JSON \("):
        hub_publish.from_pretrained(folder)
    (folder / constants.METADATA_FILE).write_text("[]")
    with pytest.raises(ModelFolderError, match=rf"^{constants.METADATA_FILE} in {folder} is malformed: it is not a JSON object; "):
        hub_publish.from_pretrained(folder)
    (folder / constants.METADATA_FILE).unlink()  # a folder Keras wrote: no manifest, config still required
    (folder / constants.CONFIG_FILE).unlink()
    with pytest.raises(ModelFolderError, match=rf"^{folder} has no {constants.CONFIG_FILE}: it is not a Keras model folder \(save it with hub_publish\.save_pretrained\)\.$"):
        hub_publish.from_pretrained(folder)


def test_a_load_verifies_the_config_always_and_the_graph_when_it_uses_it(pristine, folder):
    _edit(folder / constants.GRAPH_FILE, lambda graph: graph.update(edited=True))
    model = hub_publish.from_pretrained(folder)  # the class is available: graph.json is not read, not checked
    np.testing.assert_allclose(model.predict(X, verbose=0), pristine[1], rtol=0, atol=0)
    _point_class_at(folder, "gone_pkg")  # now the fallback needs the graph: it is checked first
    with pytest.raises(IntegrityError, match=rf"^{constants.GRAPH_FILE} in {folder} is \d+ bytes, metadata\.json says \d+ \(truncated or altered\); "):
        hub_publish.from_pretrained(folder)
    _edit(folder / constants.CONFIG_FILE, lambda config: config.update(edited=True))
    with pytest.raises(IntegrityError, match=rf"^{constants.CONFIG_FILE} in {folder} is \d+ bytes, metadata\.json says \d+ \(truncated or altered\); "):
        hub_publish.from_pretrained(folder)


def test_missing_weights_is_a_folder_error(folder):
    def no_files(meta):
        meta[constants.META_ROOT][constants.META_FILES] = {}

    _edit(folder / constants.METADATA_FILE, no_files)
    (folder / constants.WEIGHTS_FILE).unlink()
    with pytest.raises(ModelFolderError, match=rf"^{folder} has no {constants.WEIGHTS_FILE} \(nor sharded {constants.WEIGHTS_INDEX_FILE}\); re-save the model\.$"):
        hub_publish.from_pretrained(folder)


def test_weights_path_is_the_one_the_manifest_names(folder):
    """The manifest decides (a stale sharded index next to the weights must not win); the sharded
    index first when it names both; a folder without a manifest (Keras') uses whichever exists."""
    (folder / constants.WEIGHTS_INDEX_FILE).write_text("{}")
    assert loading._weights_path(folder, fmt.read_metadata(folder)) == folder / constants.WEIGHTS_FILE
    both = fmt.Metadata(files={name: fmt.FileRecord("0" * 64, 1) for name in (constants.WEIGHTS_FILE, constants.WEIGHTS_INDEX_FILE)})
    assert loading._weights_path(folder, both) == folder / constants.WEIGHTS_INDEX_FILE
    assert loading._weights_path(folder, fmt.Metadata()) == folder / constants.WEIGHTS_FILE
    (folder / constants.WEIGHTS_FILE).unlink()
    assert loading._weights_path(folder, fmt.Metadata()) == folder / constants.WEIGHTS_INDEX_FILE
    config_only = fmt.Metadata(files={constants.CONFIG_FILE: fmt.FileRecord("0" * 64, 1)})
    with pytest.raises(ModelFolderError, match=rf"^metadata\.json in {folder} names no weights file; re-save the model\.$"):
        loading._weights_path(folder, config_only)


def test_weights_that_do_not_fit_the_model(folder, tmp_path):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,), name="x")
    other = keras.Model(inputs, keras.layers.Dense(5, name="head")(inputs))
    other_folder = hub_publish.save_pretrained(other, tmp_path / "other", card=False)
    shutil.copy(other_folder / constants.WEIGHTS_FILE, folder / constants.WEIGHTS_FILE)
    restamp(folder, constants.WEIGHTS_FILE)
    with pytest.raises(ModelFolderError, match=rf"^cannot load {constants.WEIGHTS_FILE} into the model: "):
        hub_publish.from_pretrained(folder)


def test_newer_keras_warning(folder):
    _edit(folder / constants.METADATA_FILE, lambda m: m.update({constants.META_KERAS_VERSION: "99.0.0"}))
    with pytest.warns(HubPublishWarning, match=rf"^this model was saved with Keras 99\.0\.0, newer than the installed Keras {re.escape(keras.version())}; if loading fails, upgrade Keras\.$"):
        hub_publish.from_pretrained(folder)
    for version in (keras.version(), "1.0.0", "not a version", None, ""):
        _edit(folder / constants.METADATA_FILE, lambda m: m.update({constants.META_KERAS_VERSION: version}))
        with warnings.catch_warnings():
            warnings.simplefilter("error", HubPublishWarning)
            hub_publish.from_pretrained(folder)


def test_warn_if_newer_keras_directly():
    with pytest.warns(HubPublishWarning, match=r"Keras 3\.10\.0, newer than the installed Keras 3\.9\.0"):
        loading._warn_if_newer_keras(fmt.Metadata(keras_version="3.10.0"), "3.9.0")  # not a string comparison
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loading._warn_if_newer_keras(fmt.Metadata(keras_version="3.9.0"), "3.10.0")
        loading._warn_if_newer_keras(fmt.Metadata(), "3.10.0")


# ----------------------------------------------------------------------------- references


def test_parse_repo_ref():
    assert parse_repo_ref("hf://alice/m@v1") == ("alice/m", "v1")
    assert parse_repo_ref("alice/m") == ("alice/m", None)
    assert parse_repo_ref("hf://alice/m/") == ("alice/m", None)
    assert parse_repo_ref("hf://alice/m@refs/pr/1") == ("alice/m", "refs/pr/1")


def test_parse_repo_ref_follows_huggingface_hubs_hf_uri_grammar():
    # A trailing "/" after the revision names no path (partition("@") once gave the revision "v1/").
    assert parse_repo_ref("hf://o/n@v1/") == ("o/n", "v1")
    assert parse_repo_ref("hf://o/n@refs/pr/1/") == ("o/n", "refs/pr/1")
    assert parse_repo_ref("hf://o/n@feature%2Fx") == ("o/n", "feature/x")  # a branch holding a "/"
    assert parse_repo_ref("o/n@0123456789abcdef0123456789abcdef01234567") == ("o/n", "0123456789abcdef0123456789abcdef01234567")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("hf://o/n@v1/sub/file.h5", r"^hf://o/n@v1/sub/file\.h5 names 'sub/file\.h5' inside revision 'v1'; a model is the whole repo: "
                                    r"hf://namespace/name@revision \(write a '/' in a branch name as %2F\)\.$"),
        ("hf://datasets/o/n", r"^hf://datasets/o/n names a dataset repo; from_pretrained loads model repos: hf://namespace/name\.$"),
        ("hf://o", r"^invalid repo id 'hf://o': .+ Expected namespace/name or hf://namespace/name@revision\.$"),
        ("hf://o--x/n", r"^invalid repo id 'hf://o--x/n': .*--.* Expected namespace/name"),
        ("hf://@v1", r"^invalid repo id 'hf://@v1': "),
    ],
)
def test_a_bad_hf_reference_is_one_clear_line(ref, message):
    with pytest.raises(HubPublishError, match=message) as info:
        parse_repo_ref(ref)
    assert "\n" not in str(info.value)
    with pytest.raises(HubPublishError, match=message):  # from_pretrained says the same, before any download
        hub_publish.from_pretrained(ref)


def test_a_name_that_is_no_folder_and_no_namespace_name_is_a_missing_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFolderError, match=r"^no model folder at my-model; pass an existing folder or a Hub repo id"):
        hub_publish.from_pretrained("my-model")


@pytest.mark.parametrize("ref", ["hf://alice/m@", "alice/m@", "hf://alice/m@/", "alice/m@/"])
def test_an_empty_revision_is_refused_not_read_as_the_default_branch(ref):
    # huggingface_hub's parse_hf_uri refuses it ("Empty revision after '@'"): it is a typo, not "main".
    expected = rf"^{re.escape(ref)} names no revision after '@'; write namespace/name@revision, or drop the '@' for the default branch\.$"
    with pytest.raises(HubPublishError, match=expected):
        parse_repo_ref(ref)
    with pytest.raises(HubPublishError, match=expected):  # before any download, and not as a missing folder
        hub_publish.from_pretrained(ref)


def test_cli_names_its_own_options_for_a_bad_reference():
    from click.testing import CliRunner

    from hub_publish.cli import main as cli

    for args, line in [
        (["inspect", "hf://alice/m@v1", "--revision", "main"],
         "Error: hf://alice/m@v1 names revision 'v1' but --revision main was passed; give one."),
        (["pull", "hf://alice/m@v1", "--revision", "main"],
         "Error: hf://alice/m@v1 names revision 'v1' but --revision main was passed; give one."),
        (["inspect", "alice/m@"],
         "Error: alice/m@ names no revision after '@'; write namespace/name@revision, or drop the '@' for the default branch."),
        (["pull", "hf://alice/m@"],
         "Error: hf://alice/m@ names no revision after '@'; write namespace/name@revision, or drop the '@' for the default branch."),
    ]:
        result = CliRunner().invoke(cli, args, env={"HF_ENDPOINT": "http://127.0.0.1:9"})
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [line]
        assert isinstance(result.exception, SystemExit)  # a clean exit, no traceback


def test_cli_says_how_to_save_a_folder_in_its_own_words(tmp_path):
    from click.testing import CliRunner

    from hub_publish.cli import main as cli

    empty = tmp_path / "emptydir"
    empty.mkdir()
    for command in ("card", "inspect"):
        result = CliRunner().invoke(cli, [command, str(empty)])
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [
            f"Error: {empty} has no {constants.CONFIG_FILE}: it is not a Keras model folder (save it with hub-publish save)."
        ]


def test_bad_references():
    with pytest.raises(HubPublishError, match=r"^'a/b/c' is not a valid Hub repo id; expected 'namespace/name'\.$"):
        hub_publish.from_pretrained("hf://a/b/c")
    with pytest.raises(HubPublishError, match=r"^hf://alice/m@v1 names revision 'v1' but revision='v2' was passed; give one\.$"):
        hub_publish.from_pretrained("hf://alice/m@v1", revision="v2")
    with pytest.raises(ModelFolderError, match=r"^no model folder at a/b/c; pass an existing folder"):
        hub_publish.from_pretrained("a/b/c")


def test_an_existing_file_is_not_a_repo_id(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "m").write_text("a file")
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ModelFolderError, match=r"^no model folder at alice/m; "):
            hub_publish.from_pretrained("alice/m")
    finally:
        os.chdir(cwd)


# ----------------------------------------------------------------------------- trust policy


def test_is_trusted_matches_whole_module_names():
    trusted = ("my_pkg", "org.sub")
    for module in ("hub_publish", "hub_publish.models.mnist", "keras", "keras.src.models", "my_pkg", "my_pkg.a.b",
                   "org.sub", "org.sub.x"):
        assert loading._is_trusted(module, trusted), module
    for module in ("keras_contrib_evil", "kerasx", "hub_publish_evil", "hub_publishx.y", "my_pkg2", "my_pkg_evil.x",
                   "org", "org.subx", "org.other", "", "evil.keras", "evil.hub_publish"):
        assert not loading._is_trusted(module, trusted), module
    assert not loading._is_trusted("my_pkg", ())


def _point_class_at(folder: Path, module: str, class_name: str = "Net", registered: str | None = None) -> None:
    """As if the author's class lived in ``module`` (the manifest restamped: the folder is intact)."""
    def edit(config):
        config.update(module=module, class_name=class_name, registered_name=registered or f"{module}>{class_name}")

    _edit(folder / constants.CONFIG_FILE, edit)
    restamp(folder, constants.CONFIG_FILE)


def test_resolve_class():
    cls, why = loading._resolve_class({"module": "keras.src.models.functional", "class_name": "Functional"}, ())
    assert cls is keras.Model and why == ""
    cls, why = loading._resolve_class({"module": "keras", "class_name": "Sequential"}, ())
    assert cls is keras.Model and why == ""
    cls, why = loading._resolve_class({"module": "hub_publish.models.mnist", "class_name": "MnistModel",
                                       "registered_name": "hub_publish>MnistModel"}, ())
    assert cls is MnistModel and why == ""
    assert loading._resolve_class({"class_name": "Ghost"}, ()) == (None, "class 'Ghost' is not registered")
    assert loading._resolve_class({}, ()) == (None, "class '?' is not registered")
    assert loading._resolve_class({"module": "evil_mod", "class_name": "E"}, ()) == (
        None, "class 'E' comes from module 'evil_mod', which is not trusted and was not imported; "
              "pass trusted_modules=('evil_mod',) if you trust it")
    from hub_publish.errors import command_line_messages

    with command_line_messages():  # the command line's spelling
        assert loading._resolve_class({"module": "evil_mod", "class_name": "E"}, ())[1].endswith(
            "; pass --trust evil_mod if you trust it")
    cls, why = loading._resolve_class({"module": "not_installed_anywhere", "class_name": "E"}, ("not_installed_anywhere",))
    assert cls is None and why.startswith("class 'E' from module 'not_installed_anywhere' is not available (No module named")
    assert loading._resolve_class({"module": "json", "class_name": "E", "registered_name": "json>E"}, ("json",)) == (
        None, "module 'json' does not register class 'json>E'")


def test_a_trusted_module_is_imported_and_registers_the_class(tmp_path, monkeypatch):
    name = f"author_pkg_{uuid.uuid4().hex[:8]}"  # new in this process: nothing registered or imported yet
    (tmp_path / f"{name}.py").write_text(
        "import keras\n"
        f"@keras.saving.register_keras_serializable(package={name!r})\n"
        "class Net(keras.Model):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cls, why = loading._resolve_class({"module": name, "class_name": "Net", "registered_name": f"{name}>Net"}, (name,))
    assert why == "" and cls.__name__ == "Net" and cls.__module__ == name


def test_a_class_registered_in_this_process_is_used_whatever_its_module(tmp_path):
    """The user imported (registered) the class themselves: no module is imported, and it is used."""
    package = f"session_{uuid.uuid4().hex[:8]}"

    @keras.saving.register_keras_serializable(package=package)
    class SessionNet(keras.Model):
        pass

    config = {"module": "__main__", "class_name": "SessionNet", "registered_name": f"{package}>SessionNet"}
    assert loading._resolve_class(config, ()) == (SessionNet, "")


def test_untrusted_class_falls_back_to_the_graph_with_a_warning(pristine, folder):
    _point_class_at(folder, "gone_pkg")
    with pytest.warns(HubPublishWarning, match=r"^class 'Net' comes from module 'gone_pkg', which is not trusted and was not imported; pass trusted_modules=\('gone_pkg',\) if you trust it; loaded the class-free graph instead \(a keras Functional with the same layers and weights\)\.$"):
        model = hub_publish.from_pretrained(folder)
    assert type(model).__name__ == "Functional" and [layer.name for layer in model.layers] == ["x", "hidden", "head"]
    np.testing.assert_allclose(model.predict(X, verbose=0), pristine[1], rtol=0, atol=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hub_publish.from_pretrained(folder)
    # The warning names the caller's line, not a line of hub-publish (under mutmut, whose call
    # trampolines add frames, it names the trampoline: still not hub-publish).
    package = Path(hub_publish.__file__).resolve().parent
    where = [Path(w.filename).resolve() for w in caught if w.category is HubPublishWarning]
    assert len(where) == 1 and package not in where[0].parents
    assert source_of(model).class_free is True and source_of(model).folder == folder.resolve()


def test_class_free_needs_the_graph(folder):
    _point_class_at(folder, "gone_pkg")
    (folder / constants.GRAPH_FILE).unlink()
    # graph.json in the manifest but gone: an integrity error (checked when the fallback uses it)
    with pytest.raises(IntegrityError, match=rf"^{folder} has no {constants.GRAPH_FILE} \(metadata\.json lists it\); "):
        hub_publish.from_pretrained(folder)
    # a folder saved without graph.json
    _edit(folder / constants.METADATA_FILE, lambda meta: meta[constants.META_ROOT][constants.META_FILES].pop(constants.GRAPH_FILE))
    with pytest.raises(ModelFolderError, match=rf"^class 'Net' comes from module 'gone_pkg', which is not trusted and was not imported; pass trusted_modules=\('gone_pkg',\) if you trust it, and {folder} has no {constants.GRAPH_FILE} to rebuild it without the class\.$"):
        hub_publish.from_pretrained(folder)


def test_unknown_layers_are_named(folder):
    _point_class_at(folder, "gone_pkg")

    def unknown(graph):
        for layer in graph["config"]["layers"]:
            if layer["config"]["name"] in ("hidden", "head"):
                layer.update(module=f"lib_{layer['config']['name']}", class_name="Custom",
                             registered_name=f"lib_{layer['config']['name']}>Custom")

    _edit(folder / constants.GRAPH_FILE, unknown)
    restamp(folder, constants.GRAPH_FILE)
    with pytest.raises(UnknownLayersError, match=r"^the model's graph needs custom layers that are not available: lib_head>Custom \(module lib_head\), lib_hidden>Custom \(module lib_hidden\); pass trusted_modules=\['lib_head', 'lib_hidden'\] if you trust them, or import the modules that register them\.$"):
        hub_publish.from_pretrained(folder)


def test_unknown_layers_walk():
    graph = {"config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {}},
        {"module": "builtins", "class_name": "dict", "config": {}},
        {"module": "keras", "class_name": "Layer", "config": {"inner": [
            {"module": "deep_lib", "class_name": "Deep", "config": {}}]}},
        {"module": "hub_publish.models.mnist", "class_name": "MnistModel", "registered_name": "hub_publish>MnistModel", "config": {}},
        {"module": "no_config_lib", "class_name": "NoConfig"},
        {"module": 3, "class_name": "NotAModule", "config": {}},
        {"module": "named_lib", "class_name": "Shown", "registered_name": "named_lib>Shown", "config": {}},
    ]}}
    assert loading._unknown_layers(graph) == {"Deep (module deep_lib)",
                                              "named_lib>Shown (module named_lib)"}
    assert loading._unknown_layers({}) == set()


def test_expected_class(folder):
    with pytest.raises(ClassMismatchError, match=rf"^{re.escape(str(Path(folder).resolve()))} holds Functional, not hub_publish>MnistModel; load it with hub_publish\.from_pretrained\(\) or with Functional\.from_pretrained\(\)\.$"):
        hub_publish.from_pretrained(folder, expected_class=MnistModel)


def test_check_class():
    loading._check_class({"registered_name": "hub_publish>MnistModel"}, MnistModel, MnistModel)
    loading._check_class({"registered_name": "x"}, MnistModel, keras.Model)
    with pytest.raises(ClassMismatchError, match=r"^this folder holds a>B, not hub_publish>MnistModel; load it with hub_publish\.from_pretrained\(\) or with B\.from_pretrained\(\)\.$"):
        loading._check_class({"registered_name": "a>B"}, None, MnistModel)
    with pytest.raises(ClassMismatchError, match=r"^this folder holds Functional, not "):
        loading._check_class({"class_name": "Functional"}, keras.Model, keras.Model)


def test_lambda_with_code_is_refused(tmp_path):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2, name="double")(inputs))
    folder = hub_publish.save_pretrained(model, tmp_path / "lambda", card=False)
    with pytest.raises(UnsafeModelError, match=rf"^{constants.CONFIG_FILE} in {folder} holds Python code \(such as a Lambda layer with bytecode\) and loading it would run that code; refused\. Only load it with keras safe_mode=False if you trust its author\.$"):
        hub_publish.from_pretrained(folder)


def test_deserialize_errors(folder):
    with pytest.raises(ModelFolderError, match=r"^cannot rebuild the model from here: <class 'keras\.src\.layers\.core\.dense\.Dense'> could not be deserialized properly\. Please ensure"):
        loading._deserialize({"module": "keras.layers", "class_name": "Dense", "config": {"units": "x"}}, compile=False, what="here")
    with pytest.raises(ModelFolderError, match=r"^here does not describe a Keras model \(got Dense\)\.$"):
        loading._deserialize({"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}, compile=False, what="here")


def test_compile_config_is_restored_only_when_asked(tmp_path):
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    folder = hub_publish.save_pretrained(model, tmp_path / "compiled", card=False, include_optimizer=True)
    assert getattr(hub_publish.from_pretrained(folder), "optimizer", None) is None
    assert type(hub_publish.from_pretrained(folder, compile=True).optimizer).__name__ == "SGD"
    # Without the optimizer's state the folder holds no compile config: nothing to restore.
    lean = hub_publish.save_pretrained(model, tmp_path / "lean", card=False)
    assert getattr(hub_publish.from_pretrained(lean, compile=True), "optimizer", None) is None





def test_class_free_graph_that_cannot_be_rebuilt_names_the_graph_file(folder):
    _point_class_at(folder, "gone_pkg")
    (folder / constants.GRAPH_FILE).write_text(json.dumps({"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}))
    restamp(folder, constants.GRAPH_FILE)
    with pytest.raises(ModelFolderError, match=rf"^{constants.GRAPH_FILE} in {folder} does not describe a Keras model \(got Dense\)\.$"):
        with pytest.warns(HubPublishWarning):
            hub_publish.from_pretrained(folder)


def test_evict_a_dangling_cache_link(tmp_path):
    """The blob is already gone: the link is removed and the error is still the integrity one."""
    snapshot, blob = _cache_layout(tmp_path, b"x")
    blob.unlink()
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 1}}}}
    with pytest.raises(IntegrityError, match=rf"^{snapshot} has no {constants.WEIGHTS_FILE} \(metadata\.json lists it\); "):
        verify_folder(snapshot, meta, evict=True)
    assert not (snapshot / constants.WEIGHTS_FILE).is_symlink()


# ----------------------------------------------------------------------------- kills found by mutation testing


def test_lambda_is_refused_even_when_the_process_enabled_unsafe_deserialization(tmp_path):
    """keras.config.enable_unsafe_deserialization() (the user's, for their own files) overrides
    Keras' safe_mode argument; a repo's bytecode must still not run."""
    from keras.src.backend.common import global_state

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2, name="double")(inputs))
    folder = hub_publish.save_pretrained(model, tmp_path / "lambda", card=False)
    before = global_state.get_global_attribute("safe_mode_saving")
    keras.config.enable_unsafe_deserialization()
    try:
        with pytest.raises(UnsafeModelError, match=rf"^{constants.CONFIG_FILE} in {folder} holds Python code "):
            hub_publish.from_pretrained(folder)
    finally:
        global_state.set_global_attribute("safe_mode_saving", before)


@keras.saving.register_keras_serializable(package="test_unit_loading")
class _Failing(keras.Model):
    """A class whose from_config fails with the message its config holds (none by default)."""

    @classmethod
    def from_config(cls, config, custom_objects=None):
        raise RuntimeError(config.get("say", ""))


def _failing(say: str | None = None) -> dict:
    return {"module": "test_unit_loading", "class_name": "_Failing", "registered_name": "test_unit_loading>_Failing",
            "config": {} if say is None else {"say": say}}


def test_deserialize_error_without_a_message_names_the_exception_type():
    with pytest.raises(ModelFolderError, match=r"^cannot rebuild the model from here: RuntimeError$"):
        loading._deserialize(_failing(), compile=False, what="here")
    with pytest.raises(ModelFolderError, match=r"^cannot rebuild the model from here: RuntimeError$"):
        loading._deserialize(_failing("  \n "), compile=False, what="here")
    with pytest.raises(ModelFolderError, match=r"^cannot rebuild the model from here: first line$"):
        loading._deserialize(_failing(" first line\nsecond"), compile=False, what="here")


def test_deserialize_caps_the_message_and_leaves_the_callers_config_alone(folder):
    with pytest.raises(ModelFolderError) as err:
        loading._deserialize(_failing("y" * 400), compile=False, what="here")
    assert str(err.value) == "cannot rebuild the model from here: " + "y" * 300
    config = json.loads((folder / constants.CONFIG_FILE).read_text())
    before = json.loads(json.dumps(config))
    loading._deserialize(config, compile=False, what="here")
    loading._deserialize(config, compile=True, what="here")
    assert config == before


def test_class_free_graph_is_never_compiled(tmp_path):
    """graph.json is the class-free structure: a compile config in it (hand-written) is ignored."""
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    folder = hub_publish.save_pretrained(model, tmp_path / "compiled", card=False, include_optimizer=True)
    compile_config = json.loads((folder / constants.CONFIG_FILE).read_text())["compile_config"]
    assert compile_config
    _edit(folder / constants.GRAPH_FILE, lambda graph: graph.update(compile_config=compile_config))
    restamp(folder, constants.GRAPH_FILE)
    _point_class_at(folder, "gone_pkg")
    with pytest.warns(HubPublishWarning, match=r"loaded the class-free graph instead"):
        loaded = hub_publish.from_pretrained(folder)
    assert getattr(loaded, "optimizer", None) is None


def test_unknown_layers_message_names_the_top_level_packages_to_trust():
    graph = {"config": {"layers": [
        {"module": "pkg.layers", "class_name": "A", "registered_name": "pkg>A", "config": {}},
        {"module": "libX", "class_name": "B", "registered_name": "libX>B", "config": {}},
        {"module": "lib_c", "class_name": "C", "registered_name": "lib_c>a module C", "config": {}},
        {"module": "odd mod", "class_name": "D", "registered_name": "odd>D", "config": {}},
    ]}}
    with pytest.raises(UnknownLayersError, match=re.escape(
            "needs custom layers that are not available: libX>B (module libX), lib_c>a module C (module lib_c), "
            "odd>D (module odd mod), pkg>A (module pkg.layers); pass trusted_modules=['libX', 'lib_c', 'odd mod', 'pkg'] "
            "if you trust them, or import the modules that register them.") + "$"):
        loading._check_known_layers(graph)
    # On the command line the same refusal names --trust, once per module.
    from hub_publish.errors import command_line_messages

    with command_line_messages(), pytest.raises(UnknownLayersError, match=re.escape(
            "; pass --trust libX --trust lib_c --trust 'odd mod' --trust pkg if you trust them, or import") + ".*[^=]$"):
        loading._check_known_layers(graph)


def test_evict_needs_both_a_snapshot_and_a_blob(tmp_path):
    """A snapshot entry linking outside ``blobs`` (the user's file), or a link into a ``blobs``
    folder that is not under ``snapshots``, is not a cache entry: nothing is deleted."""
    snapshot, blob = _cache_layout(tmp_path, b"corrupt")
    mine = tmp_path / "mine.h5"
    mine.write_bytes(b"user data")
    (snapshot / constants.WEIGHTS_FILE).unlink()
    (snapshot / constants.WEIGHTS_FILE).symlink_to(mine)
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 9}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(snapshot, meta, evict=True)
    assert mine.read_bytes() == b"user data" and (snapshot / constants.WEIGHTS_FILE).is_symlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / constants.WEIGHTS_FILE).symlink_to(blob)
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 7}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(elsewhere, meta, evict=True)
    assert blob.read_bytes() == b"corrupt" and (elsewhere / constants.WEIGHTS_FILE).is_symlink()


def test_evict_works_in_a_cache_reached_through_a_symlinked_folder(tmp_path):
    """HF_HOME on another disk behind a link (~/.cache -> /data/cache) is common: the entry is
    still found (huggingface_hub records the link's own target, not the fully resolved path)."""
    real = tmp_path / "real"
    real.mkdir()
    _, blob = _cache_layout(real, b"corrupt")
    (tmp_path / "linked").symlink_to(real)
    snapshot = tmp_path / "linked" / "models--a--b" / "snapshots" / ("1" * 40)
    meta = {constants.META_ROOT: {constants.META_FILES: {constants.WEIGHTS_FILE: {"sha256": "0" * 64, "size": 7}}}}
    with pytest.raises(IntegrityError, match=r"does not match its sha256"):
        verify_folder(snapshot, meta, evict=True)
    assert not (snapshot / constants.WEIGHTS_FILE).is_symlink() and not blob.exists()
