"""Write a model as a hub-publish folder (the saving half; `hub_publish.loading` is the other).

The layout, the manifest and the typed metadata live in `hub_publish.format`; this module writes
them. A folder is Keras' own unzipped ``.keras`` layout, so ``keras.saving.load_model(folder)``
reads it too (config.json, metadata.json, model.weights.h5, assets/), plus graph.json and the card.

The folder is written into a temporary sibling directory and renamed into place, so a failure
never leaves a half-written folder behind. A save never deletes what the user did not ask to
replace: an existing non-empty folder that is not a hub-publish model folder is refused, an
existing model folder is replaced only with ``overwrite=True``, and the user's own files in it
(anything the format does not own) are carried over into the new folder.
"""

from __future__ import annotations

import copy
import datetime
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import __version__, constants, format as fmt
from hub_publish.errors import HubPublishError, option
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras

file_digest = fmt.file_digest  # kept importable from here (older callers)


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
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
    license: str | None = None,
    tags: Iterable[str] | None = None,
    datasets: Iterable[str] | None = None,
    language: str | Iterable[str] | None = None,
) -> Path:
    """Write ``model`` to ``save_directory`` as a hub-publish folder.

    Works for any Keras graph model: a functional subclass such as ``MnistModel`` (written with
    its registered class name), a plain ``keras.Model(inputs, outputs)``, a built
    ``keras.Sequential``, nested and multi-input/multi-output models, custom registered layers,
    and library models built the same way (keras-hub backbones). Layer assets (lookup
    vocabularies, ...) are written with Keras' own asset mechanism. Before anything is written,
    the config is rebuilt the way a loader in another program would, and a model that could not
    be loaded back is refused.

    Args:
        model: A built Keras graph model.
        save_directory: Target folder: new, empty, or (with ``overwrite``) a hub-publish model
            folder. Any other existing non-empty folder is refused.
        training_record: The run that produced the model (see `hub_publish.training`); stored in
            metadata.json and shown on the card.
        base_model: Lineage of a derived model: ``{"repo_id", "revision", "relation"}``.
        include_optimizer: Also store the optimizer state in the weights file, and the compile
            config (optimizer, loss, metrics) that ``from_pretrained(compile=True)`` restores;
            without it the folder holds no compile config (Keras would warn on every load).
        max_shard_size: Shard the weights into files of at most this many GB (Keras'
            ``save_weights(max_shard_size=...)``).
        card: Write a model card (README.md).
        card_template: A Jinja2 template for the card instead of the built-in one.
        card_data: Extra card metadata (license, datasets, ...).
        card_sections: Extra card sections, ``{title: markdown}``.
        repo_id: The Hub repo the folder is meant for, used in the card's usage snippets.
        extra_files: ``{name in folder: local path}`` copied into the folder (plots, ...).
        class_names: Names of the output classes, index = class id (default: the model's
            ``class_names`` attribute if it has one). Recorded in metadata.json and the card.
        overwrite: Replace an existing hub-publish model folder (files of the user's that the
            format does not own are kept).
        license: The card's Hub license id (``"apache-2.0"``, ``"mit"``, ...).
        tags, datasets: Tags / Hub dataset ids added to the card's generated ones.
        language: The card's language code(s).

    Returns:
        The folder's path.

    Raises:
        HubPublishError: The model is not a graph model, is not built, could not be loaded back
            (class in ``__main__``, unregistered custom layer, ``get_config`` missing constructor
            arguments), or the target folder may not be written.
    """
    import keras

    _check_model(model)
    target = _check_target(Path(save_directory).expanduser().absolute(), overwrite=overwrite)
    config = keras.saving.serialize_keras_object(model)
    if not include_optimizer and config.get("compile_config") is not None:
        # Without the optimizer's state, a compile config makes every loader (plain Keras too)
        # compile a fresh optimizer and warn that the saved one has no variables; how the model
        # was trained stays in the training record.
        config = {**config, "compile_config": None}
    check_loadable(model, config)
    names = _class_names(model, class_names)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HubPublishError(f"cannot create {target.parent}: {exc.strerror or exc}; choose another folder.") from None

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        fmt.write_json(tmp / constants.CONFIG_FILE, config)
        fmt.write_json(tmp / constants.GRAPH_FILE, _graph_config(model))
        files = [constants.CONFIG_FILE, constants.GRAPH_FILE]
        files += _save_weights(model, tmp, include_optimizer=include_optimizer, max_shard_size=max_shard_size)
        files += _save_assets(model, tmp)
        for name, src in (extra_files or {}).items():
            _check_extra_name(name)
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / name)
            files.append(Path(name).as_posix())
        metadata = _metadata(model, config, tmp, files, training_record, base_model, names)
        fmt.write_json(tmp / constants.METADATA_FILE, metadata)
        if card:
            from model_cards import write_card

            write_card(
                tmp, model=model, metadata=metadata, template=card_template, card_data=card_data,
                extra_sections=card_sections, repo_id=repo_id, license=license,
                tags=list(tags) if tags is not None else None,
                datasets=list(datasets) if datasets is not None else None, language=language,
            )
        _carry_over_user_files(target, tmp)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


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

    if not isinstance(model, keras.Model):
        raise HubPublishError(f"expected a keras.Model, got {type(model).__name__}.")
    if isinstance(model, keras.Sequential):
        if not is_graph_model(model):
            raise HubPublishError(
                f"the Sequential model {model.name!r} has no input shape yet; start it with keras.Input(shape=...) "
                "(or call model.build(input_shape)) before saving."
            )
        return
    if not is_graph_model(model):
        raise HubPublishError(
            f"{type(model).__name__} is a subclassed keras.Model whose call() is Python code, with no layer graph to "
            "publish; write it as a functional subclass (build the graph in __init__ and end with "
            "super().__init__(inputs=..., outputs=...)), a keras.Model(inputs, outputs) or a keras.Sequential."
        )


