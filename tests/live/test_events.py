"""Live events over Server-Sent Events, against a real server: a point's subscribers hear that point only, and
only while their access holds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import jwt
import pytest
from litestar import Litestar

from tests.conftest import TEST_JWT_SECRET, World
from tests.whatsapp.conftest import eventually
from ventanilla.auth.jwt import TOKEN_AUDIENCE, TOKEN_ISSUER
from ventanilla.live import controllers as live_controllers
from ventanilla.live.events import QrShown
from ventanilla.live.publisher import LivePublisher, build_channels, channel_of


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event:
            yield event, json.loads(line.split(":", 1)[1])


async def test_subscriber_of_a_hears_a_and_nothing_of_b(live_server: str, world: World) -> None:
    received: list[tuple[str, dict]] = []
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=10) as http,
        http.stream("GET", f"/api/service-points/{world.point_a}/events", headers=world.agent_a.headers) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")

        async def listen() -> None:
            async for event in _events(stream):
                received.append(event)
                if event[0] == "whatsapp.status" and event[1]["status"] == "CONNECTED":
                    return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        for point in (world.point_b, world.point_a):  # B first: its events must never reach A's stream
            await http.post(f"/api/service-points/{point}/whatsapp/connect", headers=world.admin.headers)
        await asyncio.sleep(0.3)
        for point in (world.point_b, world.point_a):
            scanned = await http.post(f"/api/service-points/{point}/simulator/scan", headers=world.admin.headers)
            assert scanned.status_code == 201
        await asyncio.wait_for(listener, 10)

    kinds = [kind for kind, _ in received]
    assert "whatsapp.qr" in kinds
    assert kinds.count("whatsapp.status") >= 2
    assert {data["servicePointId"] for _, data in received} == {str(world.point_a)}
    assert received[-1][1]["status"] == "CONNECTED" and received[-1][1]["phoneNumber"] == "+593200000001"


async def test_only_members_may_subscribe(live_server: str, world: World) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=5) as http:
        url = f"/api/service-points/{world.point_a}/events"
        assert (await http.get(url, headers=world.agent_b.headers)).status_code == 404
        assert (await http.get(url, headers=world.outsider.headers)).status_code == 404
        assert (await http.get(url)).status_code == 401


async def test_inbox_events_reach_only_the_points_subscribers(live_server: str, world: World) -> None:
    """A's subscriber hears A's new messages and conversation changes, and nothing of B's."""
    received: list[tuple[str, dict]] = []
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        for point in (world.point_a, world.point_b):
            await http.post(f"/api/service-points/{point}/whatsapp/connect", headers=world.admin.headers)
        await asyncio.sleep(0.3)
        for point in (world.point_a, world.point_b):
            await http.post(f"/api/service-points/{point}/simulator/scan", headers=world.admin.headers)
        await asyncio.sleep(0.3)
        url = f"/api/service-points/{world.point_a}/events"
        async with http.stream("GET", url, headers=world.agent_a.headers) as stream:

            async def listen() -> None:
                async for event in _events(stream):
                    received.append(event)
                    if event[0] == "conversation.updated":
                        return

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.2)
            for point in (world.point_b, world.point_a):
                body = {"from": "+593991112233", "text": "quiero hablar con una persona"}
                response = await http.post(
                    f"/api/service-points/{point}/simulator/inbound", json=body, headers=world.admin.headers
                )
                assert response.status_code == 202
            conversations = {}
            for point in (world.point_b, world.point_a):
                for _ in range(50):
                    items = (
                        await http.get(f"/api/service-points/{point}/conversations", headers=world.admin.headers)
                    ).json()["items"]
                    if items:
                        conversations[point] = items[0]["id"]
                        break
                    await asyncio.sleep(0.05)
            for point in (world.point_b, world.point_a):
                await http.patch(
                    f"/api/service-points/{point}/conversations/{conversations[point]}",
                    json={"status": "BOT"},
                    headers=world.admin.headers,
                )
            await asyncio.wait_for(listener, 10)

    kinds = [kind for kind, _ in received]
    assert "message.new" in kinds and "conversation.updated" in kinds
    assert {data["servicePointId"] for _, data in received} == {str(world.point_a)}
    assert {data.get("conversationId") for _, data in received if "conversationId" in data} == {
        conversations[world.point_a]
    }


