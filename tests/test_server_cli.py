"""Stock clients as subprocesses with only HF_ENDPOINT / HF_TOKEN / HF_HOME set: `hf` and Keras' hf://."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from server_fixtures import HF_CLI, TOKENS, alice, client_env, hub_server, unique  # noqa: F401

from hub_publish.server import HubServer


def _run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_hf_cli_create_upload_download(hub_server: HubServer, alice: HfApi, tmp_path: Path) -> None:
    env = client_env(hub_server, tmp_path / "hf-home", TOKENS["alice"])
    repo = f"alice/{unique('cli')}"
    _run([HF_CLI, "repos", "create", repo], env)
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"units": 3}')
    (folder / "sub" / "weights.h5").write_bytes(os.urandom(4096))
    _run([HF_CLI, "upload", repo, str(folder), "."], env)
    _run([HF_CLI, "upload", repo, str(folder / "config.json"), "copy/config.json"], env)
    assert alice.list_repo_files(repo) == [".gitattributes", "config.json", "copy/config.json", "sub/weights.h5"]
    siblings = {s.rfilename: s for s in alice.model_info(repo, files_metadata=True).siblings}
    assert siblings["sub/weights.h5"].lfs is not None

    out = tmp_path / "out"
    _run([HF_CLI, "download", repo, "--local-dir", str(out)], env)
    assert (out / "sub" / "weights.h5").read_bytes() == (folder / "sub" / "weights.h5").read_bytes()
    assert (out / "copy" / "config.json").read_text() == '{"units": 3}'


def test_classic_lfs_basic_transfer_without_xet(hub_server: HubServer, alice: HfApi, tmp_path: Path) -> None:
    """With HF_HUB_DISABLE_XET=1 the client uses the LFS batch API (basic transfer + verify)."""
    env = client_env(hub_server, tmp_path / "hf-home", TOKENS["alice"], HF_HUB_DISABLE_XET="1")
    repo = f"alice/{unique('lfs')}"
    alice.create_repo(repo)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    _run([HF_CLI, "upload", repo, str(big), "big.bin"], env)
    log = (hub_server.data_dir / "server.log").read_text()
    assert f"PUT /{repo}.git/info/lfs/objects/" in log and f"POST /{repo}.git/info/lfs/objects/verify 200" in log
    sibling = alice.model_info(repo, files_metadata=True).siblings[-1]
    assert sibling.rfilename == "big.bin" and sibling.lfs.size == big.stat().st_size
    out = tmp_path / "out"
    _run([HF_CLI, "download", repo, "big.bin", "--local-dir", str(out)], env)
    assert (out / "big.bin").read_bytes() == big.read_bytes()


@pytest.mark.slow
def test_keras_hf_save_and_load(hub_server: HubServer, alice: HfApi, tmp_path: Path) -> None:
    """Keras' own `model.save("hf://...")` / `load_model("hf://...")` against the server."""
    repo = f"alice/{unique('keras')}"
    script = textwrap.dedent(
        f"""
        import numpy as np
        import keras
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(3, name="head")(keras.layers.Dense(8, activation="relu")(inputs)))
        model.save("hf://{repo}")
        loaded = keras.saving.load_model("hf://{repo}")
        x = np.arange(8, dtype="float32").reshape(2, 4)
        np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-6)
        print("ROUNDTRIP_OK")
        """
    )
    env = client_env(hub_server, tmp_path / "hf-home", TOKENS["alice"], TF_CPP_MIN_LOG_LEVEL="3")
    proc = _run([sys.executable, "-c", script], env, timeout=300)
    assert "ROUNDTRIP_OK" in proc.stdout
    info = alice.model_info(repo, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings}
    assert {"config.json", "metadata.json", "model.weights.h5", "README.md"} <= siblings.keys()
    assert siblings["model.weights.h5"].lfs is not None  # *.h5 goes through LFS (here: Xet upload)
    assert info.library_name == "keras"
