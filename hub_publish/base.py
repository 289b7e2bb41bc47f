"""`HubModel`: the base class for authors of functional-subclassed models.

A model written in the Keras guide's pattern (``__init__`` builds a functional graph and ends
with ``super().__init__(inputs=..., outputs=...)``) that subclasses `HubModel` instead of
`keras.Model` gets ``Cls.from_pretrained(...)``, ``model.save_pretrained(path)`` and
``model.push_to_hub(repo_id)`` while staying a plain Keras functional model.

Why not ``huggingface_hub.ModelHubMixin``: Keras turns a functional subclass into a
``Functional`` by re-basing the class on first construction, and with keras 3.15 /
huggingface_hub 2.4 that path calls ``ModelHubMixin.__new__``, which fails
(``_hub_mixin_init_parameters``). So the three methods delegate to hub-publish's functions,
which themselves use huggingface_hub's building blocks (snapshot_download, HfApi, ModelCard).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import keras

T = TypeVar("T", bound="HubModel")


class HubModel(keras.Model):
    """Base class of distributable functional-subclassed models.

    Class attributes:
        head_layer: Name of the classification head, recorded in the metadata so model cards
            and ``hub_publish.surgery`` know where to cut. ``None`` when the model has none.
    """

    head_layer: str | None = None

    @classmethod
    def from_pretrained(cls: type[T], repo_id_or_path: str | os.PathLike, **kwargs: Any) -> T:
        """Load a model of this class from a local folder or a Hub repo.

        Args:
            repo_id_or_path: See `hub_publish.from_pretrained`.
            **kwargs: Passed to `hub_publish.from_pretrained` (revision, token, cache_dir, ...).

        Returns:
            An instance of ``cls`` (or of a subclass of it).

        Raises:
            ClassMismatchError: The folder holds another class.
        """
        from hub_publish.loading import from_pretrained

        expected = None if cls is HubModel else cls
        return from_pretrained(repo_id_or_path, expected_class=expected, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> Path:
        """Write this model as a hub-publish folder. See `hub_publish.save_pretrained`."""
        from hub_publish.packaging import save_pretrained

        return save_pretrained(self, save_directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Package this model and push it to a Hub repo. See `hub_publish.push_to_hub`."""
        from hub_publish.pushing import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)
