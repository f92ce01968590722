"""Outbound webhooks: signed deliveries written with their events, retried under one id, disabled when failing."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.flow import link, say
from tests.webhooks.conftest import Receiver
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import ConversationStatus, Webhook, WebhookDelivery, WhatsappStatus
from ventanilla.live.events import ConversationUpdated, HandoffRequested, WhatsappStatusChanged, after_commit
from ventanilla.webhooks.dispatcher import WebhookPolicy

Client = AsyncTestClient[Litestar]
HOOKS = "/api/webhooks"


async def create(client: Client, world: World, url: str, events: list[str], point: UUID | None = None) -> dict:
    body = {"url": url, "events": events} | ({"servicePointId": str(point)} if point else {})
    response = await client.post(HOOKS, json=body, headers=world.admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def log(client: Client, world: World, hook: dict) -> list[dict]:
    response = await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=world.admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def app_sessions(app: Litestar, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions like the app's own: they carry the webhook subscriptions the commit hook reads."""
    return async_sessionmaker(engine, expire_on_commit=False, info=app.state.webhook_subscriptions.session_info())


def whatsapp(point: UUID) -> WhatsappStatusChanged:
    return WhatsappStatusChanged(
        service_point_id=point,
        status=WhatsappStatus.CONNECTED,
        phone_number=None,
        last_qr_at=None,
        qr_available=False,
        last_error=None,
    )


async def test_a_received_message_is_delivered_once_signed_with_its_text(
    client: Client, world: World, receiver: Receiver
) -> None:
    hook = await create(client, world, receiver.url, ["message.received"], world.point_a)
    assert hook["secret"].startswith("whsec_") and hook["enabled"] is True
    await link(client, world, world.point_a)
    await say(client, world, world.point_a, "Hola, ¿dónde está mi paquete?")

    async def arrived() -> bool:
        return len(receiver.got) >= 1

    await eventually(arrived, what="the webhook delivery")
    await asyncio.sleep(0.3)  # the bot's answer and its statuses are not subscribed: nothing more arrives
    assert len(receiver.got) == 1
    delivery = receiver.got[0]
    assert delivery.signed_with(hook["secret"])
    assert not delivery.signed_with("whsec_other")
    assert delivery.headers["x-ventanilla-event"] == "message.received"
    assert delivery.headers["content-type"] == "application/json"
    payload = delivery.json
    assert payload["id"] == delivery.headers["x-ventanilla-delivery"]
    assert payload["type"] == "message.received"
    assert payload["data"]["servicePointId"] == str(world.point_a)
    assert payload["data"]["text"] == "Hola, ¿dónde está mi paquete?"
    assert {"conversationId", "messageId"} <= payload["data"].keys()

    async def logged() -> bool:
        return [e["status"] for e in await log(client, world, hook)] == ["DELIVERED"]

    await eventually(logged, what="the delivery logged as DELIVERED")
    entry = (await log(client, world, hook))[0]
    assert entry["deliveryId"] == payload["id"] and entry["attempts"] == 1 and entry["lastStatusCode"] == 200


async def test_a_failed_answer_is_retried_under_the_same_delivery_id(
    client: Client, world: World, receiver: Receiver, app: Litestar, engine: AsyncEngine
) -> None:
    receiver.answers = [500]
    hook = await create(client, world, receiver.url, ["whatsapp.status"])
    async with app_sessions(app, engine)() as session:
        after_commit(session, whatsapp(world.point_b))
        await session.commit()

    async def twice() -> bool:
        return len(receiver.got) >= 2

    await eventually(twice, what="the retry")
    first, second = receiver.got[:2]
    assert first.headers["x-ventanilla-delivery"] == second.headers["x-ventanilla-delivery"]
    assert first.body == second.body
    assert first.signed_with(hook["secret"]) and second.signed_with(hook["secret"])
    assert second.json["data"] == {"servicePointId": str(world.point_b), "status": "CONNECTED", "lastError": None}

    async def delivered() -> bool:
        return [e["status"] for e in await log(client, world, hook)] == ["DELIVERED"]

    await eventually(delivered, what="DELIVERED after the retry")
    entry = (await log(client, world, hook))[0]
    assert entry["attempts"] == 2 and entry["lastStatusCode"] == 200 and entry["lastError"] is None


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com/hook", "http://", "javascript:alert(1)", "https://user:pw@example.com/"]
)
async def test_a_bad_url_is_refused(client: Client, world: World, url: str) -> None:
    response = await client.post(HOOKS, json={"url": url, "events": ["message.sent"]}, headers=world.admin.headers)
    assert response.status_code == 400, response.text
    assert "url" in response.text


