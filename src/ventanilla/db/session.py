"""The one SQLAlchemy configuration: per-request sessions for Litestar, `get_session()` for background work."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy.ext.asyncio import AsyncSession

# What background work gets to talk to the database: `alchemy.get_session` (a short session per use).
SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def build_alchemy_config(
    database_url: str,
    *,
    session_info: dict[str, Any] | None = None,
    pool_size: int = 30,
    max_overflow: int = 10,
) -> SQLAlchemyAsyncConfig:
    """Requests commit on 2xx and 3xx (a page's form answers with a redirect) and roll back otherwise; objects stay
    readable after commit.

    The pool keeps enough connections for the bot's lookups and the grouped writes under load: opening a new
    connection costs far more than waiting a moment for a pooled one. Statement parameters never reach a log or an
    error message (`hide_parameters`): they hold customers' phones and words. `session_info` is copied into every
    session's `info` (how committed sessions find the live publisher).
    """
    return SQLAlchemyAsyncConfig(
        connection_string=database_url,
        before_send_handler="autocommit_include_redirects",
        session_config=AsyncSessionConfig(expire_on_commit=False, info=dict(session_info or {})),
        engine_config=EngineConfig(
            pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800, hide_parameters=True
        ),
        create_all=False,
    )
