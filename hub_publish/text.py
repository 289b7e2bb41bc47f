"""Small text helpers shared by every layer (ground: no Keras, no server, no cards)."""

from __future__ import annotations

import re
from typing import Any

from hub_publish import constants

_TERMINAL_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
_COMMIT_SHA = re.compile(constants.COMMIT_SHA_PATTERN)
_SHA256 = re.compile(constants.SHA256_PATTERN)
# The frame Keras puts around an error raised inside a layer call: not the error itself.
_KERAS_CALL_PREAMBLE = "Exception encountered when calling"
_KERAS_CALL_ARGUMENTS = "Arguments received by"


def human_size(size: float) -> str:
    """A byte count for humans: ``"512 B"``, ``"328.7 KiB"``, ``"1.5 MiB"`` (cards and the preview page).

    Args:
        size: Number of bytes.

    Returns:
        The size with a binary unit.
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def is_commit_sha(value: Any) -> bool:
    """Whether ``value`` is a full git commit id (40 lowercase hex digits), the one revision that never moves."""
    return isinstance(value, str) and _COMMIT_SHA.fullmatch(value) is not None


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is a sha256 hex digest (64 lowercase hex digits)."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def first_line(exc: BaseException | str, *, reasons: bool = False) -> str:
    """The first informative line of an exception's message, for a one-line user-facing error.

    Terminal colour codes are dropped, and so is the frame Keras puts around an error raised in a
    layer call ("Exception encountered when calling ..." above it, "Arguments received by ..."
    below it), so the line is the error itself.

    Args:
        exc: The exception (or a message, e.g. a warning's).
        reasons: Also append the ``- reason`` lines huggingface_hub lists under its first line
            (its HTTP errors name the server's reasons there).

    Returns:
        The line; the exception's type name when its message is empty ("" for an empty string).
    """
    text = _TERMINAL_COLOUR.sub("", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(_KERAS_CALL_PREAMBLE):
            continue
        if line.startswith(_KERAS_CALL_ARGUMENTS):
            break
        if not reasons:
            return line
        found = []
        for rest in lines[i + 1 :]:
            if rest.startswith(_KERAS_CALL_ARGUMENTS):
                break
            if rest.startswith("- "):
                found.append(rest[2:])
        return " ".join([line, *found])
    return "" if isinstance(exc, str) else type(exc).__name__
