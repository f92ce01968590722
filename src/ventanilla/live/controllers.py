"""`GET /api/service-points/{spId}/events`: Server-Sent Events for the members of one point."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from uuid import UUID

from litestar import Controller, get
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage

from ventanilla.auth.guards import requires_point_member
from ventanilla.live.publisher import channel_of

HEARTBEAT_SECONDS = 15.0


class LiveController(Controller):
    path = "/api/service-points/{sp_id:uuid}/events"
    tags = ["live"]

    @get(
        "/",
        guards=[requires_point_member],
        summary="Live events of the point (Server-Sent Events)",
        description="Each event's name is its type (whatsapp.status, whatsapp.qr, message.new, conversation.updated, "
        "handoff.requested); data is JSON. A comment line every 15 s keeps proxies from closing the stream.",
    )
    async def stream(self, sp_id: FromPath[UUID], channels: NamedDependency[ChannelsPlugin]) -> ServerSentEvent:
        return ServerSentEvent(_events(channels, sp_id))


async def _events(channels: ChannelsPlugin, point_id: UUID) -> AsyncIterator[ServerSentEventMessage]:
    async with channels.start_subscription([channel_of(point_id)]) as subscriber:
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def pump() -> None:
            async for message in subscriber.iter_events():
                queue.put_nowait(message)

        pumping = asyncio.create_task(pump())
        try:
            yield ServerSentEventMessage(comment="ventanilla live", retry=3000)
            while True:
                try:
                    raw = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="heartbeat")
                    continue
                event = json.loads(raw)
                yield ServerSentEventMessage(data=raw.decode(), event=event.get("type", "message"))
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
