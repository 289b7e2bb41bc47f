"""Model card YAML front matter, parsed safely: bounded in size and expansion, JSON-safe values.

README.md is untrusted input that reaches every listing (`/api/models?full=1`, `?cardData=1`,
`/api/models/{repo}`). Valid YAML can still break a JSON API: dates, ``.nan``, ``!!binary`` and
``!!set`` are not JSON values, a recursive alias (``&a [*a]``) is a cycle, and nested aliases
(a "billion laughs") turn a few hundred bytes into gigabytes once serialized. PyYAML's
``safe_load`` builds such documents cheaply (aliases stay shared references), so the guard is
here, on the way to JSON: every value is copied with a budget of nodes and depth, and the
front matter is refused as a whole when it exceeds them. No library offers this bound
(huggingface_hub's ``metadata_load`` is a plain ``yaml.safe_load``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import math
from typing import Any

from hub_publish import constants


class FrontMatterError(ValueError):
    """The front matter cannot be used; the message says why, in one line."""


def split(text: str) -> tuple[str | None, str]:
    """``(yaml_text or None, body)`` of a card: the block between a first ``---`` line and the next."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise FrontMatterError("The YAML metadata block of README.md is not closed by a '---' line.")


def parse(text: str) -> dict[str, Any] | None:
    """The card's metadata as JSON-safe values, or None when it has none.

    Args:
        text: README.md's text.

    Returns:
        A mapping of JSON values (dates as ISO strings, NaN/infinity as None, binary as base64,
        sets as sorted lists), or None when the card has no front matter.

    Raises:
        FrontMatterError: When the block is unclosed, too large, not valid YAML, not a mapping,
            recursive, or too large or deep once its aliases are expanded.
    """
    raw, _ = split(text)
    if raw is None:
        return None
    size = len(raw.encode())
    if size > constants.SERVER_CARD_METADATA_MAX_BYTES:
        raise FrontMatterError(
            f"README.md metadata is {size} bytes, over the limit of {constants.SERVER_CARD_METADATA_MAX_BYTES}."
        )
    import yaml

    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"Invalid YAML in README.md metadata: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise FrontMatterError("README.md metadata is nested too deeply.") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise FrontMatterError("README.md metadata must be a YAML mapping.")
    return _Copier().copy(data, 0)


def error(text: str) -> str | None:
    """Why a card's front matter is unusable, or None when it is fine (or absent)."""
    try:
        parse(text)
    except FrontMatterError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=512)
def parse_cached(text: str) -> dict[str, Any] | None:
    """:func:`parse`, None on error, then :func:`hub_shaped`; cached (listings parse the same cards again)."""
    try:
        data = parse(text)
    except FrontMatterError:
        return None
    return hub_shaped(data) if data is not None else None


def hub_shaped(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields whose shape the stock client cannot read in ``cardData``.

    huggingface_hub builds ``ModelCardData(**cardData, ignore_metadata_errors=True)`` from every
    model info; it still raises on ``tags`` that is not a list or a string, and on a
    ``model-index`` entry whose ``source`` is not a mapping (repocard_data.py
    ``_to_unique_list`` / ``model_index_to_eval_results``). The Hub refuses such metadata at
    push time; here the repo stays readable and the field is left out.
    """
    out = dict(data)
    tags = out.get("tags")
    if tags is not None and not isinstance(tags, str) and not (
        isinstance(tags, list) and all(isinstance(t, str) for t in tags)
    ):
        del out["tags"]
    if "model-index" in out and not _model_index_ok(out["model-index"]):
        del out["model-index"]
    return out


def _model_index_ok(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for elem in value:
        if not isinstance(elem, dict) or not isinstance(elem.get("results"), list):
            return False
        for result in elem["results"]:
            if not isinstance(result, dict):
                return False
            if not all(isinstance(result.get(k), dict) for k in ("task", "dataset")):
                return False
            if not isinstance(result.get("source") or {}, dict) or not isinstance(result.get("metrics"), list):
                return False
            if not all(isinstance(m, dict) for m in result["metrics"]):
                return False
    return True


class _Copier:
    def __init__(self) -> None:
        self.nodes = 0
        self.path: set[int] = set()

    def copy(self, value: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > constants.SERVER_CARD_METADATA_MAX_NODES:
            raise FrontMatterError(
                f"README.md metadata expands to more than {constants.SERVER_CARD_METADATA_MAX_NODES} values "
                "(nested YAML aliases?)."
            )
        if depth > constants.SERVER_CARD_METADATA_MAX_DEPTH:
            raise FrontMatterError(f"README.md metadata is nested deeper than {constants.SERVER_CARD_METADATA_MAX_DEPTH}.")
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None  # JSON has no NaN or infinity
        if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
            return value.isoformat()
        if isinstance(value, (bytes, bytearray)):  # !!binary
            return base64.b64encode(bytes(value)).decode()
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            if id(value) in self.path:
                raise FrontMatterError("README.md metadata is recursive (a YAML alias refers to itself).")
            self.path.add(id(value))
            try:
                if isinstance(value, dict):
                    return {self._key(k): self.copy(v, depth + 1) for k, v in value.items()}
                items = [self.copy(v, depth + 1) for v in value]
                if isinstance(value, (set, frozenset)):  # !!set: a sorted list
                    items.sort(key=str)
                return items
            finally:
                self.path.discard(id(value))
        return str(value)

    def _key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        copied = self.copy(key, 0)
        return copied if isinstance(copied, str) else str(copied).lower() if isinstance(copied, bool) else str(copied)
