"""CLI of the investigation tools (issue 12): ``lapi bench stakeout``.

Registered by :func:`lapi.cli.build_parser` through :func:`add_parsers`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable

from lapi.cli import _die


def cmd_bench_stakeout(args: argparse.Namespace) -> None:
    from lapi.investigations.bench import format_report, run_stakeout_bench

    if args.reads < 10_000 or args.repeats < 1:
        _die("--reads must be >= 10000, --repeats >= 1")
    logging.basicConfig(level=logging.ERROR)
    r = run_stakeout_bench(args.reads, args.repeats, args.database_url or os.environ.get("LAPI_DATABASE_URL"))
    print(json.dumps(r, indent=2) if args.json else format_report(r))


def add_parsers(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction,
                client: Callable[[argparse.ArgumentParser], None]) -> None:
    """``lapi bench stakeout``."""
    b = bench.add_parser("stakeout", help="stakeout of 3 places x 24 h over N reads bulk-loaded with COPY")
    b.add_argument("--reads", type=int, default=10_000_000, help="reads loaded (default 10,000,000)")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--database-url", help="PostgreSQL server for a scratch database (default: $LAPI_DATABASE_URL, "
                   "else a temporary embedded one)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench_stakeout)
