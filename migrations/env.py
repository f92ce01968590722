"""Alembic environment: async engine, URL handed over by `ventanilla.db.migrations` or read from settings."""

from __future__ import annotations

import asyncio
from typing import Literal

from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ventanilla.db.models import metadata

config = context.config
# Replicas start together: the first to take this lock migrates, the others wait, then find nothing to do. Without it
# three `serve` started at once crashed on CREATE TABLE alembic_version (duplicate key in pg_type).
MIGRATION_LOCK = 0x76656E7461  # "venta"


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url is None:  # plain `alembic` command from a developer's shell
        from ventanilla.config import load_settings

        url = load_settings().require_database_url()
    return url


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write advanced-alchemy's column types as the plain SQLAlchemy types they are on PostgreSQL."""
    if type_ == "type" and isinstance(obj, GUID):
        return "sa.Uuid()"
    if type_ == "type" and isinstance(obj, DateTimeUTC):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True, render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            await connection.commit()  # the lock is the session's: it outlives this transaction
            await connection.run_sync(_run)
            await connection.commit()
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `ventanilla migrate`")
asyncio.run(_run_async())
