"""The Hub's own lists (licenses, pipeline tasks), kept as data, and the metadata checks built on them.

Ground level: no Keras, no TensorFlow, no huggingface_hub import. Both the card checks
(`model_cards.render.check_card`, ``hub-publish card --check``) and the embedded server's
``/api/validate-yaml`` call `metadata_problems`, so a card the CLI accepts is one the server (and the
Hub) accepts, and the other way round.

Sources (copied by hand; update both lists together when the Hub adds entries):

* `LICENSES`: huggingface/hub-docs ``docs/hub/repositories-licenses.md`` (the "region licenses"
  table, commit 008d54d0), plus ``llama3``, ``llama3.1``, ``llama3.2``, ``llama3.3`` (hub-docs
  PR 1619 and its predecessors).
* `PIPELINE_TAGS`: huggingface/huggingface.js ``packages/tasks/src/pipelines.ts``, the keys of
  ``PIPELINE_DATA`` (commit 0057f404).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hub_publish.constants import BASE_MODEL_RELATIONS

LICENSES: frozenset[str] = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
    lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 gemma
    unknown other
    """.split()
)
"""License identifiers the Hub accepts in a card's ``license`` field."""

LICENSE_OTHER = "other"

PIPELINE_TAGS: frozenset[str] = frozenset(
    """
    biology text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation
    text2text-generation fill-mask sentence-similarity text-to-speech text-to-audio
    automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
    voice-activity-detection depth-estimation image-classification object-detection
    image-segmentation text-to-image image-to-text image-to-image image-to-video
    unconditional-image-generation video-classification reinforcement-learning robotics
    tabular-classification tabular-regression tabular-to-text table-to-text multiple-choice
    text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
    visual-question-answering document-question-answering zero-shot-image-classification graph-ml
    mask-generation zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction
    video-text-to-text keypoint-detection visual-document-retrieval any-to-any other
    """.split()
)
"""The Hub's tasks (``pipeline_tag`` values)."""

# The Hub's rule for a namespace or repo name, one home for the embedded server (which refuses
# such names with these words) and the card checks. huggingface_hub's validate_repo_id mirrors it on
# the client (and loading uses it through parse_hf_uri), but also takes a bare name without a
# namespace and names ending in ".git": a published repo id always has both parts.
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]{1,96}")


def repo_name_problem(name: Any) -> str | None:
    """What makes ``name`` no valid namespace or repo name on the Hub, or None when it is valid."""
    if not isinstance(name, str) or not _NAME_CHARS.fullmatch(name):
        return "use 1 to 96 characters among letters, digits, '-', '_' and '.'."
    if "--" in name or ".." in name:
        return "'--' and '..' are forbidden."
    if name[0] in "-." or name[-1] in "-.":
        return "it cannot start or end with '-' or '.'."
    if name.endswith(".git"):
        return "it cannot end with '.git'."
    return None


def is_repo_id(value: Any) -> bool:
    """Whether ``value`` is a Hub model repo id (``namespace/name``, no revision, no URL)."""
    parts = value.split("/") if isinstance(value, str) else []
    return len(parts) == 2 and all(repo_name_problem(part) is None for part in parts)


def license_problems(data: Mapping[str, Any], *, required: bool) -> list[str]:
    """What is wrong with a card's ``license`` (and ``license_name`` / ``license_link``).

    Args:
        data: The card's YAML metadata.
        required: Report a missing ``license`` (the CLI's check); the server accepts cards without one.

    Returns:
        One sentence per problem.
    """
    value = data.get("license")
    if value is None or value == "" or value == []:
        return ["'license' is missing: set it to a Hub license id (e.g. apache-2.0, mit), or to 'other' with "
                "'license_name' and 'license_link'"] if required else []
    problems = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str) or item not in LICENSES:
            problems.append(f"'license' {item!r} is not a Hub license id; use one of the Hub's (e.g. apache-2.0, mit, "
                            "cc-by-4.0), or 'other' with 'license_name' and 'license_link'")
        elif item == LICENSE_OTHER and not (data.get("license_name") and data.get("license_link")):
            problems.append("'license: other' needs 'license_name' (a short id) and 'license_link' (the license text)")
    return problems


def metadata_problems(data: Mapping[str, Any], *, require_license: bool = False) -> list[str]:
    """Check card metadata against the Hub's lists: license, pipeline_tag, base_model, tags.

    Args:
        data: The card's YAML metadata (a mapping).
        require_license: Also report a missing ``license``.

    Returns:
        One sentence per problem; empty when the metadata is acceptable.
    """
    problems = license_problems(data, required=require_license)
    tag = data.get("pipeline_tag")
    if tag is not None and (not isinstance(tag, str) or tag not in PIPELINE_TAGS):
        problems.append(f"'pipeline_tag' {tag!r} is not one of the Hub's tasks (e.g. image-classification, "
                        "tabular-classification, other)")
    base = data.get("base_model")
    for repo in base if isinstance(base, list) else ([base] if base is not None else []):
        if not is_repo_id(repo):
            problems.append(f"'base_model' must be a Hub repo id (namespace/name, no revision); got {repo!r}")
    relation = data.get("base_model_relation")
    if relation is not None and relation not in BASE_MODEL_RELATIONS:
        problems.append(f"'base_model_relation' must be one of {', '.join(BASE_MODEL_RELATIONS)}; got {relation!r}")
    if relation is not None and not base:
        problems.append("'base_model_relation' is set without 'base_model'")
    tags = data.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        problems.append("'tags' must be a list of strings")
    return problems
