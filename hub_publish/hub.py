"""The Hub transport of hub-publish: download a snapshot (or one more file of it), and turn
huggingface_hub's exceptions into one clear line each.

Everything goes through huggingface_hub (HfApi, snapshot_download, its cache, retries, progress
bars and env settings such as HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE). The same code talks
to huggingface.co and to the embedded server (`hub_publish.server`). Loading sits on this module;
pushing (`hub_publish.pushing`, above saving and loading) uses its error messages. It imports
neither packaging nor loading.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hub_publish import __version__, constants
from hub_publish import format as fmt
from hub_publish.errors import HubPublishError, option
from hub_publish.text import first_line, is_commit_sha



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

        if revision is not None and is_commit_sha(revision) and not force_download and not cache_only:
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

    refused = None if local_files_only else _refused_access(repo_id, revision, token, endpoint, forced=force_download)
    with hub_errors(repo_id, revision, endpoint=endpoint):
        if refused is not None and force_download:
            # force_download means "not the cache": huggingface_hub would answer from it, silently.
            raise refused
        if refused is not None:
            # huggingface_hub answers a refused token with the cached snapshot, silently; say so,
            # or raise the refusal when nothing is cached.
            try:
                path = fetch(revision, list(LOAD_PATTERNS) if for_loading else None, cache_only=True)
            except Exception:  # noqa: BLE001 - nothing usable cached: the refusal is the error to show
                raise refused from None
            from hub_publish.errors import HubPublishWarning, warn

            warn(
                f"the Hub refused access to {repo_id} ({first_line(refused)}); using the copy in the local cache, which "
                f"may be out of date: pass a valid token ({option('token=', '--token')} or HF_TOKEN) to check for updates.",
                HubPublishWarning,
            )
            return path, (path.name if is_commit_sha(path.name) else None)
        path = fetch(revision, list(LOAD_PATTERNS) if for_loading else None)
        commit = path.name if is_commit_sha(path.name) else None
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
    return fmt.read_by_loading(fmt.recorded_sha256(folder))


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

    with hub_errors(repo_id, commit, endpoint=endpoint):
        try:
            return Path(hf_hub_download(
                repo_id, filename, revision=commit, token=token, cache_dir=cache_dir,
                local_files_only=local_files_only, endpoint=endpoint,
                library_name="hub-publish", library_version=__version__,
            ))
        except RemoteEntryNotFoundError:
            return None


# ----------------------------------------------------------------------------- helpers


def _refused_access(repo_id: str, revision: str | None, token: str | bool | None, endpoint: str | None,
                    *, forced: bool = False) -> Exception | None:
    """The Hub's refusal (bad/missing token, no access) for a branch or tag revision, else None.

    A commit sha is immutable and served from the cache without a request (huggingface_hub's
    rule, kept); offline mode and connection errors are left to snapshot_download, except for a
    ``forced`` download: snapshot_download falls back to the cache on any failure of its first
    request, force_download or not, so every failure (offline mode included) is returned then.
    (A forced commit sha is left to snapshot_download: it downloads each file, and those fail loudly.)
    """
    from huggingface_hub import HfApi
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import errors

    if revision and is_commit_sha(revision):
        return None
    if hf_constants.HF_HUB_OFFLINE:
        return errors.OfflineModeIsEnabled("offline mode is on (HF_HUB_OFFLINE)") if forced else None
    try:
        HfApi(endpoint=endpoint, token=token).repo_info(repo_id, revision=revision, token=token)
    except (errors.RepositoryNotFoundError, errors.GatedRepoError) as exc:
        return exc
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return exc if status in (401, 403) or forced else None
    except _transport_errors() as exc:  # unreachable: snapshot_download reports or falls back as it does
        return exc if forced else None
    except Exception:  # noqa: BLE001 - anything else: snapshot_download reports it as it does
        return None
    return None



@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str | None, *, endpoint: str | None = None) -> Iterator[None]:
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
        raise HubPublishError(f"a file is missing from {where}: {first_line(exc)}") from None
    except errors.LocalEntryNotFoundError as exc:
        raise HubPublishError(_not_cached_message(where, exc, endpoint, repo_id=repo_id)) from None
    except errors.OfflineModeIsEnabled:
        raise HubPublishError(f"{where}: the Hub cannot be used in offline mode (HF_HUB_OFFLINE is set); unset it.") from None
    except errors.HFValidationError as exc:
        raise HubPublishError(f"invalid repo id or revision for {where}: {first_line(exc)}") from None
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = {
            401: f"the token is missing or invalid: pass {option('token=', '--token')} or set HF_TOKEN",
            403: "the token may not write to this namespace",
            409: "conflict",
            412: "the branch moved meanwhile; pull and push again",
            413: "the upload is larger than the server allows",
        }.get(status, "the Hub refused the request")
        # huggingface_hub ends the server's sentence with one more period: keep neither inside the brackets.
        raise HubPublishError(f"{where}: {hint} (HTTP {status}: {first_line(exc).rstrip('.')})") from None
    except _transport_errors() as exc:
        raise HubPublishError(
            f"the Hub at {_endpoint_of(endpoint, exc)} could not be reached for {where} ({first_line(exc)}); "
            f"{_check_endpoint()}."
        ) from None


def _not_cached_message(where: str, exc: BaseException, endpoint: str | None, *, repo_id: str | None = None) -> str:
    """Why a snapshot could not be used: huggingface_hub raises the same LocalEntryNotFoundError for
    offline mode, ``local_files_only`` and an unreachable Hub; its cause tells them apart. A partly
    cached snapshot (a load fetches only the model files; `hub-publish pull` asks for all) names
    the files it lacks."""
    from huggingface_hub import constants as hf_constants
    from huggingface_hub import errors

    cause = exc.__cause__
    what = f"{where} is not in the local cache"
    if isinstance(exc, errors.IncompleteSnapshotError):
        missing = _missing_from_snapshot(repo_id, Path(exc.snapshot_path)) if repo_id else []
        sample = ", ".join(missing[:5]) + (f", ... ({len(missing) - 5} more)" if len(missing) > 5 else "")
        what = f"{where} is only partly in the local cache" + (f" ({len(missing)} file(s) missing: {sample})" if missing else "")
    cached = "or load a revision that is in the local cache (`hf cache ls` lists them)"
    if isinstance(cause, errors.OfflineModeIsEnabled) or (cause is None and hf_constants.HF_HUB_OFFLINE):
        return f"{what} and offline mode is on (HF_HUB_OFFLINE); unset HF_HUB_OFFLINE to download it, {cached}."
    if cause is None:  # the caller asked for the cache only (a Python option; the CLI never does)
        return f"{what} and local_files_only=True forbids downloading it; drop local_files_only, {cached}."
    if isinstance(cause, errors.HfHubHTTPError):
        status = getattr(getattr(cause, "response", None), "status_code", None)
        failure = f"answered HTTP {status}" if status else f"failed ({first_line(cause)})"
    else:
        failure = f"could not be reached ({first_line(cause)})"
    return f"{what}, and the Hub at {_endpoint_of(endpoint, cause)} {failure}; {_check_endpoint()}, {cached}."


def _missing_from_snapshot(repo_id: str, snapshot: Path) -> list[str]:
    """The files of a cached snapshot's tree listing (huggingface_hub's `get_cached_repo_tree`, no
    request) that the snapshot folder lacks; [] when that cannot be told."""
    from huggingface_hub import get_cached_repo_tree

    try:  # <cache>/models--o--n/snapshots/<commit>
        tree = get_cached_repo_tree(repo_id, revision=snapshot.name, cache_dir=snapshot.parent.parent.parent)
    except Exception:  # noqa: BLE001 - no listing cached (or an unexpected layout): the message goes without the list
        return []
    return sorted(entry.path for entry in tree if not (snapshot / entry.path).exists())


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
