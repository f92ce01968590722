"""`GET /api/service-points/{spId}/events`: Server-Sent Events for the members of one point.

A stream outlives the request that opened it, so the access granted then is checked again (`still_allowed`):
before each batch of events and every few seconds while quiet. The stream ends when the token expires or is
revoked, or the user is deleted or no longer a member; the browser's reconnection then meets the usual 401/404.

A client that stops reading (a laptop asleep with its connection still open) is not followed without bound: once
`MAX_BACKLOG` events wait for it, its subscription is dropped and the stream ends at its next step. The browser
reconnects and refetches what it shows, as after any reconnection.

A stream never ends by itself, so a stopping server ends them all first (`LiveStreams.close`, called by `ventanilla
serve` before it waits for open connections); otherwise Ctrl-C would wait for the graceful-shutdown timeout and
then cancel each stream with a traceback. Browsers reconnect to whichever server answers next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, Request, get
from litestar.channels import ChannelsPlugin
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ventanilla.auth.guards import requires_point_member, still_allowed
from ventanilla.db.models import User
from ventanilla.live.publisher import channel_of

HEARTBEAT_SECONDS = 15.0
RECHECK_SECONDS = 5.0  # how long a quiet stream may go on after its access ended
MAX_BACKLOG = 10_000  # events waiting for a client that does not read (bursts of a few thousand are normal)
_CLOSE = None  # put in a stream's queue: the server is stopping, end the stream now


class LiveStreams:
    """The event streams open in this process, so that stopping the server can end them at once."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self._closing = False

    def open(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        if self._closing:
            queue.put_nowait(_CLOSE)
        self._queues.add(queue)
        return queue

    def release(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queues.discard(queue)

    def close(self) -> None:
        """End every open stream at its next step, and any stream opened from now on at once."""
        self._closing = True
        for queue in self._queues:
            queue.put_nowait(_CLOSE)


class LiveController(Controller):
    path = "/api/service-points/{sp_id:uuid}/events"
    tags = ["live"]

    @get(
        "/",
        guards=[requires_point_member],
        summary="Live events of the point (Server-Sent Events)",
        description="Each event's name is its type (whatsapp.status, whatsapp.qr, message.new, conversation.updated, "
        "handoff.requested); data is JSON. A comment line every 15 s keeps proxies from closing the stream. The stream "
        "ends when the token expires or is revoked (logout) or the caller stops being a member of the point.",
    )
    async def stream(
        self,
        request: Request[User, Token, State],
        sp_id: FromPath[UUID],
        channels: NamedDependency[ChannelsPlugin],
        db_engine: NamedDependency[AsyncEngine],
    ) -> ServerSentEvent:
        token = request.auth

        async def allowed() -> bool:
            async with AsyncSession(db_engine) as session:  # a short session per check: a stream lasts for hours
                return await still_allowed(session, token, sp_id)

        streams: LiveStreams = request.app.state.live_streams
        return ServerSentEvent(_events(channels, streams, sp_id, allowed, token.exp))


async def _events(
    channels: ChannelsPlugin,
    streams: LiveStreams,
    point_id: UUID,
    allowed: Callable[[], Awaitable[bool]],
    expires_at: datetime,
) -> AsyncIterator[ServerSentEventMessage]:
    channel = channel_of(point_id)
    async with channels.start_subscription([channel]) as subscriber:
        queue = streams.open()
        lagging = asyncio.Event()  # the client fell `MAX_BACKLOG` events behind: nothing more is kept for it

        async def pump() -> None:
            async for message in subscriber.iter_events():
                if queue.qsize() >= MAX_BACKLOG:
                    lagging.set()
                    await channels.unsubscribe(subscriber, [channel])
                    return
                queue.put_nowait(message)

        pumping = asyncio.create_task(pump())
        clock = asyncio.get_running_loop().time
        try:
            yield ServerSentEventMessage(comment="ventanilla live", retry=3000)
            last_sent = clock()
            while not lagging.is_set():
                left = (expires_at - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    return
                try:
                    batch = [await asyncio.wait_for(queue.get(), min(RECHECK_SECONDS, left))]
                except TimeoutError:
                    if not await allowed():
                        return
                    if clock() - last_sent >= HEARTBEAT_SECONDS:
                        yield ServerSentEventMessage(comment="heartbeat")
                        last_sent = clock()
                    continue
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if _CLOSE in batch:
                    return
                if not await allowed() or lagging.is_set():  # one check covers every event that arrived before it
                    return
                for raw in filter(None, batch):
                    event = json.loads(raw)
                    yield ServerSentEventMessage(data=raw.decode(), event=event.get("type", "message"))
                last_sent = clock()
        finally:
            streams.release(queue)
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
