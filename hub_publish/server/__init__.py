"""A Hugging Face Hub-compatible HTTP server for model repos, driven by the stock client.

Point huggingface_hub (or ``hf``, or Keras' ``hf://`` saving) at it with ``HF_ENDPOINT`` and a
token. See docs/hub.md. This package never imports TensorFlow or Keras.
"""

from __future__ import annotations

from hub_publish.server._runner import HubServer, serve

__all__ = ["HubServer", "serve", "create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from hub_publish.server.app import create_app

        return create_app
    raise AttributeError(f"module 'hub_publish.server' has no attribute {name!r}")