def _listen(stream: httpx.Response, received: list[tuple[str, dict]]) -> asyncio.Task[None]:
    """Collect the stream's events until the server ends it."""

    async def listen() -> None:
        async for event in _events(stream):
            received.append(event)

    return asyncio.create_task(listen())


async def test_stream_ends_when_the_membership_is_removed(
    live_server: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_controllers, "RECHECK_SECONDS", 60.0)  # only the next event can end it in time
    received: list[tuple[str, dict]] = []
    point = f"/api/service-points/{world.point_a}"
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=10) as http,
        http.stream("GET", f"{point}/events", headers=world.agent_a.headers) as stream,
    ):
        assert stream.status_code == 200
        listener = _listen(stream, received)
        await http.post(f"{point}/whatsapp/connect", headers=world.admin.headers)

        async def heard_qr() -> bool:
            return any(kind == "whatsapp.qr" for kind, _ in received)

        await eventually(heard_qr, what="the QR event on the member's stream")
        removed = await http.delete(f"{point}/members/{world.agent_a.user_id}", headers=world.admin.headers)
        assert removed.status_code == 204
        assert (await http.post(f"{point}/simulator/scan", headers=world.admin.headers)).status_code == 201
        await asyncio.wait_for(listener, 10)  # the server ended the stream
    assert all(data.get("status") != "CONNECTED" for _, data in received)  # published after the removal


async def test_stream_ends_at_logout(live_server: str, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_controllers, "RECHECK_SECONDS", 0.1)
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        login = await http.post(
            "/api/auth/login", json={"email": world.agent_a.email, "password": world.agent_a.password}
        )
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        async with http.stream("GET", f"/api/service-points/{world.point_a}/events", headers=headers) as stream:
            assert stream.status_code == 200
            listener = _listen(stream, [])
            await asyncio.sleep(0.5)
            assert not listener.done()  # several checks passed while the token held
            assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204
            await asyncio.wait_for(listener, 10)


async def test_stream_ends_when_the_token_expires(
    live_server: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_controllers, "RECHECK_SECONDS", 60.0)  # the expiry alone must end it
    now = datetime.now(UTC)
    claims = {"sub": str(world.agent_a.user_id), "iat": now, "exp": now + timedelta(seconds=3), "ver": 0}
    claims |= {"iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, TEST_JWT_SECRET, algorithm='HS256')}"}
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=10) as http,
        http.stream("GET", f"/api/service-points/{world.point_a}/events", headers=headers) as stream,
    ):
        assert stream.status_code == 200
        await asyncio.wait_for(_listen(stream, []), 15)


async def test_a_client_that_stops_reading_is_let_go_instead_of_followed_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_controllers, "MAX_BACKLOG", 50)
    channels, point = build_channels(), uuid4()
    publisher = LivePublisher(channels)

    async def allowed() -> bool:
        return True

    def publish(count: int) -> None:
        for _ in range(count):
            publisher.publish(QrShown(service_point_id=point, expires_at=datetime.now(UTC)))

    async with Litestar(plugins=[channels]).lifespan():
        streams = live_controllers.LiveStreams()
        stream = live_controllers._events(channels, streams, point, allowed, datetime.now(UTC) + timedelta(hours=1))
        await anext(stream)  # subscribed
        publish(40)
        assert [(await anext(stream)).event for _ in range(40)] == ["whatsapp.qr"] * 40  # a reader hears all
        publish(500)  # while the client reads nothing
        await asyncio.sleep(0.2)
        assert not channels._channels[channel_of(point)]  # unsubscribed: nothing more is kept for it
        with pytest.raises(StopAsyncIteration):  # its stream ends; the browser reconnects and refetches
            await anext(stream)


async def test_closing_the_streams_ends_open_ones_at_once_and_new_ones_immediately() -> None:
    """What `ventanilla serve` does as it starts stopping (see tests/live/test_shutdown.py for the whole server)."""
    channels, point, streams = build_channels(), uuid4(), live_controllers.LiveStreams()

    async def allowed() -> bool:
        return True

    def open_stream() -> AsyncIterator[object]:
        return live_controllers._events(channels, streams, point, allowed, datetime.now(UTC) + timedelta(hours=1))

    async with Litestar(plugins=[channels]).lifespan():
        stream = open_stream()
        await anext(stream)  # subscribed, now waiting for events (a quiet stream waits RECHECK_SECONDS at a time)
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        streams.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 1)
        late = open_stream()
        await anext(late)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(late), 1)
        assert not channels._channels.get(channel_of(point))  # both unsubscribed
