"""`hub-publish quickstart`: the main job, end to end, on the embedded default.

train on digits -> package -> load back and verify -> push to a Hub (the embedded server unless
an endpoint is given) -> load from the Hub into a fresh cache and verify -> the Keras guide's
surgery (a binary "0 vs rest" head) -> print what happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SIZES = ((8, 8), (28, 28), (57, 31))  # the embedded digits are 8x8; the model takes any size
DEMO_USER = "demo"


def run(
    workdir: Path,
    *,
    epochs: int | None = None,
    endpoint: str | None = None,
    repo_id: str = "demo/mnist-digits",
    token: str | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run the quickstart in ``workdir``.

    Args:
        workdir: Folder for the packaged model, the Hub cache and (embedded) Hub data.
        epochs: Training epochs (default: the training default for digits).
        endpoint: A Hub to use instead of the embedded one (default: ``HF_ENDPOINT`` if set).
        repo_id: Repo to push to.
        token: Token for that Hub (default: ``HF_TOKEN``); the embedded Hub gets a fresh one.
        echo: Where progress lines go.

    Returns:
        A summary: folder, repo, commit, accuracies, parameter counts.

    Raises:
        HubPublishError: A step failed; its message says which and why.
    """
    import numpy as np

    from hub_publish.errors import HubPublishError
    from hub_publish.pushing import push_to_hub
    from hub_publish.loading import from_pretrained, source_of
    from hub_publish.training import train_and_package

    from hub_publish.loading import push_repo_id
    from hub_publish.pushing import check_push_target

    # The push target is checked before the training (a bad endpoint or token is one line now);
    # the embedded Hub is started later, so only the repo id is checked for it.
    hub = endpoint or os.environ.get("HF_ENDPOINT")
    if hub:
        check_push_target(repo_id, token=token, endpoint=hub)
    else:
        push_repo_id(repo_id)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}

    echo("1/5 training MnistModel on the embedded digits dataset (scikit-learn, 1,797 images)...")
    kwargs = {"epochs": epochs} if epochs else {}
    # The quickstart replaces its own working folder on each run.
    folder, record = train_and_package("MnistModel", workdir / "mnist-digits", dataset="digits", verbose=2,
                                       overwrite=True, **kwargs)
    metrics = record["test_metrics"]
    accuracy = next((v for k, v in metrics.items() if "accuracy" in k), None)
    summary.update(folder=str(folder), test_metrics=metrics)
    echo(f"    test metrics: {_fmt(metrics)}; wall time {record.get('wall_time_s', 0):.1f}s")
    echo(f"    packaged: {folder}")

    echo("2/5 loading the folder back and comparing predictions...")
    from hub_publish.models import MnistModel

    original = MnistModel.from_pretrained(folder)
    images = _probe_images(np)
    expected = {shape: _outputs(original, x) for shape, x in images.items()}
    _check_same(from_pretrained(folder), images, expected, np, "folder")
    echo(f"    {type(original).__name__} with {original.count_params():,} parameters; predictions bit-identical on "
         + ", ".join(f"{h}x{w}" for h, w in SIZES))

    with _hub(workdir, endpoint, token, echo) as (hub_endpoint, hub_token):
        echo(f"3/5 pushing to {hub_endpoint} as {repo_id}...")
        result = push_to_hub(folder, repo_id, token=hub_token, endpoint=hub_endpoint,
                             commit_message="quickstart: MnistModel trained on digits")
        echo(f"    commit {result.commit_id}: {result.commit_url or result.repo_url}")
        echo("4/5 loading it from the Hub into a fresh cache and comparing predictions...")
        cache = workdir / "hf-cache"
        with contextlib.suppress(FileNotFoundError):
            import shutil

            shutil.rmtree(cache)
        loaded = MnistModel.from_pretrained(repo_id, cache_dir=cache, token=hub_token, endpoint=hub_endpoint)
        _check_same(loaded, images, expected, np, "Hub")
        source = source_of(loaded)
        echo(f"    {repo_id}@{source.commit if source else '?'} -> {source.folder if source else '?'}")
        summary.update(repo_id=repo_id, commit=result.commit_id, endpoint=hub_endpoint, cache=str(cache))

    echo("5/5 surgery: cutting at 'classification_head' and adding a binary head (the Keras guide's recipe)...")
    import keras

    features = loaded.get_layer("classification_head").input
    head = keras.layers.Dense(1, activation="sigmoid", name="binary_classification_head")(features)
    binary = keras.Model(loaded.input, head)
    echo(f"    binary model: {binary.count_params():,} parameters (the guide's 76,369), output {tuple(binary.output.shape)}")
    if binary.count_params() != 76_369:
        raise HubPublishError(f"surgery produced {binary.count_params()} parameters, expected 76,369")
    summary.update(binary_parameters=binary.count_params(), accuracy=accuracy)
    echo(f"done: trained, packaged, verified, pushed and re-loaded {repo_id}; model folder {folder}")
    return summary


@contextlib.contextmanager
def _hub(workdir: Path, endpoint: str | None, token: str | None, echo: Callable[[str], Any]) -> Iterator[tuple[str, str | None]]:
    """The Hub to use: the one given (or HF_ENDPOINT), else an embedded server for this run."""
    endpoint = endpoint or os.environ.get("HF_ENDPOINT")
    if endpoint:
        yield endpoint, token
        return
    from hub_publish.server import HubServer

    demo_token = "hf_" + secrets.token_hex(16)
    with HubServer(workdir / "hub-data", tokens=[f"{DEMO_USER}={demo_token}"], log_file=workdir / "hub-server.log") as server:
        echo(f"    embedded Hub server at {server.url} (data in {workdir / 'hub-data'}, log {workdir / 'hub-server.log'})")
        yield server.url, demo_token


def _probe_images(np: Any) -> dict[tuple[int, int], Any]:
    rng = np.random.default_rng(0)
    return {(h, w): rng.integers(0, 256, size=(4, h, w, 1), dtype=np.uint8) for h, w in SIZES}


def _outputs(model: Any, x: Any) -> Any:
    """The model called eagerly: unlike ``predict`` no traced function per input size (and no retracing warnings)."""
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def _check_same(model: Any, images: dict, expected: dict, np: Any, where: str) -> None:
    from hub_publish.errors import HubPublishError

    for shape, x in images.items():
        if not np.array_equal(_outputs(model, x), expected[shape]):
            raise HubPublishError(f"predictions of the model loaded from the {where} differ on {shape} images")


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