async def test_bad_events_points_and_callers_are_refused(client: Client, world: World) -> None:
    ok = {"url": "https://crm.example.com/hook", "events": ["message.sent"]}
    for body in (
        ok | {"events": []},
        ok | {"events": ["message.new"]},
        ok | {"servicePointId": str(uuid.uuid4())},
    ):
        response = await client.post(HOOKS, json=body, headers=world.admin.headers)
        assert response.status_code == 400, (body, response.text)
    for actor in (world.supervisor_a, world.agent_a):
        assert (await client.post(HOOKS, json=ok, headers=actor.headers)).status_code == 403
        assert (await client.get(HOOKS, headers=actor.headers)).status_code == 403


async def test_the_secret_is_shown_once(client: Client, world: World, session: AsyncSession) -> None:
    hook = await create(client, world, "https://crm.example.com/hook", ["message.sent"])
    secret = hook["secret"]
    listing = await client.get(HOOKS, headers=world.admin.headers)
    assert [item["id"] for item in listing.json()] == [hook["id"]]
    assert secret not in listing.text and "secret" not in listing.json()[0]
    patched = await client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": True}, headers=world.admin.headers)
    assert patched.status_code == 200 and secret not in patched.text
    stored = await session.scalar(select(Webhook.secret))
    assert stored != secret and secret not in stored  # kept sealed, to sign (tests/webhooks/test_hardening.py)


@pytest.mark.parametrize(
    "webhook_policy",
    [WebhookPolicy(poll_seconds=0.05, retry_base_seconds=0.05, give_up_after_seconds=0.3, claim_seconds=5)],
    ids=["retry-window-0.3s"],
)
async def test_a_failing_webhook_is_disabled_after_the_retry_window(
    client: Client, world: World, receiver: Receiver, app: Litestar, engine: AsyncEngine
) -> None:
    receiver.always = 503
    hook = await create(client, world, receiver.url, ["whatsapp.status"])
    async with app_sessions(app, engine)() as session:
        after_commit(session, whatsapp(world.point_a))
        await session.commit()

    async def disabled() -> bool:
        listing = (await client.get(HOOKS, headers=world.admin.headers)).json()
        return listing[0]["enabled"] is False

    await eventually(disabled, what="the webhook disabled")
    shown = (await client.get(HOOKS, headers=world.admin.headers)).json()[0]
    assert "HTTP 503" in shown["disabledReason"] and shown["disabledAt"] is not None
    entry = (await log(client, world, hook))[0]
    assert entry["status"] == "FAILED" and entry["attempts"] >= 2 and entry["lastStatusCode"] == 503
    tried = len(receiver.got)
    async with app_sessions(app, engine)() as session:  # disabled: new events are not queued for it
        after_commit(session, whatsapp(world.point_a))
        await session.commit()
    await asyncio.sleep(0.3)
    assert len(receiver.got) == tried and len(await log(client, world, hook)) == 1

    enabled = await client.patch(f"{HOOKS}/{hook['id']}", json={"enabled": True}, headers=world.admin.headers)
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True and enabled.json()["disabledReason"] is None


