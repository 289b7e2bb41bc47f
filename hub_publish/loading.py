"""Load a hub-publish folder back: resolve -> verify -> rebuild (the loading half of packaging).

Resolve: a local folder, or a Hub repo fetched with huggingface_hub's ``snapshot_download``
(its cache, revisions, offline mode and retries). Verify: config and metadata parse, every
weights file matches the sha256 and size recorded in metadata.json. Rebuild: the registered
class when it is available and trusted, else the class-free graph (``graph.json``); weights
loaded last. Nothing is returned until all of it succeeded.

Security: Keras' ``safe_mode`` stays on, and no module is imported because a config names it:
only hub-publish's own modules, Keras, and the modules the caller lists in ``trusted_modules``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import re
import shlex
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish import format as fmt
from hub_publish.format import verify_folder  # noqa: F401  (public here too: loading verifies before use)
from hub_publish.backends import check_backend
from hub_publish.errors import (
    ClassMismatchError,
    HubPublishError,
    HubPublishWarning,
    ModelFolderError,
    UnknownLayersError,
    UnsafeModelError,
    option,
    warn,
)
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras


@dataclass(frozen=True)
class ModelSource:
    """Where a loaded model came from (used for lineage of derived models)."""

    folder: Path
    repo_id: str | None = None
    revision: str | None = None  # as asked: branch, tag or sha
    commit: str | None = None  # the resolved commit sha (pinned revision)
    class_free: bool = False


_SOURCES: "weakref.WeakKeyDictionary[Any, ModelSource]" = weakref.WeakKeyDictionary()


def from_pretrained(
    repo_id_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    compile: bool = False,
    trusted_modules: Iterable[str] = (),
    endpoint: str | None = None,
    expected_class: type | None = None,
    **overrides: Any,
) -> "keras.Model":
    """Load a model saved by `hub_publish.save_pretrained` (or by Keras' own folder / hf:// saving).

    Args:
        repo_id_or_path: A local folder, ``hf://namespace/name[@revision]`` or ``namespace/name``.
        revision: Branch, tag or commit sha on the Hub (default: the main branch).
        token: Hub token (default: huggingface_hub's, from ``HF_TOKEN`` or the login cache).
        cache_dir: huggingface_hub cache folder (default: ``HF_HUB_CACHE`` under ``HF_HOME``).
        force_download: Download again even if cached (repairs a corrupted cache entry).
        local_files_only: Use the cache only (also implied by ``HF_HUB_OFFLINE=1``).
        compile: Restore the compile config (optimizer, loss, metrics) saved with the model.
        trusted_modules: Modules (or packages) that may be imported to get the model's class.
        endpoint: Hub endpoint (default: ``HF_ENDPOINT``, else huggingface.co).
        expected_class: Refuse a folder holding another class (used by ``Cls.from_pretrained``).
        **overrides: Constructor arguments that replace the saved ones, such as ``num_classes=2``
            (as timm's ``num_classes=`` / transformers' ``num_labels=``): every saved weight that
            still fits is loaded, the layers whose shapes changed are re-initialised, and a
            `HubPublishWarning` names them. Needs the model's class.

    Returns:
        The model: an instance of its registered class when that class is available and trusted,
        else a plain Keras Functional with the same layers and weights (with a warning).

    Raises:
        ModelFolderError: The folder is missing, or its config/metadata/graph is missing or garbled,
            or an override is not an argument of the model's config.
        IntegrityError: A weights file does not match metadata.json.
        ClassMismatchError: The folder holds another class than ``expected_class``.
        UnsafeModelError: The config holds code (e.g. a Lambda with bytecode).
        UnknownLayersError: The class-free graph needs custom layers that are not available.
        BackendError: The model holds a layer that runs only under another Keras backend (such
            as a TorchModuleWrapper under JAX); the message names the layer and the backend.
    """
    import keras

    source = _resolve(
        repo_id_or_path,
        revision=revision,
        token=token,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        endpoint=endpoint,
    )
    folder = source.folder
    cached = source.repo_id is not None  # a huggingface_hub cache snapshot: evict what fails
    with fmt.evict_on_error(folder / constants.METADATA_FILE, cached):
        metadata = fmt.read_metadata(folder)
    # Every file the load reads, before any is read; graph.json only if the fallback uses it.
    verify_folder(folder, metadata, evict=cached, rehash=force_download, only=fmt.read_by_loading(metadata.files))
    with fmt.evict_on_error(folder / constants.CONFIG_FILE, cached and constants.CONFIG_FILE not in metadata.files):
        config = fmt.read_json_object(folder, constants.CONFIG_FILE, required=True)
    weights = _weights_path(folder, metadata)
    _warn_if_newer_keras(metadata, keras.version())
    check_backend(config, metadata.to_dict())  # backend-only layers (e.g. TorchModuleWrapper) need their backend

    trusted = tuple(trusted_modules)
    cls, why_not = _resolve_class(config, trusted)
    if expected_class is not None:
        where = f"{source.repo_id}@{source.commit or source.revision or 'main'}" if source.repo_id else str(folder)
        _check_class(config, cls, expected_class, where=where)
    if cls is not None:
        _import_trusted_layers(config, trusted)
        _check_known_layers(config)
        if overrides:
            model = _load_with_overrides(folder, config, metadata, weights, overrides)
        else:
            model = _deserialize(config, compile=compile, what=f"{constants.CONFIG_FILE} in {folder}")
            _load_weights(model, weights)
    else:
        if overrides:
            raise HubPublishError(f"{why_not}; constructor overrides ({', '.join(sorted(overrides))}) need the model's class.")
        if source.repo_id is not None:  # a load fetches graph.json only when this fallback needs it
            from hub_publish.hub import fetch_file

            fetch_file(source.repo_id, constants.GRAPH_FILE, commit=source.commit, token=token, cache_dir=cache_dir,
                       local_files_only=local_files_only, endpoint=endpoint)
        if constants.GRAPH_FILE in metadata.files:
            verify_folder(folder, metadata, evict=cached, rehash=force_download, only=(constants.GRAPH_FILE,))
        model = _load_class_free(folder, config, why_not, trusted)
        source = ModelSource(source.folder, source.repo_id, source.revision, source.commit, class_free=True)
        _load_weights(model, weights)
    _load_assets(model, folder, metadata)
    reserve_layer_names(model)
    _SOURCES[model] = source
    return model


def reserve_layer_names(model: "keras.Model") -> None:
    """Make Keras' automatic layer naming skip every name ``model`` uses, in this process.

    Why: Keras names an unnamed layer ``dense``, ``dense_1``, ... from a per-process counter,
    and a model loaded from disk brings its names without advancing that counter. In a fresh
    process, ``keras.layers.Dense(1)`` on top of a loaded model whose head feeds from a layer
    called ``dense`` would be named ``dense`` too and ``keras.Model(...)`` fails ("The name
    'dense' is used 2 times"). Advancing the counter with Keras' public ``keras.backend.get_uid``
    (the counter its auto-naming reads) makes the next auto-name of each prefix a free one.
    """
    import keras

    wanted: dict[str, int] = {}
    for name in _all_layer_names(model):
        match = _AUTO_NAME.match(name)
        prefix, number = (match.group(1), int(match.group(2))) if match else (name, 0)
        if number < _MAX_RESERVED_UID:
            wanted[prefix] = max(wanted.get(prefix, 0), number + 1)
        wanted[name] = max(wanted.get(name, 0), 1)
    for prefix, count in wanted.items():
        while keras.backend.get_uid(prefix) < count:
            pass


_AUTO_NAME = re.compile(r"^(.+?)_(\d+)$")
_MAX_RESERVED_UID = 100_000  # a name such as "dense_99999999" is not worth a counter walk


def _all_layer_names(model: Any) -> list[str]:
    names = [model.name]
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        names.append(layer.name)
        stack.extend(getattr(layer, "layers", []) or [])
    return names


def _load_with_overrides(
    folder: Path, config: Mapping[str, Any], metadata: fmt.Metadata, weights: Path, overrides: Mapping[str, Any]
) -> "keras.Model":
    """Rebuild with changed constructor arguments; keep every saved weight that still fits."""
    import keras

    inner = config.get("config")
    if not isinstance(inner, Mapping):
        raise ModelFolderError(f"{constants.CONFIG_FILE} in {folder} has no constructor config to override.")
    unknown = sorted(set(overrides) - set(inner))
    if unknown:
        raise HubPublishError(
            f"{', '.join(unknown)} is neither a from_pretrained option nor an argument of {config.get('class_name')} "
            f"(its arguments: {', '.join(sorted(inner))})."
        )
    what = f"{constants.CONFIG_FILE} in {folder}"
    saved = _deserialize(config, compile=False, what=what)
    _load_weights(saved, weights)
    changed = dict(config)
    changed["config"] = {**inner, **overrides}
    model = _deserialize(changed, compile=False, what=f"{what} with {', '.join(sorted(overrides))} changed")
    reinitialised = []
    for layer in model.layers:
        try:
            old = saved.get_layer(layer.name)
        except ValueError:
            old = None
        values = old.get_weights() if old is not None else None
        if values is not None and [v.shape for v in values] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(values)
        elif layer.weights:
            reinitialised.append(layer.name)
    if reinitialised:
        warn(
            f"{', '.join(sorted(overrides))} changed the shapes of layer(s) {', '.join(reinitialised)}: they are newly "
            "initialised (train them before use); every other weight was loaded.",
            HubPublishWarning,
        )
    return model


def _load_assets(model: "keras.Model", folder: Path, metadata: fmt.Metadata) -> None:
    # hub-publish folders name their assets in the manifest; a folder Keras wrote has none, so its
    # assets/ folder (Keras' own layout) is read when present.
    if not (metadata.has_assets() or (not metadata.files and (folder / constants.ASSETS_DIR).is_dir())):
        return
    try:
        fmt.load_assets(model, folder)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        message = first_line(exc)
        raise ModelFolderError(f"cannot load the assets in {folder} into the model: {message}") from None


def source_of(model: Any) -> ModelSource | None:
    """Where a model returned by `from_pretrained` came from, or None for other models."""
    return _SOURCES.get(model)


# ----------------------------------------------------------------------------- resolve


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """Split ``hf://namespace/name[@revision]`` (or ``namespace/name[@revision]``) into repo id and revision.

    huggingface_hub's `parse_hf_uri` reads the reference, with the grammar its and Keras' ``hf://``
    paths share: ``@refs/pr/1`` is one revision, a trailing ``/`` names no path, a branch holding a
    ``/`` is written ``%2F``. This adds what loading a model asks of it: a model repo, no path inside.

    Returns:
        ``(repo_id, revision)``; revision is None when the reference names none (``o/n``; ``o/n@`` is refused).

    Raises:
        HubPublishError: The reference is not ``[hf://]namespace/name[@revision][/]``.
    """
    from huggingface_hub import parse_hf_uri
    from huggingface_hub.errors import HfUriError

    body = ref.removeprefix("hf://").rstrip("/")
    if body.endswith("@"):  # huggingface_hub refuses it too ("Empty revision after '@'"), in words about hf:// URIs
        raise HubPublishError(f"{ref} names no revision after '@'; write namespace/name@revision, or drop the '@' for the default branch.")
    try:
        uri = parse_hf_uri("hf://" + body)
    except HfUriError as exc:
        raise HubPublishError(f"invalid repo id {ref!r}: {exc.msg.strip()} "
                              "Expected namespace/name or hf://namespace/name@revision.") from None
    if uri.type != "model":
        raise HubPublishError(f"{ref} names a {uri.type} repo; from_pretrained loads model repos: hf://namespace/name.")
    if uri.path_in_repo and uri.revision is None:
        raise HubPublishError(f"{body!r} is not a valid Hub repo id; expected 'namespace/name'.")
    if uri.path_in_repo:
        raise HubPublishError(
            f"{ref} names {uri.path_in_repo!r} inside revision {uri.revision!r}; a model is the whole repo: "
            "hf://namespace/name@revision (write a '/' in a branch name as %2F)."
        )
    return uri.id, uri.revision


def push_repo_id(repo_id: Any) -> str:
    """The repo a push goes to, from ``namespace/name`` or ``hf://namespace/name`` (Keras' spelling).

    Checked before anything is created, with the Hub's name rule (`hub_lists.repo_name_problem`):
    huggingface_hub would pass a bare name on (the Hub answers 404) and speak of its ``repo_type``
    argument for ``hf://...``, which hub-publish does not have. A revision is refused: a push names
    its branch with the branch option, and ``@v1`` could be a tag or a commit, which take no push.

    Raises:
        HubPublishError: Not ``[hf://]namespace/name``.
    """
    from hub_publish.hub_lists import repo_name_problem

    if not isinstance(repo_id, str):
        raise HubPublishError(f"the repo id must be a string namespace/name, not a {type(repo_id).__name__}.")
    body = repo_id.removeprefix("hf://").rstrip("/")
    if "@" in body:
        raise HubPublishError(f"{repo_id} names a revision; push to namespace/name and give the branch with "
                              f"{option('branch=', '--branch')}.")
    parts = body.split("/")
    if len(parts) != 2:
        raise HubPublishError(f"{repo_id!r} is not a Hub repo id; a repo id is namespace/name, e.g. alice/my-model.")
    for part in parts:
        problem = repo_name_problem(part)
        if problem:
            raise HubPublishError(f"invalid repo id {repo_id!r}: {part!r} is not a valid name; {problem}")
    return body


def repo_and_revision(ref: str, revision: str | None) -> tuple[str, str | None]:
    """`parse_repo_ref`, and the revision to use: the reference's or the ``revision`` option, not two different ones.

    Raises:
        HubPublishError: A bad reference, or one naming another revision than the option.
    """
    repo_id, ref_revision = parse_repo_ref(ref)
    if ref_revision and revision and ref_revision != revision:
        given = option(f"revision={revision!r}", f"--revision {revision}")
        raise HubPublishError(f"{ref} names revision {ref_revision!r} but {given} was passed; give one.")
    return repo_id, revision or ref_revision


def _looks_like_repo_id(ref: str) -> bool:
    """Whether a string that is no existing path reads as ``namespace/name[@revision]`` (else: a missing folder)."""
    try:
        parse_repo_ref(ref.rstrip("/").removesuffix("@"))  # "o/n@" reads as a repo id (then refused as such)
    except HubPublishError:
        return False
    return True


def _resolve(
    repo_id_or_path: str | os.PathLike,
    *,
    revision: str | None,
    token: str | bool | None,
    cache_dir: str | os.PathLike | None,
    force_download: bool,
    local_files_only: bool,
    endpoint: str | None,
) -> ModelSource:
    ref = os.fspath(repo_id_or_path)
    is_hf = isinstance(repo_id_or_path, str) and ref.startswith("hf://")
    if not is_hf:
        path = Path(ref).expanduser()
        if path.is_dir():
            return ModelSource(folder=path.resolve())
        if isinstance(repo_id_or_path, os.PathLike) or path.exists() or not _looks_like_repo_id(ref):
            raise ModelFolderError(f"no model folder at {ref}; pass an existing folder or a Hub repo id such as 'org/name'.")
    repo_id, revision = repo_and_revision(ref, revision)
    from hub_publish.hub import download_snapshot

    folder, commit = download_snapshot(
        repo_id,
        revision=revision,
        token=token,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        endpoint=endpoint,
        for_loading=True,
    )
    return ModelSource(folder=folder, repo_id=repo_id, revision=revision, commit=commit)


# ----------------------------------------------------------------------------- verify


def _weights_path(folder: Path, metadata: fmt.Metadata) -> Path:
    """The weights file the manifest names; never whichever file happens to exist (a stale index of
    an older push must not win). Folders without a manifest (written by Keras) have one file."""
    name = metadata.weights_file()
    if name is not None:
        return folder / name
    if metadata.files:
        raise ModelFolderError(f"metadata.json in {folder} names no weights file; re-save the model.")
    for name in (constants.WEIGHTS_FILE, constants.WEIGHTS_INDEX_FILE):
        if (folder / name).is_file():
            return folder / name
    raise ModelFolderError(f"{folder} has no {constants.WEIGHTS_FILE} (nor sharded {constants.WEIGHTS_INDEX_FILE}); re-save the model.")


def _warn_if_newer_keras(metadata: fmt.Metadata, installed: str) -> None:
    from packaging.version import InvalidVersion, Version

    saved = metadata.keras_version
    if not saved:
        return
    try:
        newer = Version(str(saved)) > Version(installed)
    except InvalidVersion:
        return
    if newer:
        warn(
            f"this model was saved with Keras {saved}, newer than the installed Keras {installed}; "
            "if loading fails, upgrade Keras.",
            HubPublishWarning,
        )


# ----------------------------------------------------------------------------- rebuild


def _is_trusted(module: str, trusted: tuple[str, ...]) -> bool:
    for prefix in (*constants.TRUSTED_MODULE_PREFIXES, *trusted):
        if module == prefix or module.startswith(prefix + "."):
            return True
    return False


def _resolve_class(config: Mapping[str, Any], trusted: tuple[str, ...]) -> tuple[type | None, str]:
    """The model's class if it may be used, else None and why (for the fallback warning)."""
    import keras

    module = str(config.get("module") or "")
    class_name = str(config.get("class_name") or "?")
    registered = str(config.get("registered_name") or class_name)
    if module == "keras" or module.startswith("keras."):
        return keras.Model, ""  # Keras' own classes: Keras resolves them itself
    cls = keras.saving.get_registered_object(registered)
    if cls is not None:
        return cls, ""
    if not module:
        return None, f"class {class_name!r} is not registered"
    if not _is_trusted(module, trusted):
        return None, (
            f"class {class_name!r} comes from module {module!r}, which is not trusted and was not imported; "
            f"pass {option(f'trusted_modules=({module!r},)', f'--trust {shlex.quote(module)}')} if you trust it"
        )
    try:
        importlib.import_module(module)
    except ImportError as exc:
        return None, f"class {class_name!r} from module {module!r} is not available ({exc})"
    cls = keras.saving.get_registered_object(registered)
    if cls is None:
        return None, f"module {module!r} does not register class {registered!r}"
    return cls, ""


def _check_class(config: Mapping[str, Any], cls: type | None, expected: type, *, where: str = "this folder") -> None:
    """Refuse a model of another class than ``expected``; ``where`` names the folder or ``repo@commit``."""
    import keras

    registered = str(config.get("registered_name") or config.get("class_name"))
    if cls is not None and cls is not keras.Model and issubclass(cls, expected):
        return
    expected_name = keras.saving.get_registered_name(expected)
    raise ClassMismatchError(
        f"{where} holds {registered}, not {expected_name}; load it with hub_publish.from_pretrained() "
        f"or with {registered.split('>')[-1]}.from_pretrained()."
    )


def _deserialize(config: Mapping[str, Any], *, compile: bool, what: str) -> "keras.Model":
    import keras

    config = copy.deepcopy(dict(config))  # Keras' from_config consumes the dicts it is given
    if not compile:
        config["compile_config"] = None
    # safe_mode=True alone is not enough: Keras lets a process-wide
    # keras.config.enable_unsafe_deserialization() override the argument (the scope wins), so a repo's
    # Lambda bytecode would run. Keras has no public way to force safe mode back on; its scope does it.
    from keras.src.saving.serialization_lib import SafeModeScope

    try:
        with SafeModeScope(True):
            model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - a garbled config can make Keras raise anything; one line for all
        message = first_line(exc)
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise UnsafeModelError(
                f"{what} holds Python code (such as a Lambda layer with bytecode) and loading it would run that code; "
                "refused. Only load it with keras safe_mode=False if you trust its author."
            ) from None
        raise ModelFolderError(f"cannot rebuild the model from {what}: {message[:300]}") from None
    if not isinstance(model, keras.Model):
        raise ModelFolderError(f"{what} does not describe a Keras model (got {type(model).__name__}).")
    return model


def _load_class_free(folder: Path, config: Mapping[str, Any], why_not: str, trusted: tuple[str, ...] = ()) -> "keras.Model":
    graph = fmt.read_json_object(folder, constants.GRAPH_FILE, required=False)
    if graph is None:
        raise ModelFolderError(f"{why_not}, and {folder} has no {constants.GRAPH_FILE} to rebuild it without the class.")
    _import_trusted_layers(graph, trusted)
    _check_known_layers(graph)
    warn(
        f"{why_not}; loaded the class-free graph instead (a keras Functional with the same layers and weights).",
        HubPublishWarning,
    )
    return _deserialize(graph, compile=False, what=f"{constants.GRAPH_FILE} in {folder}")


def _import_trusted_layers(config: Mapping[str, Any], trusted: tuple[str, ...]) -> None:
    """Import the trusted modules that define the config's unregistered custom objects (layers, ...).

    ``trusted_modules`` covers custom layers as well as the model's class: a module is imported
    only when the caller trusts it (never because a config names it).
    """
    import keras

    for name, module in _custom_objects(config):
        if module and keras.saving.get_registered_object(name) is None and _is_trusted(module, trusted):
            with contextlib.suppress(ImportError):
                importlib.import_module(module)


def _custom_objects(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(registered name, module) of the non-Keras objects a config names with a module (see `format.custom_objects`)."""
    return [(name, module) for name, module in fmt.custom_objects(config) if isinstance(module, str)]


def _check_known_layers(config: Mapping[str, Any]) -> None:
    missing = sorted(_unknown_layers(config))
    if missing:
        modules = sorted({m.rsplit("module ", 1)[-1].rstrip(")").split(".")[0] for m in missing})
        raise UnknownLayersError(
            f"the model's graph needs custom layers that are not available: {', '.join(missing)}; "
            f"pass {option(f'trusted_modules={modules!r}', ' '.join(f'--trust {shlex.quote(m)}' for m in modules))} if you trust them, "
            "or import the modules that register them."
        )


def _unknown_layers(graph: Mapping[str, Any]) -> set[str]:
    """Custom (non-Keras) objects named anywhere in the graph config that are not registered."""
    import keras

    return {
        f"{name} (module {module})"
        for name, module in _custom_objects(graph)
        if keras.saving.get_registered_object(name) is None
    }


def _load_weights(model: "keras.Model", weights: Path) -> None:
    try:
        model.load_weights(str(weights))
    except (ValueError, OSError, KeyError) as exc:
        message = first_line(exc)
        raise ModelFolderError(f"cannot load {weights.name} into the model: {message}") from None
