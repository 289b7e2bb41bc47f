"""The mechanisms behind the speed goals of issue 13 (no timings here: scripts/bench.py measures those).

- verify once: a warm load does not read the weights again; a file that changed after it was
  verified is hashed again and refused; ``--verify`` / ``force_download`` re-hash on demand;
- hash once: a push hashes each weights file once at most (huggingface_hub gets the digest);
- fetch only what loading needs: the server log shows which files a load downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
from server_fixtures import TOKEN_SPECS, TOKENS, client_env, unique

import hub_publish
from hub_publish import constants, verify_cache
from hub_publish.errors import IntegrityError
from hub_publish.loading import HubPublishWarning, source_of, verify_folder
from hub_publish.models import MnistModel
from hub_publish.server import HubServer

ALICE = TOKENS["alice"]
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("hub-data"), tokens=TOKEN_SPECS) as server:
        yield server


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return MnistModel(conv_filters=(4, 6, 8), dense_units=8)


def _x() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)


# Python-level opens of watched files, seen through an audit hook (h5py opens files in C, so the
# only Python reads of a weights file are hashing passes: this counts them without mocking).
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
        if "w" not in mode and "a" not in mode:
            _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)


class _Reads:
    def __init__(self, path: Path) -> None:
        self.path = os.path.realpath(path)

    def __enter__(self) -> _Reads:
        global _OPENED
        _OPENED = []
        return self

    def __exit__(self, *exc: object) -> None:
        global _OPENED
        self.count = sum(1 for p in _OPENED or [] if p == self.path)
        _OPENED = None


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every sha256 pass over a file: hub-publish's (verify_cache) and huggingface_hub's (UploadInfo)."""
    import huggingface_hub.lfs as hf_lfs

    calls: list[str] = []
    ours, theirs = verify_cache._hash, hf_lfs.sha_fileobj

    def spy_ours(path: Path) -> tuple[str, int]:
        calls.append(os.path.basename(path))
        return ours(path)

    def spy_theirs(fileobj, *a, **k):  # type: ignore[no-untyped-def]
        calls.append(os.path.basename(getattr(fileobj, "name", "?")))
        return theirs(fileobj, *a, **k)

    monkeypatch.setattr(verify_cache, "_hash", spy_ours)
    monkeypatch.setattr(hf_lfs, "sha_fileobj", spy_theirs)
    return calls


# ----------------------------------------------------------------------------- verify once


def test_warm_load_does_not_read_the_weights_again(hub: HubServer, tmp_path: Path) -> None:
    model = _model(1)
    repo = f"alice/{unique('warm')}"
    sha = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint).commit_id
    cache = tmp_path / "cache"
    # First load: the file enters the cache and is hashed (read) once.
    first = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    blob = (source_of(first).folder / constants.WEIGHTS_FILE).resolve()
    assert blob.parent.name == "blobs"
    # Warm loads, pinned and by branch: no Python-level read of the weights at all.
    for revision in (sha, None):
        with _Reads(blob) as reads:
            again = hub_publish.from_pretrained(repo, revision=revision, endpoint=hub.endpoint, cache_dir=cache)
        assert reads.count == 0, f"a warm load read the weights {reads.count} time(s)"
        np.testing.assert_array_equal(again.predict(_x(), verbose=0), model.predict(_x(), verbose=0))
    # Control: the counter sees a hashing pass (force_download re-hashes on demand).
    with _Reads(blob) as reads:
        hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache, force_download=True)
    assert reads.count >= 1


