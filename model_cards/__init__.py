"""Model cards for hub-publish folders: a builder over huggingface_hub's ModelCard + Jinja2 templates.

``build_card`` / ``write_card`` generate a card from a model, its metadata.json and training
record; its facts sit in generated blocks (``blocks``) that a push or ``render_folder_card``
regenerates while author text around them is kept; ``check_card`` checks a folder's card without
writing; ``merge`` keeps authors' edits when a new version is pushed.

Importing this package is cheap (no TensorFlow, no Keras); Keras is only touched through the
model passed in, and matplotlib only when images are drawn. Nothing here loads a model.
"""

from model_cards.builder import build_card, template_context, write_card
from model_cards.merge import CardConflictWarning, merge_cards, card_for_push
from model_cards.render import check_card, render_folder_card, validate_card

__all__ = [
    "CardConflictWarning", "build_card", "check_card", "merge_cards", "render_folder_card", "card_for_push",
    "template_context", "validate_card", "write_card",
]
