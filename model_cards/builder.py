"""Build a model card from a model, its metadata.json and its training record.

The YAML header goes through huggingface_hub's `ModelCardData` / `EvalResult`, so it is exactly
what the Hub parses; the body is a Jinja2 template (``templates/``: one for image classifiers, one
generic, both extending ``_base.md.j2``) and the result is a `huggingface_hub.ModelCard`.

Authors can pass their own template (a path; it may ``{% extends "_base.md.j2" %}`` and override
blocks), extra YAML fields (``card_data``) and extra sections (``extra_sections``). The variables
a template sees are documented in `template_context`.

The card's images (training curves, layer graph) are written next to the card and referenced by
relative path; a missing pydot/graphviz yields a note in the card, never a failure.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.hub_lists import LICENSES, license_problems
from hub_publish.text import human_size
from model_cards.blocks import PLACEHOLDER_NAMESPACE

if TYPE_CHECKING:  # pragma: no cover
    import keras
    from huggingface_hub import ModelCard, ModelCardData

TEMPLATES = Path(__file__).parent / "templates"
IMAGE_CLASSIFIER_TEMPLATE = TEMPLATES / "image_classifier.md.j2"
GENERIC_TEMPLATE = TEMPLATES / "generic.md.j2"
BUILTIN_TEMPLATES = {"image_classifier": IMAGE_CLASSIFIER_TEMPLATE, "generic": GENERIC_TEMPLATE}
TAGS = ("keras", "functional-subclassing", "hub-publish")
HUB_URL = constants.PUBLIC_HUB_ENDPOINT

# Datasets of hub-publish's training record -> (Hub dataset id or None, pretty name).
KNOWN_DATASETS: dict[str, tuple[str | None, str]] = {
    "mnist": ("ylecun/mnist", "MNIST"),
    "digits": (None, "scikit-learn digits (8x8)"),
}
# What hub-publish's own pipelines (hub_publish.data) feed the model, for datasets whose training
# record predates the input-range keys: value range, layout, class labels. A record's own keys win.
KNOWN_INPUTS: dict[str, dict[str, Any]] = {
    "digits": {"range": [0, 255], "layout": "white digits on a black background", "source_range": [0, 16],
               "class_names": [str(i) for i in range(10)]},
    "mnist": {"range": [0, 255], "layout": "white digits on a black background",
              "class_names": [str(i) for i in range(10)]},
}
# Keras metric names -> the Hub's metric id (https://hf.co/metrics).
HUB_METRIC_IDS = {
    "accuracy": "accuracy",
    "acc": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
    "categorical_accuracy": "accuracy",
    "binary_accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "auc": "roc_auc",
    "f1_score": "f1",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
}


def build_card(
    *,
    model: "keras.Model",
    metadata: Mapping[str, Any],
    template: str | os.PathLike | None = None,
    card_data: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
    extra_sections: Mapping[str, str] | None = None,
    folder: str | os.PathLike | None = None,
    license: str | None = None,
    tags: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    language: str | Sequence[str] | None = None,
) -> "ModelCard":
    """Build the card of a model folder.

    Args:
        model: The model being packaged.
        metadata: The folder's metadata.json content.
        template: A Jinja2 template path, or a built-in name (``"image_classifier"``,
            ``"generic"``); default: the image-classifier template for image classifiers, the
            generic one otherwise.
        card_data: Extra YAML metadata (license, datasets, language, ...), overriding generated
            values of the same name.
        repo_id: The Hub repo the folder goes to, used in titles, links and usage snippets.
        extra_sections: ``{title: markdown}`` (``card_sections``): fills or replaces the section
            of that title (e.g. ``"Intended use"``), or adds it before the citation; never a
            second heading of the same name (see `model_cards.blocks.apply_sections`).
        folder: Where to write the card's images (training curves, graph plot); without it the
            card references no images.
        license: A Hub license id (``"apache-2.0"``, ``"mit"``, ... or ``"other"`` with
            ``license_name`` / ``license_link`` in ``card_data``).
        tags: Tags added to the generated ones.
        datasets: Hub dataset ids added to the generated ones.
        language: Language code(s) of the data (``"en"``).

    Returns:
        A `huggingface_hub.ModelCard` whose body holds generated blocks (see
        `model_cards.blocks`) and whose YAML carries the generated-card hashes
        (see `model_cards.merge`).

    Raises:
        ValueError: Unknown built-in template name, a ``license`` that is not a Hub license id, or a
            base model relation the Hub does not know.
        FileNotFoundError: The template file does not exist.
    """
    from huggingface_hub import ModelCard

    from model_cards.stamps import stamp

    from model_cards import blocks

    if license is not None and license not in LICENSES:  # refused before anything is written, as the Hub would
        raise ValueError(license_problems({"license": license}, required=True)[0])
    context = template_context(model=model, metadata=metadata, repo_id=repo_id, extra_sections=extra_sections, folder=folder)
    controls = {"license": license, "tags": tags, "datasets": datasets, "language": language}
    data = _card_data(context, card_data, controls)
    path = _template_path(template, context["is_image_classifier"])
    content = _render(path, card_data=data.to_yaml(), **context)
    content = blocks.stamp(_tidy(blocks.apply_sections(content, dict(extra_sections or {}))))
    card = ModelCard(content)
    if not card.data.to_dict():  # an author template without the `{{ card_data }}` header
        card = ModelCard(f"---\n{data.to_yaml()}\n---\n{content}")
    card = stamp(card)
    if repo_id:
        card.data[constants.CARD_META_ROOT] = {**card.data[constants.CARD_META_ROOT], constants.CARD_REPO_ID: repo_id}
    return card


def write_card(folder: str | os.PathLike, **kwargs: Any) -> Path:
    """Build the card (see `build_card`) with its images, and write it as the folder's README.md.

    Args:
        folder: The model folder; the card and its PNGs are written there.
        **kwargs: `build_card`'s arguments (``model``, ``metadata``, ``template``, ``card_data``,
            ``repo_id``, ``extra_sections``, ``license``, ``tags``, ``datasets``, ``language``).

    Returns:
        The README.md path.

    Raises:
        ValueError, FileNotFoundError: See `build_card`.
    """
    path = Path(folder) / constants.CARD_FILE
    build_card(folder=folder, **kwargs).save(path)
    return path


def card_from_text(text: str) -> "ModelCard":
    """`ModelCard` of a README's text, its metadata errors ignored.

    A card without a YAML block gets empty metadata, as huggingface_hub gives it, but without the
    log line huggingface_hub prints then (a command's output stays one line).

    Raises:
        ValueError: The YAML block is not a mapping.
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    if not REGEX_YAML_BLOCK.search(text):
        text = "---\n{}\n---\n" + text
    return ModelCard(text, ignore_metadata_errors=True)


def card_repo_id(card_text: str) -> str | None:
    """The repo id a card was generated for (recorded in its YAML by a push), or None.

    Args:
        card_text: README.md's text.

    Returns:
        ``namespace/name`` or None.
    """
    import re

    try:
        card = card_from_text(card_text)
    except ValueError:
        return None
    recorded = card.data.get(constants.CARD_META_ROOT)
    repo = recorded.get(constants.CARD_REPO_ID) if isinstance(recorded, Mapping) else None
    if not isinstance(repo, str):  # a card pushed before the repo id was recorded: its first load snippet
        found = re.search(r'hub_publish\.from_pretrained\("([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)"\)', card.text)
        repo = found.group(1) if found else None
    return repo if isinstance(repo, str) and "/" in repo and not repo.startswith(PLACEHOLDER_NAMESPACE + "/") else None


def template_context(
    *,
    model: "keras.Model",
    metadata: Mapping[str, Any],
    repo_id: str | None = None,
    extra_sections: Mapping[str, str] | None = None,
    folder: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The variables a card template sees.

    ``title``, ``repo_id``, ``repo_known``, ``class_name``, ``registered_name``, ``module``,
    ``is_functional_subclass``, ``is_image_classifier``, ``num_classes``, ``head_layer``,
    ``head_activation``, ``outputs_text`` (what the head returns, in words), ``rescales_inputs``; ``inputs`` / ``outputs`` (``name``, ``key``, ``shape_text``, ``dtype``,
    ``note``), ``dict_inputs``, ``example_shape``; ``layers`` (``name``, ``type``, ``shape``,
    ``params``), ``parameter_count``, ``trainable_count``, ``non_trainable_count``,
    ``weight_bytes``, ``weights_files``; ``training`` (the raw record), ``training_rows``
    (label/value pairs), ``optimizer_config_json``, ``dataset`` (``name``, ``pretty``,
    ``hub_id``, ``source``, ``split``, ``image_shape``, ...), ``evaluation`` (``metric``,
    ``hub_metric``, ``value``, ``split``); ``training_curves`` and ``model_plot`` (file names or
    ``None``), ``model_plot_note``; ``base_model`` (``repo_id``, ``revision``, ``relation``,
    ``url``); ``extra_sections`` (title/markdown pairs); ``citation_key``, ``year``,
    ``author``; ``backend``, ``keras_version``, ``hub_publish_version``.

    Args:
        model: The model.
        metadata: The folder's metadata.json content.
        repo_id: The Hub repo id, if known.
        extra_sections: ``{title: markdown}``.
        folder: Where to write the images; ``None`` writes none.

    Returns:
        The context dictionary.

    Raises:
        ValueError: A base model relation the Hub does not know.
    """
    ours = metadata.get(constants.META_ROOT, {})
    training = ours.get(constants.META_TRAINING) or {}
    class_name = ours.get(constants.META_CLASS_NAME) or type(model).__name__
    known_repo = bool(repo_id)
    repo = repo_id or f"{PLACEHOLDER_NAMESPACE}/{model.name}"
    inputs = [_describe_tensor(spec) for spec in ours.get(constants.META_INPUTS, [])]
    outputs = [_describe_tensor(spec) for spec in ours.get(constants.META_OUTPUTS, [])]
    head = ours.get(constants.META_HEAD_LAYER)
    head_activation, head_units = _head(model, head)
    is_image = _has_image_input(ours)
    is_image_classifier = is_image_classifier_metadata(ours)
    dataset = _dataset(training)
    saved = str(metadata.get(constants.META_DATE_SAVED) or "")
    is_subclass = class_name not in ("Functional", "Model", "Sequential")
    context: dict[str, Any] = {
        # The title is author-owned text outside the generated blocks: the same with or without a
        # repo id, so naming the repo later (push, `card --repo-id`) does not count as an edit.
        "title": class_name if is_subclass else model.name,
        "repo_id": repo,
        "repo_known": known_repo,
        "class_name": class_name,
        "registered_name": ours.get(constants.META_REGISTERED_NAME) or class_name,
        "module": ours.get(constants.META_MODULE) or type(model).__module__,
        "is_functional_subclass": is_subclass,
        "is_image_classifier": is_image_classifier,
        "num_classes": head_units if is_image_classifier else None,
        "outputs_text": _outputs_text(head_activation, head_units),
        "rescales_inputs": any(type(layer).__name__ in ("Rescaling", "Normalization") for layer in model.layers),
        "head_layer": head,
        "head_activation": head_activation,
        "inputs": inputs,
        "outputs": outputs,
        "dict_inputs": ours.get(constants.META_INPUT_STRUCTURE) == "dict",
        "example_shape": _example_shape(inputs, dataset),
        **_architecture(model, ours),
        "training": training,
        "training_rows": _training_rows(training, dataset),
        "optimizer_config_json": json.dumps(training.get(constants.TRAIN_OPTIMIZER_CONFIG) or {}, indent=2),
        "dataset": dataset,
        "evaluation": _evaluation(training),
        "base_model": _base_model(ours.get(constants.META_BASE_MODEL)),
        "extra_sections": [{"title": t, "markdown": m.strip()} for t, m in (extra_sections or {}).items()],
        "citation_key": _citation_key(repo, saved),
        "year": saved[:4] if saved[:4].isdigit() else str(datetime.date.today().year),
        "author": repo.split("/")[0] if known_repo and "/" in repo else "The authors",
        "backend": ours.get(constants.META_BACKEND),
        "keras_version": metadata.get(constants.META_KERAS_VERSION),
        "hub_publish_version": ours.get(constants.META_VERSION),
    }
    context["task"] = _task(training, head_activation, head_units, dataset)
    context["class_labels"] = _class_labels(ours, training, dataset, context["task"])
    context["input_info"] = _input_info(training, dataset, inputs, is_image)
    context["class_imports"], context["graph_imports"] = _class_imports(model, context["module"], is_subclass)
    # A class defined in a script (`python train.py`) lives in __main__: no other program can import it,
    # so the class-API and plain-Keras snippets (which need the class) are left out rather than fail as pasted.
    context["class_importable"] = not (is_subclass and context["module"] in (None, "__main__", "__mp_main__"))
    context["headline"] = _headline(context["evaluation"])
    context["output_var"] = "probabilities" if head_activation in ("softmax", "sigmoid") else "outputs"
    context["example_comment"] = (
        "any height and width works" if inputs and inputs[0].get("note") == "any height and width" else "one example"
    )
    context.update(_images(model, training, folder))
    return context


# ----------------------------------------------------------------------------- YAML


def _card_data(context: Mapping[str, Any], extra: Mapping[str, Any] | None,
               controls: Mapping[str, Any] | None = None) -> "ModelCardData":
    from huggingface_hub import EvalResult, ModelCardData

    dataset = context["dataset"]
    task = "image-classification" if context["is_image_classifier"] else "other"
    eval_results = [
        EvalResult(
            task_type=task,
            dataset_type=dataset["hub_id"] or dataset["name"],
            dataset_name=dataset["pretty"],
            dataset_split=row["split"],
            metric_type=row["hub_metric"],
            metric_name=row["metric"],
            metric_value=row["value"],
        )
        for row in context["evaluation"]
        if dataset
    ]
    base = context["base_model"]
    values: dict[str, Any] = {
        "library_name": "keras",
        "tags": _tags(context),
        "pipeline_tag": "image-classification" if context["is_image_classifier"] else None,
        "datasets": [dataset["hub_id"]] if dataset and dataset["hub_id"] else None,
        "metrics": sorted({row["hub_metric"] for row in context["evaluation"] if row["hub_metric"] != "loss"}) or None,
        "base_model": base["repo_id"] if base else None,
        "base_model_relation": base["relation"] if base else None,
        "model_name": context["title"] if eval_results else None,
        "eval_results": eval_results or None,
    }
    controls = dict(controls or {})
    for key in ("tags", "datasets"):  # explicit args add to the generated values
        added = controls.pop(key, None)
        if added:
            added = [added] if isinstance(added, str) else list(added)
            values[key] = [*(values.get(key) or []), *(v for v in added if v not in (values.get(key) or []))]
    values.update({k: v for k, v in controls.items() if v is not None})
    values.update(extra or {})
    return ModelCardData(**{k: v for k, v in values.items() if v is not None})


def _tags(context: Mapping[str, Any]) -> list[str]:
    """keras, functional-subclassing, the class name, hub-publish (the middle two for subclasses only)."""
    if not context["is_functional_subclass"]:
        return [TAGS[0], TAGS[2]]
    return [TAGS[0], TAGS[1], context["class_name"], TAGS[2]]


# ----------------------------------------------------------------------------- body facts


def _has_image_input(ours: Mapping[str, Any]) -> bool:
    """An input of rank 4: (batch, height, width, channels)."""
    return any(len(spec.get("shape", [])) == 4 for spec in ours.get(constants.META_INPUTS) or [])


def is_image_classifier_metadata(ours: Mapping[str, Any]) -> bool:
    """Whether hub-publish's metadata (``metadata.json``'s ``hub_publish`` object) describes an image
    classifier: an image input, a known head layer and one output of rank 2 (batch, classes).

    The card builder picks the image-classifier template and ``pipeline_tag`` with it; `check_card`
    asks such a card for that ``pipeline_tag``.
    """
    outputs = ours.get(constants.META_OUTPUTS) or []
    return bool(
        _has_image_input(ours)
        and ours.get(constants.META_HEAD_LAYER)
        and len(outputs) == 1
        and len(outputs[0].get("shape", [])) == 2
    )


def _describe_tensor(spec: Mapping[str, Any]) -> dict[str, Any]:
    shape = list(spec.get("shape", []))
    dims = shape[1:]
    if len(dims) == 3:  # an image: (height, width, channels)
        names = ["height", "width", "channels"]
        text = [names[i] if d is None else str(d) for i, d in enumerate(dims)]
    else:
        text = ["any" if d is None else str(d) for d in dims]
    note = ""
    if len(dims) == 3 and dims[0] is None and dims[1] is None:
        note = "any height and width"
    elif any(d is None for d in dims):
        note = "dimensions shown by name or `any` are unconstrained"
    return {**spec, "shape": shape, "shape_text": "(" + ", ".join(["batch", *text]) + ")", "note": note}


def _head(model: "keras.Model", head: str | None) -> tuple[str | None, int | None]:
    try:
        layer = model.get_layer(head) if head else None
    except ValueError:
        layer = None
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    units = getattr(layer, "units", None)
    return activation, (int(units) if isinstance(units, int) else None)


def _outputs_text(activation: str | None, units: int | None) -> str:
    if units == 1:
        return "the probability of the positive class (sigmoid)" if activation == "sigmoid" else "one score"
    if units is None:
        return "class scores"
    if activation == "softmax":
        return f"probabilities over {units} classes (softmax)"
    if activation == "sigmoid":
        return f"independent probabilities for {units} labels (sigmoid)"
    return f"{units} class scores" + (f" ({activation})" if activation and activation != "linear" else "")


def _architecture(model: "keras.Model", ours: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    layers = []
    for layer in model.layers:
        try:
            shape: Any = layer.output.shape
            shape = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        except (AttributeError, ValueError):
            shape = "multiple"
        layers.append({"name": layer.name, "type": type(layer).__name__, "shape": shape, "params": int(layer.count_params())})
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    total = int(ours.get(constants.META_PARAMETER_COUNT) or model.count_params())
    weight_bytes = sum(int(np.prod(v.shape)) * np.dtype(str(v.dtype)).itemsize for v in model.weights)
    files = [
        {"name": name, "size": int(entry.get(constants.META_SIZE, 0)), "sha256": entry.get(constants.META_SHA256, "")}
        for name, entry in (ours.get(constants.META_FILES) or {}).items()
        if ".weights." in name  # the manifest also lists config, graph and assets; the card shows the weights
    ]
    return {
        "layers": layers,
        "parameter_count": total,
        "trainable_count": trainable,
        "non_trainable_count": total - trainable,
        "weight_bytes": weight_bytes,
        "weights_files": files,
    }


def _dataset(training: Mapping[str, Any]) -> dict[str, Any] | None:
    described = training.get(constants.TRAIN_DATASET)
    if not described:
        return None
    info = dict(described) if isinstance(described, Mapping) else {"name": str(described)}
    name = str(info.get("name") or "unknown")
    hub_id, pretty = KNOWN_DATASETS.get(name, (None, name))
    return {**info, "name": name, "hub_id": info.get("hub_id") or hub_id, "pretty": pretty}


def _example_shape(inputs: Sequence[Mapping[str, Any]], dataset: Mapping[str, Any] | None) -> list[int] | None:
    if len(inputs) != 1 or len(inputs[0]["shape"]) != 4:
        return None
    image = list((dataset or {}).get("image_shape") or [28, 28, inputs[0]["shape"][3] or 1])
    return [1, *(d if s is None else s for s, d in zip(inputs[0]["shape"][1:], image))]


def _training_rows(training: Mapping[str, Any], dataset: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not training:
        return []
    t = training
    rows: list[tuple[str, Any]] = []
    if dataset:
        source = f" (`{dataset['source']}`)" if dataset.get("source") else ""
        rows.append(("Dataset", f"{dataset['pretty']}{source}"))
        if dataset.get("split"):
            rows.append(("Split", dataset["split"]))
    if t.get(constants.TRAIN_NUM_TRAIN_EXAMPLES) is not None:
        rows.append(("Examples", f"{t[constants.TRAIN_NUM_TRAIN_EXAMPLES]:,} train / {t.get(constants.TRAIN_NUM_TEST_EXAMPLES, 0):,} test"))
    for label, key in (("Epochs", constants.TRAIN_EPOCHS), ("Batch size", constants.TRAIN_BATCH_SIZE), ("Steps per epoch", constants.TRAIN_STEPS_PER_EPOCH)):
        if t.get(key) is not None:
            rows.append((label, t[key]))
    if t.get(constants.TRAIN_OPTIMIZER):
        rows.append(("Optimizer", f"{t[constants.TRAIN_OPTIMIZER]} ({_optimizer_summary(t.get(constants.TRAIN_OPTIMIZER_CONFIG) or {})})"))
    if t.get(constants.TRAIN_LOSS):
        rows.append(("Loss", f"`{t[constants.TRAIN_LOSS]}`"))
    if t.get(constants.TRAIN_METRICS):
        rows.append(("Metrics", ", ".join(f"`{m}`" for m in t[constants.TRAIN_METRICS])))
    if t.get(constants.TRAIN_WALL_TIME) is not None:
        rows.append(("Wall time", _duration(float(t[constants.TRAIN_WALL_TIME]))))
    if t.get(constants.TRAIN_HARDWARE):
        rows.append(("Hardware", _hardware(t[constants.TRAIN_HARDWARE])))
    if t.get(constants.TRAIN_BACKEND):
        rows.append(("Keras backend", t[constants.TRAIN_BACKEND]))
    if t.get(constants.TRAIN_DISTRIBUTE):
        rows.append(("Distribution", _distribution(t[constants.TRAIN_DISTRIBUTE])))
    if t.get(constants.TRAIN_SEED) is not None:
        rows.append(("Seed", t[constants.TRAIN_SEED]))
    versions = t.get(constants.TRAIN_LIBRARY_VERSIONS) or {}
    if versions:
        rows.append(("Libraries", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return [(label, str(value)) for label, value in rows]


def _optimizer_summary(config: Mapping[str, Any]) -> str:
    shown = []
    for key in ("learning_rate", "beta_1", "beta_2", "epsilon", "momentum", "weight_decay", "clipnorm"):
        value = config.get(key)
        if value is not None and value is not False:
            shown.append(f"{key}={_number(value)}")
    return ", ".join(shown) or "default configuration"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):  # a schedule
        return str(value.get("class_name", "schedule"))
    return str(value)


def _distribution(record: Any) -> str:
    """``{"strategy", "num_replicas", "devices"}`` (or a class name) in words."""
    if not isinstance(record, Mapping):
        return f"`{record}`"
    text = f"`{record.get('strategy', '?')}`"
    if record.get("num_replicas"):
        text += f", {record['num_replicas']} replicas"
    if record.get("devices"):
        text += " (" + ", ".join(f"`{d}`" for d in record["devices"]) + ")"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _hardware(hw: Any) -> str:
    if not isinstance(hw, Mapping):
        return str(hw)
    parts = []
    if hw.get("devices"):
        parts.append(", ".join(map(str, hw["devices"])))
    if hw.get("cpu_count"):
        parts.append(f"{hw['cpu_count']} CPU cores")
    if hw.get("machine"):
        parts.append(str(hw["machine"]))
    if hw.get("platform"):
        parts.append(str(hw["platform"]))
    if hw.get("python"):
        parts.append(f"Python {hw['python']}")
    return "; ".join(parts)


def _evaluation(training: Mapping[str, Any]) -> list[dict[str, Any]]:
    split = training.get(constants.TRAIN_TEST_SPLIT) or "test"
    return [
        {"metric": name, "hub_metric": HUB_METRIC_IDS.get(name, name), "value": float(value), "split": split}
        for name, value in (training.get(constants.TRAIN_TEST_METRICS) or {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def _base_model(record: Any) -> dict[str, Any] | None:
    if not record:
        return None
    if isinstance(record, str):
        record = {constants.BASE_REPO_ID: record}
    repo = record.get(constants.BASE_REPO_ID)
    if not repo:
        return None
    relation = record.get(constants.BASE_RELATION) or constants.RELATION_FINETUNE
    if relation not in constants.BASE_MODEL_RELATIONS:
        raise ValueError(
            f"base model relation {relation!r} is not one the Hub knows; use one of {', '.join(constants.BASE_MODEL_RELATIONS)}."
        )
    revision = record.get(constants.BASE_REVISION)
    url = f"{HUB_URL}/{repo}" + (f"/tree/{revision}" if revision else "")
    return {"repo_id": repo, "revision": revision, "relation": relation, "url": url}


def citation_name(repo: str) -> str:
    """The repo part of the card's BibTeX key: ``alice/mnist-digits`` -> ``alice_mnist_digits``."""
    return "".join(c if c.isalnum() else "_" for c in repo.replace("/", "_")).strip("_").lower()


def _citation_key(repo: str, saved: str) -> str:
    name = citation_name(repo)
    return f"{name}_{saved[:4]}" if saved[:4].isdigit() else name


def _task(training: Mapping[str, Any], activation: str | None, units: int | None,
          dataset: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the head predicts: a fine-tune's own task (``class k vs rest``), not its parent's."""
    tuned = training.get(constants.FINETUNE_RECORD)
    tuned = tuned if isinstance(tuned, Mapping) else {}
    parent_classes = (dataset or {}).get("num_classes")
    if units == 1 and activation == "sigmoid":
        positive = tuned.get("positive_class")
        names = (dataset or {}).get(constants.DATASET_CLASS_NAMES) or KNOWN_INPUTS.get((dataset or {}).get("name", ""), {}).get("class_names")
        label = f"class {positive}" if positive is not None else "the positive class"
        if positive is not None and isinstance(names, list) and 0 <= int(positive) < len(names):
            label = f"class {positive} (“{names[int(positive)]}”)"
        description = (f"It is a **binary** classifier: {label} vs rest (output = probability of {label}, "
                       "label 1; every other class is label 0).")
        return {"kind": "binary", "num_classes": 2, "positive_class": positive, "positive_label": label,
                "parent_classes": parent_classes if tuned else None, "description": description}
    if units and units > 1:
        return {"kind": "multiclass", "num_classes": units, "positive_class": None, "positive_label": None,
                "parent_classes": None, "description": None}
    return {"kind": None, "num_classes": None, "positive_class": None, "positive_label": None,
            "parent_classes": None, "description": None}


def _class_labels(ours: Mapping[str, Any], training: Mapping[str, Any], dataset: Mapping[str, Any] | None,
                  task: Mapping[str, Any]) -> list[tuple[int, str]] | None:
    """``[(output index, label)]`` from the metadata, the training record or the known dataset."""
    if task["kind"] == "binary":
        return [(0, "every other class"), (1, str(task["positive_label"]))] if task["positive_class"] is not None else None
    names = (ours.get(constants.META_CLASS_NAMES) or training.get(constants.TRAIN_CLASS_NAMES)
             or (dataset or {}).get(constants.DATASET_CLASS_NAMES)
             or KNOWN_INPUTS.get((dataset or {}).get("name", ""), {}).get("class_names"))
    if isinstance(names, Mapping):  # {index: name} (id2label style)
        try:
            names = [names[k] for k in sorted(names, key=int)]
        except (TypeError, ValueError):
            return None
    if not isinstance(names, list) or not names or (task["num_classes"] and len(names) != task["num_classes"]):
        return None
    return [(i, f"`{n}`" if isinstance(n, str) else str(n)) for i, n in enumerate(names)]


def _input_info(training: Mapping[str, Any], dataset: Mapping[str, Any] | None, inputs: Sequence[Mapping[str, Any]],
                is_image: bool) -> dict[str, Any]:
    """The value range and layout the model was trained on, in words (from the record, else the known dataset)."""
    name = (dataset or {}).get("name", "")
    known = KNOWN_INPUTS.get(name, {})
    value_range = (dataset or {}).get(constants.DATASET_INPUT_RANGE) or known.get("range")
    if not (isinstance(value_range, (list, tuple)) and len(value_range) == 2):
        return {"range": None, "range_text": None, "text": None, "convert_digits": False}
    dtype = inputs[0].get("dtype") if inputs else None
    low, high = (_number(v) for v in value_range)
    range_text = f"values {low}–{high}"
    layout = (dataset or {}).get("layout") or known.get("layout")
    parts = [f"{f'`{dtype}` ' if dtype else ''}inputs with {range_text}"]
    if layout:
        parts.append(layout)
    shape = (dataset or {}).get("image_shape")
    if is_image and isinstance(shape, list) and len(shape) == 3:
        parts.append(f"{shape[0]}x{shape[1]} pixels, {shape[2]} channel{'s' if shape[2] != 1 else ''}"
                     + (" (the model accepts any height and width)" if inputs and inputs[0].get("note") == "any height and width" else ""))
    text = "; ".join(p for p in parts if p) + "."
    source = known.get("source_range")
    if source:
        text += (f" The source data has values {source[0]}–{source[1]} and was scaled to {low}–{high} for training: "
                 f"feed data in the {source[0]}–{source[1]} range unscaled and the predictions are wrong without any error.")
    text = text[0].upper() + text[1:]
    return {"range": list(value_range), "range_text": range_text, "text": text,
            "convert_digits": bool(is_image and name in ("digits", "mnist"))}


def _class_imports(model: "keras.Model", module: str | None, is_subclass: bool) -> tuple[list[str], list[str]]:
    """``import ...`` lines that register the model's classes with Keras: for config.json, for graph.json.

    config.json names the model's own class (a functional subclass) and any custom layer;
    graph.json, a plain ``Functional``, only the custom layers. Classes defined in ``__main__``
    cannot be imported by anyone else, so none is suggested for them (``card --check`` says so).
    """
    layer_modules: list[str] = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        mod = type(layer).__module__
        if not mod.startswith(("keras.", "keras_hub.", "tf_keras.", "tensorflow.")) and mod not in layer_modules:
            layer_modules.append(mod)
    own = [module] if is_subclass and module and not module.startswith("keras") else []
    line = "import {}  # registers the model's classes with Keras".format
    config = [line(m) for m in dict.fromkeys([*own, *layer_modules]) if m != "__main__"]
    graph = [line(m) for m in layer_modules if m != "__main__"]
    return config, graph


def _headline(evaluation: Sequence[Mapping[str, Any]]) -> str:
    shown = [f"{e['value']:.4f} {e['metric']}" for e in evaluation if e["metric"] != "loss"]
    if not shown and evaluation:
        shown = [f"a loss of {evaluation[0]['value']:.4f}"]
    return ", ".join(shown)


def _images(model: "keras.Model", training: Mapping[str, Any], folder: str | os.PathLike | None) -> dict[str, Any]:
    if folder is None:
        return {"training_curves": None, "model_plot": None, "model_plot_note": None}
    from model_cards import plots

    folder = Path(folder)
    curves = plots.training_curves(training.get(constants.TRAIN_HISTORY) or {}, folder / constants.TRAINING_CURVES_FILE)
    graph, note = plots.model_graph(model, folder / constants.MODEL_PLOT_FILE)
    return {
        "training_curves": constants.TRAINING_CURVES_FILE if curves else None,
        "model_plot": constants.MODEL_PLOT_FILE if graph else None,
        "model_plot_note": note,
    }


# ----------------------------------------------------------------------------- rendering


def _template_path(template: str | os.PathLike | None, image_classifier: bool) -> Path:
    if template is None:
        return IMAGE_CLASSIFIER_TEMPLATE if image_classifier else GENERIC_TEMPLATE
    if isinstance(template, str) and template in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[template]
    path = Path(template).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"card template {path} not found (built-in ones: {', '.join(BUILTIN_TEMPLATES)}).")
    return path


def _render(path: Path, **context: Any) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(path.parent), str(TEMPLATES)]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cell"] = lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    env.filters["num"] = lambda value: f"{value:,}"
    env.filters["bytes"] = human_size
    return _tidy(env.get_template(path.name).render(**context))


def _tidy(markdown: str) -> str:
    """At most one blank line in a row outside fenced code (empty optional sections leave runs)."""
    lines: list[str] = []
    fence = None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        if fence is None and not line.strip() and len(lines) >= 1 and not lines[-1].strip():
            continue
        lines.append(line)
    return "\n".join(lines)
