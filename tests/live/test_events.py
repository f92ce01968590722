"""Live events over Server-Sent Events, against a real server: a point's subscribers hear that point only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from tests.conftest import World


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
