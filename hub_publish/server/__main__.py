"""``python -m hub_publish.server [OPTIONS]`` is ``hub-publish serve [OPTIONS]`` (`HubServer` starts its
subprocess this way).

The command line is defined once, in `hub_publish.cli.serve`; this module only names it. It is the
one module under ``server/`` that imports above the ground: it is the command line, not the server.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from hub_publish.cli import main

    main(["serve", *sys.argv[1:]], prog_name="hub-publish")  # usage and errors name the command it is
