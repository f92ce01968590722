"""The OpenAPI document tells the truth: checked on the document itself, then by schemathesis sending what it allows
(and what it does not) to a live server, as an administrator and as an agent, against real ids.

The fuzzing expects no 5xx, no status the document does not list, and every answer matching its documented schema
and content type. It runs in a worker thread while the server runs in the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import link
from tests.rows import add_conversation
from ventanilla.db.models import Faq, Message, Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]
POINT = "/api/service-points/{sp_id}"
EXAMPLES = 10  # per operation, generation mode and caller: about 2,000 requests in all
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
LOGOUT = "/api/auth/logout"  # ends the caller's tokens: fuzzed last
NOT_FUZZED = {("GET", POINT + "/events")}  # a stream that stays open; its document is checked below

schemathesis.serializer.alias("text/csv", "text/plain")


async def test_the_document_lists_statuses_security_and_content_types(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operations = {(m.upper(), path): op for path, item in document["paths"].items() for m, op in item.items()}
    statuses = {key: set(op["responses"]) for key, op in operations.items()}
    public = {("GET", "/health"), ("GET", "/ready"), ("POST", "/api/auth/login")}
    public |= {("GET", "/webhooks/whatsapp-cloud"), ("POST", "/webhooks/whatsapp-cloud")}  # Meta's, signed instead
    refused_by_401 = {("POST", "/api/auth/login"), ("POST", "/webhooks/whatsapp-cloud")}  # a wrong password, signature

    assert document["security"] == [{"BearerToken": []}]
    for key, operation in operations.items():
        assert "400" in statuses[key], key
        if key in public:
            assert operation["security"] == [], key
            assert "401" not in statuses[key] or key in refused_by_401, key
        else:
            assert "security" not in operation and "401" in statuses[key], key
        if "{" in key[1]:
            assert "404" in statuses[key], key
        for status, response in operation["responses"].items():
            if status >= "400" and key != ("GET", "/ready"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}

    assert {"403", "409", "413"} <= statuses["POST", "/api/users"]
    assert {"403", "404"} <= statuses["PATCH", POINT]  # supervisors and admins only
    assert "403" not in statuses["GET", POINT + "/conversations"]  # any member: 404 for the others
    assert "409" not in statuses["GET", POINT + "/conversations"]
    assert {"401", "429"} <= statuses["POST", "/api/auth/login"]
    assert "503" in statuses["GET", "/ready"] and "503" in statuses["POST", POINT + "/whatsapp/pair-code"]
    assert {"413", "415", "422"} <= statuses["POST", POINT + "/shipments/import"]

    qr = operations["GET", POINT + "/whatsapp/qr"]["responses"]
    assert set(qr["200"]["content"]) == {"application/json", "image/png", "image/svg+xml"}
    assert qr["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/QrJson"}
    assert "409" in qr
    assert set(operations["GET", POINT + "/events"]["responses"]["200"]["content"]) == {"text/event-stream"}
    upload = operations["POST", POINT + "/shipments/import"]["requestBody"]
    assert upload["required"] and set(upload["content"]) == {"text/csv", "multipart/form-data"}

    schemas = document["components"]["schemas"]
    for name in ("FaqCreate", "ShipmentUpdate", "UserCreate", "LoginRequest", "SimulatorInbound"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["FaqCreate"]["properties"]["keywords"]["items"]["pattern"]
    assert "additionalProperties" not in schemas["ErrorBody"]


@pytest.fixture
async def real_ids(world: World, live_server: str, session: AsyncSession) -> dict[str, str]:
    """Both points linked; a shipment, FAQs (of A and global), a conversation with a message, all in point A."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        for point in (world.point_a, world.point_b):
            await link(http, world, point)  # type: ignore[arg-type]
    faq = Faq(service_point_id=world.point_a, question="¿Horario?", answer="De 8 a 18.", keywords=["horario"])
    global_faq = Faq(service_point_id=None, question="¿Envíos?", answer="Sí.", keywords=[])
    shipment = Shipment(
        service_point_id=world.point_a,
        tracking_number="ABC123456",
        status=ShipmentStatus.IN_TRANSIT,
        destination="Quito",
        eta=date(2030, 1, 15),
    )
    session.add_all([faq, global_faq, shipment])
    await session.commit()
    conversation = await add_conversation(session, world.point_a)
    message = await session.scalar(select(Message.id).where(Message.conversation_id == conversation))
    return {
        "sp_id": str(world.point_a),
        "conversation_id": str(conversation),
        "message_id": str(message),
        "tracking_number": "ABC123456",
        "faq_id": str(faq.id),
        "global_faq_id": str(global_faq.id),
        "user_id": str(world.agent_b.user_id),  # members/{user_id}: not a member of A, so A keeps its agent
    }


def _path_ids(path: str, ids: dict[str, str]) -> dict[str, str]:
    """The real ids for the path's parameters (the global FAQ under /api/faqs, the point's under the point)."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    chosen = {name: ids[name] for name in names if name in ids}
    if "faq_id" in chosen and path.startswith("/api/faqs"):
        chosen["faq_id"] = ids["global_faq_id"]
    return chosen


def fuzz(document: dict[str, Any], base_url: str, ids: dict[str, str], callers: dict[str, dict[str, str]]) -> list[str]:
    """Every operation, positive then negative examples, per caller; deletions last. The failures found."""
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if (op.method.upper(), op.path) not in NOT_FUZZED]
    operations.sort(key=lambda op: (op.path == LOGOUT, op.method.upper() == "DELETE", op.path == POINT))
    failures: list[str] = []
    for caller, headers in callers.items():
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(mode, path_parameters=_path_ids(operation.path, ids))
                try:
                    _examples(strategy, lambda case, headers=headers: _check(case, base_url, headers))()
                except hypothesis.errors.Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE  # nothing in the request can be made invalid
                except (Exception, FailureGroup) as exc:  # collected: one run reports every operation that fails
                    failures.append(f"{caller} {operation.method.upper()} {operation.path} ({mode}): {exc}")
    return failures


def _examples(strategy: Any, check: Callable[[Any], None]) -> Callable[[], None]:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        check(case)

    return run


def _check(case: Any, base_url: str, headers: dict[str, str]) -> None:
    response = case.call(base_url=base_url, headers={**(case.headers or {}), **headers}, timeout=30)
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("caller", ["agent", "admin"])  # two tests, so parallel workers share the longest run
async def test_fuzzing_finds_no_server_error_and_no_undocumented_answer(
    caller: str, world: World, live_server: str, real_ids: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        document = (await http.get("/schema/openapi.json")).json()
    headers = {"agent": world.agent_a.headers, "admin": world.admin.headers}[caller]
    failures = await asyncio.to_thread(fuzz, document, live_server, real_ids, {caller: headers})
    assert not failures, "\n\n".join(failures)
