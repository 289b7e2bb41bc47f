"""hub-publish's own Hub client (push_to_hub, from_pretrained, the push/pull CLI) against the real server.

Everything runs over HTTP on 127.0.0.1 through the stock huggingface_hub client; processes that
need ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` (read when huggingface_hub is imported) run as subprocesses.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi
from conftest import subprocess_env
from server_fixtures import TOKEN_SPECS, TOKENS, client_env, unique

import hub_publish
from hub_publish import constants
from hub_publish.cli import main as cli
from hub_publish.errors import HubPublishError, IntegrityError
from hub_publish.loading import source_of
from hub_publish.models import MnistDictModel, MnistModel
from hub_publish.server import HubServer

ALICE = TOKENS["alice"]
BOB = TOKENS["bob"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    with HubServer(tmp_path_factory.mktemp("hub-data"), tokens=TOKEN_SPECS) as server:
        yield server


@pytest.fixture(scope="module")
def alice(hub: HubServer) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=ALICE)


def _model(seed: int, cls: type = MnistModel) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return cls(conv_filters=(4, 6, 8), dense_units=8)


def _images(n: int = 4, h: int = 28, w: int = 28) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, size=(n, h, w, 1), dtype=np.uint8)


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return model.predict({"image": x} if isinstance(model.input, dict) else x, verbose=0)


def _log_lines(server: HubServer) -> list[str]:
    return server.log_file.read_text().splitlines()


def _requests_since(server: HubServer, mark: int) -> list[str]:
    """Request lines ("METHOD /path STATUS ms") the server logged after line ``mark``."""
    return [line for line in _log_lines(server)[mark:] if " GET " in line or " HEAD " in line or " POST " in line
            or " PUT " in line or " DELETE " in line]


def _child(script: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


# ----------------------------------------------------------------------------- push and load


@pytest.mark.parametrize("cls", [MnistModel, MnistDictModel], ids=["MnistModel", "MnistDictModel"])
def test_push_then_from_pretrained(cls: type, hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    model = _model(1, cls)
    repo = f"alice/{unique('push')}"
    result = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint)
    assert result.changed and result.repo_id == repo and result.revision == "main"
    assert alice.repo_info(repo).sha == result.commit_id
    files = set(alice.list_repo_files(repo))
    assert {constants.CONFIG_FILE, constants.METADATA_FILE, constants.WEIGHTS_FILE, constants.GRAPH_FILE,
            constants.CARD_FILE} <= files
    siblings = {s.rfilename: s for s in alice.model_info(repo, files_metadata=True).siblings}
    assert siblings[constants.WEIGHTS_FILE].lfs is not None  # weights travel as LFS

    loaded = cls.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert type(loaded) is cls
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for h, w in [(8, 8), (28, 28), (57, 31)]:
        x = _images(2, h, w)
        np.testing.assert_array_equal(_predict(loaded, x), _predict(model, x))
    source = source_of(loaded)
    assert source.repo_id == repo and source.commit == result.commit_id
    # The class API pins revisions too, and hf:// with @revision is the same thing.
    again = hub_publish.from_pretrained(f"hf://{repo}@{result.commit_id}", endpoint=hub.endpoint,
                                        cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_predict(again, _images()), _predict(model, _images()))


def test_private_push_is_invisible_to_others(hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    repo = f"alice/{unique('private')}"
    hub_publish.push_to_hub(_model(2), repo, private=True, token=ALICE, endpoint=hub.endpoint)
    assert alice.repo_info(repo).private
    for token in (BOB, False):
        with pytest.raises(HubPublishError, match=rf"^repo {repo} not found \(or it is private and the token cannot see it\); "):
            hub_publish.from_pretrained(repo, token=token, endpoint=hub.endpoint, cache_dir=tmp_path / str(token))
    assert type(hub_publish.from_pretrained(repo, token=ALICE, endpoint=hub.endpoint, cache_dir=tmp_path / "a")) is MnistModel


def test_unchanged_repush_makes_no_commit_and_sends_no_weights(hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    model = _model(3)
    folder = hub_publish.save_pretrained(model, tmp_path / "model")
    repo = f"alice/{unique('repush')}"
    first = hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
    commits = alice.list_repo_commits(repo)

    # Re-save the same model (new date_saved) and push again: nothing changed, nothing is sent.
    # (Replacing a model folder is asked for with overwrite=True since issue 9.)
    folder = hub_publish.save_pretrained(model, tmp_path / "model", overwrite=True)
    mark = len(_log_lines(hub))
    second = hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=hub.endpoint)
    sent = _requests_since(hub, mark)
    assert [line for line in sent if "/preupload/" in line], sent  # the log is live: the push did talk to the Hub
    assert not second.changed and second.commit_id == first.commit_id
    assert len(alice.list_repo_commits(repo)) == len(commits)
    assert not [line for line in sent if "/info/lfs/objects/" in line and " PUT " in line], sent
    assert not [line for line in sent if "/xet-cas/" in line], sent
    assert not [line for line in sent if "/commit/" in line], sent

    # A real change makes exactly one new commit.
    third = hub_publish.push_to_hub(_model(4), repo, token=ALICE, endpoint=hub.endpoint)
    assert third.changed and len(alice.list_repo_commits(repo)) == len(commits) + 1


# ----------------------------------------------------------------------------- revisions


@pytest.fixture(scope="module")
def versions(hub: HubServer, alice: HfApi) -> dict:
    """v1 tagged, v2 on main, v3 on a branch: one model per revision."""
    repo = f"alice/{unique('revs')}"
    models = {name: _model(10 + i) for i, name in enumerate(["v1", "v2", "v3"])}
    v1 = hub_publish.push_to_hub(models["v1"], repo, token=ALICE, endpoint=hub.endpoint, commit_message="v1")
    alice.create_tag(repo, tag="v1", revision=v1.commit_id)
    v2 = hub_publish.push_to_hub(models["v2"], repo, token=ALICE, endpoint=hub.endpoint, commit_message="v2")
    v3 = hub_publish.push_to_hub(models["v3"], repo, token=ALICE, endpoint=hub.endpoint, branch="experiment",
                                 commit_message="v3")
    commits = {"v1": v1.commit_id, "v2": v2.commit_id, "v3": v3.commit_id}
    assert len(set(commits.values())) == 3
    return {"repo": repo, "models": models, "commits": commits}


@pytest.mark.parametrize("name, revision", [("v1", "v1"), ("v2", None), ("v2", "main"), ("v3", "experiment")])
def test_each_revision_loads_its_own_weights(versions: dict, name: str, revision: str | None, hub: HubServer,
                                             tmp_path: Path) -> None:
    loaded = MnistModel.from_pretrained(versions["repo"], revision=revision, endpoint=hub.endpoint,
                                        cache_dir=tmp_path / "cache")
    x = _images()
    np.testing.assert_array_equal(_predict(loaded, x), _predict(versions["models"][name], x))
    others = [other for other in versions["models"] if other != name]
    for other in others:
        assert not np.allclose(_predict(loaded, x), _predict(versions["models"][other], x))
    assert source_of(loaded).commit == versions["commits"][name]


def test_revision_by_commit_sha(versions: dict, hub: HubServer, tmp_path: Path) -> None:
    sha = versions["commits"]["v1"]
    loaded = hub_publish.from_pretrained(versions["repo"], revision=sha, endpoint=hub.endpoint,
                                         cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_predict(loaded, _images()), _predict(versions["models"]["v1"], _images()))
    # A revision pinned by sha is served from the cache without a single request.
    mark = len(_log_lines(hub))
    hub_publish.from_pretrained(versions["repo"], revision=sha, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert _requests_since(hub, mark) == []
    # Control: a branch revision does ask the Hub, and the log shows it.
    hub_publish.from_pretrained(versions["repo"], revision="main", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert _requests_since(hub, mark), "the server log shows no requests at all"


def test_a_hub_model_of_another_class_is_named_by_repo_and_commit(versions: dict, hub: HubServer, tmp_path: Path) -> None:
    repo, commit = versions["repo"], versions["commits"]["v1"]
    with pytest.raises(HubPublishError, match=rf"^{re.escape(repo)}@{commit} holds hub_publish>MnistModel, not hub_publish>MnistDictModel; "):
        MnistDictModel.from_pretrained(repo, revision="v1", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")


def test_unknown_revision_and_repo_are_clear(versions: dict, hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(HubPublishError, match="revision 'nope'"):
        hub_publish.from_pretrained(versions["repo"], revision="nope", endpoint=hub.endpoint, cache_dir=tmp_path)
    with pytest.raises(HubPublishError, match="not found"):
        hub_publish.from_pretrained("alice/does-not-exist", endpoint=hub.endpoint, cache_dir=tmp_path)
    assert not list((tmp_path).glob("models--alice--does-not-exist/snapshots/*"))


# ----------------------------------------------------------------------------- offline and cache


def test_offline_after_one_load_also_with_the_server_stopped(tmp_path: Path) -> None:
    """HF_HUB_OFFLINE=1 loads what one online load cached; then the same with no server at all."""
    model = _model(20)
    x = _images()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", _predict(model, x))
    with HubServer(tmp_path / "hub-data", tokens=TOKEN_SPECS) as server:
        repo = f"alice/{unique('offline')}"
        tag = hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=server.endpoint)
        HfApi(endpoint=server.endpoint, token=ALICE).create_tag(repo, tag="release", revision=tag.commit_id)
        script = f"""
            import numpy as np, hub_publish
            for revision in (None, "release"):
                model = hub_publish.from_pretrained("{repo}", revision=revision)
                np.testing.assert_array_equal(model.predict(np.load("x.npy"), verbose=0), np.load("expected.npy"))
            print(type(model).__name__, hub_publish.loading.source_of(model).commit)
            """
        home = tmp_path / "hf-home"
        online = _child(script, client_env(server, home, ALICE), tmp_path)
        assert online.stdout.split()[-2:] == ["MnistModel", tag.commit_id]
        assert _requests_since(server, 0), "the server log shows no requests at all"
        mark = len(_log_lines(server))
        offline = _child(script, client_env(server, home, ALICE, HF_HUB_OFFLINE="1"), tmp_path)
        assert offline.stdout.split()[-2:] == ["MnistModel", tag.commit_id]
        assert _requests_since(server, mark) == []
        # A pull asks for the whole snapshot; the loads cached only the model files: it says which
        # files are missing and how to get them (decision: docs/hub.md, "Offline").
        pulled = _cli_subprocess(["pull", repo], client_env(server, home, ALICE, HF_HUB_OFFLINE="1"))
        assert pulled.returncode == 1 and len(pulled.stderr.strip().splitlines()) == 1, pulled.stderr
        assert re.search(rf"^Error: {repo} is only partly in the local cache \(\d+ file\(s\) missing: [^)]*{constants.CARD_FILE}",
                         pulled.stderr), pulled.stderr
        assert "unset HF_HUB_OFFLINE to download it" in pulled.stderr
    # Server gone (its port refuses connections): offline still works, online fails clearly.
    _child(script, client_env(server, home, ALICE, HF_HUB_OFFLINE="1"), tmp_path)
    fresh = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env=client_env(server, tmp_path / "empty-home", ALICE,
                                                                  HF_HUB_OFFLINE="1"))
    assert fresh.returncode != 0
    assert "HubPublishError" in fresh.stderr and "offline" in fresh.stderr.lower()


def _closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_hub_is_named_and_not_blamed_on_offline_mode(tmp_path: Path) -> None:
    """Nothing cached and no Hub at the endpoint: the message names the endpoint and what to do, in
    the options of the interface used (the CLI's --endpoint, Python's endpoint=), never offline mode."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    repo = f"alice/{unique('unreachable')}"
    advice = "and the network, or load a revision that is in the local cache (`hf cache ls` lists them)."
    # The CLI, with the endpoint from HF_ENDPOINT (read when huggingface_hub is imported: a child process).
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("HF_")}
    pulled = subprocess.run([sys.executable, "-m", "hub_publish", "pull", repo], capture_output=True, text=True, timeout=120,
                            env={**env, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home")})
    assert pulled.returncode == 1 and pulled.stdout == ""
    assert pulled.stderr.count("\n") == 1, pulled.stderr
    assert pulled.stderr.startswith(
        f"Error: {repo} is not in the local cache, and the Hub at {endpoint} could not be reached ("
    ), pulled.stderr
    assert f"; check the endpoint (--endpoint / HF_ENDPOINT) {advice}\n" in pulled.stderr
    assert "offline" not in pulled.stderr.lower() and "endpoint=" not in pulled.stderr
    # Python: from_pretrained and push_to_hub name endpoint=.
    with pytest.raises(HubPublishError) as err:
        hub_publish.from_pretrained(repo, endpoint=endpoint + "/", cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert re.fullmatch(rf"{repo} is not in the local cache, and the Hub at {endpoint} could not be reached \(.+\); "
                        rf"check the endpoint \(endpoint= / HF_ENDPOINT\) {re.escape(advice)}", message), message
    assert "offline" not in message.lower() and "--endpoint" not in message
    folder = hub_publish.save_pretrained(_model(21), tmp_path / "model")
    with pytest.raises(HubPublishError, match=rf"^the Hub at {endpoint} could not be reached for {repo} \(.+\); check the "
                                              r"endpoint \(endpoint= / HF_ENDPOINT\) and the network\.$"):
        hub_publish.push_to_hub(folder, repo, token=ALICE, endpoint=endpoint)


def test_a_hub_that_answers_5xx_with_nothing_cached_is_named_with_its_status() -> None:
    # huggingface_hub wraps a 5xx of the Hub (down, overloaded) like a refused connection: a
    # LocalEntryNotFoundError caused by the HTTP error. The project's server never answers 5xx,
    # so the exception is built as snapshot_download builds it.
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from hub_publish.hub import hub_errors

    url = "http://hub.example:8080/api/models/alice/m/revision/main"
    cause = HfHubHTTPError("503 Server Error", response=httpx2.Response(503, request=httpx2.Request("GET", url)))
    with pytest.raises(HubPublishError, match=r"^alice/m@v1 is not in the local cache, and the Hub at "
                                              r"http://hub\.example:8080 answered HTTP 503; check the endpoint "
                                              r"\(endpoint= / HF_ENDPOINT\) and the network, or load a revision"):
        with hub_errors("alice/m", "v1"):
            raise LocalEntryNotFoundError("An error happened while trying to locate the files on the Hub") from cause


def test_local_files_only_with_nothing_cached_says_so(tmp_path: Path) -> None:
    repo = f"alice/{unique('cache-only')}"
    with pytest.raises(HubPublishError, match=rf"^{repo} is not in the local cache and local_files_only=True forbids "
                                              r"downloading it; drop local_files_only, or load a revision"):
        hub_publish.from_pretrained(repo, local_files_only=True, cache_dir=tmp_path / "cache")


def test_force_download_repairs_a_corrupted_cache_entry(hub: HubServer, tmp_path: Path) -> None:
    model = _model(30)
    repo = f"alice/{unique('corrupt')}"
    hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint)
    cache = tmp_path / "cache"
    loaded = hub_publish.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=cache)
    weights = source_of(loaded).folder / constants.WEIGHTS_FILE
    blob = weights.resolve()
    assert blob.parent.name == "blobs"
    good = blob.read_bytes()

    def corrupt() -> None:
        data = bytearray(good)
        data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
        blob.write_bytes(bytes(data))

    # A corrupted entry is refused, and removed: the cache keeps no entry that fails its hash.
    corrupt()
    with pytest.raises(IntegrityError, match="force_download=True"):
        hub_publish.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=cache)
    assert not blob.exists() and not weights.is_symlink() and not weights.exists()
    again = hub_publish.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=cache)
    np.testing.assert_array_equal(_predict(again, _images()), _predict(model, _images()))
    assert blob.read_bytes() == good

    # force_download replaces a corrupted entry before it is even checked.
    corrupt()
    repaired = hub_publish.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=cache, force_download=True)
    np.testing.assert_array_equal(_predict(repaired, _images()), _predict(model, _images()))
    assert blob.read_bytes() == good


