"""Liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


async def test_health_and_ready(client: Client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_ready_is_503_when_the_database_is_behind(client: Client, database_url: str) -> None:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await connection.execute("UPDATE alembic_version SET version_num = 'older'")
    await connection.close()
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["detail"] == "database not migrated"


async def test_openapi_schema_is_published(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/auth/login" in paths and "/api/service-points/{sp_id}" in paths


async def test_ready_is_503_while_the_replica_drains(client: Client, app: Litestar) -> None:
    app.state.leases.draining = True  # what the shutdown sets first: the proxy stops sending requests here
    try:
        response = await client.get("/ready")
    finally:
        app.state.leases.draining = False
    assert response.status_code == 503 and response.json()["detail"] == "draining"
