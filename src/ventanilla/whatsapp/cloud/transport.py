"""The Cloud API as a transport: a point's "socket" is its Graph API client, owned like any other point's.

There is nothing to keep open: `connect` checks the number and the token with Meta (`Connected` with the number,
`Misconfigured` when Meta refuses the token or the number, `Disconnected` when Meta cannot be reached, which the
manager retries with backoff). Sends go through the Graph API, rate limited per number; inbound messages and
statuses do not come through the socket at all but through the webhook (`whatsapp/cloud/controllers.py`), on any
replica. A send refused because the token is no longer valid is retried later (the message waits) and takes the
point down until an admin enters a new token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import aiohttp
from sqlalchemy import delete, select

from ventanilla.db.errors import describe
from ventanilla.db.models import CloudAccount, ServicePoint
from ventanilla.db.session import SessionFactory
from ventanilla.secret_box import SecretBox, SecretUnreadable
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.cloud.accounts import CloudAccounts, CloudCredentials
from ventanilla.whatsapp.cloud.graph import GraphClient, GraphError, RateLimiter
from ventanilla.whatsapp.transport import (
    Connected,
    Disconnected,
    EventSink,
    MediaRef,
    Misconfigured,
    OutgoingMedia,
    TransportError,
)

logger = logging.getLogger(__name__)
GRAPH_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=10.0)
GRAPH_KEEPALIVE_SECONDS = 15.0  # idle connections kept that long (a server closing one first costs a retry)
# An HTTP session per number: one shared pool would let a flooded point's sends queue another point's behind them
# (with httpx, the shared pool's scan of every connection for every request was a third of the server's CPU at 640
# sends in flight in bench/cloud.py). No cap: the delivery worker already bounds each point's sends.
_Result = TypeVar("_Result")


class CloudTransport:
    name = "cloud"

    def __init__(self, sessions: SessionFactory, box: SecretBox, api_base: str, proxy: str | None = None) -> None:
        self.sessions = sessions
        self.box = box
        self.api_base = api_base
        self.proxy = proxy  # WHATSAPP_CLOUD_PROXY: every Graph call (and media download) goes through it
        self._numbers: dict[str, tuple[aiohttp.ClientSession, RateLimiter]] = {}  # per number, across reconnects

    async def is_linked(self, service_point_id: UUID, store: Path) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(CloudAccount.service_point_id).where(CloudAccount.service_point_id == service_point_id)
            )
        return found is not None

    async def forget(self, service_point_id: UUID, store: Path) -> None:
        """Logout of a cloud point: its number and secrets are deleted here (nothing changes at Meta)."""
        async with self.sessions() as session, session.begin():
            await session.execute(delete(CloudAccount).where(CloudAccount.service_point_id == service_point_id))

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> CloudSocket:
        return CloudSocket(self, service_point_id, events)

    def client(self, credentials: CloudCredentials) -> GraphClient:
        """The number's Graph client; called from coroutines only (a new session binds to the running loop)."""
        number = credentials.phone_number_id
        if number not in self._numbers:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=GRAPH_KEEPALIVE_SECONDS)
            http = aiohttp.ClientSession(connector=connector, timeout=GRAPH_TIMEOUT, proxy=self.proxy)
            self._numbers[number] = (http, RateLimiter())
        http, limiter = self._numbers[number]
        return GraphClient(self.api_base, number, credentials.access_token, http, limiter=limiter)

    async def credentials(self, service_point_id: UUID) -> CloudCredentials | None:
        async with self.sessions() as session:
            return await CloudAccounts(session, self.box).credentials(service_point_id)

    async def number_taken(self, service_point_id: UUID, phone_number: str) -> bool:
        """Whether another point already uses this number (checked here, before `Connected`: the manager would
        otherwise forget the credentials, and these are an admin's setup, not a linked device)."""
        async with self.sessions() as session:
            other = await session.scalar(
                select(ServicePoint.id).where(
                    ServicePoint.phone_number == phone_number, ServicePoint.id != service_point_id
                )
            )
        return other is not None

    async def shutdown(self) -> None:
        clients, self._numbers = [http for http, _ in self._numbers.values()], {}
        await asyncio.gather(*(http.close() for http in clients), return_exceptions=True)


class CloudSocket:
    def __init__(self, transport: CloudTransport, service_point_id: UUID, events: EventSink) -> None:
        self.transport = transport
        self.point_id = service_point_id
        self.events = events
        self.graph: GraphClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        """Returns at once; the check with Meta reports as events (the manager holds the point's lock now)."""
        self._spawn(self._check())

    async def _check(self) -> None:
        try:
            credentials = await self.transport.credentials(self.point_id)
        except SecretUnreadable as exc:
            await self.events(Misconfigured(str(exc)))
            return
        except Exception as exc:
            await self.events(Disconnected(f"database: {describe(exc)}"))
            return
        if credentials is None:
            await self.events(Misconfigured(messages.CLOUD_NOT_SET_UP))
            return
        graph = self.transport.client(credentials)
        try:
            number = await graph.phone_number()
        except GraphError as exc:
            await self.events(_refusal(exc))
            return
        try:
            taken = await self.transport.number_taken(self.point_id, number.phone_number)
        except Exception as exc:
            await self.events(Disconnected(f"database: {describe(exc)}"))
            return
        if taken:  # customers would reach two branches; the admin's setup stays for them to correct
            await self.events(Misconfigured(messages.CLOUD_NUMBER_TAKEN))
            return
        self.graph = graph
        await self.events(Connected(number.phone_number))

    async def close(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.graph = None

    async def logout(self) -> None:
        await self.close()

    async def request_pairing_code(self, phone_number: str) -> str:
        raise TransportError(messages.CLOUD_NO_PAIRING, permanent=True)

    async def send_text(self, to_phone: str, text: str, message_id: str) -> str:
        return await self._sending(lambda graph: graph.send_text(to_phone, text))

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        async def upload_and_send(graph: GraphClient) -> str:
            media_id = await graph.upload(media.data, media.mime_type, media.file_name)
            return await graph.send_media(to_phone, media.type, media_id, caption, media.file_name)

        return await self._sending(upload_and_send)

    async def send_template(self, to_phone: str, name: str, language: str, parameters: Sequence[str]) -> str:
        return await self._sending(lambda graph: graph.send_template(to_phone, name, language, parameters))

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        data, _ = await self._sending(lambda graph: graph.download(media.handle.decode(), max_bytes))
        return data

    async def _sending(self, call: Callable[[GraphClient], Awaitable[_Result]]) -> _Result:
        graph = self.graph
        if graph is None:
            raise TransportError("Cloud API: el número no está conectado")
        try:
            return await call(graph)
        except GraphError as exc:
            if exc.token_rejected:  # the message waits; the point goes down until a new token is entered
                self._spawn(self.events(_refusal(exc)))
            raise TransportError(str(exc), permanent=not exc.retryable and not exc.token_rejected) from None

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("point %s: Cloud API check failed", self.point_id, exc_info=task.exception())


def _refusal(error: GraphError) -> Misconfigured | Disconnected:
    if error.token_rejected:
        return Misconfigured(messages.cloud_token_rejected(str(error)))
    if error.retryable:
        return Disconnected(str(error))
    return Misconfigured(messages.cloud_refused(str(error)))
