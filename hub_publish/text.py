"""Small text helpers shared by every layer (ground: no Keras, no server, no cards)."""

from __future__ import annotations


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
