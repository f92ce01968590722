"""The one SQLAlchemy configuration: per-request sessions for Litestar, `get_session()` for background work."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy.ext.asyncio import AsyncSession

# What background work gets to talk to the database: `alchemy.get_session` (a short session per use).
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def build_alchemy_config(database_url: str, *, pool_size: int = 30, max_overflow: int = 10) -> SQLAlchemyAsyncConfig:
    """Requests commit on 2xx and roll back otherwise (`autocommit`); objects stay readable after commit.

    The pool keeps enough connections for the bot's lookups and the grouped writes under load: opening a new
    connection costs far more than waiting a moment for a pooled one.
    """
    return SQLAlchemyAsyncConfig(
        connection_string=database_url,
        before_send_handler="autocommit",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800),
        create_all=False,
    )
