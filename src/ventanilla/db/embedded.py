"""Embedded PostgreSQL (the `pgserver` package) for machines with no database server.

The cluster lives in `$VENTANILLA_DATA_DIR/pg`. pgserver counts the processes using it and stops the server when
the last one exits, so `ventanilla demo-data` can run beside `ventanilla serve` on the same data dir.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from sqlalchemy.engine import make_url

from ventanilla.config import ConfigError

DATABASE_NAME = "ventanilla"
logger = logging.getLogger(__name__)


def start_embedded_server(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded cluster, make sure `database` exists, and return its asyncpg URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes without it.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = data_dir / "pg"
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess/OS errors; the log file says more.
        raise ConfigError(f"the embedded PostgreSQL in {pgdata} did not start ({exc}); see {pgdata / 'log'}") from None
    server.psql(
        f"SELECT 'CREATE DATABASE {database}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec"
    )
    url = make_url(server.get_uri(database)).set(drivername="postgresql+asyncpg")
    logger.info("embedded PostgreSQL ready in %s", pgdata)
    return url.render_as_string(hide_password=False)
