"""hub-publish: distribute Keras 3 functional-subclassed models through the Hugging Face Hub.

Importing this package is cheap: it does not import TensorFlow (nor Keras). The public
names below are resolved lazily on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it (resolved lazily, see __getattr__)
_LAZY = {
    "HubModel": "hub_publish.base",
    "save_pretrained": "hub_publish.packaging",
    "from_pretrained": "hub_publish.loading",
    "push_to_hub": "hub_publish.pushing",
    "models": "hub_publish.models",
    "surgery": "hub_publish.surgery",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from hub_publish import models, surgery
    from hub_publish.base import HubModel
    from hub_publish.pushing import push_to_hub
    from hub_publish.loading import from_pretrained
    from hub_publish.packaging import save_pretrained


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hub_publish' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def _register_zoo_if_keras_loaded() -> None:
    """Register the zoo's classes with Keras when Keras is already imported.

    ``import hub_publish`` must stay cheap, so it never imports Keras itself. But a user who
    imported Keras first and then hub_publish expects ``keras.saving.load_model`` to know
    ``hub_publish>MnistModel``: Keras (and so the backend) is loaded anyway then, and this costs
    only the zoo module. Otherwise ``import hub_publish.models`` registers them.
    """
    import sys

    if "keras" in sys.modules:
        importlib.import_module("hub_publish.models")


_register_zoo_if_keras_loaded()
