"""Versions of the libraries a model was saved or trained with (no heavy imports)."""

from __future__ import annotations

from importlib import metadata

_LIBRARIES = ("hub-publish", "keras", "tensorflow", "jax", "torch", "numpy", "huggingface_hub", "tensorflow-datasets")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that matter for a model, by distribution name.

    Returns:
        ``{name: version}`` for each of them that is installed.
    """
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
