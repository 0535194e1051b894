"""A throw-away database for benchmarks: created on a server, dropped afterwards.

Benches must not write into a user's store; with no server given they start an embedded one.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(database_url: str | None) -> Iterator[str]:
    """A new empty database on ``database_url``'s server (or an embedded one), dropped on exit."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    tmp = embedded = None
    if database_url is None:
        from lapi.store.embedded import EmbeddedPostgres

        tmp = Path(tempfile.mkdtemp(prefix="lapi-bench-pg-"))
        embedded = EmbeddedPostgres(tmp, delete_on_stop=True)
        database_url = embedded.url
    name = f"lapi_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_conninfo(**{**conninfo_to_dict(database_url), "dbname": name})
        finally:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
