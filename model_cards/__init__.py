"""Model cards for hub-publish folders: a builder over huggingface_hub's ModelCard + Jinja2 templates.

Importing this package is cheap (no TensorFlow); Keras is only touched through the model passed in.
"""

from model_cards.builder import build_card, write_card

__all__ = ["build_card", "write_card"]