def test_a_local_folder_is_hashed_when_saved_and_not_again_when_loaded(tmp_path: Path, hash_calls: list[str]) -> None:
    folder = hub_publish.save_pretrained(_model(2), tmp_path / "m")
    assert hash_calls.count(constants.WEIGHTS_FILE) == 1  # save_pretrained hashes what it wrote, once
    hub_publish.from_pretrained(folder)
    hub_publish.from_pretrained(folder)
    assert hash_calls.count(constants.WEIGHTS_FILE) == 1
    # A copy is a new file (new inode): hashed once on its first use, then remembered.
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    hub_publish.from_pretrained(copy)
    hub_publish.from_pretrained(copy)
    assert hash_calls.count(constants.WEIGHTS_FILE) == 2
    # rehash=True (force_download / pull --verify) ignores the record.
    verify_folder(copy, rehash=True)
    assert hash_calls.count(constants.WEIGHTS_FILE) == 3


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["plain-write", "mtime-restored"])
def test_a_cached_file_corrupted_after_verification_is_detected(hub: HubServer, tmp_path: Path,
                                                                keep_mtime: bool) -> None:
    model = _model(3)
    repo = f"alice/{unique('rot')}"
    sha = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint).commit_id
    cache = tmp_path / "cache"
    loaded = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    weights = source_of(loaded).folder / constants.WEIGHTS_FILE
    blob = weights.resolve()
    assert verify_cache.known_sha256(blob) is not None  # verified and recorded by the first load
    st = blob.stat()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped in place
    with open(blob, "r+b") as f:
        f.write(bytes(data))
    if keep_mtime:  # an attempt to hide the change: ctime still moves, so the record no longer matches
        os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert blob.stat().st_mtime_ns == st.st_mtime_ns and blob.stat().st_size == st.st_size
    assert verify_cache.known_sha256(blob) is None
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    assert not blob.exists()  # evicted: the next load downloads it again
    again = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    np.testing.assert_array_equal(again.predict(_x(), verbose=0), model.predict(_x(), verbose=0))


def test_a_record_that_lies_is_not_trusted_for_another_file(tmp_path: Path) -> None:
    """Records are keyed by inode and checked against size + mtime + ctime: replacing the file
    (even with the same name and size) invalidates the record."""
    folder = hub_publish.save_pretrained(_model(4), tmp_path / "m")
    weights = folder / constants.WEIGHTS_FILE
    good = weights.read_bytes()
    bad = bytearray(good)
    bad[-10] ^= 0x01
    tmp = weights.with_name("new")
    tmp.write_bytes(bytes(bad))
    os.replace(tmp, weights)
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        hub_publish.from_pretrained(folder)


def test_cli_pull_verify_rehashes_on_demand(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = f"alice/{unique('pull-verify')}"
    hub_publish.push_to_hub(_model(5), repo, token=ALICE, endpoint=hub.endpoint)
    home = tmp_path / "hf-home"
    env = client_env(hub, home, ALICE)
    exe = str(Path(sys.executable).with_name("hub-publish"))

    def pull(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "pull", *extra, repo], env=env, capture_output=True, text=True, timeout=300)

    assert pull().returncode == 0
    [entry] = list((home / "hub").glob(f"models--*/snapshots/*/{constants.WEIGHTS_FILE}"))
    blob = entry.resolve()
    expected = verify_cache.sha256_file(blob)[0]
    # A record that vouches for a corrupted file (what a record cannot rule out: a change that
    # keeps inode, size, mtime and ctime). A plain pull trusts it; --verify re-hashes and refuses.
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    monkeypatch.setenv(verify_cache.ENV_VERIFY_CACHE, str(home / "hub_publish" / "verified"))
    verify_cache.record(blob, expected)
    assert pull().returncode == 0
    bad = pull("--verify")
    assert bad.returncode != 0 and "does not match its sha256" in bad.stderr, bad.stderr
    assert not blob.exists()  # evicted
    ok = pull("--verify")
    assert ok.returncode == 0 and "1 weights file(s) verified" in ok.stdout, ok.stderr


# ----------------------------------------------------------------------------- hash once per push


