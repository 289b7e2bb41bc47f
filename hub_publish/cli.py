"""The ``hub-publish`` command line (click).

Start-up stays light: this module imports neither TensorFlow nor Keras; each command imports
what it needs when it runs. A user error prints one line on stderr and exits with status 1; a
usage error (unknown option, missing or invalid argument) is one line too, with click's status 2.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from hub_publish import __version__, constants
from hub_publish.errors import HubPublishError, HubPublishWarning, command_line_messages
from hub_publish.text import first_line

ZOO = ("MnistModel", "MnistDictModel")
DATASETS = ("digits", "mnist")


class _Group(click.Group):
    """Turns expected errors into one line on stderr and exit status 1 (no traceback); messages
    raised by the commands name the command line's options (``--token``, not ``token=``). A usage
    error (unknown option, missing or invalid argument) is one line too, with click's exit status 2."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:  # the group's own options (`hub-publish --bad`)
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:  # `hub-publish` alone: the help, as click shows it
            raise
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with command_line_messages(), warnings.catch_warnings():
                # Every hub-publish warning of every command is one line ("Warning: ..."), each time
                # it happens; the others keep Python's form. Restored when the command returns.
                warnings.simplefilter("always", HubPublishWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except click.UsageError as exc:  # an unknown command, a command's bad or missing argument
            _usage_error(exc)
        except HubPublishError as exc:
            _fail(str(exc))
        except (FileExistsError, NotADirectoryError) as exc:  # an output path below (or at) a file
            _fail(f"cannot create a folder at {exc.filename}: it, or a folder above it, is a file, not a folder; "
                  "choose another path")
        except (ValueError, OSError) as exc:
            _fail(first_line(exc, reasons=True))


def _usage_error(exc: click.UsageError) -> None:
    """One line instead of click's four ("Usage: ...", "Try ... for help.", a blank line, the error);
    click's exit status 2 for usage errors is kept."""
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    click.echo(f"Error: {exc.format_message()}{where}", err=True)
    sys.exit(exc.exit_code)


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """hub-publish's own warnings are one line on stderr ("Warning: ..."), without Python's source echo."""
    if issubclass(category, HubPublishWarning):
        click.echo(f"Warning: {first_line(message)}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _quiet_backends() -> None:
    # TensorFlow's C++ start-up chatter is noise on a command line (users can override it).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hub-publish")
def main() -> None:
    """Distribute Keras 3 functional-subclassed models through the Hugging Face Hub.

    Train, package, push, pull, inspect and cut models; run a Hub-compatible server for
    offline work and CI. The Hub endpoint comes from HF_ENDPOINT (default huggingface.co),
    the token from HF_TOKEN or `hf auth login`.
    """
    _quiet_backends()


# ----------------------------------------------------------------------------- train / save


def _data_options(func: Any) -> Any:
    """The options that name the user's data, shared by train and finetune."""
    options = [
        click.option("--data", "data", type=click.Path(file_okay=False), default=None,
                     help="Folder of images to train on, one subfolder per class (DIR/cat/1.png, ...), "
                          "as keras.utils.image_dataset_from_directory reads it. Instead of --dataset."),
        click.option("--validation-split", type=click.FloatRange(min=0, max=1, max_open=True), default=None,
                     help="Share of the training data held out for validation (default 0.1; 0: none)."),
        click.option("--validation-data", type=click.Path(file_okay=False), default=None,
                     help="Folder of validation images (same class subfolders) instead of --validation-split."),
        click.option("--test-data", type=click.Path(file_okay=False), default=None,
                     help="Folder of test images (same class subfolders), only used for the final test metrics."),
        click.option("--image-size", default=None, metavar="HxW",
                     help="Size to read the images at (default: the model's input size, else the first image's)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _data_kwargs(dataset: str | None, data: str | None, validation_split: float | None, validation_data: str | None,
                 test_data: str | None, image_size: str | None) -> dict[str, Any]:
    """train()/finetune() keyword arguments for the data options (one clear line for bad combinations)."""
    if data is not None and dataset is not None:
        raise HubPublishError("give --dataset (a built-in dataset) or --data (your image folder), not both")
    if data is None and (validation_data or test_data):
        raise HubPublishError("--validation-data and --test-data go with --data (your image folder)")
    for option, folder in (("--data", data), ("--validation-data", validation_data), ("--test-data", test_data)):
        # Checked here, before the training code (and TensorFlow, with its start-up log) is imported.
        if folder is not None and not Path(folder).is_dir():
            raise HubPublishError(f"{option}: no image folder at {folder}; give a folder with one subfolder of images per class")
    size = None
    if image_size is not None:
        try:
            height, width = (int(v) for v in image_size.lower().split("x"))
        except ValueError:
            raise HubPublishError(f"--image-size must be HEIGHTxWIDTH, e.g. 28x28; got {image_size!r}") from None
        size = (height, width)
    kwargs = {"dataset": data if data is not None else (dataset or "digits"), "validation_split": validation_split,
              "validation_data": validation_data, "test_data": test_data, "image_size": size}
    return {k: v for k, v in kwargs.items() if v is not None}


def _signed(value: float) -> str:
    """``value`` as ``+0.0123``; a difference that rounds to zero is ``+0.0000``, never ``-0.0000``."""
    return f"{round(value, 4) + 0.0:+.4f}"  # + 0.0 turns -0.0 into 0.0


def _metrics_line(record: dict[str, Any]) -> str:
    test = record.get(constants.TRAIN_TEST_METRICS) or {}
    if test:
        return "test: " + ", ".join(f"{k}={v:.4f}" for k, v in test.items())
    validation = record.get(constants.TRAIN_VALIDATION_METRICS) or {}
    if validation:
        return "validation (no test data given): " + ", ".join(f"{k}={v:.4f}" for k, v in validation.items())
    return "no validation or test data: no metrics"


@main.command()
@click.option("--model", "model_name", default="MnistModel", show_default=True,
              help=f"Model to train: a zoo class ({', '.join(ZOO)}), a .keras file or a model folder.")
@click.option("--dataset", type=click.Choice(DATASETS), default=None, help="Built-in dataset (default: digits; mnist needs TFDS data).")
@_data_options
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs (default: the dataset's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size (default: the dataset's).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam learning rate.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="TFDS data_dir for mnist (else TFDS_DATA_DIR).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", "-o", type=click.Path(file_okay=False), required=True, help="Folder to write the packaged model to.")
@click.option("--overwrite", is_flag=True, help="Replace an existing model folder at --output.")
@click.option("--trust", "trusted", multiple=True, help="Module allowed to be imported for --model's classes (repeatable).")
@click.option("--distribute", type=click.Choice(["mirrored"]), default=None,
              help="Train data-parallel with tf.distribute.MirroredStrategy (TensorFlow backend).")
def train(model_name: str, dataset: str | None, data: str | None, validation_split: float | None,
          validation_data: str | None, test_data: str | None, image_size: str | None, epochs: int | None,
          batch_size: int | None, learning_rate: float | None, data_dir: str | None, seed: int, output: str,
          overwrite: bool, trusted: tuple[str, ...], distribute: str | None) -> None:
    """Train a model on a built-in dataset or your image folder, and package it into a folder."""
    data_kwargs = _data_kwargs(dataset, data, validation_split, validation_data, test_data, image_size)
    from hub_publish.training import train_and_package

    model = model_name if model_name in ZOO else _model_from_source(model_name, trusted)
    kwargs = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "data_dir": data_dir,
                                "distribute": distribute}.items() if v is not None}
    folder, record = train_and_package(model, output, seed=seed, overwrite=overwrite, **data_kwargs, **kwargs)
    name = record[constants.TRAIN_DATASET]["name"]
    click.echo(f"trained {model_name} on {name}: {_metrics_line(record).removeprefix('test: ')}")
    click.echo(f"packaged: {folder}")