# ----------------------------------------------------------------------------- Keras interop


def test_keras_hf_load_of_a_hub_publish_push(hub: HubServer, tmp_path: Path) -> None:
    """A hub-publish push loads with plain `keras.saving.load_model("hf://...")` as the same class."""
    model = _model(40, MnistDictModel)
    repo = f"alice/{unique('to-keras')}"
    hub_publish.push_to_hub(model, repo, token=ALICE, endpoint=hub.endpoint)
    x = _images()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", _predict(model, x))
    _child(
        f"""
        import numpy as np, keras
        import hub_publish.models  # registers hub_publish>MnistDictModel with Keras
        model = keras.saving.load_model("hf://{repo}")
        assert type(model) is hub_publish.models.MnistDictModel, type(model)
        np.testing.assert_array_equal(model.predict({{"image": np.load("x.npy")}}, verbose=0), np.load("expected.npy"))
        """,
        client_env(hub, tmp_path / "hf-home", ALICE),
        tmp_path,
    )


def test_keras_hf_save_loads_with_from_pretrained(hub: HubServer, tmp_path: Path) -> None:
    """`model.save("hf://...")` (Keras' own Hub saving) loads with hub_publish.from_pretrained."""
    repo = f"alice/{unique('from-keras')}"
    x = _images()
    np.save(tmp_path / "x.npy", x)
    _child(
        f"""
        import numpy as np, keras
        import hub_publish.models
        keras.utils.set_random_seed(50)
        model = hub_publish.models.MnistModel(conv_filters=(4, 6, 8), dense_units=8)
        model.save("hf://{repo}")
        np.save("expected.npy", model.predict(np.load("x.npy"), verbose=0))
        """,
        client_env(hub, tmp_path / "hf-home", ALICE),
        tmp_path,
    )
    loaded = hub_publish.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert type(loaded) is MnistModel
    np.testing.assert_array_equal(_predict(loaded, x), np.load(tmp_path / "expected.npy"))