async def test_events_are_filtered_by_type_and_point(
    client: Client, world: World, receiver: Receiver, app: Litestar, engine: AsyncEngine, session: AsyncSession
) -> None:
    handoffs_a = await create(client, world, receiver.url, ["conversation.handoff"], world.point_a)
    resolved_any = await create(client, world, receiver.url, ["conversation.resolved", "whatsapp.status"])
    conversation = uuid.uuid4()
    async with app_sessions(app, engine)() as writer:
        after_commit(
            writer,
            HandoffRequested(service_point_id=world.point_b, conversation_id=conversation, reason="pide humano"),
            HandoffRequested(service_point_id=world.point_a, conversation_id=conversation, reason="pide humano"),
            ConversationUpdated(
                service_point_id=world.point_a,
                conversation_id=conversation,
                status=ConversationStatus.HUMAN,
                assigned_to_user_id=None,
            ),
            ConversationUpdated(
                service_point_id=world.point_b,
                conversation_id=conversation,
                status=ConversationStatus.RESOLVED,
                assigned_to_user_id=None,
            ),
        )
        await writer.commit()
    rows = (
        await session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.event_type, WebhookDelivery.body))
    ).all()
    got = sorted((str(row.webhook_id), row.event_type) for row in rows)
    assert got == sorted([(handoffs_a["id"], "conversation.handoff"), (resolved_any["id"], "conversation.resolved")])
    assert all("pide humano" not in row.body or row.event_type == "conversation.handoff" for row in rows)


async def test_deliveries_are_written_in_the_events_transaction(
    client: Client, world: World, app: Litestar, engine: AsyncEngine, session: AsyncSession
) -> None:
    await create(client, world, "http://127.0.0.1:9/unused", ["whatsapp.status"])
    async with app_sessions(app, engine)() as writer:
        await writer.execute(text("UPDATE service_point SET name = 'Cambiado' WHERE id = :id"), {"id": world.point_a})
        after_commit(writer, whatsapp(world.point_a))
        await writer.flush()
        await writer.rollback()
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0

    async with app_sessions(app, engine)() as writer:
        after_commit(writer, whatsapp(world.point_a))
        await writer.execute(text("SELECT 1"))
        before = await session.scalar(select(func.count()).select_from(WebhookDelivery))
        await writer.commit()
    assert before == 0  # not visible before the writer's commit
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


async def test_deleting_a_webhook_stops_its_deliveries(
    client: Client, world: World, app: Litestar, engine: AsyncEngine, session: AsyncSession
) -> None:
    hook = await create(client, world, "http://127.0.0.1:9/unused", ["whatsapp.status"])
    assert (await client.delete(f"{HOOKS}/{hook['id']}", headers=world.admin.headers)).status_code == 204
    app.state.webhook_subscriptions.put(  # a snapshot that still lists it (another replica's, say): no row, no error
        Webhook(id=UUID(hook["id"]), url="x", events=["whatsapp.status"], secret="x", enabled=True)
    )
    async with app_sessions(app, engine)() as writer:
        after_commit(writer, whatsapp(world.point_a))
        await writer.commit()
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert (await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=world.admin.headers)).status_code == 404


async def test_a_slow_receiver_does_not_hold_up_another(
    client: Client,
    world: World,
    receiver: Receiver,
    slow_receiver: Receiver,
    app: Litestar,
    engine: AsyncEngine,
) -> None:
    await create(client, world, slow_receiver.url, ["whatsapp.status"])
    fast = await create(client, world, receiver.url, ["whatsapp.status"])
    async with app_sessions(app, engine)() as writer:
        after_commit(writer, whatsapp(world.point_a))
        await writer.commit()

    async def delivered() -> bool:
        return [e["status"] for e in await log(client, world, fast)] == ["DELIVERED"]

    await eventually(delivered, timeout=2.5, what="the fast receiver's delivery, while the slow one still waits")
    assert len(slow_receiver.got) == 1  # its POST is in flight, unanswered: one slot held, no connection