@main.command()
@click.argument("source")
@click.argument("output", type=click.Path(file_okay=False))
@click.option("--trust", "trusted", multiple=True, help="Module allowed to be imported for SOURCE's classes (repeatable).")
@click.option("--max-shard-size", type=float, default=None, help="Shard the weights into files of at most this many GB.")
@click.option("--include-optimizer", is_flag=True, help="Keep the optimizer state.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it already holds a hub-publish model (your other files in it are kept).")
def save(source: str, output: str, trusted: tuple[str, ...], max_shard_size: float | None, include_optimizer: bool,
         overwrite: bool) -> None:
    """Package SOURCE into a hub-publish folder at OUTPUT.

    SOURCE is a zoo class name (an untrained model with default arguments), a Keras `.keras`
    file or folder, or another hub-publish folder (re-packaged).
    """
    from hub_publish.packaging import check_target, save_pretrained

    check_target(output, overwrite=overwrite)  # refuse before building anything (no TensorFlow start-up)
    model = _model_from_source(source, trusted)
    folder = save_pretrained(model, output, max_shard_size=max_shard_size, include_optimizer=include_optimizer,
                             overwrite=overwrite)
    click.echo(f"packaged {type(model).__name__} ({model.count_params():,} parameters): {folder}")


def _model_from_source(source: str, trusted: tuple[str, ...]) -> Any:
    if source in ZOO:
        from hub_publish import models

        return getattr(models, source)()
    path = Path(source)
    if path.suffix == ".keras" and path.is_file():
        import importlib

        import keras

        import hub_publish.models  # noqa: F401

        for module in trusted:
            importlib.import_module(module)
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable .keras file is one line
            raise HubPublishError(f"cannot load {path}: {first_line(exc)}") from None
    if path.is_dir():
        from hub_publish.loading import from_pretrained

        return from_pretrained(path, trusted_modules=trusted)
    raise HubPublishError(f"{source!r} is neither a zoo model ({', '.join(ZOO)}) nor a .keras file or model folder.")


