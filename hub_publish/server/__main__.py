"""``python -m hub_publish.server --host 127.0.0.1 --port 8000 --data-dir DIR [--token u=t ...] [--gc | --check]``."""

from __future__ import annotations

import argparse
import sys

from hub_publish import constants
from hub_publish.server import serve
from hub_publish.server._runner import check, collect
from hub_publish.server.errors import HubError


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run :func:`hub_publish.server.serve` (or a collection / check)."""
    parser = argparse.ArgumentParser(prog="python -m hub_publish.server", description=__doc__)
    parser.add_argument("--host", default=constants.DEFAULT_SERVER_HOST)
    parser.add_argument("--port", type=int, default=constants.DEFAULT_SERVER_PORT)
    parser.add_argument("--data-dir", default=constants.DEFAULT_DATA_DIR)
    parser.add_argument("--config", default=None, help="users config file (JSON or YAML)")
    parser.add_argument("--token", action="append", default=[], help="user=token[:org...]; repeatable")
    parser.add_argument("--max-upload-bytes", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--gc", action="store_true", help="collect garbage in the data dir and exit")
    parser.add_argument("--gc-grace-seconds", type=float, default=constants.SERVER_GC_GRACE_S)
    parser.add_argument("--check", action="store_true", help="verify every ref -> commit -> blob and exit")
    args = parser.parse_args(argv)
    try:
        if args.gc or args.check:
            status = 0
            if args.gc:
                print(collect(args.data_dir, grace_s=args.gc_grace_seconds))
            if args.check:
                problems, summary = check(args.data_dir)
                for line in problems:
                    print(line)
                print(summary)
                status = 1 if problems else 0
            sys.exit(status)
        serve(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            config=args.config,
            tokens=args.token,
            max_upload_bytes=args.max_upload_bytes,
            log_level=args.log_level,
        )
    except HubError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