def test_an_unchanged_push_hashes_each_file_once(hub: HubServer, tmp_path: Path, hash_calls: list[str]) -> None:
    model = _model(6)
    repo = f"alice/{unique('hash-once')}"
    folder = hub_publish.save_pretrained(model, tmp_path / "m", repo_id=repo)
    first = hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
    # save hashed the weights once; the push reused that digest (verify and huggingface_hub: 0 passes).
    assert hash_calls.count(constants.WEIGHTS_FILE) == 1, hash_calls

    # A copied folder (no record) pushed unchanged: one hashing pass per weights file, not two or three.
    hash_calls.clear()
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    second = hub_publish.push_to_hub(copy, repo, token=ALICE, endpoint=hub.endpoint)
    assert not second.changed and second.commit_id == first.commit_id
    assert hash_calls.count(constants.WEIGHTS_FILE) == 1, hash_calls

    # push_to_hub(model): saved to a temporary folder (hashed once there), nothing hashed again.
    hash_calls.clear()
    third = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint)
    assert not third.changed
    assert hash_calls.count(constants.WEIGHTS_FILE) == 1, hash_calls


def test_a_push_with_a_wrong_recorded_digest_is_refused_before_upload(hub: HubServer, tmp_path: Path) -> None:
    """The digest handed to huggingface_hub is the verified one: a folder whose weights changed
    after saving is refused, not uploaded under the stale digest."""
    folder = hub_publish.save_pretrained(_model(7), tmp_path / "m")
    weights = folder / constants.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    with open(weights, "r+b") as f:
        f.write(bytes(data))
    with pytest.raises(IntegrityError):
        hub_publish.push_to_hub(folder, f"alice/{unique('stale')}", token=ALICE, endpoint=hub.endpoint)


