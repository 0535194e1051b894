"""CLI of the investigation tools (issue 12): ``lapi case export|verify``, ``lapi bench stakeout``.

Registered by :func:`lapi.cli.build_parser` through :func:`add_parsers`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

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
    """``lapi case export|verify`` and ``lapi bench stakeout``."""
    p = sub.add_parser("case", help="case archives: export one from a running service, verify one offline")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser("export", help="a signed zip of chosen reads, hits, passes, routes, crops and the "
                        "procedure's audit trail")
    c.add_argument("--procedure", required=True, help="reference of the procedure the case is exported for")
    c.add_argument("--read", type=int, action="append", help="a read id (repeat)")
    c.add_argument("--hit", type=int, action="append", help="a hit id (repeat; brings its read)")
    c.add_argument("--pass", dest="pass_id", type=int, action="append", help="a pass id (repeat)")
    c.add_argument("--route", action="append", help="PLATE,FROM,TO: the vehicle's route over the window (repeat)")
    c.add_argument("--no-crops", action="store_true", help="leave the plate crops out")
    c.add_argument("--note")
    c.add_argument("-o", "--output", required=True, help="archive file to write (.zip)")
    client(c)
    c.set_defaults(func=cmd_case)
    c = csub.add_parser("verify", help="check an archive's signature and checksums (exit 1 when it fails)")
    c.add_argument("archive")
    c.add_argument("--key-env", default="LAPI_CASE_KEY", help="environment variable holding the case key "
                   "(default LAPI_CASE_KEY)")
    c.set_defaults(func=cmd_case)
    b = bench.add_parser("stakeout", help="stakeout of 3 places x 24 h over N reads bulk-loaded with COPY")
    b.add_argument("--reads", type=int, default=10_000_000, help="reads loaded (default 10,000,000)")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--database-url", help="PostgreSQL server for a scratch database (default: $LAPI_DATABASE_URL, "
                   "else a temporary embedded one)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench_stakeout)


def cmd_case(args: argparse.Namespace) -> None:
    if args.action == "verify":
        from lapi.investigations.case import verify

        key = os.environ.get(args.key_env, "")
        if not key:
            _die(f"set the environment variable {args.key_env} to the case key shared with the issuing service")
        result = verify(Path(args.archive).read_bytes(), key.encode()).as_dict()
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if not result["ok"]:
            raise SystemExit(1)
        return
    body: dict = {"read_ids": args.read or [], "hit_ids": args.hit or [], "pass_ids": args.pass_id or [],
                  "crops": not args.no_crops}
    body["routes"] = [dict(zip(("plate", "from", "to"), r.split(","))) for r in args.route or []]
    if args.note:
        body["note"] = args.note
    data, headers = asyncio.run(_download(f"{args.url}/v1/investigations/cases", {"procedure": args.procedure}, body))
    Path(args.output).write_bytes(data)
    print(json.dumps({"written": args.output, "bytes": len(data), "case_id": headers.get("X-LAPI-Case-Id"),
                      "manifest_sha256": headers.get("X-LAPI-Manifest-SHA256")}, indent=2))


async def _download(url: str, params: dict, body: dict) -> tuple[bytes, dict]:
    import aiohttp

    token = os.environ.get("LAPI_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(url, params=params, json=body) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    try:
                        message = json.loads(data)["error"]["message"]
                    except (ValueError, KeyError, TypeError):
                        message = data[:300].decode("utf-8", "replace")
                    _die(f"{resp.status}: {message}", 1)
                return data, dict(resp.headers)
    except aiohttp.ClientConnectionError as err:
        _die(f"cannot reach the service at {url}: {err} (is `lapi serve` running?)", 1)
        raise
