"""CLI commands that act on the database directly (no running service needed): API tokens, retention.

``lapi token create --role R --principal P [--habilitation H] [--days N]`` prints the secret once;
``lapi token list [--all]``; ``lapi token revoke ID``; ``lapi retention run`` erases what
``[retention]`` says is expired (as the service does every ``run_every``) and prints the counts.  The database is the configured one
(``store.database_url`` / ``$LAPI_DATABASE_URL``), else the embedded server under ``store.data_dir``
(joined if ``lapi serve`` is running, started for the command otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from lapi.auth import ROLES


def _die(message: str, code: int = 2) -> None:
    print(f"lapi: {message}", file=sys.stderr)
    raise SystemExit(code)


def _settings(config: Path | None) -> Any:
    from lapi.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as err:
        _die(f"configuration error: {err}")


@asynccontextmanager
async def open_store(config: Path | None, database_url: str | None) -> AsyncIterator[Any]:
    """The service's store, migrated, for an admin command."""
    from lapi.store.db import Store

    embedded = None
    url = database_url or os.environ.get("LAPI_DATABASE_URL")
    if not url:
        settings = _settings(config)
        url = settings.database_url
        if url is None:
            from lapi.store.embedded import EmbeddedPostgres

            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.url
    store = Store(url, max_size=2)
    try:
        await store.open()
        yield store
    finally:
        await store.close()
        if embedded is not None:
            embedded.stop()


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def cmd_token(args: argparse.Namespace) -> None:
    from lapi.store.errors import NotFound
    from lapi.store.tokens import TokenStore

    async def run() -> None:
        async with open_store(args.config, args.database_url) as store:
            tokens = TokenStore(store)
            who = os.environ.get("USER", "") + " (lapi token)"
            if args.action == "create":
                try:
                    secret, row = await tokens.create(args.principal, args.role, args.habilitation or "",
                                                      timedelta(days=args.days) if args.days else None,
                                                      args.note or "", who)
                except ValueError as err:
                    _die(str(err))
                print(json.dumps(_row(row), indent=2, ensure_ascii=False), file=sys.stderr)
                print("# the token below is shown once and not stored: keep it now", file=sys.stderr)
                print(secret)
            elif args.action == "list":
                for row in await tokens.list(include_inactive=args.all):
                    print(json.dumps(_row(row), ensure_ascii=False))
            elif args.action == "revoke":
                try:
                    row = await tokens.revoke(args.token_id, who)
                except NotFound as err:
                    _die(str(err), 1)
                print(json.dumps(_row(row), indent=2, ensure_ascii=False))

    asyncio.run(run())


def cmd_retention(args: argparse.Namespace) -> None:
    from lapi.store.retention import RetentionJob

    rules = _settings(args.config).retention.rules

    async def run() -> None:
        async with open_store(args.config, args.database_url) as store:
            print(json.dumps(await RetentionJob(store, rules).run(), indent=2))

    asyncio.run(run())


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``lapi token``, ``lapi retention``."""

    def database(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="TOML config (default configs/lapi.toml or $LAPI_CONFIG)")
        p.add_argument("--database-url", help="PostgreSQL URL (default: $LAPI_DATABASE_URL, else the config's store)")

    p = sub.add_parser("token", help="API tokens (on the database directly): create, list, revoke")
    tsub = p.add_subparsers(dest="action", required=True)
    c = tsub.add_parser("create", help="make a token; its secret is printed once (standard output)")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--principal", required=True, help="the person or device it is for")
    c.add_argument("--habilitation", help="reference of the agent's individual authorisation "
                   "(required for analyst and supervisor)")
    c.add_argument("--days", type=int, help="expires after this many days (default: never)")
    c.add_argument("--note")
    database(c)
    c = tsub.add_parser("list", help="active tokens (--all: revoked and expired too); never the secrets")
    c.add_argument("--all", action="store_true")
    database(c)
    c = tsub.add_parser("revoke", help="revoke a token by id (takes effect within seconds)")
    c.add_argument("token_id", type=int)
    database(c)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("retention", help="legal retention (on the database directly)")
    rsub = p.add_subparsers(dest="action", required=True)
    c = rsub.add_parser("run", help="erase the reads past [retention] (non-hit, hit) and not held for a procedure; "
                        "the erasures go to the audit log")
    database(c)
    c.set_defaults(func=cmd_retention)
