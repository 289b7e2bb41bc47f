"""``python -m hub_publish.server --host 127.0.0.1 --port 8000 --data-dir DIR [--token u=t ...]``."""

from __future__ import annotations

import argparse

from hub_publish import constants
from hub_publish.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run :func:`hub_publish.server.serve`."""
    parser = argparse.ArgumentParser(prog="python -m hub_publish.server", description=__doc__)
    parser.add_argument("--host", default=constants.DEFAULT_SERVER_HOST)
    parser.add_argument("--port", type=int, default=constants.DEFAULT_SERVER_PORT)
    parser.add_argument("--data-dir", default=constants.DEFAULT_DATA_DIR)
    parser.add_argument("--config", default=None, help="users config file (JSON or YAML)")
    parser.add_argument("--token", action="append", default=[], help="user=token[:org...]; repeatable")
    parser.add_argument("--max-upload-bytes", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        config=args.config,
        tokens=args.token,
        max_upload_bytes=args.max_upload_bytes,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
