"""What the other agents of the point hear live: who is typing (published at once, nothing stored), a new private
note (kind note) and a change of labels."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.rows import add_conversation


async def test_typing_notes_and_labels_reach_the_points_stream(
    live_server: str, world: World, session: AsyncSession
) -> None:
    conversation_id = await add_conversation(session, world.point_a)
    of_b = await add_conversation(session, world.point_b, phone="+593980000002")
    path = f"/api/service-points/{world.point_a}/conversations/{conversation_id}"
    received: list[tuple[str, dict]] = []
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=10) as http,
        http.stream("GET", f"/api/service-points/{world.point_a}/events", headers=world.agent_a.headers) as stream,
    ):
        assert stream.status_code == 200

        async def listen() -> None:
            event = None
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    received.append((event, json.loads(line.split(":", 1)[1])))
                    if event == "conversation.updated":
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        typing = await http.post(f"{path}/typing", headers=world.supervisor_a.headers)
        assert typing.status_code == 204, typing.text
        for url, headers in (
            (f"/api/service-points/{world.point_a}/conversations/{of_b}/typing", world.supervisor_a.headers),
            (f"/api/service-points/{world.point_a}/conversations/{uuid4()}/typing", world.supervisor_a.headers),
            (f"{path}/typing", world.agent_b.headers),
        ):
            assert (await http.post(url, headers=headers)).status_code == 404
        note = await http.post(f"{path}/notes", json={"content": "llamar luego"}, headers=world.supervisor_a.headers)
        assert note.status_code == 201
        labels = await http.put(f"{path}/labels", json=["vip"], headers=world.supervisor_a.headers)
        assert labels.status_code == 200
        await asyncio.wait_for(listener, 10)

    assert [kind for kind, _ in received] == ["conversation.typing", "message.new", "conversation.updated"]
    assert received[0][1] == {
        "type": "conversation.typing",
        "servicePointId": str(world.point_a),
        "conversationId": str(conversation_id),
        "userId": str(world.supervisor_a.user_id),
        "userName": "supervisor_a",
    }
    assert received[1][1]["kind"] == "note" and received[1][1]["messageId"] == note.json()["id"]
    assert received[2][1]["conversationId"] == str(conversation_id)
