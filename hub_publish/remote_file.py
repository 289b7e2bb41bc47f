"""Read one small file of a Hub repo without leaving a trace (ground level, below the cards).

A push compares what it is about to send with what the branch holds (the card to merge, the
metadata whose save date to keep); those reads must not fill the user's huggingface_hub cache or
/tmp, so the file goes through a throw-away cache. Both the push and the card merge
(`model_cards.merge`, which sits below the Hub client) call this one helper.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import HfApi


def read_remote_bytes(api: "HfApi", repo_id: str, filename: str, *, revision: str | None = None) -> bytes | None:
    """The bytes of ``filename`` on a branch of a Hub repo, or None when the branch or the file does not exist.

    Args:
        api: The `HfApi` of the caller (its endpoint and token are used).
        repo_id: ``namespace/name``.
        filename: Path of the file in the repo.
        revision: Branch, tag or commit (default: the main branch).

    Returns:
        The file's bytes, or None.

    Raises:
        huggingface_hub errors: Other than "no such file / no such revision" (the caller maps them).
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    with tempfile.TemporaryDirectory(prefix="hub-publish-peek-") as cache:
        try:
            path = hf_hub_download(
                repo_id, filename, revision=revision, endpoint=api.endpoint, token=api.token, cache_dir=cache
            )
        except (EntryNotFoundError, RevisionNotFoundError):
            return None
        return Path(path).read_bytes()


def read_remote_text(api: "HfApi", repo_id: str, filename: str, *, revision: str | None = None) -> str | None:
    """`read_remote_bytes` as text (UTF-8; a byte-order mark is dropped), or None."""
    data = read_remote_bytes(api, repo_id, filename, revision=revision)
    return None if data is None else data.decode("utf-8-sig")
