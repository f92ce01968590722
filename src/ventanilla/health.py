"""Liveness and readiness probes for orchestrators and the Docker healthcheck."""

from __future__ import annotations

import asyncio

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ventanilla.db.migrations import current_revision, head_revision

READY_TIMEOUT_SECONDS = 3


class HealthController(Controller):
    tags = ["operations"]

    @get("/health", summary="The process is alive", security=[])
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="The database is reachable and migrated to head", security=[])
    async def ready(self, state: State, db_engine: NamedDependency[AsyncEngine]) -> Response[dict[str, str | None]]:
        """Also 503 while this replica is draining (shutting down, handing its points over)."""
        if state.leases.draining:
            body = {"status": "unavailable", "detail": "draining"}
            return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE)
        expected = head_revision()
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), db_engine.connect() as connection:
                revision = await current_revision(connection)
        except (SQLAlchemyError, OSError, TimeoutError):
            body = {"status": "unavailable", "detail": "database unreachable"}
            return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE)
        if revision != expected:
            body = {"status": "unavailable", "detail": "database not migrated", "revision": revision}
            return Response(body, status_code=HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"status": "ready", "revision": revision}, status_code=HTTP_200_OK)
