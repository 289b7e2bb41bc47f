"""Running the server: ``serve`` (blocking) and ``HubServer`` (a managed subprocess or thread)."""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from hub_publish import constants
from hub_publish.server.errors import HubError


class ServerError(HubError):
    """The server cannot start or run as asked (a taken port, a bad data dir); one line for the user."""


def _merged(
    config: str | os.PathLike[str] | None, tokens: Sequence[str]
) -> tuple[str | None, tuple[str, ...]]:
    """Explicit settings plus the environment's (``HUB_PUBLISH_SERVER_CONFIG`` / ``_TOKENS``)."""
    config = config if config is not None else constants.SERVER_CONFIG_PATH
    env_tokens = (constants.SERVER_TOKENS_SPEC,) if constants.SERVER_TOKENS_SPEC else ()
    return (str(config) if config else None), (*env_tokens, *tokens)


def serve(
    *,
    host: str = constants.DEFAULT_SERVER_HOST,
    port: int = constants.DEFAULT_SERVER_PORT,
    data_dir: str | os.PathLike[str] = constants.DEFAULT_DATA_DIR,
    config: str | os.PathLike[str] | None = None,
    tokens: Sequence[str] = (),
    max_upload_bytes: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the Hub-compatible server in the foreground until interrupted.

    At start-up, temp files of uploads interrupted more than ``SERVER_TMP_STALE_S`` ago are
    removed (a younger one may belong to another server process on the same data dir).

    Args:
        host: Interface to listen on.
        port: TCP port.
        data_dir: Where repos are stored (created if missing).
        config: Users config file (JSON/YAML); defaults to ``HUB_PUBLISH_SERVER_CONFIG``.
        tokens: Token specs ``user=token[:org...]``, added to ``HUB_PUBLISH_SERVER_TOKENS``'s.
        max_upload_bytes: Upload limit (default ``HUB_PUBLISH_MAX_UPLOAD_BYTES`` or 5 GiB).
        log_level: Logging level name; one line per request is logged at ``info``.

    Raises:
        ServerError: When the config or a token spec is malformed, or the port is taken.
    """
    import uvicorn

    from hub_publish.server.app import create_app
    from hub_publish.server.storage import Storage, clean_tmp

    _setup_logging(log_level)
    config, tokens = _merged(config, tokens)
    sock = _listen(host, port)  # first: a taken port or a bad config leaves the data dir untouched
    try:
        app = create_app(data_dir, config=config, tokens=tokens, max_upload_bytes=max_upload_bytes)
    except BaseException:
        sock.close()
        raise
    clean_tmp(Storage(data_dir), constants.SERVER_TMP_STALE_S)
    logging.getLogger("hub_publish.server").info(
        "serving %s on http://%s:%d (model pages at http://%s:%d/{namespace}/{name})", Path(data_dir), host, port, host, port
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), access_log=False))
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a taken port is one clear error (not uvicorn's lines)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        advice = ("Is another server running there? Choose another --port." if exc.errno == errno.EADDRINUSE
                  else "Check --host: it must be an address of this machine (e.g. 127.0.0.1 or 0.0.0.0).")
        raise ServerError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. {advice}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def collect(data_dir: str | os.PathLike[str], *, grace_s: float = constants.SERVER_GC_GRACE_S, dry_run: bool = False) -> str:
    """Garbage-collect a data dir (safe while servers run on it); returns a one-line summary.

    Args:
        data_dir: The server's data dir.
        grace_s: Keep anything younger than this many seconds (uploads and commits in flight).
        dry_run: Only report what would be removed.
    """
    from hub_publish.server.storage import Storage, collect_garbage

    report = collect_garbage(_existing(data_dir), grace_s=grace_s, dry_run=dry_run)
    kinds = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(report.kinds.items())) or "nothing"
    verb = "would remove" if dry_run else "removed"
    return f"gc: {verb} {kinds} ({report.bytes} bytes) from {Path(data_dir)}"


def check(data_dir: str | os.PathLike[str]) -> tuple[list[str], str]:
    """Verify every ref -> commit -> blob of a data dir.

    Returns:
        ``(problems, summary)``: one line per inconsistency, and a one-line summary.
    """
    from hub_publish.server.storage import check_storage, reachable

    storage = _existing(data_dir)
    problems = check_storage(storage)
    commits, blobs, _ = reachable(storage)
    summary = (
        f"check: {len(commits)} repos, {sum(len(c) for c in commits.values())} commits, {len(blobs)} blobs verified: "
        + (f"{len(problems)} problem(s)" if problems else "consistent")
    )
    return problems, summary


def _existing(data_dir: str | os.PathLike[str]) -> Any:
    from hub_publish.server.storage import Storage

    if not (Path(data_dir).expanduser() / "repos").is_dir():
        raise ServerError(f"{data_dir} is not a hub-publish server data dir (no repos/ folder).")
    return Storage(data_dir)


def _setup_logging(level: str) -> None:
    logger = logging.getLogger("hub_publish.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class HubServer:
    """A Hub-compatible server for tests and scripts, started in a subprocess (or a thread).

    Use as a context manager::

        with HubServer(tmp_path, tokens=["alice=hf_alice"]) as server:
            HfApi(endpoint=server.endpoint, token="hf_alice").whoami()

    The subprocess runs ``python -m hub_publish.server``; :meth:`stop` sends SIGTERM (uvicorn
    finishes in-flight requests), :meth:`restart` starts a new process on the same port and data dir.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        host: str = constants.DEFAULT_SERVER_HOST,
        port: int = 0,
        config: str | os.PathLike[str] | None = None,
        tokens: Sequence[str] = (),
        max_upload_bytes: int | None = None,
        in_thread: bool = False,
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or _free_port(host)
        self.config = config
        self.tokens = tuple(tokens)
        self.max_upload_bytes = max_upload_bytes
        self.in_thread = in_thread
        self.log_file = Path(log_file) if log_file else self.data_dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: Any = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The value for ``HF_ENDPOINT`` / ``HfApi(endpoint=...)`` (same as :attr:`url`)."""
        return self.url

    def start(self) -> HubServer:
        """Start the server and wait until it answers.

        Returns:
            self.

        Raises:
            RuntimeError: When it exits or does not answer within the startup timeout.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.in_thread:
            self._start_thread()
        else:
            self._start_process()
        self._wait_ready()
        return self

    def _start_process(self) -> None:
        cmd = [sys.executable, "-m", "hub_publish.server", "--host", self.host, "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        if self.config:
            cmd += ["--config", str(self.config)]
        for token in self.tokens:
            cmd += ["--token", token]
        if self.max_upload_bytes is not None:
            cmd += ["--max-upload-bytes", str(self.max_upload_bytes)]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _start_thread(self) -> None:
        import uvicorn

        from hub_publish.server.app import create_app

        config, tokens = _merged(self.config, self.tokens)
        app = create_app(self.data_dir, config=config, tokens=tokens, max_upload_bytes=self.max_upload_bytes)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", access_log=False)
        )
        self._thread = threading.Thread(target=self._uvicorn.run, name="hub-server", daemon=True)
        self._thread.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + constants.SERVER_STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"Hub server exited with code {self._proc.returncode}:\n{self._log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/models?limit=1", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answered (e.g. 401 when anonymous reads are off)
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Hub server did not answer on {self.url}:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(timeout)
            self._thread = None

    def restart(self) -> None:
        """Stop, then start again on the same port and data dir."""
        self.stop()
        self.start()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
