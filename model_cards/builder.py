"""Build a model card from a model and its metadata.json.

The YAML header goes through huggingface_hub's `ModelCardData` / `EvalResult`, so it is exactly
what the Hub parses; the body is a Jinja2 template rendered by `ModelCard.from_template`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants

if TYPE_CHECKING:  # pragma: no cover
    import keras
    from huggingface_hub import ModelCard

TEMPLATES = Path(__file__).parent / "templates"
IMAGE_CLASSIFIER_TEMPLATE = TEMPLATES / "image_classifier.md.j2"
GENERIC_TEMPLATE = TEMPLATES / "generic.md.j2"
TAGS = ("keras", "functional-subclassing", "hub-publish")


def build_card(
    *,
    model: "keras.Model",
    metadata: Mapping[str, Any],
    template: str | os.PathLike | None = None,
    card_data: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
) -> "ModelCard":
    """Build the card of a model folder.

    Args:
        model: The model being packaged.
        metadata: The folder's metadata.json content.
        template: A Jinja2 template path instead of the built-in ones.
        card_data: Extra YAML metadata (license, datasets, ...), overriding generated values.
        repo_id: The Hub repo the folder goes to, used in the usage snippets.

    Returns:
        A `huggingface_hub.ModelCard`.
    """
    from huggingface_hub import ModelCard

    ours = metadata.get(constants.META_ROOT, {})
    context = _context(model, ours, repo_id)
    data = _card_data(ours, context, card_data)
    if template is None:
        template = IMAGE_CLASSIFIER_TEMPLATE if context["is_image_classifier"] else GENERIC_TEMPLATE
    return ModelCard.from_template(data, template_path=str(template), **context)


def write_card(folder: str | os.PathLike, **kwargs: Any) -> Path:
    """Build the card (see `build_card`) and write it as the folder's README.md.

    Returns:
        The README.md path.
    """
    path = Path(folder) / constants.CARD_FILE
    build_card(**kwargs).save(path)
    return path


def _context(model: "keras.Model", ours: Mapping[str, Any], repo_id: str | None) -> dict[str, Any]:
    inputs = ours.get(constants.META_INPUTS, [])
    head = ours.get(constants.META_HEAD_LAYER)
    class_name = ours.get(constants.META_CLASS_NAME) or type(model).__name__
    registered = ours.get(constants.META_REGISTERED_NAME) or class_name
    is_image = any(len(spec.get("shape", [])) == 4 for spec in inputs)
    outputs = ours.get(constants.META_OUTPUTS, [])
    layers = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            shape = "?"
        layers.append({"name": layer.name, "type": type(layer).__name__, "shape": str(tuple(shape)) if shape != "?" else shape, "params": int(layer.count_params())})
    training = ours.get(constants.META_TRAINING) or {}
    return {
        "class_name": class_name,
        "registered_name": registered,
        "is_functional_subclass": class_name not in ("Functional", "Model"),
        "repo_id": repo_id or f"your-name/{model.name}",
        "head_layer": head,
        "inputs": [_describe_input(spec) for spec in inputs],
        "outputs": outputs,
        "dict_inputs": ours.get(constants.META_INPUT_STRUCTURE) == "dict",
        "layers": layers,
        "parameter_count": ours.get(constants.META_PARAMETER_COUNT, model.count_params()),
        "backend": ours.get(constants.META_BACKEND),
        "hub_publish_version": ours.get(constants.META_VERSION),
        "training": training,
        "test_metrics": training.get(constants.TRAIN_TEST_METRICS) or {},
        "dataset_name": _dataset_name(training),
        "base_model": ours.get(constants.META_BASE_MODEL),
        "is_image_classifier": is_image and head is not None,
    }


def _describe_input(spec: Mapping[str, Any]) -> dict[str, Any]:
    shape = list(spec.get("shape", []))
    dims = shape[1:]
    text = ", ".join("any" if d is None else str(d) for d in dims)
    note = ""
    if len(dims) == 3 and dims[0] is None and dims[1] is None:
        note = "any height and width"
    return {**spec, "shape_text": f"(batch, {text})", "note": note}


def _dataset_name(training: Mapping[str, Any]) -> str | None:
    dataset = training.get(constants.TRAIN_DATASET)
    if isinstance(dataset, Mapping):
        return dataset.get("name")
    return dataset


def _card_data(ours: Mapping[str, Any], context: Mapping[str, Any], extra: Mapping[str, Any] | None):
    from huggingface_hub import EvalResult, ModelCardData

    tags = [*TAGS, context["class_name"]]
    eval_results = []
    dataset = context["dataset_name"]
    if dataset:
        for metric, value in context["test_metrics"].items():
            eval_results.append(
                EvalResult(
                    task_type="image-classification" if context["is_image_classifier"] else "other",
                    dataset_type=dataset,
                    dataset_name=dataset,
                    dataset_split=context["training"].get(constants.TRAIN_TEST_SPLIT, "test"),
                    metric_type=metric,
                    metric_value=float(value),
                )
            )
    base = context["base_model"] or {}
    values: dict[str, Any] = {
        "library_name": "keras",
        "tags": tags,
        "pipeline_tag": "image-classification" if context["is_image_classifier"] else None,
        "datasets": [dataset] if dataset else None,
        "metrics": sorted(context["test_metrics"]) or None,
        "model_name": context["repo_id"].split("/")[-1],
        "eval_results": eval_results or None,
        "base_model": base.get("repo_id"),
        "base_model_relation": base.get("relation") if base else None,
    }
    values.update(extra or {})
    return ModelCardData(**{k: v for k, v in values.items() if v is not None})
