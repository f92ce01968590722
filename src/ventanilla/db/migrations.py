"""Alembic, driven from code: `ventanilla migrate`, `serve` and the tests all go through here."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection

from ventanilla.config import ConfigError


def migrations_dir() -> Path:
    """`migrations/` of a source checkout, or of the working directory (the Docker image runs from /app)."""
    for candidate in (Path(__file__).resolve().parents[3] / "migrations", Path.cwd() / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigError("the migrations/ folder was not found; run Ventanilla from its source folder")


def alembic_config(database_url: str | None = None, secret_keys: Sequence[str] | None = None) -> Config:
    """`secret_keys` (Settings.secret_keys) for migrations that seal or open stored secrets; without them such a
    migration reads them from the settings itself."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    if secret_keys is not None:
        config.attributes["secret_keys"] = tuple(secret_keys)
    return config


def upgrade(database_url: str, revision: str = "head", secret_keys: Sequence[str] | None = None) -> None:
    """Blocking: run it before the event loop starts, or in a thread."""
    command.upgrade(alembic_config(database_url, secret_keys), revision)


def downgrade(database_url: str, revision: str, secret_keys: Sequence[str] | None = None) -> None:
    command.downgrade(alembic_config(database_url, secret_keys), revision)


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The database's revision, or None when it was never migrated."""
    try:
        async with connection.begin_nested():
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    except ProgrammingError:
        return None