def is_graph_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model with a layer graph (functional, functional subclass, built Sequential)."""
    import keras

    if isinstance(model, keras.Sequential):
        return is_built_sequential(model)
    return is_functional(model)


def is_functional(model: Any) -> bool:
    """Whether ``model`` is a Keras functional model: ``keras.Model(inputs, outputs)``, a functional
    subclass (Keras makes ``Functional`` one of its bases) or the class-free graph. Not a Sequential."""
    # Keras 3 exports no public name for this class (keras.Model(inputs, outputs) returns an instance
    # of it; keras.Functional / keras.models.Functional do not exist): this is the one place reading it.
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def is_built_sequential(model: Any) -> bool:
    """Whether ``model`` is a ``keras.Sequential`` whose layer graph exists (it knows its input shape)."""
    import keras

    if not isinstance(model, keras.Sequential) or not model.built:
        return False
    try:
        model.inputs  # Keras' public test: a Sequential without a graph raises AttributeError here
    except AttributeError:
        return False
    return True


def check_target(save_directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse a save target whose writing could destroy something of the user's (see save_pretrained).

    Cheap (no Keras): the CLI calls it before building the model.

    Returns:
        The absolute target path.

    Raises:
        HubPublishError: A parent is a file, the target is a file or a link, a non-empty folder that
            is not a hub-publish model folder, or a model folder and ``overwrite`` is false.
    """
    return _check_target(Path(save_directory).expanduser().absolute(), overwrite=overwrite)


def _check_target(target: Path, *, overwrite: bool) -> Path:
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise HubPublishError(f"{parent} is a file, not a folder; choose another save_directory.")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise HubPublishError(f"{target} exists and is not a folder; choose another save_directory.")
    if not target.exists() or not any(target.iterdir()):
        return target
    if not _is_hub_publish_folder(target):
        raise HubPublishError(
            f"{target} is not empty and is not a hub-publish model folder; refusing to write into it (nothing was "
            "changed): choose a new or empty folder."
        )
    if not overwrite:
        raise HubPublishError(
            f"{target} already holds a model; pass {option('overwrite=True', '--overwrite')} to replace it, or choose another "
            "folder."
        )
    return target


def _is_hub_publish_folder(folder: Path) -> bool:
    if not fmt.is_model_folder(folder):
        return False
    try:
        return fmt.read_metadata(folder).is_hub_publish
    except HubPublishError:
        return False


