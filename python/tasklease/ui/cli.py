"""`tasklease ui`: the subcommand's parser and runner (registered by tasklease.cli).

Binds 127.0.0.1 by default.  Any other address needs a token (--token or
TASKLEASE_UI_TOKEN): an open console on a network would let anyone who reaches it act
with the DSN's role.  The web framework is imported only when the command runs, so a
missing extra is a clear error, not a traceback at `tasklease --help`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

from ..pooling import add_cli_options

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
TOKEN_ENV = "TASKLEASE_UI_TOKEN"
MISSING_EXTRA = ("tasklease: error: `tasklease ui` needs the ui extra: "
                 "pip install 'tasklease[ui]' ({missing} is not installed)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ui", help="serve the operations console (needs tasklease[ui])")
    add_cli_options(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--read-only", action="store_true",
                   help="offer no actions, whatever the role may do")
    p.add_argument("--token", help=f"require this token (bearer, or the basic-auth password); "
                                   f"default: {TOKEN_ENV}")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and not token:
        print(f"tasklease: error: --host {args.host} is not a loopback address: set a token "
              f"with --token or {TOKEN_ENV} (every request must then carry it)",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        print(MISSING_EXTRA.format(missing=exc.name or exc), file=sys.stderr)
        return EXIT_ERROR
    import logging

    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(args.dsn, read_only=args.read_only, token=token)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                proxy_headers=False, server_header=False)
    return EXIT_OK
