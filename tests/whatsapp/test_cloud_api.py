"""A Cloud API point end to end, on real PostgreSQL: Meta's signed webhook in, the real Graph client out to a local
fake Graph API, the bot and the agents in between."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.conftest import TEST_JWT_SECRET, World
from tests.fakes.graph_api import (
    SAMPLE_TEMPLATES,
    FakeGraph,
    envelope,
    media_message,
    running_fake_graph,
    sign,
    status_update,
    text_message,
)
from tests.flow import fast_app
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings, load_settings
from ventanilla.db.models import (
    CloudAccount,
    DeliveryStatus,
    Message,
    Shipment,
    ShipmentAlert,
    ShipmentStatus,
)

Client = AsyncTestClient[Litestar]
NUMBER_ID = "106540352242922"
TOKEN = "EAAG-access-token-of-point-a"
APP_SECRET = "app-secret-of-the-meta-app"
VERIFY = "verify-token-of-point-a"
CUSTOMER = "593991112233"  # as Meta writes it: digits
WEBHOOK = "/webhooks/whatsapp-cloud"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with running_fake_graph() as fake:
        fake.add_number(NUMBER_ID, TOKEN, display_phone_number="+593 2 000 0011", verified_name="Punto A")
        yield fake


@pytest.fixture
def settings(settings: Settings, graph: FakeGraph) -> Settings:
    """The usual test settings, with Meta at the fake."""
    return replace(settings, whatsapp_cloud_api_base=graph.url)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


def _cloud(point: UUID) -> str:
    return f"/api/service-points/{point}/whatsapp/cloud"


async def _set_up(client: Client, world: World, **extra: object) -> None:
    body = {"phoneNumberId": NUMBER_ID, "accessToken": TOKEN, "appSecret": APP_SECRET, "verifyToken": VERIFY}
    response = await client.put(_cloud(world.point_a), json=body | extra, headers=world.admin.headers)
    assert response.status_code == 200, response.text

    async def connected() -> bool:
        state = (await client.get(f"/api/service-points/{world.point_a}/whatsapp", headers=world.admin.headers)).json()
        return state["status"] == "CONNECTED"

    await eventually(connected, what="cloud point CONNECTED")


@pytest.fixture
async def cloud(client: Client, world: World) -> AsyncIterator[World]:
    await _set_up(client, world)
    yield world


async def _post(client: Client, payload: dict, *, secret: str = APP_SECRET, signature: str | None = None) -> int:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature or sign(secret, body)}
    response = await client.post(WEBHOOK, content=body, headers=headers)
    return response.status_code


async def _messages(session: AsyncSession, point: UUID) -> list[Message]:
    session.expire_all()
    return list(
        (
            await session.scalars(
                select(Message).where(Message.service_point_id == point).order_by(Message.created_at, Message.id)
            )
        ).all()
    )


async def _sent_to_customer(graph: FakeGraph, count: int) -> None:
    async def arrived() -> bool:
        return len([m for m in graph.sent if m.to == CUSTOMER]) >= count

    await eventually(arrived, timeout=10, what=f"{count} sends through the Graph API")


async def test_a_cloud_point_receives_answers_and_follows_receipts(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    state = (await client.get(f"/api/service-points/{cloud.point_a}", headers=cloud.admin.headers)).json()
    assert state["transport"] == "cloud"
    assert state["phoneNumber"] == "+59320000011"  # Meta's display number, in E.164

    payload = envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola, buenos días", message_id="wamid.IN1")])
    assert await _post(client, payload) == 200
    await _sent_to_customer(graph, 1)
    sent = graph.sent[0]
    assert sent.body["type"] == "text" and sent.body["text"]["body"]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"

    async def recorded_as_sent() -> bool:
        rows = await _messages(session, cloud.point_a)
        return any(m.provider_message_id == sent.wamid and m.delivery_status is DeliveryStatus.SENT for m in rows)

    await eventually(recorded_as_sent, what="the reply SENT under Meta's wamid")
    incoming = [m for m in await _messages(session, cloud.point_a) if m.provider_message_id == "wamid.IN1"]
    assert len(incoming) == 1 and incoming[0].content == "Hola, buenos días"

    for status, expected in (("delivered", DeliveryStatus.DELIVERED), ("read", DeliveryStatus.READ)):
        assert await _post(client, envelope(NUMBER_ID, statuses=[status_update(sent.wamid, status, CUSTOMER)])) == 200

        async def moved(expected: DeliveryStatus = expected) -> bool:
            rows = await _messages(session, cloud.point_a)
            return any(m.provider_message_id == sent.wamid and m.delivery_status is expected for m in rows)

        await eventually(moved, what=f"the reply {expected}")
    # a late "delivered" after "read" changes nothing; "sent" neither
    for status in ("delivered", "sent"):
        assert await _post(client, envelope(NUMBER_ID, statuses=[status_update(sent.wamid, status, CUSTOMER)])) == 200
    reply = next(m for m in await _messages(session, cloud.point_a) if m.provider_message_id == sent.wamid)
    assert reply.delivery_status is DeliveryStatus.READ


async def test_bad_signatures_get_401_and_change_nothing(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    payload = envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "hola", message_id="wamid.FORGED")])
    body = json.dumps(payload).encode()
    assert await _post(client, payload, secret="not-the-app-secret") == 401
    assert await _post(client, payload, signature="sha256=" + "0" * 64) == 401
    assert await _post(client, payload, signature=sign(APP_SECRET, body)[:-2]) == 401  # truncated
    assert await _post(client, payload, signature=sign(APP_SECRET, body).removeprefix("sha256=")) == 401
    response = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401  # no signature at all
    # a body for a number no point has cannot be verified by anyone
    other = envelope("999999999", messages=[text_message(CUSTOMER, "hola", message_id="wamid.OTHER")])
    assert await _post(client, other) == 401
    # signed, but the body was changed afterwards
    tampered = body.replace(b"hola", b"HOLA")
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
    assert (await client.post(WEBHOOK, content=tampered, headers=headers)).status_code == 401
    # not Meta's body at all
    for junk in (b"not json", b"[]", b'{"entry": "x"}', b'{"entry": [{"changes": [{"value": {"metadata": 5}}]}]}'):
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, junk)}
        assert (await client.post(WEBHOOK, content=junk, headers=headers)).status_code == 400
    assert await _messages(session, cloud.point_a) == []
    assert graph.sent == []


async def test_a_replayed_delivery_is_stored_and_answered_once(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    payload = envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", message_id="wamid.TWICE")])
    for _ in range(3):
        assert await _post(client, payload) == 200
    await _sent_to_customer(graph, 1)
    time.sleep(0.5)  # time for a second answer, were one coming
    rows = await _messages(session, cloud.point_a)
    assert [m.provider_message_id for m in rows if m.provider_message_id == "wamid.TWICE"] == ["wamid.TWICE"]
    assert len([m for m in graph.sent if m.to == CUSTOMER]) == 1


async def test_a_status_for_an_unknown_message_changes_nothing(
    client: Client, cloud: World, session: AsyncSession
) -> None:
    status = status_update("wamid.NOT-OURS", "failed", CUSTOMER, errors=[{"code": 131026, "title": "Undeliverable"}])
    assert await _post(client, envelope(NUMBER_ID, statuses=[status])) == 200
    assert await _messages(session, cloud.point_a) == []


async def test_a_late_failure_shows_metas_error_to_agents(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    assert await _post(client, envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", "wamid.F1")])) == 200
    await _sent_to_customer(graph, 1)
    wamid = graph.sent[0].wamid

    async def sent() -> bool:
        return any(m.provider_message_id == wamid for m in await _messages(session, cloud.point_a))

    await eventually(sent, what="the reply recorded")
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
    }
    status = status_update(wamid, "failed", CUSTOMER, errors=[error])
    assert await _post(client, envelope(NUMBER_ID, statuses=[status])) == 200

    async def failed() -> bool:
        rows = await _messages(session, cloud.point_a)
        return any(m.provider_message_id == wamid and m.delivery_status is DeliveryStatus.FAILED for m in rows)

    await eventually(failed, what="the reply FAILED")
    conversation = (await _messages(session, cloud.point_a))[0].conversation_id
    listed = await client.get(
        f"/api/service-points/{cloud.point_a}/conversations/{conversation}/messages", headers=cloud.agent_a.headers
    )
    reply = next(item for item in listed.json()["items"] if item["providerMessageId"] == wamid)
    assert reply["deliveryStatus"] == "FAILED"
    assert "131047" in reply["failureReason"] and "24 hours" in reply["failureReason"]


async def test_secrets_are_sealed_and_never_returned(client: Client, world: World, session: AsyncSession) -> None:
    first = {"phoneNumberId": NUMBER_ID, "accessToken": TOKEN}
    response = await client.put(_cloud(world.point_a), json=first, headers=world.admin.headers)
    assert response.status_code == 400
    assert {e["key"] for e in response.json()["extra"]} == {"appSecret", "verifyToken"}
    await _set_up(client, world, businessAccountId="2233445566")
    read = (await client.get(_cloud(world.point_a), headers=world.admin.headers)).json()
    assert read["phoneNumberId"] == NUMBER_ID and read["webhookPath"] == WEBHOOK
    assert TOKEN not in json.dumps(read) and APP_SECRET not in json.dumps(read) and VERIFY not in json.dumps(read)
    row = await session.get(CloudAccount, world.point_a)
    assert row is not None
    assert TOKEN not in row.access_token and APP_SECRET not in row.app_secret and VERIFY not in row.verify_token_sha256
    assert row.access_token.startswith("gAAAA")  # a Fernet token
    # later PUTs may leave the secrets out: they are kept
    again = {"phoneNumberId": NUMBER_ID, "businessAccountId": "2233445566"}
    assert (await client.put(_cloud(world.point_a), json=again, headers=world.admin.headers)).status_code == 200
    await session.refresh(row)
    assert row.access_token.startswith("gAAAA")
    # one number, one point
    taken = {"phoneNumberId": NUMBER_ID, "accessToken": "x" * 20, "appSecret": "y" * 20, "verifyToken": "z" * 20}
    response = await client.put(_cloud(world.point_b), json=taken, headers=world.admin.headers)
    assert response.status_code == 409 and "phoneNumberId" in response.text
    # admins only; bad input is a 400 naming the field
    for actor in (world.supervisor_a, world.agent_a, world.outsider):
        assert (await client.put(_cloud(world.point_a), json=again, headers=actor.headers)).status_code == 403
        assert (await client.get(_cloud(world.point_a), headers=actor.headers)).status_code == 403
    for bad in ({"phoneNumberId": "12a"}, {"phoneNumberId": NUMBER_ID, "accessToken": "short"}, {"phoneNumberId": 5}):
        response = await client.put(_cloud(world.point_a), json=bad, headers=world.admin.headers)
        assert response.status_code == 400, response.text


async def test_the_verify_token_handshake(client: Client, cloud: World) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    response = await client.get(WEBHOOK, params=query)
    assert response.status_code == 200 and response.text == "1158201444"
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}, {"hub.challenge": None}):
        params = {k: v for k, v in (query | wrong).items() if v is not None}
        assert (await client.get(WEBHOOK, params=params)).status_code == 403


async def test_outside_the_24_hour_window_only_an_approved_template_goes(
    client: Client, world: World, graph: FakeGraph, session: AsyncSession
) -> None:
    graph.add_templates("2233445566", TOKEN, SAMPLE_TEMPLATES)
    await _set_up(client, world, businessAccountId="2233445566")
    old = int((datetime.now(UTC) - timedelta(hours=25)).timestamp())
    message = text_message(CUSTOMER, "Hola", message_id="wamid.OLD", timestamp=old)
    assert await _post(client, envelope(NUMBER_ID, messages=[message])) == 200
    await _sent_to_customer(graph, 1)  # the bot's answer of that time (Meta would refuse it today)
    conversation = (await _messages(session, world.point_a))[0].conversation_id
    base = f"/api/service-points/{world.point_a}/conversations/{conversation}"

    response = await client.post(f"{base}/messages", json={"content": "¿Sigue ahí?"}, headers=world.agent_a.headers)
    assert response.status_code == 409 and "24 horas" in response.json()["detail"]
    detail = (await client.get(base, headers=world.agent_a.headers)).json()
    ends = datetime.fromisoformat(detail["serviceWindowEndsAt"])
    assert ends == datetime.fromtimestamp(old, UTC) + timedelta(hours=24, microseconds=999_999)

    listed = await client.get(f"{_cloud(world.point_a)}/templates", headers=world.agent_a.headers)
    assert listed.status_code == 200
    assert {(t["name"], t["status"], t["parameterCount"]) for t in listed.json()} == {
        ("seguimiento_envio", "APPROVED", 2),
        ("promo", "REJECTED", 0),
    }
    bad = [
        ({"name": "seguimiento_envio", "language": "es", "parameters": ["Ana"]}, 422),
        ({"name": "promo", "language": "es"}, 422),
        ({"name": "no_existe", "language": "es"}, 404),
        ({"name": "Bad Name", "language": "es"}, 400),
    ]
    for body, status in bad:
        response = await client.post(f"{base}/templates", json=body, headers=world.agent_a.headers)
        assert response.status_code == status, (body, response.text)
    good = {"name": "seguimiento_envio", "language": "es", "parameters": ["Ana", "ABC123456"]}
    response = await client.post(f"{base}/templates", json=good, headers=world.agent_a.headers)
    assert response.status_code == 201, response.text
    assert response.json()["content"] == "Hola Ana, tu envío ABC123456 tiene novedades."
    await _sent_to_customer(graph, 2)
    template = graph.sent[-1].body
    assert template["type"] == "template" and template["template"]["name"] == "seguimiento_envio"
    assert [p["text"] for p in template["template"]["components"][0]["parameters"]] == ["Ana", "ABC123456"]
    # another point's agent reaches none of it (and learns nothing of it)
    response = await client.post(f"{base}/templates", json=good, headers=world.agent_b.headers)
    assert response.status_code == 404

    # the customer writes again: the window is open, free text goes
    assert await _post(client, envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "gracias", "wamid.NEW")])) == 200

    async def window_open() -> bool:
        response = await client.post(f"{base}/messages", json={"content": "A la orden"}, headers=world.agent_a.headers)
        return response.status_code == 201

    await eventually(window_open, what="free text accepted again")


async def test_send_errors_retry_only_when_meta_says_so(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    assert await _post(client, envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", "wamid.R0")])) == 200
    await _sent_to_customer(graph, 1)
    conversation = (await _messages(session, cloud.point_a))[0].conversation_id
    base = f"/api/service-points/{cloud.point_a}/conversations/{conversation}"

    async def status_of(content: str) -> Message | None:
        rows = await _messages(session, cloud.point_a)
        return next((m for m in rows if m.content == content), None)

    async def settles(content: str, status: DeliveryStatus) -> Message:
        async def done() -> bool:
            found = await status_of(content)
            return found is not None and found.delivery_status is status

        await eventually(done, timeout=10, what=f"{content} {status}")
        found = await status_of(content)
        assert found is not None
        return found

    graph.fail_next("/messages", status=500, code=131000, title="Something went wrong")
    await client.post(f"{base}/messages", json={"content": "uno"}, headers=cloud.agent_a.headers)
    assert (await settles("uno", DeliveryStatus.SENT)).attempts == 2  # retried once, then sent

    graph.fail_next("/messages", status=400, code=131026, title="Message undeliverable")
    await client.post(f"{base}/messages", json={"content": "dos"}, headers=cloud.agent_a.headers)
    failed = await settles("dos", DeliveryStatus.FAILED)
    assert failed.attempts == 1 and "131026" in (failed.delivery_error or "")  # permanent: not tried again

    # the token stops working: the message waits, the point says why
    graph.fail_next("/messages", status=401, code=190, title="Error validating access token", times=50)
    await client.post(f"{base}/messages", json={"content": "tres"}, headers=cloud.agent_a.headers)

    async def down() -> bool:
        state = (await client.get(f"/api/service-points/{cloud.point_a}/whatsapp", headers=cloud.admin.headers)).json()
        return state["status"] == "DISCONNECTED" and "token" in (state["lastError"] or "")

    await eventually(down, what="the point down with the token's reason")
    waiting = await status_of("tres")
    assert waiting is not None and waiting.delivery_status is DeliveryStatus.PENDING


async def test_a_customers_photo_is_fetched_from_meta(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    media_id = graph.add_media(photo, "image/png", TOKEN)
    message = media_message(CUSTOMER, "image", media_id, "image/png", caption="mi guía", message_id="wamid.IMG")
    assert await _post(client, envelope(NUMBER_ID, messages=[message])) == 200

    async def ready() -> bool:
        row = (
            await session.execute(
                text("SELECT m.type, m.content, f.status FROM message m JOIN media f ON f.message_id = m.id")
            )
        ).one_or_none()
        return row is not None and tuple(row) == ("image", "mi guía", "READY")

    await eventually(ready, timeout=10, what="the photo READY")


async def test_shipment_alerts_respect_the_window_of_a_cloud_point(
    client: Client, world: World, graph: FakeGraph, session: AsyncSession
) -> None:
    number = "ABC123456"
    session.add(Shipment(service_point_id=world.point_a, tracking_number=number, status=ShipmentStatus.IN_TRANSIT))
    await session.commit()
    await _set_up(client, world)
    for index, said in enumerate((f"¿dónde está mi paquete {number}?", "avísame")):
        message = text_message(CUSTOMER, said, message_id=f"wamid.A{index}")
        assert await _post(client, envelope(NUMBER_ID, messages=[message])) == 200
        await _sent_to_customer(graph, index + 1)  # answered before the customer writes again

    async def subscribed() -> bool:
        count = await session.scalar(select(func.count()).select_from(ShipmentAlert))
        await session.commit()
        return count == 1

    await eventually(subscribed, what="the customer's opt-in")
    sends = len(graph.sent)

    async def push(status: str) -> dict:
        body = [{"trackingNumber": number, "status": status, "at": datetime.now(UTC).isoformat()}]
        response = await client.post("/api/shipments/events", json=body, headers=world.admin.headers)
        assert response.status_code == 202, response.text
        return response.json()

    assert (await push("OUT_FOR_DELIVERY"))["alertsQueued"] == 1  # within 24 hours: free text
    await _sent_to_customer(graph, sends + 1)
    assert graph.sent[-1].body["type"] == "text"

    await session.execute(
        text("UPDATE message SET timestamp = now() - interval '25 hours' WHERE direction = 'IN'")
    )  # the customer last wrote yesterday
    await session.commit()
    answer = await push("AT_SERVICE_POINT")
    assert (answer["alertsQueued"], answer["alertsHeld"]) == (0, 1)  # no alert template: not sent at all

    template = {"alertTemplate": {"name": "aviso_envio", "language": "es"}}
    response = await client.put(
        _cloud(world.point_a), json={"phoneNumberId": NUMBER_ID} | template, headers=world.admin.headers
    )
    assert response.status_code == 200, response.text
    answer = await push("DELIVERED")
    assert (answer["alertsQueued"], answer["alertsHeld"]) == (1, 0)
    await _sent_to_customer(graph, sends + 2)
    sent = graph.sent[-1].body
    assert sent["type"] == "template" and sent["template"]["name"] == "aviso_envio"
    assert [p["text"] for p in sent["template"]["components"][0]["parameters"]] == [number, "Entregado"]


async def test_a_body_naming_no_number_is_acknowledged_only_when_signed_by_a_known_app(
    client: Client, cloud: World
) -> None:
    review = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "2233445566", "changes": [{"field": "message_template_status_update", "value": {}}]}],
    }
    assert await _post(client, review) == 200
    assert await _post(client, review, secret="another-app") == 401


async def test_a_number_another_point_has_keeps_its_setup_and_says_why(
    client: Client, world: World, session: AsyncSession
) -> None:
    response = await client.patch(
        f"/api/service-points/{world.point_b}", json={"phoneNumber": "+59320000011"}, headers=world.admin.headers
    )
    assert response.status_code == 200, response.text
    body = {"phoneNumberId": NUMBER_ID, "accessToken": TOKEN, "appSecret": APP_SECRET, "verifyToken": VERIFY}
    assert (await client.put(_cloud(world.point_a), json=body, headers=world.admin.headers)).status_code == 200

    async def refused() -> bool:
        state = (await client.get(f"/api/service-points/{world.point_a}/whatsapp", headers=world.admin.headers)).json()
        return state["status"] == "DISCONNECTED" and "otra sucursal" in (state["lastError"] or "")

    await eventually(refused, what="the number refused")
    assert await session.get(CloudAccount, world.point_a) is not None  # the admin's setup stays, to be corrected


async def test_switching_a_point_between_web_and_cloud(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession
) -> None:
    point = f"/api/service-points/{cloud.point_a}"
    for actor in (cloud.supervisor_a, cloud.agent_a):
        response = await client.patch(point, json={"transport": "web"}, headers=actor.headers)
        assert response.status_code == 403
    assert (await client.patch(point, json={"transport": "bogus"}, headers=cloud.admin.headers)).status_code == 400
    response = await client.patch(point, json={"transport": "web"}, headers=cloud.admin.headers)
    assert response.status_code == 200 and response.json()["transport"] == "web"

    async def web_again() -> bool:
        state = (await client.get(f"{point}/whatsapp", headers=cloud.admin.headers)).json()
        return state["status"] != "CONNECTED" or state["qrAvailable"]

    await eventually(web_again, what="the Cloud API socket closed")
    # what customers write to the Cloud API number still reaches this point's inbox, and nothing is lost
    assert await _post(client, envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "hola", "wamid.W1")])) == 200
    assert [m.provider_message_id for m in await _messages(session, cloud.point_a)][:1] == ["wamid.W1"]

    response = await client.patch(point, json={"transport": "cloud"}, headers=cloud.admin.headers)
    assert response.status_code == 200 and response.json()["transport"] == "cloud"

    async def cloud_again() -> bool:
        state = (await client.get(f"{point}/whatsapp", headers=cloud.admin.headers)).json()
        return state["status"] == "CONNECTED"

    await eventually(cloud_again, what="the Cloud API back")
    qr = await client.get(f"{point}/whatsapp/qr", headers=cloud.admin.headers)
    assert qr.status_code == 409 and "Cloud API" in qr.json()["detail"]
    pair = await client.post(
        f"{point}/whatsapp/pair-code", json={"phoneNumber": "+593991234567"}, headers=cloud.admin.headers
    )
    assert pair.status_code == 409


async def test_secrets_sealed_with_another_key_say_so(
    client: Client, cloud: World, database_url: str, tmp_path: Path, graph: FakeGraph
) -> None:
    environ = {
        "DATABASE_URL": database_url,
        "VENTANILLA_DATA_DIR": str(tmp_path / "other"),
        "AUTH_SESSIONS_DIR": str(tmp_path / "other-auth"),
        "WHATSAPP_TRANSPORT": "simulator",
        "JWT_SECRET": TEST_JWT_SECRET,
        "VENTANILLA_SECRET_KEY": "a-different-key-than-the-first-replica-had",
        "WHATSAPP_CLOUD_API_BASE": graph.url,
    }
    await client.__aexit__(None, None, None)  # the first replica stops; the next one has another key
    async with AsyncTestClient(fast_app(load_settings(environ, env_file=None))) as other:

        async def explained() -> bool:
            response = await other.get(f"/api/service-points/{cloud.point_a}/whatsapp", headers=cloud.admin.headers)
            return "VENTANILLA_SECRET_KEY" in (response.json()["lastError"] or "")

        await eventually(explained, timeout=10, what="the key named in lastError")
        payload = envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "hola", "wamid.K1")])
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
        response = await other.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 503  # Meta keeps it and tries again once the key is fixed


async def test_while_the_database_is_away_meta_is_told_to_come_back_and_nothing_is_lost(
    client: Client, cloud: World, graph: FakeGraph, session: AsyncSession, engine: AsyncEngine, outage: Outage
) -> None:
    payload = envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", message_id="wamid.OUTAGE")])
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
    async with outage.refusing():
        await outage.terminate()
        response = await client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 503 and response.headers["retry-after"]
    await engine.dispose()  # the test's own connections were killed too
    for _ in range(2):  # Meta's retry, and a duplicate of it
        response = await client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 200, response.text
    await _sent_to_customer(graph, 1)
    rows = [m for m in await _messages(session, cloud.point_a) if m.provider_message_id == "wamid.OUTAGE"]
    assert len(rows) == 1


async def test_a_flooded_number_with_a_slow_meta_does_not_delay_a_quiet_one(
    client: Client, world: World, graph: FakeGraph, session: AsyncSession
) -> None:
    quiet_number, quiet_token, quiet_secret = "206540352242922", "EAAG-token-of-point-b", "app-secret-of-b"
    graph.add_number(quiet_number, quiet_token, display_phone_number="+593 2 000 0022")
    await _set_up(client, world)
    body = {
        "phoneNumberId": quiet_number,
        "accessToken": quiet_token,
        "appSecret": quiet_secret,
        "verifyToken": "v" * 9,
    }
    assert (await client.put(_cloud(world.point_b), json=body, headers=world.admin.headers)).status_code == 200

    async def both_connected() -> bool:
        rows = (await client.get("/api/whatsapp/status", headers=world.admin.headers)).json()
        return sum(row["status"] == "CONNECTED" for row in rows) == 2

    await eventually(both_connected, what="both cloud points CONNECTED")
    graph.set_delay(3.0, path_containing=f"/{NUMBER_ID}/messages")  # Meta is slow for A's sends only
    flood = [text_message(f"5939911{i:05d}", "Hola", message_id=f"wamid.FLOOD{i}") for i in range(150)]
    assert await _post(client, envelope(NUMBER_ID, messages=flood)) == 200
    quiet = envelope(quiet_number, messages=[text_message(CUSTOMER, "Hola", message_id="wamid.QUIET")])
    started = asyncio.get_running_loop().time()
    assert await _post(client, quiet, secret=quiet_secret) == 200

    async def quiet_answered() -> bool:
        return any(sent.phone_number_id == quiet_number for sent in graph.sent)

    await eventually(quiet_answered, timeout=2.5, what="the quiet branch answered before A's slow sends return")
    assert asyncio.get_running_loop().time() - started < 2.5
    assert not any(sent.phone_number_id == NUMBER_ID for sent in graph.sent)  # A's sends are all still waiting


async def test_meta_is_reached_through_the_configured_proxy(
    world: World, graph: FakeGraph, settings: Settings, session: AsyncSession
) -> None:
    """Meta's address does not resolve here: answers arrive only because the proxy (the fake, taking absolute-form
    requests) carries them."""
    through_proxy = replace(
        settings, whatsapp_cloud_api_base="http://graph.invalid/v21.0", whatsapp_cloud_proxy=graph.root
    )
    async with AsyncTestClient(fast_app(through_proxy)) as client:
        await _set_up(client, world)
        assert await _post(client, envelope(NUMBER_ID, messages=[text_message(CUSTOMER, "Hola", "wamid.P1")])) == 200
        await _sent_to_customer(graph, 1)