def check_loadable(model: "keras.Model", config: Mapping[str, Any] | None = None) -> None:
    """Refuse a model that a loader in another program could not rebuild from its config.

    Checks, in order: the class and every custom object live in an importable module (not
    ``__main__``) and are registered with Keras; then the config is deserialized the way the
    loader does (registered objects only, safe_mode) and the rebuilt model must have the same
    layers and weight shapes, which catches a ``get_config`` that misses constructor arguments.

    Raises:
        HubPublishError: One line naming the class or layer and the fix.
    """
    import keras

    if config is None:
        config = keras.saving.serialize_keras_object(model)
    cls = type(model)
    if cls.__module__ == "__main__":
        raise HubPublishError(
            f"model class {cls.__name__} is defined in __main__ (a script or notebook), so no other program can import "
            f"it; move it into a module (e.g. my_models.py) and register it with "
            f"@keras.saving.register_keras_serializable(package=...)."
        )
    for name, module in fmt.custom_objects(config):
        if module is None or module == "__main__":
            raise HubPublishError(
                f"{name} is defined in __main__ (a script or notebook), so no other program can import it; move it into a "
                "module and register it with @keras.saving.register_keras_serializable(package=...)."
            )
        if keras.saving.get_registered_object(name) is None:
            short = name.split(">")[-1]
            raise HubPublishError(
                f"custom class {short} (module {module}) is not registered with Keras, so a loader cannot rebuild it; "
                f"decorate it with @keras.saving.register_keras_serializable(package=...)."
            )
    registered = config.get("registered_name") or config.get("class_name")
    module = config.get("module")
    if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
        if keras.saving.get_registered_object(registered) is not cls:
            raise HubPublishError(
                f"model class {cls.__name__} is not registered with Keras, so a loader cannot find it; decorate it with "
                "@keras.saving.register_keras_serializable(package=...)."
            )
    # Rebuilding costs a second copy of the weights in memory, so it is done only where user code
    # decides what the config holds: a class or layer outside Keras and the well-kept Keras libraries.
    user_code = [m for _, m in fmt.custom_objects(config) if not _is_library(m)]
    if user_code or not _is_library(cls.__module__):
        _check_rebuilds(model, config)


_LIBRARIES = ("keras", "keras_hub", "keras_cv", "keras_nlp")  # the packages Keras itself trusts to deserialize


def _is_library(module: str | None) -> bool:
    return bool(module) and str(module).split(".", 1)[0] in _LIBRARIES


def _check_rebuilds(model: "keras.Model", config: Mapping[str, Any]) -> None:
    import keras

    cls_name = type(model).__name__
    fix = f"give {cls_name} a get_config() that returns every __init__ argument (and a from_config() if needed)"
    clean = copy.deepcopy(dict(config))  # Keras' from_config consumes the dicts it is given
    clean["compile_config"] = None
    try:
        # Outside any custom_object_scope the caller may have open: a loader only sees registered objects.
        with keras.saving.custom_object_scope({}):
            rebuilt = keras.saving.deserialize_keras_object(clean, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - any failure here is a model that cannot be loaded back
        message = first_line(exc)
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            # Python code (a Lambda with bytecode, a pickled torch module, ...): rebuilding it would
            # run that code, and the loader refuses it with UnsafeModelError unless the user opts
            # out of Keras' safe_mode. Saving it stays the user's call, as with Keras' model.save.
            return
        raise HubPublishError(f"{cls_name} cannot be rebuilt from its config ({message[:300]}); {fix}.") from None
    if type(rebuilt) is not type(model) and not (isinstance(model, keras.Sequential) and isinstance(rebuilt, keras.Sequential)):
        raise HubPublishError(
            f"{cls_name} comes back from its config as {type(rebuilt).__name__}; register {cls_name} with "
            "@keras.saving.register_keras_serializable(package=...) and give it a get_config()."
        )
    ours = _weight_shapes(model)
    theirs = _weight_shapes(rebuilt)
    if ours != theirs:
        diff = next((k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)), "?")
        raise HubPublishError(
            f"{cls_name} rebuilt from its config differs from the model (layer {diff!r}: {ours.get(diff)} vs "
            f"{theirs.get(diff)}); {fix}."
        )


def _weight_shapes(model: "keras.Model") -> dict[str, list[tuple[int | None, ...]]]:
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}


def _class_names(model: "keras.Model", class_names: Sequence[str] | None) -> list[str] | None:
    names = class_names if class_names is not None else getattr(model, "class_names", None)
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
        raise HubPublishError("class_names must be a list of strings (the name of class 0, 1, ...).")
    names = list(names)
    if len(model.outputs) == 1:
        units = model.outputs[0].shape[-1]
        if units not in (None, len(names)) and not (units == 1 and len(names) == 2):
            raise HubPublishError(f"class_names has {len(names)} names but the model outputs {units} classes; give one name per class.")
    return names