# ----------------------------------------------------------------------------- inspect / card


@main.command()
@click.argument("path")
@click.option("--revision", default=None, help="Branch, tag or commit sha when PATH is a repo id.")
@click.option("--trust", "trusted", multiple=True, help="Module allowed to be imported for the model's class.")
@click.option("--endpoint", default=None, help="Hub endpoint (default: HF_ENDPOINT, else huggingface.co).")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the login cache).")
def inspect(path: str, revision: str | None, trusted: tuple[str, ...], endpoint: str | None, token: str | None) -> None:
    """Show a model folder or Hub repo: summary, layer walk, input spec, weight hashes."""
    from hub_publish.inspection import describe

    click.echo(describe(path, revision=revision, trusted_modules=trusted, endpoint=endpoint, token=token))


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--check", "--validate", "check", is_flag=True,
              help="Only check the card (YAML, license, pipeline tag, images, snippets); never writes. --validate is an alias.")
@click.option("--template", type=click.Path(exists=True, dir_okay=False), default=None, help="Jinja2 card template.")
@click.option("--repo-id", default=None, help="Repo id used in the card's snippets (default: the one the card records).")
@click.option("--license", "license_id", default=None, help="Hub license id (apache-2.0, mit, ... or other).")
@click.option("--tag", "tags", multiple=True, help="Tag added to the card's metadata (repeatable).")
@click.option("--dataset", "datasets", multiple=True, help="Hub dataset id added to the card's metadata (repeatable).")
@click.option("--language", default=None, help="Language code of the data (en, fr, ...).")
@click.option("--trust", "trusted", multiple=True, help="Module allowed to be imported for the model's class.")
def card(folder: str, check: bool, template: str | None, repo_id: str | None, license_id: str | None,
         tags: tuple[str, ...], datasets: tuple[str, ...], language: str | None, trusted: tuple[str, ...]) -> None:
    """Regenerate the generated blocks of FOLDER's model card (README.md), or --check it.

    Text outside the generated blocks and the author's metadata are kept; an edited block is kept
    and reported.
    """
    from model_cards.render import check_card

    if check:
        given = [name for name, value in (("--template", template), ("--repo-id", repo_id), ("--license", license_id),
                                          ("--tag", tags), ("--dataset", datasets), ("--language", language)) if value]
        if given:
            _fail(f"--check never writes the card; run `hub-publish card FOLDER {given[0]} ...` first, then --check")
        problems = check_card(folder)
        if problems:
            _fail("card is invalid: " + "; ".join(problems))
        click.echo(f"card is valid: {Path(folder) / constants.CARD_FILE}")
        return

    from hub_publish.loading import from_pretrained  # the CLI loads the model; cards never do
    from model_cards.merge import conflict_message
    from model_cards.render import render_folder_card

    model = from_pretrained(folder, trusted_modules=trusted)
    result = render_folder_card(folder, model=model, template=template, repo_id=repo_id, license=license_id,
                                tags=list(tags) or None, datasets=list(datasets) or None, language=language)
    click.echo(f"card {'written' if result.changed else 'unchanged'}: {result.path}")
    if result.conflicts:
        click.echo("Warning: " + conflict_message(result.conflicts, "card"), err=True)


