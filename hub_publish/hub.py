"""The Hub client side of hub-publish: push a model folder, download a snapshot.

Everything goes through huggingface_hub (HfApi, snapshot_download, its cache, retries, progress
bars and env settings such as HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE); this module only
adds packaging, the no-op re-push rule and clear error messages. The same code talks to
huggingface.co and to the embedded server (`hub_publish.server`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import __version__, constants
from hub_publish import format as fmt
from hub_publish.errors import HubPublishError, ModelFolderError, option

if TYPE_CHECKING:  # pragma: no cover
    import keras

_SHA = re.compile(r"^[0-9a-f]{40}$")


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

    The repo is created if needed (``exist_ok``), and the branch too. Files whose content is
    already on the Hub are not sent again, and a push that changes nothing creates no commit.

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
            base model, tags, ...) is merged into it (see `model_cards.merge`); the folder's
            README.md is rewritten to the card that is pushed.
        **save_kwargs: Passed to `save_pretrained` when a model is given.

    Returns:
        A `PushResult` with the commit id and URLs.

    Raises:
        HubPublishError: The folder is not a model folder, or the Hub refused the push (the
            message says why: authentication, permissions, invalid name, ...).
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token, library_name="hub-publish", library_version=__version__)
    # The folder is checked (links, hashes) or packaged before the Hub is touched: a refused
    # push creates no repo and no branch.
    with _as_folder(model_or_folder, repo_id, save_kwargs) as (folder, known_sha256), _hub_errors(repo_id, branch), _xet_for(api.endpoint):
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = repo_url.repo_id
        if branch:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        before = api.repo_info(repo_id, revision=branch).sha
        _keep_remote_date_if_unchanged(api, repo_id, branch, folder)
        from model_cards.merge import sync_card_with_hub

        sync_card_with_hub(folder, api=api, repo_id=repo_id, revision=branch, overwrite=overwrite_card)
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
        )
    changed = info.oid != before
    return PushResult(
        repo_id=repo_id,
        commit_id=info.oid,
        commit_url=info.commit_url,
        repo_url=str(repo_url),
        revision=branch or "main",
        changed=changed,
        pr_url=info.pr_url,
    )


def download_snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    endpoint: str | None = None,
    for_loading: bool = False,
) -> tuple[Path, str | None]:
    """Download (or find in the cache) a repo snapshot with huggingface_hub.

    Args:
        repo_id: ``namespace/name``.
        revision: Branch, tag or commit sha.
        token, cache_dir, force_download, local_files_only, endpoint: As in
            ``huggingface_hub.snapshot_download``.
        for_loading: Fetch only what loading reads (`LOAD_PATTERNS`, plus any other weights file
            metadata.json lists), not the card, plots or graph.json; `fetch_file` gets one of
            those on demand into the same snapshot.

    Returns:
        The snapshot folder and the commit sha it holds.

    Raises:
        HubPublishError: Unknown repo or revision, no access, offline with nothing cached, ...
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    def fetch(revision: str | None, patterns: list[str] | None, cache_only: bool = local_files_only) -> Path:
        def call(cache_only: bool) -> Path:
            return Path(snapshot_download(
                repo_id,
                revision=revision,
                token=token,
                cache_dir=cache_dir,
                force_download=force_download,
                local_files_only=cache_only,
                endpoint=endpoint,
                allow_patterns=patterns,
                library_name="hub-publish",
                library_version=__version__,
            ))

        if revision is not None and _SHA.match(revision) and not force_download and not cache_only:
            # A commit is immutable: a complete cached snapshot is the answer, without the online
            # path's per-file checks and thread pool (~12 ms, 10% of a small model's load).
            # huggingface_hub can only tell a snapshot is complete when it cached the tree listing;
            # a folder that single-file downloads started is not taken for a complete one.
            try:
                cached = call(cache_only=True)
                if patterns is None or _has_what_loading_reads(cached):
                    return cached
            except LocalEntryNotFoundError:
                pass  # not (completely) cached: download
        return call(cache_only=cache_only)

    refused = None if (local_files_only or force_download) else _refused_access(repo_id, revision, token, endpoint)
    with _hub_errors(repo_id, revision, endpoint=endpoint):
        if refused is not None:
            # huggingface_hub answers a refused token with the cached snapshot, silently; say so,
            # or raise the refusal when nothing is cached.
            try:
                path = fetch(revision, list(LOAD_PATTERNS) if for_loading else None, cache_only=True)
            except Exception:  # noqa: BLE001 - nothing usable cached: the refusal is the error to show
                raise refused from None
            import warnings

            from hub_publish.errors import HubPublishWarning

            warnings.warn(
                f"the Hub refused access to {repo_id} ({_first_line(refused)}); using the copy in the local cache, which "
                f"may be out of date: pass a valid token ({option('token=', '--token')} or HF_TOKEN) to check for updates.",
                HubPublishWarning,
                stacklevel=3,
            )
            return path, (path.name if _SHA.match(path.name) else None)
        path = fetch(revision, list(LOAD_PATTERNS) if for_loading else None)
        commit = path.name if _SHA.match(path.name) else None
        if for_loading:
            # Weights files metadata.json lists under other names (pinned to the same commit).
            missing = [name for name in _loaded_files(path) if not (path / name).is_file()]
            if missing and commit is not None:
                fetch(commit, missing)
    return path, commit


