"""Pushing: package a model (or check a packaged folder), then upload it to a Hub repo.

The layer above saving and loading (docs/architecture.md): `push_to_hub` saves a model with
`hub_publish.packaging.save_pretrained` into a temporary folder, or checks a given folder (no link
out of it, `format.verify_folder`), then commits it with huggingface_hub's public commit API. The
Hub transport and its error messages live in `hub_publish.hub`, the folder format in
`hub_publish.format`. Like huggingface_hub's ``hub_mixin``: save to a temporary folder, then upload.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import __version__, constants
from hub_publish import format as fmt
from hub_publish.remote_file import read_remote_bytes
from hub_publish.errors import HubPublishError, ModelFolderError, option
from hub_publish.hub import hub_errors

if TYPE_CHECKING:  # pragma: no cover
    import keras


@dataclass(frozen=True)
class PushResult:
    """What a push did: the commit on the Hub (unchanged when nothing changed)."""

    repo_id: str
    commit_id: str
    commit_url: str | None
    repo_url: str
    revision: str
    changed: bool
    pr_url: str | None = None


def push_to_hub(
    model_or_folder: "keras.Model | str | os.PathLike",
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    branch: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
    overwrite_card: bool = False,
    **save_kwargs: Any,
) -> PushResult:
    """Push a model (packaged on the fly) or a packaged folder to a Hub repo.

    The repo is created if needed (``exist_ok``), and the branch too; a repo this push created is
    deleted again when the push fails before committing (a refused card, a lost connection). Files
    whose content is already on the Hub are not sent again, and a push that changes nothing
    creates no commit. Concurrent pushes from several threads are safe.

    Args:
        model_or_folder: A Keras functional model or a folder written by `save_pretrained`.
        repo_id: ``namespace/name``.
        private: Create the repo as private (an existing repo keeps its visibility).
        token: Hub token (default: huggingface_hub's: ``HF_TOKEN`` or the login cache).
        branch: Target branch (created from the default branch if missing; default ``main``).
        commit_message: Commit summary.
        create_pr: Open a pull request instead of committing to the branch.
        endpoint: Hub endpoint (default: ``HF_ENDPOINT``, else huggingface.co).
        overwrite_card: Replace a README.md that was edited on the Hub with the generated card.
            By default the edited card is kept and the generated metadata (evaluation results,
            base model, tags, ...) is merged into it (see `model_cards.merge`). The merged card
            goes into the commit only: a pushed folder is never written to.
        **save_kwargs: Passed to `save_pretrained` when a model is given.

    Returns:
        A `PushResult` with the commit id and URLs.

    Raises:
        HubPublishError: The folder is not a model folder, or the Hub refused the push (the
            message says why: authentication, permissions, invalid name, ...).
    """
    from huggingface_hub import HfApi

    from hub_publish.loading import push_repo_id

    repo_id = push_repo_id(repo_id)  # one clear line before anything is created
    api = HfApi(endpoint=endpoint, token=token, library_name="hub-publish", library_version=__version__)
    # The folder is checked (links, hashes) or packaged before the Hub is touched: a refused
    # push creates no repo and no branch.
    with (
        _as_folder(model_or_folder, repo_id, save_kwargs) as (folder, known_sha256),
        hub_errors(repo_id, branch, endpoint=api.endpoint),
        _xet_for(api.endpoint),
        _repo_removed_if_left_empty(api, repo_id, private) as repo_url,
    ):
        repo_id = repo_url.repo_id
        if branch:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        before = api.repo_info(repo_id, revision=branch).sha
        # What the commit holds instead of the folder's file (the user's folder is never written).
        replaced: dict[str, bytes] = {}
        metadata = _remote_metadata_if_unchanged(api, repo_id, branch, folder)
        if metadata is not None:
            replaced[constants.METADATA_FILE] = metadata
        from model_cards.merge import card_for_push

        _, card = card_for_push(folder, api=api, repo_id=repo_id, revision=branch, overwrite=overwrite_card)
        if card is not None:
            replaced[constants.CARD_FILE] = card
        info = _upload_folder(
            api,
            repo_id=repo_id,
            folder=folder,
            revision=branch,
            commit_message=commit_message or f"Upload {_class_name(folder)} with hub-publish {__version__}",
            create_pr=create_pr,
            # Every weights/asset file the new folder no longer has goes (files uploaded in the same
            # commit are kept): a stale sharded index must not outlive its layout.
            delete_patterns=None if create_pr else list(fmt.OWNED_PATTERNS),
            known_sha256=known_sha256,
            replaced=replaced,
        )
    changed = info.oid != before
    return PushResult(
        repo_id=repo_id,
        commit_id=info.oid,
        commit_url=info.commit_url,
        repo_url=str(repo_url),
        revision=info.pr_revision or branch or "main",  # create_pr: the commit is on refs/pr/N
        changed=changed,
        pr_url=info.pr_url,
    )


def check_push_target(repo_id: Any, *, token: str | None = None, endpoint: str | None = None) -> None:
    """Check, cheaply and before any long work (training, packaging), that a push to ``repo_id`` can start.

    The repo id must be ``[hf://]namespace/name`` with valid parts (`loading.push_repo_id`), the
    Hub must answer at the endpoint and the token must be valid there (huggingface_hub's
    ``whoami``), and allowed to write to the namespace (`_check_namespace`). `finetune(push=...)`,
    the quickstart and the CLI call it first, so that a bad ``--push`` / ``--token`` /
    ``--endpoint`` is one line before training, not after it.

    Raises:
        HubPublishError: What is wrong, in one line.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import LocalTokenNotFoundError

    from hub_publish.loading import push_repo_id

    repo_id = push_repo_id(repo_id)  # the same rule as push_to_hub's
    api = HfApi(endpoint=endpoint, token=token, library_name="hub-publish", library_version=__version__)
    with hub_errors(repo_id, None, endpoint=api.endpoint):
        try:
            me = api.whoami()
        except LocalTokenNotFoundError:
            api.repo_exists(repo_id)  # no token: still say first when the Hub cannot be reached
            raise HubPublishError(
                f"no Hub token to push {repo_id} with; pass {option('token=', '--token')}, set HF_TOKEN or run `hf auth login`."
            ) from None
    _check_namespace(repo_id, me)


def _check_namespace(repo_id: str, me: Mapping[str, Any]) -> None:
    """Refuse a push the Hub will refuse for its namespace, from whoami's answer (user, orgs, token role).

    Only what whoami states for sure is refused: a namespace that is neither the user nor one of
    their orgs, a read-only token, or an org where the user's role is read. Fine-grained tokens
    are left to the Hub (their per-repo rights are not in the answer).
    """
    namespace = repo_id.split("/", 1)[0]
    user = me.get("name")
    roles = {org.get("name"): org.get("roleInOrg") for org in me.get("orgs") or [] if isinstance(org, Mapping)}
    token_role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    change = f"use a token that may write there ({option('token=', '--token')}) or another namespace"
    if token_role == "read":
        raise HubPublishError(f"{repo_id}: the token of {user} is read-only and cannot push; {change}.")
    if namespace != user and namespace not in roles:
        raise HubPublishError(f"{repo_id}: the token of {user} may not push to the namespace {namespace!r} "
                              f"(neither the user nor one of their orgs); {change}.")
    if namespace != user and roles.get(namespace) == "read":
        raise HubPublishError(f"{repo_id}: {user} has read access only in the org {namespace!r}; {change}.")


@contextlib.contextmanager
def _as_folder(model_or_folder: Any, repo_id: str, save_kwargs: Mapping[str, Any]) -> Iterator[tuple[Path, dict[str, str]]]:
    """The folder to push, and the verified sha256 of its weights files (``{name: hex}``).

    The weights are hashed at most once per push: `save_pretrained` hashes what it writes and
    records it (`hub_publish.verify_cache`), verifying a folder reuses a still-valid record or
    hashes once, and the digests are handed to huggingface_hub so that it does not hash again.
    """
    if isinstance(model_or_folder, (str, os.PathLike)):
        folder = Path(model_or_folder)
        if not (folder / constants.CONFIG_FILE).is_file():
            raise ModelFolderError(f"{folder} is not a model folder ({'no such folder' if not folder.is_dir() else 'no ' + constants.CONFIG_FILE}); write one with {option('hub_publish.save_pretrained', 'hub-publish save')}.")
        if save_kwargs:
            raise HubPublishError(f"options {sorted(save_kwargs)} only apply when pushing a model, not a folder.")
        _check_links(folder)  # never publish what a link out of the folder points to
        metadata = _require_manifest(folder)  # never publish a folder hub-publish could not load back
        fmt.verify_folder(folder, metadata)  # never publish a folder whose files do not match its metadata
        _warn_unexpected_files(folder, metadata)
        yield folder, metadata.sha256s()
        return
    from hub_publish.packaging import save_pretrained

    with tempfile.TemporaryDirectory(prefix="hub-publish-push-") as tmp:
        folder = save_pretrained(model_or_folder, Path(tmp) / "model", repo_id=repo_id, **save_kwargs)
        metadata = fmt.read_metadata(folder)
        fmt.verify_folder(folder, metadata)  # free: save_pretrained recorded the digests it computed
        yield folder, metadata.sha256s()


@contextlib.contextmanager
def _repo_removed_if_left_empty(api: Any, repo_id: str, private: bool) -> Iterator[Any]:
    """Create the repo if needed (``exist_ok``); if this push created it and fails before anything
    was committed (the Hub refused the card, the connection broke, ...), delete it again.

    A push that fails leaves nothing half-written: not even an empty repo. A repo that existed
    before, or that received a commit, branch or tag meanwhile (the initial commit is the only one
    allowed), is never deleted.
    """
    existed = api.repo_exists(repo_id)
    repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
    if existed:
        yield repo_url
        return
    initial = api.repo_info(repo_url.repo_id).sha
    try:
        yield repo_url
    except BaseException:
        with contextlib.suppress(Exception):  # the push's own error is the one to report
            refs = api.list_repo_refs(repo_url.repo_id, include_pull_requests=True)
            targets = {ref.target_commit for ref in [*refs.branches, *refs.tags, *(refs.pull_requests or [])]}
            if targets == {initial} and not refs.tags and not refs.pull_requests:
                api.delete_repo(repo_url.repo_id)
        raise


def _upload_folder(
    api: Any,
    *,
    repo_id: str,
    folder: Path,
    revision: str | None,
    commit_message: str,
    create_pr: bool,
    delete_patterns: list[str] | None,
    known_sha256: Mapping[str, str],
    replaced: Mapping[str, bytes] | None = None,
) -> Any:
    """``HfApi.upload_folder`` with the sha256 of already-verified files passed in.

    Written with huggingface_hub's public operations (``CommitOperationAdd``/``Delete`` and
    ``create_commit``) because ``upload_folder`` has no way to take known digests and would hash
    every weights file again (1 s per 1.5 GB). Same rules as ``upload_folder``: every file of the
    folder except ``.git``/``.cache/huggingface``; remote files matching ``delete_patterns`` that the
    folder does not hold are deleted (never ``.gitattributes``); unchanged files are skipped by
    huggingface_hub, and a push that changes nothing makes no commit. ``replaced`` gives the
    content to commit instead of a folder file's (the merged card), leaving the folder untouched.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    folder = folder.expanduser().resolve()
    local = {p.relative_to(folder).as_posix(): p for p in sorted(folder.glob("**/*")) if p.is_file()}
    names = list(filter_repo_objects(local, ignore_patterns=DEFAULT_IGNORE_PATTERNS))
    additions = []
    replaced = replaced or {}
    for name in names:
        op = CommitOperationAdd(path_in_repo=name, path_or_fileobj=replaced.get(name, local[name]))
        sha = known_sha256.get(name)
        if sha is not None:
            op.upload_info.sha256 = bytes.fromhex(sha)  # verified against these bytes just before
        additions.append(op)
    deletions = []
    if delete_patterns:
        remote = api.list_repo_files(repo_id, revision=revision)
        kept = {*names, ".gitattributes"}
        deletions = [
            CommitOperationDelete(path_in_repo=name)
            for name in filter_repo_objects(remote, allow_patterns=delete_patterns)
            if name not in kept
        ]
    with _no_empty_commit_notice():  # the caller says "unchanged (no new commit)" itself
        return api.create_commit(
            repo_id=repo_id,
            operations=[*deletions, *additions],
            commit_message=commit_message,
            revision=revision,
            create_pr=create_pr,
        )


_IN_PUSH = contextvars.ContextVar("hub_publish_in_push", default=False)


class _EmptyCommitNoticeFilter(logging.Filter):
    """Drops huggingface_hub's "No files have been modified since last commit" log line, during our pushes only."""

    NOTICE = "No files have been modified since last commit"

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_IN_PUSH.get() and record.getMessage().startswith(self.NOTICE))


_EMPTY_COMMIT_FILTER = _EmptyCommitNoticeFilter()


@contextlib.contextmanager
def _no_empty_commit_notice() -> Iterator[None]:
    """Silence that one line of ``huggingface_hub.hf_api``'s logger for this thread's push.

    The filter is installed once (adding and removing it around each call would race between
    threads); a context variable limits it to the pushes hub-publish runs.
    """
    hf_logger = logging.getLogger("huggingface_hub.hf_api")
    if _EMPTY_COMMIT_FILTER not in hf_logger.filters:
        hf_logger.addFilter(_EMPTY_COMMIT_FILTER)
    reset = _IN_PUSH.set(True)
    try:
        yield
    finally:
        _IN_PUSH.reset(reset)


def _require_manifest(folder: Path) -> fmt.Metadata:
    """Refuse a folder that is not a hub-publish model folder: metadata.json (the manifest) must
    name the config and the weights, so that `fmt.verify_folder` checks what a load reads.

    Folders Keras wrote (no manifest) load, but are not pushed: what a push publishes must be
    verifiable by every later download (README.md, "Pushing").
    """
    if not (folder / constants.METADATA_FILE).is_file():
        raise ModelFolderError(
            f"{folder} is not a hub-publish model folder (no {constants.METADATA_FILE}); package the model into a folder "
            f"with `hub-publish save SOURCE FOLDER` (or hub_publish.save_pretrained), then push that folder."
        )
    metadata = fmt.read_metadata(folder)
    missing = [name for name, present in ((constants.CONFIG_FILE, constants.CONFIG_FILE in metadata.files),
                                          ("a weights file", metadata.weights_file() is not None)) if not present]
    if missing:
        raise ModelFolderError(
            f"{constants.METADATA_FILE} in {folder} does not name {' or '.join(missing)}, so the folder cannot be verified "
            "or loaded; re-save the model with `hub-publish save SOURCE FOLDER --overwrite`, then push."
        )
    return metadata


def _check_links(folder: Path) -> None:
    """Refuse a folder holding a symbolic link that leaves it (huggingface_hub would upload the target)."""
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if target != root and root not in target.parents:
                    rel = path.relative_to(folder).as_posix()
                    raise HubPublishError(
                        f"{rel} in {folder} is a link to {target}, outside the folder; refusing to publish it (replace the "
                        "link by a copy of the file, or remove it)."
                    )


def _warn_unexpected_files(folder: Path, metadata: fmt.Metadata) -> None:
    """Say which files a push uploads that the folder's manifest does not name (notes, plots, ...)."""
    from hub_publish.errors import HubPublishWarning, warn

    # The card and the images it shows are written by hub-publish but never loaded, so not in the manifest.
    card_files = {constants.METADATA_FILE, constants.CARD_FILE, constants.MODEL_PLOT_FILE, constants.TRAINING_CURVES_FILE}
    expected = set(metadata.files) | card_files
    extra = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".cache"]  # huggingface_hub's own bookkeeping
        for filename in filenames:
            rel = (Path(dirpath) / filename).relative_to(folder).as_posix()
            if rel not in expected and not rel.startswith(".cache/"):
                extra.append(rel)
    if extra:
        shown = ", ".join(sorted(extra)[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        warn(f"uploading {len(extra)} file(s) the model's manifest does not name: {shown}", HubPublishWarning)


def _class_name(folder: Path) -> str:
    try:
        name = fmt.read_json_object(folder, constants.CONFIG_FILE, required=True).get("class_name")
    except (OSError, ModelFolderError):
        return "model"
    return name if isinstance(name, str) else "model"


def _remote_metadata_if_unchanged(api: Any, repo_id: str, branch: str | None, folder: Path) -> bytes | None:
    """The remote metadata.json when nothing but ``date_saved`` differs from the folder's, else None.

    Keras stamps every save with the time; without this, re-pushing an unchanged model would
    always differ by that one field and create a commit. The remote bytes go into the commit
    (so no commit at all); the folder's own file is left as it is.
    """
    remote_bytes = read_remote_bytes(api, repo_id, constants.METADATA_FILE, revision=branch)
    if remote_bytes is None:
        return None
    try:
        remote = fmt.parse_metadata(remote_bytes)
    except ModelFolderError:
        return None  # a malformed metadata.json on the Hub: the push replaces it
    local = fmt.read_metadata(folder)
    if local.same_except_date(remote) and (folder / constants.METADATA_FILE).read_bytes() != remote_bytes:
        return remote_bytes
    return None


class _XetSwitch:
    """``huggingface_hub.constants.HF_HUB_DISABLE_XET`` set for the pushes that need it, thread-safely.

    huggingface_hub 2.4.0 has no per-call way to choose Xet or classic LFS for an upload:
    `_upload_files` asks ``is_xet_available()``, which reads that process-wide constant at call time
    (docs/hub.md, "The Xet rule"). Flipping it around one push is not thread-safe: with two pushes
    at once, the first to finish restored the value the second still needed, and the second then
    restored the first's flipped value for good. So pushes are grouped by the setting they need:
    pushes needing the same one run together, a push needing the other one waits until they are
    done, and the user's own value comes back when the last push of a group ends.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders = 0
        self._disable = False
        self._saved: Any = None

    @contextlib.contextmanager
    def held(self, disable: bool) -> Iterator[None]:
        """Run the block with Xet disabled (``disable``) or as the user set it (not ``disable``)."""
        from huggingface_hub import constants as hf_constants

        with self._cond:
            while self._holders and self._disable != disable:
                self._cond.wait()
            if not self._holders:
                self._saved, self._disable = hf_constants.HF_HUB_DISABLE_XET, disable
                if disable:
                    hf_constants.HF_HUB_DISABLE_XET = True
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if not self._holders:
                    hf_constants.HF_HUB_DISABLE_XET = self._saved
                    self._cond.notify_all()


_XET_SWITCH = _XetSwitch()


def _xet_for(endpoint: str) -> contextlib.AbstractContextManager[None]:
    """Disable the Xet transfer protocol for endpoints other than huggingface.co, for this push.

    Other Hub servers may speak classic LFS only (the embedded one accepts both; see docs/hub.md).
    Thread-safe (`_XetSwitch`): concurrent pushes to different endpoints each get their setting.
    """
    return _XET_SWITCH.held(endpoint.rstrip("/") != constants.PUBLIC_HUB_ENDPOINT)