# ----------------------------------------------------------------------------- hub


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--branch", default=None, help="Target branch (created if missing).")
@click.option("--message", "-m", default=None, help="Commit message.")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing.")
@click.option("--endpoint", default=None, help="Hub endpoint (default: HF_ENDPOINT, else huggingface.co).")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the login cache).")
@click.option("--overwrite-card", is_flag=True, help="Replace a README.md edited on the Hub (default: keep it, merge new metadata).")
def push(folder: str, repo_id: str, private: bool, branch: str | None, message: str | None, create_pr: bool,
         endpoint: str | None, token: str | None, overwrite_card: bool) -> None:
    """Push a packaged FOLDER to the Hub repo REPO_ID."""
    from hub_publish.pushing import push_to_hub

    # Warnings (card conflicts, unexpected files) are one line each: see _Group.invoke.
    result = push_to_hub(folder, repo_id, private=private, token=token, branch=branch, commit_message=message,
                         create_pr=create_pr, endpoint=endpoint, overwrite_card=overwrite_card)
    state = "pushed" if result.changed else "unchanged (no new commit)"
    click.echo(f"{state}: {result.repo_id}@{result.revision} commit {result.commit_id}")
    click.echo(result.pr_url or result.commit_url or result.repo_url)


@main.command()
@click.argument("repo_id")
@click.option("--revision", default=None, help="Branch, tag or commit sha.")
@click.option("--dest", type=click.Path(file_okay=False), default=None, help="Copy the verified folder here.")
@click.option("--endpoint", default=None, help="Hub endpoint (default: HF_ENDPOINT, else huggingface.co).")
@click.option("--token", default=None, help="Hub token.")
@click.option("--force-download", is_flag=True, help="Download again even if cached.")
@click.option("--verify", "rehash", is_flag=True, help="Re-hash every weights file, even one verified before and unchanged since.")
def pull(repo_id: str, revision: str | None, dest: str | None, endpoint: str | None, token: str | None, force_download: bool,
         rehash: bool) -> None:
    """Download REPO_ID into the Hub cache (and DEST), verifying the weights' hashes.

    A file is hashed when it enters the cache and remembered; it is hashed again only when it
    changed since (or with --verify / --force-download)."""
    import shutil

    from hub_publish.hub import download_snapshot
    from hub_publish.format import verify_folder
    from hub_publish.loading import repo_and_revision

    repo, revision = repo_and_revision(repo_id, revision)
    folder, commit = download_snapshot(repo, revision=revision, token=token, endpoint=endpoint, force_download=force_download)
    checked = verify_folder(folder, evict=True, rehash=rehash or force_download)
    if dest:
        target = Path(dest)
        if target.exists() and any(target.iterdir()):
            raise HubPublishError(f"{target} exists and is not empty; choose an empty or new --dest.")
        shutil.copytree(folder, target, dirs_exist_ok=True)
        folder = target
    weights = [name for name in checked if ".weights." in name]
    count = sum(1 for path in folder.rglob("*") if path.is_file())  # card, plots, ... are not in the manifest
    click.echo(f"{repo}@{commit or revision or 'main'}: {folder} ({len(weights)} weights file(s) verified, "
               f"{len(checked)} file(s) verified in all, {count} file(s) in the folder)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=constants.DEFAULT_DATA_DIR, show_default=True)
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None, envvar=constants.ENV_SERVER_CONFIG,
              help="Users/tokens/organisations file (JSON or YAML), see docs/hub.md.")
