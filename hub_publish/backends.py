"""Which Keras backends a model runs under: hub-publish's one module that knows about backends.

The folder format is backend-agnostic: ``config.json`` is Keras' serialization and the weights
files hold plain arrays, so a model trained and saved under TensorFlow, JAX or PyTorch loads,
predicts, re-heads and fine-tunes under any of them (docs/backends.md shows the tested matrix).
``metadata.json`` records the backend a model was saved with (``hub_publish.backend``) and trained
with (``hub_publish.training.backend``) for information only; loading under another backend is
silent.

The exception is a model holding a layer that wraps one backend's native code
(`hub_publish.constants.BACKEND_ONLY_LAYERS`: ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``,
``TFSMLayer``). `save_pretrained` records such layers in ``metadata.json``
(``hub_publish.backend_layers``), and `from_pretrained` refuses, before it deserializes anything,
to load such a model under a backend the layer cannot run under (`BackendError`, one line naming
the layer and the backend it needs), rather than failing somewhere inside Keras.

This module imports Keras only inside `current_backend`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hub_publish import constants
from hub_publish.errors import BackendError


def current_backend() -> str:
    """The Keras backend of this process (``keras.config.backend()``)."""
    import keras

    return keras.config.backend()


def backend_only_layers(model_or_config: Any) -> dict[str, dict[str, Any]]:
    """The backend-only layers of a model, with the backends each one runs under.

    Args:
        model_or_config: A Keras model (its layers are walked, nested models included, and
            subclasses of the backend-only layers count), or a serialized Keras config such as
            ``config.json`` / ``graph.json`` (Keras' own layer classes are found by name).

    Returns:
        ``{layer name: {"class_name": "TorchModuleWrapper", "backends": ["torch"]}}``; empty for a
        backend-agnostic model.
    """
    found: dict[str, dict[str, Any]] = {}
    items = _config_layers(model_or_config) if isinstance(model_or_config, Mapping) else _model_layers(model_or_config)
    for name, class_name in items:
        found[name] = {"class_name": class_name, "backends": list(constants.BACKEND_ONLY_LAYERS[class_name])}
    return found


def check_backend(
    config: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    *,
    backend: str | None = None,
) -> None:
    """Refuse a model that holds a layer which cannot run under ``backend``.

    Args:
        config: The model's serialized config (``config.json``).
        metadata: Its ``metadata.json``, whose ``hub_publish.backend_layers`` record (written by
            `save_pretrained`, which also sees layers a functional subclass's config does not
            list) is checked too.
        backend: The backend to check against (default: this process's Keras backend).

    Raises:
        BackendError: A layer runs only under other backends. The message names the layer(s),
            the backend(s) needed and the one in use.
    """
    layers = backend_only_layers(config)
    recorded = ((metadata or {}).get(constants.META_ROOT) or {}).get(constants.META_BACKEND_LAYERS) or {}
    if isinstance(recorded, Mapping):
        for name, record in recorded.items():
            if isinstance(record, Mapping) and isinstance(record.get("backends"), list):
                info = {"class_name": str(record.get("class_name")), "backends": [str(b) for b in record["backends"]]}
                layers.setdefault(str(name), info)
    if not layers:
        return
    backend = backend or current_backend()
    blocking = {name: info for name, info in layers.items() if backend not in info["backends"]}
    if not blocking:
        return
    allowed = set(constants.KERAS_BACKENDS)
    for info in layers.values():
        allowed &= set(info["backends"])
    if not allowed:
        raise BackendError(f"this model cannot be loaded under any single Keras backend: {_describe(layers)}.")
    first = sorted(blocking.items())[0][1]
    needed = [b for b in first["backends"] if b in allowed]  # in the layer's own order: jax before tensorflow
    raise BackendError(
        f"this model needs the {' or '.join(needed)} backend but Keras runs on {backend} here ({_describe(blocking)}); "
        f"load it in a process started with {constants.ENV_KERAS_BACKEND}={needed[0]}."
    )


# ----------------------------------------------------------------------------- helpers


def _describe(layers: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(
        f"layer {name!r} is a {info['class_name']}, which runs under {' or '.join(info['backends'])} only"
        for name, info in sorted(layers.items())
    )


def _model_layers(model: Any) -> Iterator[tuple[str, str]]:
    """``(layer name, backend-only Keras class)`` for each such layer of a model, nested ones included."""
    import keras

    # The public classes (keras.layers.JaxLayer, ...), not same-named backend internals such as
    # keras.src.backend.jax.layer.JaxLayer, the base of every layer under the JAX backend.
    classes = [(name, getattr(keras.layers, name, None)) for name in constants.BACKEND_ONLY_LAYERS]
    for layer in getattr(model, "layers", None) or ():
        for name, klass in classes:
            if klass is not None and isinstance(layer, klass):
                yield layer.name, name
                break
        if hasattr(layer, "layers"):
            yield from _model_layers(layer)


def _config_layers(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(layer name, class)`` for each of Keras' backend-only layers named in a serialized config."""
    stack: list[Any] = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            class_name = node.get("class_name")
            module = node.get("module")
            inner = node.get("config")
            is_keras = module is None or (isinstance(module, str) and module.split(".")[0] == "keras")
            if class_name in constants.BACKEND_ONLY_LAYERS and is_keras and isinstance(inner, Mapping):
                yield str(inner.get("name") or node.get("name") or class_name), class_name
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
