"""The hub-publish folder format, in one place: file names, the typed `Metadata`, the manifest.

A model folder is Keras' own unzipped ``.keras`` layout plus hub-publish's extras::

    config.json          Keras serialization of the model (e.g. ``hub_publish>MnistModel``)
    metadata.json        Keras' keys (keras_version, date_saved) + a "hub_publish" object
    model.weights.h5     weights (or model.weights.json + model_NNNNN.weights.h5 when sharded)
    assets/...           Keras layer assets (lookup vocabularies, ...), as in a .keras archive
    graph.json           class-free functional DAG, loadable without the model's class
    README.md            the model card

``metadata.json``'s ``hub_publish.files`` is the manifest: sha256 and size of every file the
loader reads (config, graph, weights, assets, extra files), so a loader can verify a folder before
using any of it. ``metadata.json`` itself is not in it (it holds the manifest), and neither is the
card (the Hub may merge an edited card). Saving (`hub_publish.packaging`) and loading
(`hub_publish.loading`) both sit on this module; ``metadata.json`` is parsed only here.

This module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hub_publish import constants, verify_cache
from hub_publish.errors import IntegrityError, ModelFolderError, option
from hub_publish.text import is_sha256

CONFIG_FILE = constants.CONFIG_FILE
METADATA_FILE = constants.METADATA_FILE
GRAPH_FILE = constants.GRAPH_FILE
WEIGHTS_FILE = constants.WEIGHTS_FILE
WEIGHTS_INDEX_FILE = constants.WEIGHTS_INDEX_FILE
WEIGHTS_SHARD_GLOB = constants.WEIGHTS_SHARD_GLOB
ASSETS_DIR = constants.ASSETS_DIR
CARD_FILE = constants.CARD_FILE

#: Files a push may replace or remove in a repo because a model folder owns them: when a new
#: folder no longer has one of these, the push deletes it from the repo (stale weights layouts and
#: assets must not survive next to the new ones).
OWNED_PATTERNS = (WEIGHTS_FILE, WEIGHTS_INDEX_FILE, WEIGHTS_SHARD_GLOB, f"{ASSETS_DIR}/*", GRAPH_FILE)


def read_by_loading(names: Iterable[str]) -> list[str]:
    """The manifest entries every load reads: config, weights (index and shards), assets.

    Not graph.json (the class-free fallback reads and checks it only when it is used) nor extra
    files such as plots: a load neither fetches nor verifies what it does not read.
    """
    import fnmatch

    return [
        name for name in names
        if name in (CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE)
        or fnmatch.fnmatchcase(name, WEIGHTS_SHARD_GLOB)
        or name.startswith(ASSETS_DIR + "/")
    ]

# Deeper JSON than this is not a model config (a nested model adds ~6 levels); refusing it keeps
# every recursive walk over a config (ours and Keras') far from Python's recursion limit.
MAX_JSON_DEPTH = 200


@dataclass(frozen=True)
class FileRecord:
    """One manifest entry: the sha256 and size of a file of the folder."""

    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {constants.META_SHA256: self.sha256, constants.META_SIZE: self.size}


@dataclass
class Metadata:
    """``metadata.json``, typed and validated (`from_dict` refuses a malformed file in one line).

    Attributes:
        keras_version, date_saved: The two keys Keras itself writes.
        files: The manifest, ``{relative path: FileRecord}`` (empty for folders Keras wrote).
        head_layer: Name of the classification head, if any.
        class_names: Names of the output classes (``id2label``-style, index = class id), if known.
        backend_layers: ``{layer: {class_name, backends}}`` for backend-only layers.
        hub: The whole ``hub_publish`` object (every other key: class, inputs, training, ...).
        extra: Top-level keys written by other tools (keras-hub's ``keras_hub_version``, ...).
    """

    keras_version: str | None = None
    date_saved: str | None = None
    files: dict[str, FileRecord] = field(default_factory=dict)
    head_layer: str | None = None
    class_names: list[str] | None = None
    backend_layers: dict[str, Any] = field(default_factory=dict)
    hub: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_hub_publish(self) -> bool:
        """Whether hub-publish wrote the folder (it has the ``hub_publish`` object)."""
        return self.hub is not None

    @classmethod
    def from_dict(cls, data: Any, *, where: str = METADATA_FILE) -> "Metadata":
        """Validate a parsed metadata.json.

        Raises:
            ModelFolderError: A key has the wrong type, or a file record is malformed.
        """
        _require(isinstance(data, Mapping), where, "is not a JSON object")
        extra = {k: v for k, v in data.items() if k not in (constants.META_KERAS_VERSION, constants.META_DATE_SAVED, constants.META_ROOT)}
        keras_version = data.get(constants.META_KERAS_VERSION)
        date_saved = data.get(constants.META_DATE_SAVED)
        _require(keras_version is None or isinstance(keras_version, str), where, f"{constants.META_KERAS_VERSION!r} is not a string")
        _require(date_saved is None or isinstance(date_saved, str), where, f"{constants.META_DATE_SAVED!r} is not a string")
        hub = data.get(constants.META_ROOT)
        if hub is None:
            return cls(keras_version=keras_version, date_saved=date_saved, extra=extra)
        _require(isinstance(hub, Mapping), where, f"{constants.META_ROOT!r} is not an object")
        files = _parse_files(hub.get(constants.META_FILES), where)
        head = hub.get(constants.META_HEAD_LAYER)
        _require(head is None or isinstance(head, str), where, f"{constants.META_HEAD_LAYER!r} is not a string")
        names = hub.get(constants.META_CLASS_NAMES)
        _require(
            names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names)),
            where, f"{constants.META_CLASS_NAMES!r} is not a list of strings",
        )
        backend_layers = hub.get(constants.META_BACKEND_LAYERS) or {}
        _require(isinstance(backend_layers, Mapping), where, f"{constants.META_BACKEND_LAYERS!r} is not an object")
        for key in (constants.META_TRAINING, constants.META_BASE_MODEL, constants.META_LIBRARY_VERSIONS):
            _require(hub.get(key) is None or isinstance(hub.get(key), Mapping), where, f"{key!r} is not an object")
        for key in (constants.META_INPUTS, constants.META_OUTPUTS):
            _require(hub.get(key) is None or isinstance(hub.get(key), list), where, f"{key!r} is not a list")
        return cls(
            keras_version=keras_version,
            date_saved=date_saved,
            files=files,
            head_layer=head,
            class_names=list(names) if names is not None else None,
            backend_layers=dict(backend_layers),
            hub=dict(hub),
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to metadata.json (Keras' keys first, then ``hub_publish``)."""
        out: dict[str, Any] = {constants.META_KERAS_VERSION: self.keras_version, constants.META_DATE_SAVED: self.date_saved}
        out.update(self.extra)
        if self.hub is not None:
            hub = dict(self.hub)
            hub[constants.META_FILES] = {name: rec.to_dict() for name, rec in self.files.items()}
            hub[constants.META_HEAD_LAYER] = self.head_layer
            hub[constants.META_BACKEND_LAYERS] = dict(self.backend_layers)
            if self.class_names is not None:
                hub[constants.META_CLASS_NAMES] = list(self.class_names)
            out[constants.META_ROOT] = hub
        return out

    def weights_file(self) -> str | None:
        """The weights entry point the manifest names (the sharded index or the single file)."""
        if WEIGHTS_INDEX_FILE in self.files:
            return WEIGHTS_INDEX_FILE
        if WEIGHTS_FILE in self.files:
            return WEIGHTS_FILE
        return None

    def sha256s(self) -> dict[str, str]:
        """``{file name: sha256}`` of the manifest."""
        return {name: record.sha256 for name, record in self.files.items()}

    def has_assets(self) -> bool:
        return any(name.startswith(ASSETS_DIR + "/") for name in self.files)

    def same_except_date(self, other: "Metadata") -> bool:
        """Whether two saves differ only in ``date_saved`` (Keras stamps every save with the time)."""
        from dataclasses import replace

        return replace(self, date_saved=None) == replace(other, date_saved=None)


class MalformedFileError(ModelFolderError):
    """A JSON file of the folder is unusable; ``reason`` says why without the file's path (for
    callers that word their own message, such as ``hub-publish card --check``)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def _require(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise MalformedFileError(f"{where} is malformed: {what}; re-download ({_redownload()}) or re-save the model.", what)


def _parse_files(value: Any, where: str) -> dict[str, FileRecord]:
    if value is None:
        return {}
    _require(isinstance(value, Mapping), where, f"{constants.META_FILES!r} is not an object of file records")
    files: dict[str, FileRecord] = {}
    for name, record in value.items():
        _require(is_inside_name(name), where, f"it names a file outside the folder ({name!r})")
        _require(isinstance(record, Mapping), where, f"the record of {name!r} is not an object")
        sha, size = record.get(constants.META_SHA256), record.get(constants.META_SIZE)
        _require(is_sha256(sha), where, f"the sha256 of {name!r} is not a hex digest")
        _require(isinstance(size, int) and not isinstance(size, bool) and size >= 0, where, f"the size of {name!r} is not a byte count")
        files[name] = FileRecord(sha, size)
    return files


def is_inside_name(name: Any) -> bool:
    """Whether ``name`` is a relative path that stays inside a folder (no ``..``, not absolute)."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


# ----------------------------------------------------------------------------- JSON files


def read_json_object(folder: str | os.PathLike, name: str, *, required: bool) -> dict[str, Any] | None:
    """Parse one JSON object of a folder (config.json, graph.json, metadata.json).

    Returns:
        The object, or None when the file is absent and not ``required``.

    Raises:
        ModelFolderError: The file is missing (when required), not JSON, not an object, or nested
            deeper than `MAX_JSON_DEPTH`.
    """
    folder = Path(folder)
    path = folder / name
    if not path.is_file():
        if required:
            save = option("hub_publish.save_pretrained", "hub-publish save")
            raise ModelFolderError(f"{folder} has no {name}: it is not a Keras model folder (save it with {save}).")
        return None
    with open(path, "rb") as f:
        return parse_json_object(f.read(), f"{name} in {folder}")


def parse_json_object(data: bytes | str, where: str) -> dict[str, Any]:
    """Parse the bytes of one JSON object file; ``where`` names it in messages (``"config.json in DIR"``).

    Raises:
        MalformedFileError: Not JSON (or not UTF-8), not an object, or nested deeper than
            `MAX_JSON_DEPTH`.
    """
    try:
        value = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedFileError(
            f"{where} is not valid JSON ({exc}); re-download ({_redownload()}) or re-save the model.",
            f"not valid JSON ({exc})",
        ) from None
    except RecursionError:
        value = None
        _require(False, where, f"it is nested deeper than {MAX_JSON_DEPTH} levels")
    _require(isinstance(value, dict), where, "it is not a JSON object")
    _require(json_depth(value) <= MAX_JSON_DEPTH, where, f"it is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_metadata(data: bytes | str, where: str = METADATA_FILE) -> Metadata:
    """The bytes of a metadata.json (a blob, a download) as `Metadata`.

    Raises:
        ModelFolderError: Not a valid metadata.json (`MalformedFileError` with its ``reason``).
    """
    return Metadata.from_dict(parse_json_object(data, where), where=where)


def recorded_sha256(folder: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` of the files metadata.json records (verified by the caller); empty
    when there is no usable metadata.json (the loader reports that, with its own message)."""
    try:
        return read_metadata(folder).sha256s()
    except ModelFolderError:
        return {}


def read_metadata(folder: str | os.PathLike) -> Metadata:
    """The folder's metadata.json as `Metadata` (an empty one when the folder has none)."""
    data = read_json_object(folder, METADATA_FILE, required=False)
    if data is None:
        return Metadata()
    return Metadata.from_dict(data, where=f"{METADATA_FILE} in {folder}")


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON; numpy / backend numbers and arrays in it go through `json_safe`."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=_json_default)
        f.write("\n")


def custom_objects(config: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(registered name, module) of every non-Keras class a Keras config names, nested ones included.

    A Keras-serialized object is a mapping with ``class_name`` and ``config``; it is custom when it
    has a ``registered_name`` or a ``module`` outside Keras and ``builtins``. Saving refuses the
    unregistered ones; loading imports only the trusted ones. Walked without recursion (a config may
    be deep).

    Returns:
        ``(registered_name or class_name, module)`` pairs; module is None when the config names none.
    """
    found: list[tuple[str, Any]] = []
    stack: list[Any] = [config.get("config", {})]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if "class_name" in node and "config" in node and isinstance(node.get("class_name"), str):
                module = node.get("module")
                if node.get("registered_name") is not None or module is not None:
                    if not (isinstance(module, str) and (module == "builtins" or module == "keras" or module.startswith("keras."))):
                        found.append((str(node.get("registered_name") or node["class_name"]), module))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def json_safe(value: Any, *, finite: bool = True) -> Any:
    """Plain JSON values for what hub-publish records (configs, training records, histories).

    Mappings get string keys and tuples become lists; numpy, TensorFlow, JAX and PyTorch numbers
    and arrays become Python numbers and lists (their ``tolist``, else ``float``), integers staying
    integers; anything else becomes its ``str``.

    Args:
        value: What to convert (not modified).
        finite: NaN and infinities become ``None``: strict JSON has no such numbers, and a training
            record's diverged loss must not make metadata.json unreadable for the Hub.

    Returns:
        A value ``json.dumps`` writes without a ``default``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, finite=finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, finite=finite) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if not isinstance(value, float) and hasattr(value, "tolist"):  # numpy, JAX, PyTorch scalars and arrays
        return json_safe(value.tolist(), finite=finite)
    try:
        number = float(value)  # TensorFlow tensors, Python floats, ...
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and "int" in type(value).__name__.lower():
        return int(number)
    return number if math.isfinite(number) or not finite else None


def _json_default(value: Any) -> Any:
    """``json.dump``'s hook for what is no JSON type; NaN stays NaN there, as Keras' own configs write it."""
    return json_safe(value, finite=False)


# ----------------------------------------------------------------------------- manifest


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """sha256 and size of one file, as recorded in metadata.json.

    The file is recorded as verified (`hub_publish.verify_cache`), so that loading or pushing the
    folder next does not hash it again.

    Returns:
        ``{"sha256": hex digest, "size": bytes}``.
    """
    sha, size = verify_cache.sha256_file(path)
    return {constants.META_SHA256: sha, constants.META_SIZE: size}


def manifest(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, FileRecord]:
    """Manifest entries of ``names`` (relative POSIX paths) in ``folder``; files are hashed in
    parallel (hashlib releases the GIL, and sharded weights are many large files)."""
    folder = Path(folder)
    names = list(names)

    def record(name: str) -> FileRecord:
        d = file_digest(folder / name)
        return FileRecord(d[constants.META_SHA256], d[constants.META_SIZE])

    if len(names) < 2:
        return {name: record(name) for name in names}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1)) as pool:
        return dict(zip(names, pool.map(record, names)))


def files_under(folder: str | os.PathLike, sub: str) -> list[str]:
    """Relative POSIX paths of the regular files under ``folder/sub`` (sorted; links not followed)."""
    root = Path(folder)
    base = root / sub
    if not base.is_dir():
        return []
    out = []
    for dirpath, _dirs, filenames in os.walk(base):
        for filename in filenames:
            path = Path(dirpath) / filename
            out.append(path.relative_to(root).as_posix())
    return sorted(out)


def is_model_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a model written by hub-publish (or Keras): config.json + metadata.json."""
    folder = Path(folder)
    return (folder / CONFIG_FILE).is_file() and (folder / METADATA_FILE).is_file()


# ----------------------------------------------------------------------------- assets


def save_assets(model: Any, folder: str | os.PathLike) -> list[str]:
    """Write the layers' assets (vocabularies, ...) into ``folder/assets``, as Keras' .keras saving does.

    Keras has no public call that writes only the assets, so this drives the same walk
    (``saving_lib._save_state`` with a ``DiskIOStore``) that ``model.save`` uses: the paths under
    assets/ are Keras' own, so ``keras.saving.load_model(folder)`` reads them too.

    Returns:
        The asset files written (relative POSIX paths); no assets/ folder when there are none.
    """
    import shutil

    from keras.src.saving import saving_lib

    root = Path(folder) / ASSETS_DIR
    store = saving_lib.DiskIOStore(str(root), mode="w")
    try:
        saving_lib._save_state(model, weights_store=None, assets_store=store, inner_path="", visited_saveables=set())
    finally:
        store.close()
    files = files_under(folder, ASSETS_DIR)
    if not files:
        shutil.rmtree(root, ignore_errors=True)
    return files


def load_assets(model: Any, folder: str | os.PathLike) -> None:
    """Read ``folder/assets`` back into the model's layers (the twin of `save_assets`)."""
    from keras.src.saving import saving_lib  # no public call reads only the assets (see save_assets)

    store = saving_lib.DiskIOStore(str(Path(folder) / ASSETS_DIR), mode="r")
    saving_lib._load_state(model, weights_store=None, assets_store=store, inner_path="", visited_saveables=set())


# ----------------------------------------------------------------------------- verify


@contextlib.contextmanager
def evict_on_error(path: Path, evict: bool) -> Any:
    """A cached file that cannot be parsed is removed from the cache (no corrupt entry stays)."""
    try:
        yield
    except ModelFolderError:
        if evict:
            evict_from_cache(path)
        raise


def verify_folder(
    folder: str | os.PathLike,
    metadata: "Metadata | Mapping[str, Any] | None" = None,
    *,
    evict: bool = False,
    rehash: bool = False,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
) -> list[str]:
    """Check every file of a folder's manifest (config, graph, weights, assets) against metadata.json.

    Args:
        folder: The model folder.
        metadata: Its parsed metadata.json (read from the folder when None).
        evict: The folder is a huggingface_hub cache snapshot: remove a file that fails the check
            (or a metadata.json that cannot be parsed) from the cache (snapshot entry and blob), so
            no corrupt entry stays and the next download fetches it again.
        rehash: Hash every file even when it was verified before and has not changed since
            (``force_download``, ``hub-publish pull --verify``); see `hub_publish.verify_cache`.
        only: Check only these manifest entries (default: all).
        skip: Manifest entries not to check now (a load checks graph.json only when it uses it).

    Returns:
        The names of the files checked (empty for a folder without recorded hashes, such as
        one written by Keras' own ``model.save``).

    Raises:
        IntegrityError: A file is missing, or its size or sha256 differs from the record.
        ModelFolderError: metadata.json is malformed or names a file outside the folder.
    """
    folder = Path(folder)
    if metadata is None:
        with evict_on_error(folder / constants.METADATA_FILE, evict):
            metadata = read_metadata(folder)
    elif not isinstance(metadata, Metadata):
        metadata = Metadata.from_dict(metadata, where=f"{constants.METADATA_FILE} in {folder}")
    wanted = set(metadata.files) if only is None else set(only)
    files = {name: record.to_dict() for name, record in metadata.files.items() if name in wanted and name not in set(skip)}
    try:
        _check_files(folder, files, rehash=rehash, cached=evict)
    except IntegrityError as exc:
        if evict and exc.path is not None:
            evict_from_cache(Path(exc.path))
        raise
    return list(files)


def _check_files(folder: Path, files: Mapping[str, Any], *, rehash: bool = False, cached: bool = False) -> None:
    # A cache snapshot is repaired by downloading it again; a local folder has nothing to download.
    repair = f"re-download it ({_redownload()}) or re-save the model" if cached else "re-save the model (or copy the folder again)"
    for name, record in files.items():
        if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or ".." in Path(name).parts:
            raise ModelFolderError(f"metadata.json in {folder} names a weights file outside the folder ({name!r}); re-save the model.")
        path = folder / name
        if not path.is_file():
            raise IntegrityError(
                f"{folder} has no {name} (metadata.json lists it); {repair}.", path
            )
        expected_size = record.get(constants.META_SIZE)
        actual_size = path.stat().st_size
        if expected_size is not None and actual_size != expected_size:
            raise IntegrityError(
                f"{name} in {folder} is {actual_size} bytes, metadata.json says {expected_size} "
                f"(truncated or altered); {repair}.",
                path,
            )
        # Verify once (hub_publish.verify_cache): hashed when first seen, re-hashed only if the file changed.
        if not verify_cache.matches(path, str(record.get(constants.META_SHA256)), expected_size, rehash=rehash):
            raise IntegrityError(
                f"{name} in {folder} does not match its sha256 in metadata.json (altered or corrupted); "
                f"{repair}.",
                path,
            )


def evict_from_cache(path: Path) -> None:
    """Remove a file that failed verification from the huggingface_hub cache: every snapshot entry
    that points to its blob, and the blob, so no corrupt entry stays and the next load downloads it
    again. Uses huggingface_hub's public cache API (`scan_cache_dir` / `HFCacheInfo.delete_files`);
    a file outside a huggingface_hub cache layout is left alone."""
    if not path.is_symlink():  # cache snapshots are links to blobs; anything else is the user's
        return
    blob = path.resolve()
    snapshot = next((p for p in path.parents if p.parent.name == "snapshots"), None)
    if blob.parent.name != "blobs" or snapshot is None:
        return
    if not blob.exists():
        # A dangling entry (its blob already gone): scan_cache_dir refuses a repo holding one
        # (CorruptedCacheException), and there is no blob left to delete: drop the link itself.
        path.unlink()
        return
    from huggingface_hub import scan_cache_dir

    cache = scan_cache_dir(snapshot.parent.parent.parent)
    entries = [f for repo in cache.repos for rev in repo.revisions for f in rev.files if f.blob_path == blob]
    if entries:
        # Every entry of a corrupt blob goes, so that delete_files (which keeps a blob another
        # entry still references) removes the blob too.
        cache.delete_files(*entries).execute()


def _redownload() -> str:
    """How to download a repo's files again, in the options of the interface used."""
    from hub_publish.errors import option

    return option("force_download=True", "hub-publish pull --force-download")
