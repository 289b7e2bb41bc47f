"""Write a model as a hub-publish folder (the saving half; `hub_publish.loading` is the other).

A folder is Keras' own unzipped ``.keras`` layout, so ``keras.saving.load_model(folder)`` reads
it too, plus hub-publish's extras::

    config.json          Keras serialization of the model (e.g. ``hub_publish>MnistModel``)
    metadata.json        Keras' keys (keras_version, date_saved) + a "hub_publish" object:
                         backend, class, parameter count, input/output spec, sha256 and size of
                         every weights file, training record, lineage, backend-only layers
    model.weights.h5     inference weights (optimizer state only with include_optimizer=True)
      or model.weights.json + model_NNNNN.weights.h5   when sharded (max_shard_size)
    graph.json           class-free functional DAG, loadable without the model's class
    README.md            the model card

The folder is written into a temporary sibling directory and renamed into place, so a failure
never leaves a half-written folder behind.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import __version__, constants
from hub_publish.errors import HubPublishError

if TYPE_CHECKING:  # pragma: no cover
    import keras


def save_pretrained(
    model: "keras.Model",
    save_directory: str | os.PathLike,
    *,
    training_record: Mapping[str, Any] | None = None,
    base_model: Mapping[str, Any] | None = None,
    include_optimizer: bool = False,
    max_shard_size: float | None = None,
    card: bool = True,
    card_template: str | os.PathLike | None = None,
    card_data: Mapping[str, Any] | None = None,
    card_sections: Mapping[str, str] | None = None,
    repo_id: str | None = None,
    extra_files: Mapping[str, str | os.PathLike] | None = None,
    overwrite: bool = True,
    license: str | None = None,
    tags: Iterable[str] | None = None,
    datasets: Iterable[str] | None = None,
    language: str | Iterable[str] | None = None,
) -> Path:
    """Write ``model`` to ``save_directory`` as a hub-publish folder.

    Works for any Keras functional model: a functional subclass such as ``MnistModel`` (written
    with its registered class name) or a plain ``keras.Model(inputs, outputs)``.

    Args:
        model: A built Keras functional model.
        save_directory: Target folder. Created; replaced as a whole if it exists and
            ``overwrite`` is true.
        training_record: The run that produced the model (see `hub_publish.training`); stored in
            metadata.json and shown on the card.
        base_model: Lineage of a derived model: ``{"repo_id", "revision", "relation"}``.
        include_optimizer: Also store the optimizer state in the weights file.
        max_shard_size: Shard the weights into files of at most this many GB (Keras'
            ``save_weights(max_shard_size=...)``).
        card: Write a model card (README.md).
        card_template: A Jinja2 template for the card instead of the built-in one.
        card_data: Extra card metadata (license, datasets, ...).
        card_sections: Extra card sections, ``{title: markdown}``.
        repo_id: The Hub repo the folder is meant for, used in the card's usage snippets.
        extra_files: ``{name in folder: local path}`` copied into the folder (plots, ...).
        overwrite: Replace an existing folder.
        license: The card's Hub license id (``"apache-2.0"``, ``"mit"``, ...).
        tags, datasets: Tags / Hub dataset ids added to the card's generated ones.
        language: The card's language code(s).

    Returns:
        The folder's path.

    Raises:
        HubPublishError: The model is not a functional model, is not built, or the folder exists
            and ``overwrite`` is false.
    """
    import keras

    _check_model(model)
    target = Path(save_directory).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise HubPublishError(f"{target} exists and is not a folder; choose another save_directory.")
    if target.exists() and not overwrite:
        raise HubPublishError(f"{target} already exists; pass overwrite=True or choose another folder.")
    target.parent.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        config = keras.saving.serialize_keras_object(model)
        _write_json(tmp / constants.CONFIG_FILE, config)
        _write_json(tmp / constants.GRAPH_FILE, _graph_config(model))
        weight_files = _save_weights(model, tmp, include_optimizer=include_optimizer, max_shard_size=max_shard_size)
        for name, src in (extra_files or {}).items():
            _check_extra_name(name)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / name)
        metadata = _metadata(model, config, tmp, weight_files, training_record, base_model)
        _write_json(tmp / constants.METADATA_FILE, metadata)
        if card:
            from model_cards import write_card

            write_card(
                tmp, model=model, metadata=metadata, template=card_template, card_data=card_data,
                extra_sections=card_sections, repo_id=repo_id, license=license,
                tags=list(tags) if tags is not None else None,
                datasets=list(datasets) if datasets is not None else None, language=language,
            )
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """sha256 and size of one file, as recorded in metadata.json.

    Args:
        path: The file.

    Returns:
        ``{"sha256": hex digest, "size": bytes}``.
    """
    from hub_publish import verify_cache

    # Recorded as verified, so that loading or pushing this folder next does not hash it again.
    sha, size = verify_cache.sha256_file(path)
    return {constants.META_SHA256: sha, constants.META_SIZE: size}


def tensor_spec(tensors: Iterable["keras.KerasTensor"], keys: Iterable[str | None]) -> list[dict[str, Any]]:
    """A JSON description of symbolic tensors: name, dict key, shape (None = any), dtype."""
    spec = []
    for tensor, key in zip(tensors, keys):
        history = getattr(tensor, "_keras_history", None)
        entry: dict[str, Any] = {
            # The producing layer's name is stable across processes; tensor names are not.
            "name": history.operation.name if history is not None else tensor.name,
            "shape": [None if d is None else int(d) for d in tensor.shape],
            "dtype": str(tensor.dtype),
        }
        if key is not None:
            entry["key"] = key
        spec.append(entry)
    return spec


# ----------------------------------------------------------------------------- helpers


def _check_model(model: Any) -> None:
    import keras
    from keras.src.models.functional import Functional  # the class every functional model is

    if not isinstance(model, keras.Model):
        raise HubPublishError(f"expected a keras.Model, got {type(model).__name__}.")
    if not isinstance(model, Functional):
        raise HubPublishError(
            f"{type(model).__name__} is a subclassed model without a layer graph; hub-publish packages "
            "functional models: build the graph in __init__ and end with super().__init__(inputs=..., outputs=...)."
        )


def _graph_config(model: "keras.Model") -> dict[str, Any]:
    """The class-free functional DAG: the same layers, wired the same way, in a plain Functional."""
    import keras

    functional = keras.Model(model.input, model.output, name=model.name)
    return keras.saving.serialize_keras_object(functional)


def _save_weights(model: "keras.Model", folder: Path, *, include_optimizer: bool, max_shard_size: float | None) -> list[str]:
    import keras

    optimizer = getattr(model, "optimizer", None)  # absent until the model is compiled
    skip = [optimizer] if (optimizer is not None and not include_optimizer) else None
    if max_shard_size is None:
        path = folder / constants.WEIGHTS_FILE
        keras.saving.save_weights(model, str(path), objects_to_skip=skip)
        return [constants.WEIGHTS_FILE]
    if max_shard_size <= 0:
        raise HubPublishError(f"max_shard_size must be a positive number of GB; got {max_shard_size!r}.")
    keras.saving.save_weights(model, str(folder / constants.WEIGHTS_INDEX_FILE), max_shard_size=max_shard_size, objects_to_skip=skip)
    shards = sorted(p.name for p in folder.glob(constants.WEIGHTS_SHARD_GLOB))
    return [constants.WEIGHTS_INDEX_FILE, *shards]


def _input_keys(model: "keras.Model") -> list[str | None]:
    struct = model.input
    if isinstance(struct, Mapping):
        by_id = {id(t): k for k, t in struct.items()}
        return [by_id.get(id(t)) for t in model.inputs]
    return [None] * len(model.inputs)


def _metadata(
    model: "keras.Model",
    config: Mapping[str, Any],
    folder: Path,
    weight_files: list[str],
    training_record: Mapping[str, Any] | None,
    base_model: Mapping[str, Any] | None,
) -> dict[str, Any]:
    import keras

    from hub_publish import _versions
    from hub_publish.backends import backend_only_layers

    struct = model.input
    structure = "dict" if isinstance(struct, Mapping) else ("list" if isinstance(struct, (list, tuple)) else "single")
    ours: dict[str, Any] = {
        constants.META_FORMAT_VERSION: constants.FORMAT_VERSION,
        constants.META_VERSION: __version__,
        constants.META_BACKEND: keras.config.backend(),
        constants.META_CLASS_NAME: config.get("class_name"),
        constants.META_REGISTERED_NAME: config.get("registered_name"),
        constants.META_MODULE: config.get("module"),
        constants.META_PARAMETER_COUNT: int(model.count_params()),
        constants.META_INPUT_STRUCTURE: structure,
        constants.META_INPUTS: tensor_spec(model.inputs, _input_keys(model)),
        constants.META_OUTPUTS: tensor_spec(model.outputs, [None] * len(model.outputs)),
        constants.META_HEAD_LAYER: _head_layer(model),
        constants.META_FILES: _digests(folder, weight_files),
        constants.META_LIBRARY_VERSIONS: _versions.library_versions(),
        constants.META_BACKEND_LAYERS: backend_only_layers(model),  # empty: loads under any backend
    }
    if training_record is not None:
        ours[constants.META_TRAINING] = json.loads(json.dumps(training_record, default=_json_default))
    if base_model is not None:
        ours[constants.META_BASE_MODEL] = dict(base_model)
    return {
        # The two keys Keras itself writes, with Keras' meaning and format.
        constants.META_KERAS_VERSION: keras.version(),
        constants.META_DATE_SAVED: datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        constants.META_ROOT: ours,
    }


def _digests(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """`file_digest` of each file; shards are hashed in parallel (hashlib releases the GIL)."""
    if len(names) < 2:
        return {name: file_digest(folder / name) for name in names}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(lambda name: file_digest(folder / name), names)))


def _head_layer(model: "keras.Model") -> str | None:
    declared = getattr(model, "head_layer", None)
    names = {layer.name for layer in model.layers}
    if declared in names:
        return declared
    if constants.DEFAULT_HEAD_LAYER in names:
        return constants.DEFAULT_HEAD_LAYER
    # The layer producing the (single) output is the head of a plain functional model.
    if len(model.outputs) == 1:
        history = getattr(model.outputs[0], "_keras_history", None)
        if history is not None:
            return history.operation.name
    return None


def _check_extra_name(name: str) -> None:
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or not parts:
        raise HubPublishError(f"extra file name {name!r} must be a relative path inside the folder.")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / backend scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=_json_default)
        f.write("\n")


def _replace_dir(tmp: Path, target: Path) -> None:
    """Move the finished folder into place; an existing folder is swapped out, then removed."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "folder")
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old / "folder", target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
