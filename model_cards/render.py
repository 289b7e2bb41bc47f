"""Re-render and check the card of an existing model folder (``hub-publish card``).

`render_folder_card` regenerates only the generated blocks of the folder's README.md (see
`model_cards.blocks`) and merges the generated metadata into the author's; `check_card` reads the
card and reports what is wrong, writing nothing. Neither loads a model: the caller passes one
(the CLI loads it), so cards depend on the folder format and metadata only, never on the loader.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hub_publish import constants
from hub_publish import format as fmt
from hub_publish.hub_lists import metadata_problems
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras

REQUIRED_FIELDS = ("library_name", "tags")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_CODE_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_FOLDER_FILE = re.compile(r"""f["']\{folder\}/([^"'{}]+)["']""")


class RenderResult(NamedTuple):
    """What `render_folder_card` did: the card written and the edited blocks it kept."""

    path: Path
    conflicts: list[str]
    changed: bool


def render_folder_card(
    folder: str | os.PathLike,
    *,
    model: "keras.Model",
    template: str | os.PathLike | None = None,
    repo_id: str | None = None,
    card_data: Mapping[str, Any] | None = None,
    extra_sections: Mapping[str, str] | None = None,
    license: str | None = None,
    tags: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    language: str | Sequence[str] | None = None,
) -> RenderResult:
    """Regenerate the generated blocks of ``folder``'s README.md from ``model`` and metadata.json.

    Author text outside the blocks, sections added with ``card_sections`` earlier (e.g. a
    fine-tune's) and author metadata (license, language, ...) are kept; generated metadata is
    merged in (`model_cards.merge.merge_metadata`); an edited block is kept and listed in the
    result's ``conflicts``. The repo id of the snippets is ``repo_id``, else the one the card
    records (a pushed or pulled card), else a placeholder. A folder without README.md gets a new
    card. The file is written only when something changed.

    Args:
        folder: A hub-publish model folder.
        model: The folder's model (the caller loads it, e.g. with `hub_publish.from_pretrained`).
        template: A Jinja2 card template (path or built-in name) instead of the default one.
        repo_id: The Hub repo id to use in titles, links and usage snippets.
        card_data: Extra YAML metadata, overriding generated and existing values.
        extra_sections: ``{title: markdown}`` sections to fill or add.
        license, tags, datasets, language: See `model_cards.build_card`.

    Returns:
        The card's path, the conflicts and whether the file changed.

    Raises:
        FileNotFoundError: The template or metadata.json does not exist.
        ValueError: See `model_cards.build_card`.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from model_cards import blocks
    from model_cards.builder import build_card, card_repo_id
    from model_cards.merge import NO_BLOCKS, body_sha256, merge_metadata

    folder = Path(folder)
    path = folder / constants.CARD_FILE
    metadata, problem = _read_metadata(folder)
    if problem:
        raise ValueError(f"{problem} in {folder}; save the model again (hub-publish save) or restore the file")
    if metadata is None:
        raise FileNotFoundError(f"{folder / constants.METADATA_FILE} does not exist")
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    repo_id = repo_id or (card_repo_id(before) if before else None)
    controls = {"license": license, "tags": tags, "datasets": datasets, "language": language}
    card = build_card(model=model, metadata=metadata, template=template, card_data=card_data, repo_id=repo_id,
                      extra_sections=extra_sections, folder=folder, **controls)
    conflicts: list[str] = []
    if before is not None:
        existing = _load_card(before)
        generated_text = card.text
        recorded = existing.data.get(constants.CARD_META_ROOT) if existing.data else None
        untouched = isinstance(recorded, Mapping) and recorded.get(constants.CARD_BODY_SHA256) == body_sha256(existing.text)
        if blocks.parse(existing.text):
            text, conflicts = blocks.merge_bodies(existing.text, generated_text)
        elif untouched:
            text = generated_text
        else:  # hand-written, or an edited card from before generated blocks: the author's text stays
            text, conflicts = existing.text, [NO_BLOCKS]
        merged = merge_metadata(existing.data.to_dict() if existing.data else {}, card.data.to_dict())
        merged.update(card_data or {})
        merged.update({k: v for k, v in (("license", license), ("language", language)) if v is not None})
        card = ModelCard(f"---\n{ModelCardData(**merged, ignore_metadata_errors=True).to_yaml()}\n---\n{text}")
    content = str(card)
    if content != before:
        card.save(path)
    return RenderResult(path, conflicts, content != before)


def check_card(folder_or_path: str | os.PathLike) -> list[str]:
    """Check a folder's card the way the Hub and its users read it; writes nothing.

    Checks: the YAML header exists and parses with huggingface_hub's `ModelCard.load`
    (model-index included); ``library_name`` and ``tags`` are set; ``license`` is present and a
    Hub license id (or ``other`` with ``license_name`` / ``license_link``), ``pipeline_tag`` one of
    the Hub's tasks, ``base_model`` a repo id (`hub_publish.hub_lists`, the lists the embedded
    server checks too); an image classifier (per metadata.json) has ``pipeline_tag:
    image-classification``; every model-index result names its task, dataset and numeric metric
    values, and those of the training record equal metadata.json's; no generated block was edited;
    every image the card references (outside code) is a file in the folder; the Python snippets
    name files of the folder and classes that exist (found without importing anything).

    Args:
        folder_or_path: The model folder, or its README.md.

    Returns:
        The problems found, one short sentence each; empty when the card is valid.
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    from model_cards import blocks
    from model_cards.builder import is_image_classifier_metadata

    path = Path(folder_or_path)
    if path.is_dir():
        path = path / constants.CARD_FILE
    if not path.is_file():
        return [f"{path} does not exist"]
    text = path.read_text(encoding="utf-8-sig")
    if not REGEX_YAML_BLOCK.search(text):
        return ["the card has no YAML metadata block"]
    try:
        card = ModelCard.load(path)
    except Exception as exc:  # noqa: BLE001  (yaml errors, ValueError for a bad model-index, ...)
        return [f"YAML metadata does not parse: {first_line(exc)}"]
    data = card.data.to_dict()
    problems = [f"missing metadata field {field!r}" for field in REQUIRED_FIELDS if not data.get(field)]
    problems += metadata_problems(data, require_license=True)
    metadata, problem = _read_metadata(path.parent)
    ours = metadata[constants.META_ROOT] if metadata is not None else None
    if problem:
        problems.append(problem)
    if ours is not None and is_image_classifier_metadata(ours) and data.get("pipeline_tag") != "image-classification":
        problems.append("an image classifier needs 'pipeline_tag: image-classification'")
    problems += _model_index_problems(data.get("model-index"))
    if ours is not None:
        problems += _stale_metrics(card, ours)
    problems += [f"generated block {name!r} was edited: it may not match the model (remove its markers to own it)"
                 for name in blocks.conflicts(card.text)]
    problems += _image_problems(card.text, path.parent)
    problems += _snippet_problems(card.text, path.parent, ours)
    return problems


def validate_card(path: str | os.PathLike) -> list[str]:
    """Alias of `check_card` (the name of ``--validate``)."""
    return check_card(path)


# ----------------------------------------------------------------------------- helpers


def _load_card(text: str) -> Any:
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    from model_cards.builder import card_from_text

    try:
        return card_from_text(text)
    except ValueError:  # YAML that is not a mapping: the author's text, metadata unusable
        return card_from_text(REGEX_YAML_BLOCK.sub("", text, count=1))


def _metadata(folder: Path) -> dict[str, Any] | None:
    metadata, _ = _read_metadata(folder)
    return metadata[constants.META_ROOT] if metadata is not None else None


def _read_metadata(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """metadata.json of ``folder`` and, when it is there but unusable, why (``None, None`` when absent).

    Parsed and validated by `hub_publish.format` (the one reader of metadata.json); a card also
    needs the ``hub_publish`` object, which a folder Keras wrote alone lacks.
    """
    if not (folder / constants.METADATA_FILE).is_file():
        return None, None
    try:
        metadata = fmt.read_metadata(folder)
    except fmt.MalformedFileError as exc:
        return None, f"metadata.json is malformed: {exc.reason}"
    except (OSError, fmt.ModelFolderError) as exc:
        return None, f"metadata.json is malformed: cannot be read ({first_line(exc)})"
    if not metadata.is_hub_publish:
        return None, f"metadata.json is malformed: {constants.META_ROOT!r} is not an object"
    return metadata.to_dict(), None


def _stale_metrics(card: Any, ours: Mapping[str, Any]) -> list[str]:
    """Evaluation results of the card that differ from the training record of metadata.json."""
    training = ours.get(constants.META_TRAINING) or {}
    recorded = training.get(constants.TRAIN_TEST_METRICS) or {}
    results = {r.metric_name or r.metric_type: r.metric_value for r in (card.data.eval_results or [])}
    problems = []
    for name, value in recorded.items():
        if name in results and results[name] != value:
            problems.append(f"model-index says {name}={results[name]} but metadata.json says {value}: "
                            "run `hub-publish card FOLDER` to regenerate")
    # the body's evaluation table (the generated block, edited or not) shows the same values
    for row in re.finditer(r"^\|[^|\n]*\|\s*[^|\n]*\|\s*(\w+)\s*\|\s*(-?\d+\.\d{4})\s*\|\s*$", card.text, re.MULTILINE):
        name, shown = row.group(1), row.group(2)
        value = recorded.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and shown != f"{value:.4f}":
            problems.append(f"the card's evaluation table says {name}={shown} but metadata.json says {value:.4f}: "
                            "run `hub-publish card FOLDER` to regenerate")
    return problems


def _snippet_problems(body: str, folder: Path, ours: Mapping[str, Any] | None) -> list[str]:
    """Python snippets naming files the folder lacks, or classes their module does not define."""
    problems: list[str] = []
    own_roots = {"hub_publish"}
    if ours and ours.get(constants.META_MODULE):
        own_roots.add(str(ours[constants.META_MODULE]).split(".")[0])
    model_folder = (folder / constants.METADATA_FILE).is_file()  # a card alone in a folder names no files
    for code in _PYTHON_BLOCK.findall(body):
        for name in _FOLDER_FILE.findall(code) if model_folder else []:
            if not (folder / name).is_file():
                problems.append(f"a snippet reads {name!r}, which is not in the folder")
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            problems.append(f"a Python snippet does not parse: {exc.msg} (line {exc.lineno})")
            continue
        for node in ast.walk(tree):
            imported = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in getattr(node, "names", [])]
            if isinstance(node, (ast.Import, ast.ImportFrom)) and any(m in ("__main__", "__mp_main__") for m in imported):
                problems.append("a snippet imports from __main__ (the script that saved the model), which no other "
                                "program can import; define the class in an importable module and save again")
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] in own_roots:
                for alias in node.names:
                    if not _module_defines(node.module, alias.name):
                        problems.append(f"a snippet imports {alias.name} from {node.module}, which does not define it")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in own_roots and _module_source(alias.name) is None:
                        problems.append(f"a snippet imports {alias.name}, which cannot be found")
    return list(dict.fromkeys(problems))


def _module_source(module: str) -> Path | None:
    """The source file of ``module``, found without importing it or its packages."""
    path: list[str] | None = None
    spec = None
    for part in module.split("."):
        spec = importlib.machinery.PathFinder.find_spec(part, path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and origin.endswith(".py") else None


def _module_defines(module: str, name: str) -> bool:
    source = _module_source(module)
    if source is None:
        return False
    if source.name == "__init__.py" and _module_source(f"{module}.{name}") is not None:
        return True  # a submodule
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name.split(".")[0]) == name for a in node.names):
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            return True  # a lazy module
    return False


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