@click.option("--token", "tokens", multiple=True, help="USER=TOKEN[:ORG...] (repeatable).")
@click.option("--max-upload-bytes", type=click.IntRange(min=1), default=None, help="Largest accepted file.")
@click.option("--log-level", default="info", show_default=True)
@click.option("--gc", "gc", is_flag=True, help="Remove unreachable blobs, xorbs, commits and temp files from --data-dir, then exit (safe while a server runs).")
@click.option("--gc-grace-seconds", type=click.FloatRange(min=0), default=constants.SERVER_GC_GRACE_S, show_default=True,
              help="With --gc: keep anything younger than this (uploads in flight).")
@click.option("--check", "check", is_flag=True, help="Verify every ref -> commit -> blob hash of --data-dir, then exit (1 when inconsistent).")
def serve(host: str, port: int, data_dir: str, config: str | None, tokens: tuple[str, ...], max_upload_bytes: int | None, log_level: str,
          gc: bool, gc_grace_seconds: float, check: bool) -> None:
    """Run the embedded Hub-compatible server (for offline work, CI and rehearsals)."""
    from hub_publish.server import serve as run_server
    from hub_publish.server._runner import check as run_check
    from hub_publish.server._runner import collect
    from hub_publish.server.errors import HubError

    try:
        if gc or check:
            if gc:
                click.echo(collect(data_dir, grace_s=gc_grace_seconds))
            if check:
                problems, summary = run_check(data_dir)
                for line in problems:
                    click.echo(line)
                click.echo(summary)
                if problems:
                    sys.exit(1)
            return
        run_server(host=host, port=port, data_dir=data_dir, config=config, tokens=tokens,
                   max_upload_bytes=max_upload_bytes, log_level=log_level)
    except HubError as exc:
        _fail(exc.message)


@main.command()
@click.argument("src")
@click.option("--task", type=click.Choice(["binary", "classes"]), default=None,
              help="binary: the positive class against all the others (default with --dataset); "
                   "classes: a new head with one unit per class of the data (default with --data).")
@click.option("--positive-class", default="0", show_default=True,
              help="binary: the class that becomes label 1 (index, or class folder name with --data).")
@click.option("--output-name", default=None, help="Which output of a multi-output SRC to fine-tune.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs (with --freeze-backbone: per phase).")
@click.option("--freeze-backbone", is_flag=True, help="Train the new head alone first, then all layers at learning rate / 10.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam learning rate.")
@click.option("--dataset", type=click.Choice(DATASETS), default=None, help="Built-in dataset (default: digits; mnist needs TFDS data).")
@_data_options
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="TFDS data_dir for mnist (else TFDS_DATA_DIR).")
@click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
              help="Folder to package into (default: runs/<src name>-<class>-vs-rest, or runs/<src name>-<data name>).")
@click.option("--overwrite", is_flag=True, help="Replace an existing model folder at --output.")
@click.option("--push", "push_repo", default=None, help="Hub repo to push the fine-tuned model to.")
@click.option("--revision", default=None, help="Branch, tag or commit sha of SRC.")
@click.option("--distribute", type=click.Choice(["mirrored"]), default=None,
              help="Train data-parallel with tf.distribute.MirroredStrategy (TensorFlow backend).")
