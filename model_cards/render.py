"""Render and validate the card of an existing model folder (`hub-publish card`)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub_publish import constants

REQUIRED_FIELDS = ("library_name", "tags")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_CODE_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def render_folder_card(
    folder: str | os.PathLike,
    *,
    template: str | os.PathLike | None = None,
    repo_id: str | None = None,
    validate: bool = False,
    card_data: Mapping[str, Any] | None = None,
    extra_sections: Mapping[str, str] | None = None,
) -> tuple[Path, list[str]]:
    """Rebuild ``folder``'s README.md (and its images) from its model and metadata.json.

    The body is generated anew. The metadata of an existing README.md is kept and the generated
    metadata merged into it (`model_cards.merge.merge_metadata`), so fields an author added
    (license, language, ...) survive a re-render.

    Args:
        folder: A hub-publish model folder.
        template: A Jinja2 card template (path or built-in name) instead of the default one.
        repo_id: The Hub repo id to use in titles, links and usage snippets.
        validate: Also check the result (see `validate_card`).
        card_data: Extra YAML metadata, overriding generated and existing values.
        extra_sections: ``{title: markdown}`` sections to add.

    Returns:
        The card's path and the list of problems found (empty when valid or not validated).

    Raises:
        hub_publish.errors.HubPublishError: The folder cannot be loaded.
        FileNotFoundError: The template does not exist.
        ValueError: See `model_cards.build_card`.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from hub_publish.loading import from_pretrained
    from model_cards.builder import build_card
    from model_cards.merge import merge_metadata, stamp

    folder = Path(folder)
    model = from_pretrained(folder)
    metadata = json.loads((folder / constants.METADATA_FILE).read_text(encoding="utf-8"))
    card = build_card(
        model=model, metadata=metadata, template=template, card_data=card_data, repo_id=repo_id,
        extra_sections=extra_sections, folder=folder,
    )
    path = folder / constants.CARD_FILE
    existing = _existing_metadata(path)
    if existing:
        merged = merge_metadata(existing, card.data.to_dict())
        merged.update(card_data or {})
        card.data = ModelCardData(**merged)
        card = stamp(ModelCard(str(card)))
    card.save(path)
    return path, (validate_card(path) if validate else [])


def validate_card(path: str | os.PathLike) -> list[str]:
    """Check a card the way the Hub reads it.

    Checks: the YAML header exists and parses with huggingface_hub's `ModelCard.load` (model-index
    included); ``library_name`` and ``tags`` are set, and ``pipeline_tag`` is for an image
    classifier (per the folder's metadata.json); every model-index result names its task type,
    dataset type and name, and numeric metric values; ``base_model`` is a repo id and
    ``base_model_relation`` one the Hub knows; every image the card references (outside code
    blocks) is a file inside the card's folder.

    Args:
        path: The README.md.

    Returns:
        The problems found, one short sentence each; empty when the card is valid.
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist"]
    text = path.read_text(encoding="utf-8-sig")
    if not REGEX_YAML_BLOCK.search(text):
        return ["the card has no YAML metadata block"]
    try:
        card = ModelCard.load(path)
    except Exception as exc:  # noqa: BLE001  (yaml errors, ValueError for a bad model-index, ...)
        return [f"YAML metadata does not parse: {_first_line(exc)}"]
    data = card.data.to_dict()
    problems = [f"missing metadata field {field!r}" for field in REQUIRED_FIELDS if not data.get(field)]
    if data.get("tags") is not None and not isinstance(data["tags"], list):
        problems.append("'tags' must be a list")
    if _is_image_classifier(path.parent) and data.get("pipeline_tag") != "image-classification":
        problems.append("an image classifier needs 'pipeline_tag: image-classification'")
    problems += _model_index_problems(data.get("model-index"))
    problems += _lineage_problems(data)
    problems += _image_problems(card.text, path.parent)
    return problems


# ----------------------------------------------------------------------------- helpers


def _existing_metadata(path: Path) -> dict[str, Any] | None:
    from huggingface_hub import metadata_load

    try:
        return metadata_load(path) if path.is_file() else None
    except Exception:  # noqa: BLE001  (a broken old card is simply replaced)
        return None


def _is_image_classifier(folder: Path) -> bool:
    try:
        ours = json.loads((folder / constants.METADATA_FILE).read_text(encoding="utf-8"))[constants.META_ROOT]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    inputs = ours.get(constants.META_INPUTS) or []
    outputs = ours.get(constants.META_OUTPUTS) or []
    image = any(len(spec.get("shape", [])) == 4 for spec in inputs)
    return bool(image and ours.get(constants.META_HEAD_LAYER) and len(outputs) == 1 and len(outputs[0].get("shape", [])) == 2)


def _model_index_problems(index: Any) -> list[str]:
    if index is None:
        return []
    if not isinstance(index, list) or not index:
        return ["'model-index' must be a non-empty list"]
    problems = []
    for entry in index:
        if not isinstance(entry, Mapping) or not entry.get("name") or not isinstance(entry.get("results"), list):
            problems.append("every 'model-index' entry needs a 'name' and a 'results' list")
            continue
        for result in entry["results"]:
            task, dataset, metrics = result.get("task") or {}, result.get("dataset") or {}, result.get("metrics")
            if not task.get("type"):
                problems.append("a 'model-index' result has no task type")
            if not dataset.get("type") or not dataset.get("name"):
                problems.append("a 'model-index' result has no dataset type and name")
            if not isinstance(metrics, list) or not metrics:
                problems.append("a 'model-index' result has no metrics")
                continue
            for metric in metrics:
                value = metric.get("value")
                if not metric.get("type") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    problems.append(f"metric {metric.get('type')!r} needs a type and a numeric value")
    return problems


def _lineage_problems(data: Mapping[str, Any]) -> list[str]:
    problems = []
    base = data.get("base_model")
    relation = data.get("base_model_relation")
    for repo in base if isinstance(base, list) else ([base] if base else []):
        if not isinstance(repo, str) or not _REPO_ID.match(repo):
            problems.append(f"'base_model' must be a Hub repo id (namespace/name, no revision); got {repo!r}")
    if relation is not None and relation not in constants.BASE_MODEL_RELATIONS:
        problems.append(f"'base_model_relation' must be one of {', '.join(constants.BASE_MODEL_RELATIONS)}; got {relation!r}")
    if relation is not None and not base:
        problems.append("'base_model_relation' is set without 'base_model'")
    return problems


def _image_problems(body: str, folder: Path) -> list[str]:
    problems = []
    root = folder.resolve()
    for match in _IMAGE.finditer(_CODE_BLOCK.sub("", body)):
        ref = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.IGNORECASE) or ref.startswith("#"):
            continue  # http(s)://, data:, anchors: not files of the folder
        target = (folder / ref.split("#")[0].split("?")[0]).resolve()
        if not target.is_relative_to(root):
            problems.append(f"referenced image {ref!r} is outside the folder")
        elif not target.is_file():
            problems.append(f"referenced image {ref!r} is not in the folder")
    return problems


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
