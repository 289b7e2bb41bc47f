"""Describe a model folder or Hub repo for people: the `hub-publish inspect` report."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from hub_publish import constants


def walk_layers(layer: Any, depth: int = 0) -> Iterator[tuple[int, Any]]:
    """The Keras guide's recursive layer walk: leaves of the layer graph, nested models expanded.

    Args:
        layer: A model or layer.
        depth: Nesting depth of ``layer``.

    Yields:
        ``(depth, layer)`` for every leaf layer, in graph order.
    """
    if hasattr(layer, "layers"):
        for inner in layer.layers:
            yield from walk_layers(inner, depth + 1)
    else:
        yield depth, layer


def describe(
    repo_id_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    trusted_modules: Iterable[str] = (),
    endpoint: str | None = None,
    token: str | None = None,
) -> str:
    """Load a model (verifying its hashes) and describe it.

    Args:
        repo_id_or_path: A local folder, ``hf://`` reference or repo id.
        revision: Branch, tag or commit sha for a repo id.
        trusted_modules: Modules allowed to be imported for the model's class.
        endpoint: Hub endpoint for a repo id (default: ``HF_ENDPOINT``, else huggingface.co).
        token: Hub token for a repo id (default: ``HF_TOKEN`` or the login cache).

    Returns:
        A multi-line report: source, class, summary, layer walk, input spec, weight files.
    """
    from hub_publish.loading import from_pretrained, source_of

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = from_pretrained(
            repo_id_or_path, revision=revision, trusted_modules=trusted_modules, endpoint=endpoint, token=token
        )
    source = source_of(model)
    metadata = _read_metadata(source.folder) if source else {}
    ours = metadata.get(constants.META_ROOT, {})
    lines = [f"source: {source.repo_id + '@' + (source.commit or '?') if source and source.repo_id else source.folder}"]
    lines.append(f"class: {type(model).__module__}.{type(model).__name__}" + (" (class-free graph)" if source and source.class_free else ""))
    lines.append(f"saved with: keras {metadata.get(constants.META_KERAS_VERSION, '?')}, backend {ours.get(constants.META_BACKEND, '?')}, "
                 f"hub-publish {ours.get(constants.META_VERSION, '?')}, on {metadata.get(constants.META_DATE_SAVED, '?')}")
    backend_layers = ours.get(constants.META_BACKEND_LAYERS)
    if backend_layers is not None:
        lines.append("backend-only layers: " + (", ".join(
            f"{name} ({rec.get('class_name', '?')}: {'/'.join(rec.get('backends', []))})" for name, rec in backend_layers.items()
        ) or "none (loads under any backend)"))
    for warning in caught:
        lines.append(f"warning: {warning.message}")
    lines.append("")
    summary: list[str] = []
    model.summary(print_fn=lambda text, line_break=True: summary.append(text))
    lines.extend(summary)
    lines.append("")
    lines.append("layer walk:")
    lines.extend(f"{'  ' * depth}{layer.name} ({type(layer).__name__})" for depth, layer in walk_layers(model))
    lines.append("")
    lines.append("inputs:")
    for spec in ours.get(constants.META_INPUTS) or _spec_from_model(model):
        key = f" key={spec['key']!r}" if spec.get("key") else ""
        lines.append(f"  {spec['name']}{key}: shape {tuple(spec['shape'])} dtype {spec['dtype']}")
    if ours.get(constants.META_HEAD_LAYER):
        lines.append(f"head layer: {ours[constants.META_HEAD_LAYER]}")
    lines.append("")
    files = ours.get(constants.META_FILES) or {}
    lines.append("files (verified):" if files else "files: no hashes recorded (not saved by hub-publish)")
    for name, record in files.items():
        lines.append(f"  {name}: {record[constants.META_SIZE]:,} bytes sha256 {record[constants.META_SHA256]}")
    return "\n".join(lines)


def _read_metadata(folder: Any) -> dict[str, Any]:
    from hub_publish import format as fmt

    return fmt.read_metadata(folder).to_dict()  # the loader has already validated it


def _spec_from_model(model: Any) -> list[dict[str, Any]]:
    from hub_publish.packaging import tensor_spec

    return tensor_spec(model.inputs, [None] * len(model.inputs))