@click.option("--trust", "trusted", multiple=True, help="Module allowed to be imported for SRC's class (repeatable).")
@click.option("--endpoint", default=None, help="Hub endpoint (default: HF_ENDPOINT, else huggingface.co).")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the login cache).")
@click.option("--seed", type=int, default=0, show_default=True)
def finetune(src: str, task: str | None, positive_class: str, output_name: str | None, epochs: int | None,
             freeze_backbone: bool, learning_rate: float | None, dataset: str | None, data: str | None,
             validation_split: float | None, validation_data: str | None, test_data: str | None, image_size: str | None,
             data_dir: str | None, output: str | None, overwrite: bool, push_repo: str | None, revision: str | None,
             distribute: str | None, trusted: tuple[str, ...], endpoint: str | None, token: str | None, seed: int) -> None:
    """Fine-tune SRC (Hub repo or folder) with a new head, on a built-in dataset or your image folder.

    binary (the Keras guide's recipe): replaces the classification head by Dense(1, sigmoid) and
    relabels the data (the chosen class -> 1, the others -> 0). classes: a softmax head with one
    unit per class folder. Trains, evaluates against the majority-class baseline, packages with
    SRC (at its pinned revision) as base_model, and pushes with --push.
    """
    data_kwargs = _data_kwargs(dataset, data, validation_split, validation_data, test_data, image_size)
    if push_repo:  # before TensorFlow starts and the training runs (finetune() checks it too)
        from hub_publish.pushing import check_push_target

        check_push_target(push_repo, token=token, endpoint=endpoint)
    from hub_publish.finetune import finetune as run_finetune

    kwargs = {k: v for k, v in {"epochs": epochs, "learning_rate": learning_rate}.items() if v is not None}
    chosen = int(positive_class) if positive_class.isdigit() else positive_class
    result = run_finetune(src, task=task, positive_class=chosen, output_name=output_name, freeze_backbone=freeze_backbone,
                          data_dir=data_dir, output_dir=output, overwrite=overwrite, push=push_repo, revision=revision,
                          distribute=distribute, trusted_modules=trusted, endpoint=endpoint, token=token, seed=seed,
                          **data_kwargs, **kwargs)
    details = result.record[constants.FINETUNE_RECORD]
    base = result.base_model
    origin = f"{base[constants.BASE_REPO_ID]}@{base.get(constants.BASE_REVISION)}" if base.get(constants.BASE_REPO_ID) else base.get(constants.BASE_PATH, src)
    name = result.record[constants.TRAIN_DATASET]["name"]
    if details["task"] == "binary":
        what = f"class {details['positive_class_name']} vs rest"
    else:
        names = details.get("class_names")
        what = f"a new {details['num_classes']}-class head" + (f" ({', '.join(names)})" if names else "")
    click.echo(f"fine-tuned {origin}: {what} on {name}")
    shown = " ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if k != "loss")
    if result.split is None:
        click.echo("no validation or test data: no metrics")
    else:
        gain = "" if result.baseline is None else f" (majority-class baseline {result.baseline:.4f}, {_signed(result.accuracy - result.baseline)})"
        click.echo(f"{result.split}: {shown}{gain}")
    click.echo(f"packaged: {result.folder}")
    if result.push is not None:
        click.echo(f"pushed: {result.push.repo_id} commit {result.push.commit_id}")
        click.echo(result.push.commit_url or result.push.repo_url)


# ----------------------------------------------------------------------------- quickstart


@main.command()
@click.option("--output", "-o", type=click.Path(file_okay=False), default="runs/quickstart", show_default=True, help="Working folder.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs.")
@click.option("--endpoint", default=None, help="Use this Hub instead of starting the embedded one (or set HF_ENDPOINT).")
@click.option("--repo-id", default="demo/mnist-digits", show_default=True, help="Repo to push to.")
@click.option("--token", default=None, help="Hub token for --endpoint / HF_ENDPOINT.")
def quickstart(output: str, epochs: int | None, endpoint: str | None, repo_id: str, token: str | None) -> None:
    """The main job on the embedded default: train on digits, package, load back, verify, cut and re-head."""
    from hub_publish.quickstart import run

    run(Path(output), epochs=epochs, endpoint=endpoint, repo_id=repo_id, token=token, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="hub-publish")