def test_sharded_push_then_unsharded_push_deletes_the_stale_shards(hub: HubServer, tmp_path: Path) -> None:
    """The hand-written upload keeps upload_folder's rules: shards the folder no longer has are deleted."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.endpoint, token=ALICE)
    repo = f"alice/{unique('shards')}"
    inputs = keras.Input((64,), name="x")
    x = inputs
    for i in range(3):
        x = keras.layers.Dense(64, name=f"d{i}")(x)
    model = keras.Model(inputs, x)  # a plain functional model, ~16 KB per layer
    hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint, max_shard_size=0.00002)
    shards = [f for f in api.list_repo_files(repo) if f.startswith("model_")]
    assert len(shards) > 1
    hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint)
    files = api.list_repo_files(repo)
    assert not [f for f in files if f.startswith("model_")] and constants.WEIGHTS_FILE in files
    assert ".gitattributes" in files


def test_downloads_in_large_pieces_keep_every_byte_and_range(hub: HubServer) -> None:
    """The resolve route sends blobs in 1 MB pieces (not Starlette's 64 KB): whole files and ranges
    that start, end or straddle a piece boundary still come back byte for byte."""
    import httpx2
    from huggingface_hub import HfApi

    from hub_publish.server.routes import resolve

    piece = resolve._FileResponse.chunk_size
    assert piece >= 1 << 20  # the mechanism (BENCHMARKS.md: server CPU per GB downloaded 2-3 s -> 0.5-0.7 s)
    data = np.random.default_rng(5).bytes(2 * piece + 12345)
    repo = f"alice/{unique('pieces')}"
    api = HfApi(endpoint=hub.endpoint, token=ALICE)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo)
    url = f"{hub.endpoint}/{repo}/resolve/main/w.bin"
    auth = {"authorization": f"Bearer {ALICE}"}
    whole = httpx2.get(url, headers=auth)
    assert whole.status_code == 200 and whole.content == data
    for start, end in [(0, piece - 1), (piece - 10, piece + 10), (piece, 2 * piece), (5, len(data) - 1),
                       (2 * piece - 1, len(data) - 1)]:
        r = httpx2.get(url, headers={**auth, "Range": f"bytes={start}-{end}"})
        assert r.status_code == 206 and r.content == data[start : end + 1], (start, end)


# ----------------------------------------------------------------------------- fetch only what loading needs


def _requests_since(server: HubServer, mark: int) -> list[str]:
    return [line for line in server.log_file.read_text().splitlines()[mark:]
            if any(f" {m} " in line for m in ("GET", "HEAD", "POST", "PUT"))]


def test_a_load_fetches_only_the_files_loading_reads(hub: HubServer, tmp_path: Path) -> None:
    from hub_publish.hub import LOAD_PATTERNS  # noqa: F401  (the rule under test)

    model = _model(9)
    repo = f"alice/{unique('fetch')}"
    plot = tmp_path / "curves.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 4096)
    sha = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint,
                                  extra_files={constants.TRAINING_CURVES_FILE: str(plot)}).commit_id
    mark = len(hub.log_file.read_text().splitlines())
    loaded = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    resolved = [line for line in _requests_since(hub, mark) if "/resolve/" in line]
    fetched = {line.split("/resolve/")[1].split()[0].split("/", 1)[1] for line in resolved}
    assert fetched == {constants.CONFIG_FILE, constants.METADATA_FILE, constants.WEIGHTS_FILE}, resolved
    on_disk = {p.name for p in source_of(loaded).folder.iterdir()}
    assert on_disk == fetched
    np.testing.assert_array_equal(loaded.predict(_x(), verbose=0), model.predict(_x(), verbose=0))


def test_graph_json_is_fetched_when_the_class_free_fallback_needs_it(hub: HubServer, tmp_path: Path) -> None:
    """A model whose class is not trusted falls back to graph.json, fetched on demand (same commit)."""
    # The class lives in a module only the pushing process can import (a class in __main__ is
    # refused at save: no other program could import it).
    (tmp_path / "perfpkg_models.py").write_text("""
import keras

@keras.saving.register_keras_serializable(package="perfpkg")
class Tiny(keras.Model):
    def __init__(self, **kwargs):
        inputs = keras.Input((3,), name="x")
        super().__init__(inputs=inputs, outputs=keras.layers.Dense(2, name="head")(inputs), **kwargs)
""")
    script = f"""
import warnings, keras, numpy as np, hub_publish
from perfpkg_models import Tiny

keras.utils.set_random_seed(0)
m = Tiny()
r = hub_publish.push_to_hub(m, "{{repo}}", token="{ALICE}", endpoint="{hub.endpoint}")
print(r.commit_id)
np.save("{tmp_path}/y.npy", m.predict(np.ones((1, 3)), verbose=0))
"""
    repo = f"alice/{unique('fallback')}"
    env = client_env(hub, tmp_path / "home-push", ALICE)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    pushed = subprocess.run([sys.executable, "-c", script.replace("{repo}", repo)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    sha = pushed.stdout.strip().splitlines()[-1]
    # Here the class is unknown (its module was never imported): the class-free graph is used.
    cache = tmp_path / "cache"
    mark = len(hub.log_file.read_text().splitlines())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    assert any(issubclass(w.category, HubPublishWarning) for w in caught)
    resolved = [line for line in _requests_since(hub, mark) if "/resolve/" in line]
    assert [line for line in resolved if constants.GRAPH_FILE in line], resolved
    assert not [line for line in resolved if constants.CARD_FILE in line], resolved
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3)), verbose=0), np.load(tmp_path / "y.npy"), rtol=1e-6)
    # Pinned and cached now: the fallback reloads with no request at all.
    mark = len(hub.log_file.read_text().splitlines())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    assert _requests_since(hub, mark) == []


def test_a_snapshot_started_by_a_single_file_download_is_completed(hub: HubServer, tmp_path: Path) -> None:
    """The cache-only fast path of a pinned load never takes a partial snapshot folder for a whole one."""
    from huggingface_hub import hf_hub_download

    model = _model(10)
    repo = f"alice/{unique('partial')}"
    sha = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint).commit_id
    cache = tmp_path / "cache"
    card = hf_hub_download(repo, constants.CARD_FILE, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    assert Path(card).parent.name == sha  # the snapshot folder exists, holding the card only
    loaded = hub_publish.from_pretrained(repo, revision=sha, endpoint=hub.endpoint, cache_dir=cache)
    np.testing.assert_array_equal(loaded.predict(_x(), verbose=0), model.predict(_x(), verbose=0))
