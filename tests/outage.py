"""The test database going away, for real: PostgreSQL refusing new connections and killing the open ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL


class Outage:
    """Controls one test database from a maintenance connection to the server."""

    def __init__(self, server: URL, database: str) -> None:
        self.dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
        self.database = database

    async def _run(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def terminate(self) -> None:
        """pg_terminate_backend on every connection of the database: what a failover or an admin does."""
        await self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.database}' AND pid <> pg_backend_pid()"
        )

    async def refuse(self) -> None:
        """New connections are refused ("not currently accepting connections") and open ones are killed."""
        await self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        await self.terminate()

    async def allow(self) -> None:
        await self._run(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')

    @asynccontextmanager
    async def refusing(self) -> AsyncIterator[None]:
        await self.refuse()
        try:
            yield
        finally:
            await self.allow()
