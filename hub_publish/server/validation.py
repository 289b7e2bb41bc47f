"""Name and path rules of the Hub, enforced before anything is stored.

Repo names follow the Hub's rule (`hub_publish.hub_lists.repo_name_problem`, shared with the card checks): ``[A-Za-z0-9._-]``,
at most 96 characters, no ``--`` or ``..``, not starting or ending with ``-`` or ``.``.
Paths in a repo are relative POSIX paths without empty, ``.``, ``..`` or ``.git`` segments,
backslashes or control characters.
"""

from __future__ import annotations

import re

from hub_publish.server.errors import BadRequest
from hub_publish.hub_lists import repo_name_problem
from hub_publish.text import is_commit_sha

_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_MAX_PATH_LENGTH = 4096


def validate_name(name: str, *, what: str = "repo name") -> str:
    """Check one component of a repo id (namespace or name).

    Args:
        name: The namespace or the repo name.
        what: How to call it in the error message.

    Returns:
        The name, unchanged.

    Raises:
        BadRequest: When the name breaks a Hub rule.
    """
    problem = repo_name_problem(name)
    if problem is not None:
        raise BadRequest(f"Invalid {what} {name!r}: {problem}")
    return name


def validate_repo_id(repo_id: str) -> str:
    """Check a full ``namespace/name`` repo id.

    Args:
        repo_id: The repo id.

    Returns:
        The repo id, unchanged.

    Raises:
        BadRequest: When it is not ``namespace/name`` or a component is invalid.
    """
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise BadRequest(f"Invalid repo id {repo_id!r}: expected 'namespace/name'.")
    validate_name(parts[0], what="namespace")
    validate_name(parts[1])
    return repo_id


def validate_path(path: str) -> str:
    """Check a file or folder path inside a repo.

    Args:
        path: The path in the repo, as sent by the client.

    Returns:
        The path, unchanged.

    Raises:
        BadRequest: On an absolute path, a backslash, a control character, an empty, ``.``,
            ``..`` or ``.git`` segment, or an over-long path.
    """
    if not path:
        raise BadRequest("Invalid path in repo: the path is empty.")
    if len(path) > _MAX_PATH_LENGTH:
        raise BadRequest(f"Invalid path in repo: longer than {_MAX_PATH_LENGTH} characters.")
    if "\\" in path:
        raise BadRequest(f"Invalid path in repo {path!r}: backslashes are forbidden, use '/'.")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadRequest(f"Invalid path in repo {path!r}: control characters are forbidden.")
    if path.startswith("/"):
        raise BadRequest(f"Invalid path in repo {path!r}: absolute paths are forbidden.")
    for segment in path.split("/"):
        if segment == "":
            raise BadRequest(f"Invalid path in repo {path!r}: empty path segments are forbidden.")
        if segment in (".", ".."):
            raise BadRequest(f"Invalid path in repo {path!r}: '.' and '..' segments are forbidden.")
        if segment == ".git":
            raise BadRequest(f"Invalid path in repo {path!r}: '.git' segments are forbidden.")
    return path


def validate_ref_name(name: str, *, what: str = "branch") -> str:
    """Check a new branch or tag name.

    Args:
        name: The branch or tag name.
        what: ``"branch"`` or ``"tag"``, for the message.

    Returns:
        The name, unchanged.

    Raises:
        BadRequest: When the name is not a valid git ref name for the Hub.
    """
    if (
        not _BRANCH_RE.match(name)
        or name.startswith(("/", ".", "-", "refs/"))
        or name.endswith(("/", ".", ".lock"))
        or "//" in name
        or ".." in name
        or is_commit_sha(name)
    ):
        raise BadRequest(f"Invalid {what} name {name!r}.")
    return name
