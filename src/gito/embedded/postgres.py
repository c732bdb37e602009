"""An embedded PostgreSQL for `gito up` when `DATABASE_URL` is unset: the `pgserver` wheel
runs a real PostgreSQL 16 from the data dir, reached over a Unix socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("gito.embedded")

DATABASE_NAME = "gito"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "pg"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to an already running) server; returns a `postgresql://` URL."""
        import pgserver

        self.pgdata.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": stop the server when this process exits, keep the data.
        self._server = pgserver.get_server(  # type: ignore[attr-defined]
            self.pgdata, cleanup_mode="stop"
        )
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608 (constant)
        )
        if "1 row" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
            log.info("embedded database created", pgdata=str(self.pgdata))
        socket_dir = self._server.get_uri().split("host=", 1)[1]
        return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