# ----------------------------------------------------------------------------- CLI push / pull


def _cli(args: list[str], hub: HubServer, token: str | None = ALICE):
    env = {"HF_ENDPOINT": hub.endpoint}
    if token:
        args = [*args, "--token", token]
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_cli_push_and_pull(hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    model = _model(60)
    folder = hub_publish.save_pretrained(model, tmp_path / "model")
    repo = f"alice/{unique('cli')}"
    pushed = _cli(["push", str(folder), repo, "--endpoint", hub.endpoint, "-m", "first"], hub)
    assert pushed.exit_code == 0, pushed.output
    commit = alice.repo_info(repo).sha
    assert commit in pushed.output
    assert alice.list_repo_commits(repo)[0].title == "first"

    again = _cli(["push", str(folder), repo, "--endpoint", hub.endpoint], hub)
    assert again.exit_code == 0 and alice.repo_info(repo).sha == commit

    dest = tmp_path / "pulled"
    pulled = _cli(["pull", repo, "--endpoint", hub.endpoint, "--dest", str(dest)], hub)
    assert pulled.exit_code == 0, pulled.output
    copied = sum(1 for path in dest.rglob("*") if path.is_file())
    assert copied > 3 and f", {copied} file(s) in the folder)" in pulled.output, pulled.output  # what was copied
    for name in (constants.CONFIG_FILE, constants.METADATA_FILE, constants.WEIGHTS_FILE):
        assert (dest / name).read_bytes() == (folder / name).read_bytes()
    loaded = hub_publish.from_pretrained(dest)
    np.testing.assert_array_equal(_predict(loaded, _images()), _predict(model, _images()))


def test_cli_pull_refuses_and_evicts_a_corrupted_cache_entry(hub: HubServer, tmp_path: Path) -> None:
    repo = f"alice/{unique('pull-corrupt')}"
    hub_publish.push_to_hub(_model(61), repo, token=ALICE, endpoint=hub.endpoint)
    env = client_env(hub, tmp_path / "hf-home", ALICE)
    first = _cli_subprocess(["pull", repo], env)
    assert first.returncode == 0, first.stderr
    blobs = [p.resolve() for p in (tmp_path / "hf-home" / "hub").glob(f"models--alice--*/snapshots/*/{constants.WEIGHTS_FILE}")]
    assert len(blobs) == 1 and blobs[0].parent.name == "blobs"
    blobs[0].write_bytes(blobs[0].read_bytes()[:-1] + b"!")
    bad = _cli_subprocess(["pull", repo], env)
    assert bad.returncode != 0 and "does not match its sha256" in bad.stderr
    # A cache snapshot is repaired by downloading it again, with the command line's option.
    assert bad.stderr.strip().endswith("re-download it (hub-publish pull --force-download) or re-save the model."), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not blobs[0].exists()
    again = _cli_subprocess(["pull", repo], env)
    assert again.returncode == 0 and "1 weights file(s) verified" in again.stdout, again.stderr


def _cli_subprocess(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("hub-publish"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "repo, token, message",
    [
        ("alice/bad name!", ALICE, "invalid repo id"),
        ("alice/--x", ALICE, "invalid repo id|not a valid"),
        ("alice/needs-a-token", None, "token"),
        ("bob/not-yours", ALICE, "permission|not allowed|forbidden|cannot"),
        ("alice/bad-token", "hf_not_a_real_token", "token"),
    ],
)
def test_cli_push_bad_input_is_one_line_and_stores_nothing(repo: str, token: str | None, message: str,
                                                           hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    folder = hub_publish.save_pretrained(_model(70), tmp_path / "model")
    env = client_env(hub, tmp_path / "hf-home", token)
    proc = _cli_subprocess(["push", str(folder), repo], env)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(message, err[0], re.IGNORECASE), err[0]
    assert ".)" not in err[0] and not err[0].endswith(".."), err[0]  # the server's sentence ends inside the brackets once
    names = {m.id for m in alice.list_models(author=repo.split("/")[0])}
    assert repo not in names


def test_push_repo_id_is_namespace_name_or_hf_uri_checked_before_anything_is_created(
        hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    folder = hub_publish.save_pretrained(_model(72), tmp_path / "model")
    env = client_env(hub, tmp_path / "hf-home", ALICE)
    before = {m.id for m in alice.list_models(author="alice")}
    target = f"alice/{unique('via-uri')}"
    for repo, line in [
        ("onlyname", "Error: 'onlyname' is not a Hub repo id; a repo id is namespace/name, e.g. alice/my-model."),
        (f"hf://{target}@v1", f"Error: hf://{target}@v1 names a revision; push to namespace/name and give the branch with --branch."),
        ("hf://datasets/alice/x", "Error: 'hf://datasets/alice/x' is not a Hub repo id; a repo id is namespace/name, e.g. alice/my-model."),
    ]:
        proc = _cli_subprocess(["push", str(folder), repo], env)
        assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [line], proc.stderr
    with pytest.raises(HubPublishError, match=r"names a revision; push to namespace/name and give the branch with branch=\.$"):
        hub_publish.push_to_hub(folder, f"hf://{target}@v1", token=ALICE, endpoint=hub.endpoint)
    assert {m.id for m in alice.list_models(author="alice")} == before  # nothing created
    # Keras' hf:// spelling of a repo id pushes to that repo.
    proc = _cli_subprocess(["push", str(folder), f"hf://{target}"], env)
    assert proc.returncode == 0, proc.stderr
    assert alice.repo_info(target).sha in proc.stdout
    result = hub_publish.push_to_hub(folder, f"hf://{target}/", token=ALICE, endpoint=hub.endpoint)
    assert result.repo_id == target and not result.changed


def test_cli_push_of_a_card_the_hub_refuses_says_why_in_one_line(hub: HubServer, tmp_path: Path) -> None:
    folder = hub_publish.save_pretrained(_model(71), tmp_path / "model")
    card = folder / constants.CARD_FILE
    card.write_text(card.read_text(encoding="utf-8").replace("library_name: keras", "library_name: keras\nlicense: my-own-license", 1),
                    encoding="utf-8")
    proc = _cli_subprocess(["push", str(folder), f"alice/{unique('bad-license')}"], client_env(hub, tmp_path / "hf-home", ALICE))
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:"), proc.stderr
    # the Hub's reason (validate-yaml's error list), not only "Invalid metadata in README.md."
    assert "'license' 'my-own-license' is not a Hub license id" in err[0], err[0]


def test_cli_pull_bad_input_is_one_line(hub: HubServer, tmp_path: Path) -> None:
    env = client_env(hub, tmp_path / "hf-home", ALICE)
    for args, message in [
        (["pull", "alice/no-such-repo"], "not found"),
        (["pull", "not a repo id"], "invalid repo id"),
    ]:
        proc = _cli_subprocess(args, env)
        assert proc.returncode != 0
        err = proc.stderr.strip().splitlines()
        assert len(err) == 1 and message in err[0], proc.stderr


def test_cli_inspect_accepts_a_repo_id(versions: dict, hub: HubServer) -> None:
    out = _cli(["inspect", versions["repo"], "--revision", "v1", "--endpoint", hub.endpoint], hub)
    assert out.exit_code == 0, out.output
    assert f"source: {versions['repo']}@{versions['commits']['v1']}" in out.output
    assert "class: hub_publish.models.mnist.MnistModel" in out.output and "classification_head" in out.output


def test_hub_model_push_to_hub_method(hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    model = _model(80, MnistDictModel)
    repo = f"alice/{unique('method')}"
    result = model.push_to_hub(repo, token=ALICE, endpoint=hub.endpoint, commit_message="from the method")
    assert result.changed and alice.list_repo_commits(repo)[0].title == "from the method"
    assert result.commit_url and result.commit_id in result.commit_url
    loaded = MnistDictModel.from_pretrained(repo, endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_predict(loaded, _images()), _predict(model, _images()))


def test_quickstart_uses_a_given_hub(hub: HubServer, alice: HfApi, tmp_path: Path) -> None:
    """With --endpoint, quickstart starts no server of its own and publishes to the given Hub."""
    repo = f"alice/{unique('quickstart')}"
    out = _cli(["quickstart", "-o", str(tmp_path / "qs"), "--epochs", "2", "--endpoint", hub.endpoint,
                "--repo-id", repo], hub)
    assert out.exit_code == 0, out.output
    assert alice.repo_info(repo).sha in out.output
    assert hub.endpoint in out.output
    assert constants.WEIGHTS_FILE in alice.list_repo_files(repo)