def _graph_config(model: "keras.Model") -> dict[str, Any]:
    """The class-free functional DAG: the same layers, wired the same way, in a plain Functional."""
    import keras

    inputs, outputs = model_io(model)
    functional = keras.Model(inputs, outputs, name=model.name)
    return keras.saving.serialize_keras_object(functional)


def model_io(model: "keras.Model") -> tuple[Any, Any]:
    """A graph model's input and output structures (a Sequential has them only as lists)."""
    import keras

    if isinstance(model, keras.Sequential):
        ins, outs = model.inputs, model.outputs
        return (ins[0] if len(ins) == 1 else ins), (outs[0] if len(outs) == 1 else outs)
    return model.input, model.output


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


def _save_assets(model: "keras.Model", folder: Path) -> list[str]:
    return fmt.save_assets(model, folder)


def _input_keys(model: "keras.Model") -> list[str | None]:
    struct = model_io(model)[0]
    if isinstance(struct, Mapping):
        by_id = {id(t): k for k, t in struct.items()}
        return [by_id.get(id(t)) for t in model.inputs]
    return [None] * len(model.inputs)


def _metadata(
    model: "keras.Model",
    config: Mapping[str, Any],
    folder: Path,
    files: list[str],
    training_record: Mapping[str, Any] | None,
    base_model: Mapping[str, Any] | None,
    class_names: list[str] | None,
) -> dict[str, Any]:
    import keras

    from hub_publish import _versions
    from hub_publish.backends import backend_only_layers

    struct = model_io(model)[0]
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
        constants.META_LIBRARY_VERSIONS: _versions.library_versions(),
    }
    if training_record is not None:
        ours[constants.META_TRAINING] = fmt.json_safe(training_record, finite=False)
    if base_model is not None:
        ours[constants.META_BASE_MODEL] = dict(base_model)
    metadata = fmt.Metadata(
        # The two keys Keras itself writes, with Keras' meaning and format.
        keras_version=keras.version(),
        date_saved=datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        files=fmt.manifest(folder, files),
        head_layer=_head_layer(model),
        class_names=class_names,
        backend_layers=backend_only_layers(model),  # empty: loads under any backend
        hub=ours,
    )
    return metadata.to_dict()


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
        if history is not None and history.operation.name in names:
            return history.operation.name
    return None


def _check_extra_name(name: str) -> None:
    if not fmt.is_inside_name(Path(name).as_posix()):
        raise HubPublishError(f"extra file name {name!r} must be a relative path inside the folder.")


def _owned(name: str, old_files: Iterable[str]) -> bool:
    """Whether a file of an existing model folder belongs to the format (replaced by a new save)."""
    import fnmatch

    if name in old_files or name in (constants.METADATA_FILE, constants.CONFIG_FILE, constants.CARD_FILE):
        return True
    return any(fnmatch.fnmatch(name, pattern) for pattern in fmt.OWNED_PATTERNS)


def _carry_over_user_files(target: Path, tmp: Path) -> None:
    """Copy the files of the user's in an existing model folder (notes, scripts, ...) into the new one.

    Only the files the format owns (the old manifest, metadata.json, config.json, the card, weights
    and assets patterns) are replaced; a file the new folder writes itself wins.
    """
    if not target.is_dir():
        return
    _keep_card_edits(target / constants.CARD_FILE, tmp / constants.CARD_FILE)
    try:
        old_files = set(fmt.read_metadata(target).files)
    except HubPublishError:
        old_files = set()
    for dirpath, _dirs, filenames in os.walk(target):
        for filename in filenames:
            src = Path(dirpath) / filename
            name = src.relative_to(target).as_posix()
            if _owned(name, old_files) or (tmp / name).exists():
                continue
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / name, follow_symlinks=False)


def _keep_card_edits(old: Path, new: Path) -> None:
    """An edited card in the folder being replaced survives: the new generated metadata is merged into
    it, exactly as a push does with a card edited on the Hub (`model_cards.merge.merge_cards`)."""
    if not (old.is_file() and new.is_file()):
        return
    from huggingface_hub import ModelCard

    from model_cards.merge import merge_cards

    existing = ModelCard(old.read_text(encoding="utf-8"), ignore_metadata_errors=True)
    card, _outcome = merge_cards(existing, ModelCard(new.read_text(encoding="utf-8"), ignore_metadata_errors=True))
    card.save(new)


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
