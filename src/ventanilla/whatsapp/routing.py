"""Two transports behind one: each point's `transport` column says whether its socket is WhatsApp Web (neonize, or
the simulator: `WHATSAPP_TRANSPORT`) or the Cloud API.

The session manager keeps one transport and stays unaware of the choice. The column is read when the socket
connects (not when it is opened, which cannot wait on the database), so switching a point is a restart away.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from sqlalchemy import select

from ventanilla.db.models import ServicePoint
from ventanilla.db.session import SessionFactory
from ventanilla.whatsapp import messages
from ventanilla.whatsapp.cloud.transport import CloudTransport
from ventanilla.whatsapp.transport import (
    EventSink,
    MediaRef,
    OutgoingMedia,
    Socket,
    TemplateSender,
    Transport,
    TransportError,
)

NOT_OPEN = "la conexión de WhatsApp no está abierta"


class PointTransports:
    name = "routed"

    def __init__(self, web: Transport, cloud: CloudTransport, sessions: SessionFactory) -> None:
        self.web = web
        self.cloud = cloud
        self.sessions = sessions

    async def for_point(self, service_point_id: UUID) -> Transport:
        async with self.sessions() as session:
            kind = await session.scalar(select(ServicePoint.transport).where(ServicePoint.id == service_point_id))
        return self.cloud if kind == "cloud" else self.web

    async def is_linked(self, service_point_id: UUID, store: Path) -> bool:
        return await (await self.for_point(service_point_id)).is_linked(service_point_id, store)

    async def forget(self, service_point_id: UUID, store: Path) -> None:
        """The credentials of the point's current transport (a deleted point: the web ones; its cloud row went with
        it)."""
        await (await self.for_point(service_point_id)).forget(service_point_id, store)

    def open(self, service_point_id: UUID, store: Path, events: EventSink) -> RoutedSocket:
        return RoutedSocket(self, service_point_id, store, events)

    async def shutdown(self) -> None:
        await self.web.shutdown()
        await self.cloud.shutdown()


class RoutedSocket:
    """The socket of the point's transport, chosen at `connect`."""

    def __init__(self, transports: PointTransports, service_point_id: UUID, store: Path, events: EventSink) -> None:
        self.transports = transports
        self.point_id = service_point_id
        self.store = store
        self.events = events
        self.inner: Socket | None = None

    async def connect(self) -> None:
        transport = await self.transports.for_point(self.point_id)
        self.inner = transport.open(self.point_id, self.store, self.events)
        await self.inner.connect()

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()

    async def logout(self) -> None:
        if self.inner is not None:
            await self.inner.logout()

    async def request_pairing_code(self, phone_number: str) -> str:
        return await self._inner().request_pairing_code(phone_number)

    async def send_text(self, to_phone: str, text: str, message_id: str) -> str:
        return await self._inner().send_text(to_phone, text, message_id)

    async def send_media(self, to_phone: str, media: OutgoingMedia, caption: str, message_id: str) -> str:
        return await self._inner().send_media(to_phone, media, caption, message_id)

    async def send_template(self, to_phone: str, name: str, language: str, parameters: Sequence[str]) -> str:
        inner = self._inner()
        if not isinstance(inner, TemplateSender):
            raise TransportError(messages.NO_TEMPLATES, permanent=True)
        return await inner.send_template(to_phone, name, language, parameters)

    async def download(self, media: MediaRef, max_bytes: int) -> bytes:
        return await self._inner().download(media, max_bytes)

    def _inner(self) -> Socket:
        if self.inner is None:
            raise TransportError(NOT_OPEN)
        return self.inner
