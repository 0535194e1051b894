"""CLI commands for watchlists, their entries and history, and hits (client of a running service).

``lapi watch``  entries: add / update / list / remove / import / export / history
``lapi watchlists``  lists: list / create / set / delete (threshold = max_cost)
``lapi hits``  list / show / confirm / reject (an analyst's decision: --reason; who is the token's principal)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from lapi.cli import _die, _print, _request

_ENTRY_OPTIONS = (("list", "list"), ("category", "category"), ("legal_purpose", "legal_purpose"),
                  ("reason", "reason"), ("priority", "priority"), ("valid_from", "valid_from"),
                  ("valid_until", "valid_until"), ("note", "note"), ("source", "source"))


def _entry_body(args: argparse.Namespace) -> dict:
    return {key: getattr(args, attr) for key, attr in _ENTRY_OPTIONS if getattr(args, attr) is not None}


def cmd_watch(args: argparse.Namespace) -> None:
    base = f"{args.url}/v1/watchlist"
    run = asyncio.run
    if args.action == "add":
        _print(run(_request("POST", base, json={"plate": args.plate, **_entry_body(args)})))
    elif args.action == "update":
        body = _entry_body(args)
        if args.plate:
            body["plate"] = args.plate
        _print(run(_request("PATCH", f"{base}/{args.entry_id}", json=body)))
    elif args.action == "list":
        _print(run(_request("GET", base, params={"list": args.list} if args.list else {})))
    elif args.action == "remove":
        run(_request("DELETE", f"{base}/{args.entry_id}"))
        print(f"removed entry {args.entry_id}")
    elif args.action == "import":
        data = Path(args.csv).read_bytes()
        params = {"list": args.list} if args.list else {}
        _print(run(_request("POST", f"{base}/import", data=data, params=params,
                            headers={"Content-Type": "text/csv"})))
    elif args.action == "export":
        text = run(_request("GET", f"{base}/export", params={"list": args.list} if args.list else {}))
        if args.output:
            Path(args.output).write_text(text)
            print(f"# written {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    elif args.action == "history":
        params = {k: str(v) for k, v in (("list", args.list), ("entry_id", args.entry), ("limit", args.limit)) if v}
        _print(run(_request("GET", f"{base}/changes", params=params)))


def cmd_watchlists(args: argparse.Namespace) -> None:
    base = f"{args.url}/v1/watchlists"
    body = {k: v for k, v in (("max_cost", args.__dict__.get("max_cost")),
                              ("description", args.__dict__.get("description"))) if v is not None}
    if args.action == "list":
        _print(asyncio.run(_request("GET", base)))
    elif args.action == "create":
        _print(asyncio.run(_request("POST", base, json={"name": args.name, **body})))
    elif args.action == "set":
        if not body:
            _die("give --max-cost and/or --description")
        _print(asyncio.run(_request("PATCH", f"{base}/{args.name}", json=body)))
    elif args.action == "delete":
        asyncio.run(_request("DELETE", f"{base}/{args.name}"))
        print(f"deleted watchlist {args.name}")


def cmd_hits(args: argparse.Namespace) -> None:
    base = f"{args.url}/v1/hits"
    if args.action == "list":
        params = {k: str(v) for k, v in (("status", args.status), ("list", args.list), ("limit", args.limit)) if v}
        _print(asyncio.run(_request("GET", base, params=params)))
    elif args.action == "show":
        _print(asyncio.run(_request("GET", f"{base}/{args.hit_id}")))
    else:
        _print(asyncio.run(_request("POST", f"{base}/{args.hit_id}/{args.action}", json={"reason": args.reason})))


def add_parsers(sub: argparse._SubParsersAction, client: Callable[[argparse.ArgumentParser], None]) -> None:
    """``lapi watch``, ``lapi watchlists`` and ``lapi hits``."""

    def entry_fields(p: argparse.ArgumentParser, defaults: bool) -> None:
        p.add_argument("--list", default="default" if defaults else None)
        p.add_argument("--category")
        p.add_argument("--legal-purpose", dest="legal_purpose", help="legal basis of the listing")
        p.add_argument("--reason", help="case reference, why the vehicle is listed")
        p.add_argument("--priority", type=int, help="1-5")
        p.add_argument("--valid-from", dest="valid_from", help="ISO 8601 with offset")
        p.add_argument("--valid-until", dest="valid_until", help="ISO 8601 with offset")
        p.add_argument("--note")
        p.add_argument("--source", help="where the listing comes from")
        client(p)

    p = sub.add_parser("watch", help="watchlist entries of a running service (plates or patterns: ? one "
                                     "character, * any run)")
    wsub = p.add_subparsers(dest="action", required=True)
    w = wsub.add_parser("add")
    w.add_argument("plate")
    entry_fields(w, defaults=True)
    w = wsub.add_parser("update", help="change some fields of an entry")
    w.add_argument("entry_id", type=int)
    w.add_argument("--plate")
    entry_fields(w, defaults=False)
    w = wsub.add_parser("list")
    w.add_argument("--list")
    client(w)
    w = wsub.add_parser("remove")
    w.add_argument("entry_id", type=int)
    client(w)
    w = wsub.add_parser("import", help="CSV: plate[,list,category,legal_purpose,reason,priority,valid_from,"
                                       "valid_until,note,source]")
    w.add_argument("csv")
    w.add_argument("--list", help="list of rows without one")
    client(w)
    w = wsub.add_parser("export", help="entries as CSV (the import format)")
    w.add_argument("--list")
    w.add_argument("--output", "-o", help="file (default: standard output)")
    client(w)
    w = wsub.add_parser("history", help="who changed what, newest first")
    w.add_argument("--list")
    w.add_argument("--entry", type=int)
    w.add_argument("--limit", type=int)
    client(w)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("watchlists", help="watchlists of a running service and their match threshold")
    lsub = p.add_subparsers(dest="action", required=True)
    c = lsub.add_parser("list")
    client(c)
    for action in ("create", "set"):
        c = lsub.add_parser(action)
        c.add_argument("name")
        c.add_argument("--max-cost", dest="max_cost", type=float,
                       help="highest lookalike-weighted edit cost still a hit (0.8: lookalikes; 1+: one real edit)")
        c.add_argument("--description")
        client(c)
    c = lsub.add_parser("delete")
    c.add_argument("name")
    client(c)
    p.set_defaults(func=cmd_watchlists)

    p = sub.add_parser("hits", help="watchlist hits: list, show, confirm or reject after looking at the crop")
    hsub = p.add_subparsers(dest="action", required=True)
    c = hsub.add_parser("list")
    c.add_argument("--status", choices=("new", "confirmed", "rejected"))
    c.add_argument("--list")
    c.add_argument("--limit", type=int)
    client(c)
    c = hsub.add_parser("show")
    c.add_argument("hit_id", type=int)
    client(c)
    for action in ("confirm", "reject"):
        c = hsub.add_parser(action)
        c.add_argument("hit_id", type=int)
        c.add_argument("--reason", required=True, help="why (what the crop shows)")
        client(c)
    p.set_defaults(func=cmd_hits)
