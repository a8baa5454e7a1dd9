"""``gauntlet serve``: the live, read-only team page and JSON API over the leaderboard store.

Exit codes: 0 stopped; 2 a user error (no database, a non-loopback --host without a token).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.location import resolve_url
from gauntlet.leaderboard.serve.security import TOKEN_ENV, check_binding, is_loopback

log = logging.getLogger(__name__)

_EXAMPLES = f"""examples:
  gauntlet serve                                   # http://127.0.0.1:8765, logs/leaderboard.db
  gauntlet serve --url postgresql+psycopg://reader@db:5432/gauntlet
  GAUNTLET_SERVE_TOKEN=... gauntlet serve --host 0.0.0.0 --port 8765   # a team: token required

The API: /api/groups /api/runs /api/runs/ID /api/runs/ID/history /api/diff?runs=A,B
/api/sweeps/NAME /api/tasks /api/studies /api/studies/NAME. Off loopback every request needs
the token, as "Authorization: Bearer TOKEN" or once as ?token=TOKEN (a cookie then); ${TOKEN_ENV} sets it.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gauntlet serve",
        description="Serve the leaderboard as a live web page and JSON API. Read-only: the "
        "store is never written.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url",
        help="database URL (default: $GAUNTLET_LEADERBOARD_URL, else the SQLite file in --log-dir)",
    )
    parser.add_argument("--log-dir", default="logs", help="directory of leaderboard.db")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    parser.add_argument(
        "--token",
        help=f"required of every request (or ${TOKEN_ENV}); needed "
        "for any --host other than loopback",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv or []))
    token = check_binding(args.host, args.token)
    import uvicorn

    from gauntlet.leaderboard.serve.app import create_app

    url = resolve_url(args.url, args.log_dir, create=False)
    app = create_app(url, token)
    started = time.perf_counter()
    board = app.state.views.groups({})  # the first page's answer, ready before anyone asks
    print(
        f"read {board['runs']} completed runs in {board['total']} groups in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"serving {app.state.board.url} read-only at http://{shown}:{args.port}/"
        + (" (token required)" if token else "")
        + ("" if is_loopback(args.host) else " to the network"),
        flush=True,
    )
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except SystemExit as stop:  # uvicorn exits 1 when it cannot bind
        raise GauntletError(
            f"--port {args.port}: could not serve on {args.host}:{args.port} "
            "(in use?); choose another with --port"
        ) from stop
    return 0


__all__ = ["GauntletError", "main"]
