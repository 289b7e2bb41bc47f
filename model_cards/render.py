"""Render and validate the card of an existing model folder (`hub-publish card`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hub_publish import constants

REQUIRED_FIELDS = ("library_name", "tags")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]+src=[\"']([^\"']+)[\"']", re.IGNORECASE)


def render_folder_card(
    folder: str | os.PathLike,
    *,
    template: str | os.PathLike | None = None,
    repo_id: str | None = None,
    validate: bool = False,
) -> tuple[Path, list[str]]:
    """Rebuild ``folder``'s README.md from its model and metadata.json.

    Args:
        folder: A hub-publish model folder.
        template: A Jinja2 card template instead of the built-in one.
        repo_id: The Hub repo id to use in usage snippets.
        validate: Also check the result (see `validate_card`).

    Returns:
        The card's path and the list of problems found (empty when valid or not validated).
    """
    from hub_publish.loading import from_pretrained
    from model_cards.builder import write_card

    folder = Path(folder)
    model = from_pretrained(folder)
    metadata = json.loads((folder / constants.METADATA_FILE).read_text(encoding="utf-8"))
    path = write_card(folder, model=model, metadata=metadata, template=template, repo_id=repo_id)
    return path, (validate_card(path) if validate else [])


def validate_card(path: str | os.PathLike) -> list[str]:
    """Check a card the way the Hub reads it.

    The YAML header must parse with huggingface_hub's `ModelCard.load`, the required fields must
    be present, and every image the card references must exist next to it.

    Args:
        path: The README.md.

    Returns:
        The problems found; empty when the card is valid.
    """
    from huggingface_hub import ModelCard

    path = Path(path)
    problems: list[str] = []
    try:
        card = ModelCard.load(path)
    except Exception as exc:  # huggingface_hub raises ValueError / yaml errors alike
        return [f"YAML metadata does not parse: {str(exc).splitlines()[0]}"]
    data = card.data.to_dict()
    problems.extend(f"missing metadata field {field!r}" for field in REQUIRED_FIELDS if not data.get(field))
    for match in _IMAGE.finditer(card.text):
        ref = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+://", ref) or ref.startswith("data:"):
            continue
        if not (path.parent / ref.lstrip("./")).is_file():
            problems.append(f"referenced image {ref!r} is not in the folder")
    return problems