def _has_what_loading_reads(folder: Path) -> bool:
    weights = (folder / constants.WEIGHTS_FILE).is_file() or (folder / constants.WEIGHTS_INDEX_FILE).is_file()
    listed = all((folder / name).is_file() for name in _loaded_files(folder))
    return (folder / constants.CONFIG_FILE).is_file() and weights and listed


def _loaded_files(folder: Path) -> list[str]:
    """The files metadata.json lists that every load reads (graph.json is fetched by the
    class-free fallback only, with `fetch_file`; plots and other extra files not at all)."""
    return fmt.read_by_loading(_recorded_sha256(folder))


# What loading reads: Keras' folder files (config, metadata, weights, sharded weights, assets).
# Not fetched for a load: README.md, plots, .gitattributes, graph.json (class-free fallback only).
LOAD_PATTERNS = (
    constants.CONFIG_FILE,
    constants.METADATA_FILE,
    constants.WEIGHTS_FILE,
    constants.WEIGHTS_INDEX_FILE,
    constants.WEIGHTS_SHARD_GLOB,
    "assets/*",
)


def fetch_file(
    repo_id: str,
    filename: str,
    *,
    commit: str | None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    endpoint: str | None = None,
) -> Path | None:
    """One more file of a snapshot that `download_snapshot(for_loading=True)` left out, or None
    when the repo does not have it. Pinned to ``commit``, so it lands in the same snapshot folder."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    with _hub_errors(repo_id, commit, endpoint=endpoint):
        try:
            return Path(hf_hub_download(
                repo_id, filename, revision=commit, token=token, cache_dir=cache_dir,
                local_files_only=local_files_only, endpoint=endpoint,
                library_name="hub-publish", library_version=__version__,
            ))
        except RemoteEntryNotFoundError:
            return None


# ----------------------------------------------------------------------------- helpers


def _refused_access(repo_id: str, revision: str | None, token: str | bool | None, endpoint: str | None) -> Exception | None:
    """The Hub's refusal (bad/missing token, no access) for a branch or tag revision, else None.

    A commit sha is immutable and served from the cache without a request (huggingface_hub's
    rule, kept); offline mode and connection errors are left to snapshot_download.
    """
    from huggingface_hub import HfApi
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import errors

    if hf_constants.HF_HUB_OFFLINE or (revision and _SHA.match(revision)):
        return None
    try:
        HfApi(endpoint=endpoint, token=token).repo_info(repo_id, revision=revision, token=token)
    except (errors.RepositoryNotFoundError, errors.GatedRepoError) as exc:
        return exc
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return exc if status in (401, 403) else None
    except Exception:  # noqa: BLE001 - transport problems: snapshot_download reports or falls back as it does
        return None
    return None



@contextlib.contextmanager
def _as_folder(model_or_folder: Any, repo_id: str, save_kwargs: Mapping[str, Any]) -> Iterator[tuple[Path, dict[str, str]]]:
    """The folder to push, and the verified sha256 of its weights files (``{name: hex}``).

    The weights are hashed at most once per push: `save_pretrained` hashes what it writes and
    records it (`hub_publish.verify_cache`), verifying a folder reuses a still-valid record or
    hashes once, and the digests are handed to huggingface_hub so that it does not hash again.
    """
    from hub_publish.format import verify_folder

    if isinstance(model_or_folder, (str, os.PathLike)):
        folder = Path(model_or_folder)
        if not (folder / constants.CONFIG_FILE).is_file():
            raise ModelFolderError(f"{folder} is not a model folder (no {constants.CONFIG_FILE}); write one with hub-publish save.")
        if save_kwargs:
            raise HubPublishError(f"options {sorted(save_kwargs)} only apply when pushing a model, not a folder.")
        _check_links(folder)  # never publish what a link out of the folder points to
        verify_folder(folder)  # never publish a folder whose files do not match its metadata
        _warn_unexpected_files(folder)
        yield folder, _recorded_sha256(folder)
        return
    from hub_publish.packaging import save_pretrained

    with tempfile.TemporaryDirectory(prefix="hub-publish-push-") as tmp:
        folder = save_pretrained(model_or_folder, Path(tmp) / "model", repo_id=repo_id, **save_kwargs)
        verify_folder(folder)  # free: save_pretrained recorded the digests it computed
        yield folder, _recorded_sha256(folder)


def _recorded_sha256(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files metadata.json records (verified by the caller); empty
    when there is no usable metadata.json (the loader reports that, with its own message)."""
    try:
        return {name: record.sha256 for name, record in fmt.read_metadata(folder).files.items()}
    except ModelFolderError:
        return {}


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
) -> Any:
    """``HfApi.upload_folder`` with the sha256 of already-verified files passed in.

    Written with huggingface_hub's public operations (``CommitOperationAdd``/``Delete`` and
    ``create_commit``) because ``upload_folder`` has no way to take known digests and would hash
    every weights file again (1 s per 1.5 GB). Same rules as ``upload_folder``: every file of the
    folder except ``.git``/``.cache/huggingface``; remote files matching ``delete_patterns`` that the
    folder does not hold are deleted (never ``.gitattributes``); unchanged files are skipped by
    huggingface_hub, and a push that changes nothing makes no commit.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    folder = folder.expanduser().resolve()
    local = {p.relative_to(folder).as_posix(): p for p in sorted(folder.glob("**/*")) if p.is_file()}
    names = list(filter_repo_objects(local, ignore_patterns=DEFAULT_IGNORE_PATTERNS))
    additions = []
    for name in names:
        op = CommitOperationAdd(path_in_repo=name, path_or_fileobj=local[name])
        sha = known_sha256.get(name)
        if sha is not None:
            op.upload_info.sha256 = bytes.fromhex(sha)  # verified against these bytes just before
        additions.append(op)
    deletions = []
    if delete_patterns:
        remote = api.list_repo_files(repo_id, revision=revision)
        deletions = [
            CommitOperationDelete(path_in_repo=name)
            for name in filter_repo_objects(remote, allow_patterns=delete_patterns)
            if name != ".gitattributes" and name not in set(names)
        ]
    return api.create_commit(
        repo_id=repo_id,
        operations=[*deletions, *additions],
        commit_message=commit_message,
        revision=revision,
        create_pr=create_pr,
    )


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


def _warn_unexpected_files(folder: Path) -> None:
    """Say which files a push uploads that the folder's manifest does not name (notes, plots, ...)."""
    import warnings

    from hub_publish.errors import HubPublishWarning

    # The card and the images it shows are written by hub-publish but never loaded, so not in the manifest.
    card_files = {constants.METADATA_FILE, constants.CARD_FILE, constants.MODEL_PLOT_FILE, constants.TRAINING_CURVES_FILE}
    expected = set(fmt.read_metadata(folder).files) | card_files
    extra = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".cache"]  # huggingface_hub's own bookkeeping
        for filename in filenames:
            rel = (Path(dirpath) / filename).relative_to(folder).as_posix()
            if rel not in expected and not rel.startswith(".cache/"):
                extra.append(rel)
    if extra:
        shown = ", ".join(sorted(extra)[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        warnings.warn(
            f"uploading {len(extra)} file(s) the model's manifest does not name: {shown}", HubPublishWarning, stacklevel=4
        )


def _class_name(folder: Path) -> str:
    try:
        return json.loads((folder / constants.CONFIG_FILE).read_text())["class_name"]
    except (OSError, ValueError, KeyError, TypeError):
        return "model"


def _keep_remote_date_if_unchanged(api: Any, repo_id: str, branch: str | None, folder: Path) -> None:
    """Reuse the remote ``date_saved`` when nothing else in metadata.json changed.

    Keras stamps every save with the time; without this, re-pushing an unchanged model would
    always differ by that one field and create a commit.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    local_path = folder / constants.METADATA_FILE
    # A throw-away cache: this comparison must not leave files in the user's HF cache or in /tmp.
    with tempfile.TemporaryDirectory(prefix="hub-publish-meta-") as cache:
        try:
            remote_path = hf_hub_download(
                repo_id, constants.METADATA_FILE, revision=branch, endpoint=api.endpoint, token=api.token,
                cache_dir=cache,
            )
        except (EntryNotFoundError, RevisionNotFoundError):
            return
        remote_text = Path(remote_path).read_text()
    local_text = local_path.read_text()
    local, remote = json.loads(local_text), json.loads(remote_text)
    date = constants.META_DATE_SAVED
    if {k: v for k, v in local.items() if k != date} == {k: v for k, v in remote.items() if k != date}:
        local[date] = remote.get(date)
        if local_text != remote_text:
            # Write back in the same formatting as packaging writes it.
            local_path.write_text(json.dumps(local, indent=2) + "\n")


@contextlib.contextmanager
def _xet_for(endpoint: str) -> Iterator[None]:
    """Disable the Xet transfer protocol for endpoints other than huggingface.co.

    huggingface_hub reads ``constants.HF_HUB_DISABLE_XET`` at call time, so this switch applies to
    the calls made inside the block only. Other Hub servers (the embedded one included) speak
    classic LFS; see docs/hub.md.
    """
    from huggingface_hub import constants as hf_constants

    previous = hf_constants.HF_HUB_DISABLE_XET
    if endpoint.rstrip("/") != constants.PUBLIC_HUB_ENDPOINT:
        hf_constants.HF_HUB_DISABLE_XET = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_DISABLE_XET = previous


@contextlib.contextmanager
def _hub_errors(repo_id: str, revision: str | None, *, endpoint: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one clear line each.

    ``endpoint`` is the Hub the calls inside use (default: the one a failed request went to, else
    huggingface_hub's, from HF_ENDPOINT); a message about an unreachable Hub names it.
    """
    from huggingface_hub import errors

    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    try:
        yield
    except errors.GatedRepoError:
        raise HubPublishError(f"{repo_id} is gated; request access on the Hub, then pass a token.") from None
    except errors.RepositoryNotFoundError:
        raise HubPublishError(
            f"repo {repo_id} not found (or it is private and the token cannot see it); check the id, the endpoint "
            f"({option('endpoint=', '--endpoint')} / HF_ENDPOINT) and the token."
        ) from None
    except errors.RevisionNotFoundError:
        raise HubPublishError(f"revision {revision!r} not found in {repo_id}; use a branch, tag or commit sha that exists.") from None
    except errors.RemoteEntryNotFoundError as exc:
        raise HubPublishError(f"a file is missing from {where}: {_first_line(exc)}") from None
    except errors.LocalEntryNotFoundError as exc:
        raise HubPublishError(_not_cached_message(where, exc, endpoint)) from None
    except errors.OfflineModeIsEnabled:
        raise HubPublishError(f"{where}: the Hub cannot be used in offline mode (HF_HUB_OFFLINE is set); unset it.") from None
    except errors.HFValidationError as exc:
        raise HubPublishError(f"invalid repo id or revision for {where}: {_first_line(exc)}") from None
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {
            401: f"the token is missing or invalid: pass {option('token=', '--token')} or set HF_TOKEN",
            403: "the token may not write to this namespace",
            409: "conflict",
            412: "the branch moved meanwhile; pull and push again",
            413: "the upload is larger than the server allows",
        }.get(status, "the Hub refused the request")
        raise HubPublishError(f"{where}: {hint} (HTTP {status}: {_first_line(exc)})") from None
    except _transport_errors() as exc:
        raise HubPublishError(
            f"the Hub at {_endpoint_of(endpoint, exc)} could not be reached for {where} ({_first_line(exc)}); "
            f"{_check_endpoint()}."
        ) from None


def _not_cached_message(where: str, exc: BaseException, endpoint: str | None) -> str:
    """Why a snapshot could not be used: huggingface_hub raises the same LocalEntryNotFoundError for
    offline mode, ``local_files_only`` and an unreachable Hub; its cause tells them apart."""
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import errors

    cause = exc.__cause__
    what = f"{where} is {'only partly' if isinstance(exc, errors.IncompleteSnapshotError) else 'not'} in the local cache"
    cached = "or load a revision that is in the local cache (`hf cache ls` lists them)"
    if isinstance(cause, errors.OfflineModeIsEnabled) or (cause is None and hf_constants.HF_HUB_OFFLINE):
        return f"{what} and offline mode is on (HF_HUB_OFFLINE); unset HF_HUB_OFFLINE to download it, {cached}."
    if cause is None:  # the caller asked for the cache only (a Python option; the CLI never does)
        return f"{what} and local_files_only=True forbids downloading it; drop local_files_only, {cached}."
    if isinstance(cause, errors.HfHubHTTPError):
        status = getattr(getattr(cause, "response", None), "status_code", None)
        failure = f"answered HTTP {status}" if status else f"failed ({_first_line(cause)})"
    else:
        failure = f"could not be reached ({_first_line(cause)})"
    return f"{what}, and the Hub at {_endpoint_of(endpoint, cause)} {failure}; {_check_endpoint()}, {cached}."


def _check_endpoint() -> str:
    return f"check the endpoint ({option('endpoint=', '--endpoint')} / HF_ENDPOINT) and the network"


def _endpoint_of(endpoint: str | None, exc: BaseException | None) -> str:
    """The Hub a failed call talked to: the given endpoint, else the failed request's, else huggingface_hub's."""
    from urllib.parse import urlsplit

    from huggingface_hub import constants as hf_constants

    if endpoint:
        return endpoint.rstrip("/")
    for get_request in (lambda: exc.request, lambda: exc.response.request):  # type: ignore[union-attr]
        try:  # transport errors carry their request, HTTP errors their response's
            url = urlsplit(str(get_request().url))
        except (AttributeError, RuntimeError):  # none attached (httpx raises RuntimeError)
            continue
        if url.scheme and url.netloc:
            return f"{url.scheme}://{url.netloc}"
    return hf_constants.ENDPOINT.rstrip("/")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures as huggingface_hub's HTTP stack raises them."""
    try:
        import httpx2  # huggingface_hub 2.x's HTTP client

        return (ConnectionError, httpx2.TransportError)
    except ImportError:  # pragma: no cover
        return (ConnectionError,)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
