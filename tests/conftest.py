"""Shared fixtures: a real PostgreSQL, the real models, a real HTTP server on a free port."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(os.environ.get("LAPI_SHARED_DATA", ROOT.parent / "shared" / "data"))
OUTPUT = Path(__file__).parent / "output"


def needs_shared_data() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not (SHARED_DATA / "plates" / "manifest.csv").exists(),
                              reason=f"needs the shared evaluation data in {SHARED_DATA} (absent here)")


@pytest.fixture(scope="session")
def pg_server_url():
    """A PostgreSQL server: $LAPI_TEST_DATABASE_URL, else an embedded one in a temporary directory."""
    url = os.environ.get("LAPI_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from lapi.store.embedded import EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="lapi-test-pg-"))
    server = EmbeddedPostgres(tmp, delete_on_stop=True)
    yield server.url
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def _with_dbname(url: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture
def database_url(pg_server_url):
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"lapi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_dbname(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture
async def store(database_url):
    from lapi.cameras import Camera
    from lapi.store.db import Store

    s = Store(database_url, max_size=4)
    await s.open()
    await s.upsert_camera(Camera(id="cam-1", name="Test camera", lat=50.95, lon=1.85, heading=90.0, road="A16"))
    yield s
    await s.close()


@pytest.fixture(scope="session")
def settings():
    from lapi.config import load_settings

    return load_settings(ROOT / "configs" / "lapi.toml", env={})


@pytest.fixture(scope="session")
def reader(settings):
    from lapi.reading.pipeline import PlateReader

    return PlateReader.from_settings(settings)


ROLES = ("camera", "beacon", "analyst", "supervisor", "consumer", "admin")


async def bearer(store, role: str = "admin", principal: str | None = None, habilitation: str = "HAB-TEST-1") -> dict[str, str]:
    """An ``Authorization`` header with a fresh token of ``role`` for ``principal`` (default test-<role>)."""
    from lapi.store.tokens import TokenStore

    secret, _ = await TokenStore(store).create(principal or f"test-{role}", role, habilitation)
    return {"Authorization": f"Bearer {secret}"}


class Service(str):
    """The service's base URL (a str, as before), with a token header per role: ``service.auth("camera")``."""

    headers: dict[str, dict[str, str]]
    store: object

    def auth(self, role: str = "admin") -> dict[str, str]:
        return self.headers[role]

    async def user(self, principal: str, role: str = "analyst") -> dict[str, str]:
        """A header for a named person (whom changes and decisions are recorded under)."""
        return await bearer(self.store, role, principal)

    async def token(self, principal: str, role: str = "analyst") -> str:
        """The secret itself, for clients that take a token (``lapi --token``, ``?token=``)."""
        return (await self.user(principal, role))["Authorization"].split()[1]


async def serve_app(app: web.Application, store) -> tuple[Service, web.AppRunner]:
    """Serve ``app`` on a free port; the URL comes with one token per role."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = Service(f"http://127.0.0.1:{port}")
    url.store = store
    url.headers = {role: await bearer(store, role) for role in ROLES}
    return url, runner


@pytest_asyncio.fixture
async def service(store, reader):
    """The real aiohttp app served over TCP on a free port; yields its base URL (with tokens)."""
    from lapi.api.app import create_app

    url, runner = await serve_app(create_app(store, reader, max_frame_bytes=2 * 1024 * 1024), store)
    yield url
    await runner.cleanup()


@pytest.fixture(scope="session")
def fixture_frame() -> tuple[bytes, str]:
    """A committed synthetic camera frame and the plate it shows."""
    path = FIXTURES / "frame_GV073KP.jpg"
    return path.read_bytes(), "GV073KP"
