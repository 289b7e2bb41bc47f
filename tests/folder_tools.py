"""Helpers for tests that edit a saved model folder on purpose (to simulate another author's repo)."""

from __future__ import annotations

import json
from pathlib import Path

from hub_publish import constants
from hub_publish.format import file_digest


def restamp(folder: Path, *names: str) -> None:
    """Record the current sha256/size of ``names`` in the folder's manifest, as if saved that way."""
    path = folder / constants.METADATA_FILE
    metadata = json.loads(path.read_text())
    files = metadata[constants.META_ROOT][constants.META_FILES]
    for name in names:
        files[name] = file_digest(folder / name)
    path.write_text(json.dumps(metadata, indent=2) + "\n")
