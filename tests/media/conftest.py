"""The media domain against real PostgreSQL, with a scripted network edge (the sockets' `download`)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.whatsapp.conftest import FAST as SESSIONS
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.db.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Media,
    MediaStatus,
    Message,
    MessageType,
    SenderType,
    ServicePoint,
)
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.live.events import PUBLISHER_KEY, LiveEvent, MessageUpdated
from ventanilla.media.downloads import DownloadPolicy, MediaDownloader
from ventanilla.media.storage import MediaStorage
from ventanilla.metrics import Metrics
from ventanilla.pipeline import PipelinePolicy
from ventanilla.whatsapp.transport import MediaRef

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'
FAST = DownloadPolicy(
    retry_base_seconds=0.02,
    retry_max_seconds=0.05,
    waiting_seconds=0.05,
    sweep_seconds=0.05,
    timeout_seconds=5.0,
    lease_seconds=10.0,
    drain_seconds=1.0,
)
HANG = object()  # in a script: this download never returns; a float: it takes that many seconds, then succeeds


class ScriptedNetwork:
    """Plays the sockets: which points are up, and what each download does (per handle: a list of outcomes).

    Without a script a handle's download returns `files[handle]`."""

    def __init__(self) -> None:
        self.up: set[UUID] = set()
        self.files: dict[bytes, bytes] = {}
        self.script: dict[bytes, list[object]] = defaultdict(list)
        self.calls: Counter[bytes] = Counter()
        self.in_flight: Counter[UUID] = Counter()
        self.most_in_flight: Counter[UUID] = Counter()
        self.overlaps = 0  # downloads of a handle that started while another of it was running
        self._running: Counter[bytes] = Counter()
        self.started = asyncio.Event()

    def connected_points(self) -> set[UUID]:
        return set(self.up)

    async def download(self, point_id: UUID, media: MediaRef, max_bytes: int) -> bytes:
        handle = media.handle
        self.calls[handle] += 1
        self.overlaps += self._running[handle] > 0
        self._running[handle] += 1
        self.in_flight[point_id] += 1
        self.most_in_flight[point_id] = max(self.most_in_flight[point_id], self.in_flight[point_id])
        self.started.set()
        try:
            await asyncio.sleep(0)
            outcome = self.script[handle].pop(0) if self.script[handle] else None
            if outcome is HANG:
                await asyncio.Event().wait()
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, asyncio.Event):
                await outcome.wait()
            if isinstance(outcome, bytes):
                return outcome
            return self.files[handle]
        finally:
            self._running[handle] -= 1
            self.in_flight[point_id] -= 1


class RecordingMetrics(Metrics):
    def __init__(self) -> None:
        self.downloads: list[tuple[UUID, str]] = []
        self.expired: list[tuple[int, int]] = []

    def media_download(self, point_id: UUID, outcome: str) -> None:
        self.downloads.append((point_id, outcome))

    def media_expired(self, expired: int, files_deleted: int) -> None:
        self.expired.append((expired, files_deleted))


class Files:
    """Points, conversations and customers' files in the test database, and the downloaders that fetch them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], directory: Path) -> None:
        self.sessions = sessions
        self.storage = MediaStorage(directory)
        self.network = ScriptedNetwork()
        self.metrics = RecordingMetrics()
        self.published: list[LiveEvent] = []
        self.settled: list[tuple[UUID, UUID, UUID]] = []
        self.downloaders: list[MediaDownloader] = []
        self._ids = itertools.count(1)

    def publish(self, event: LiveEvent) -> None:
        self.published.append(event)

    def updated(self) -> set[UUID]:
        return {e.message_id for e in self.published if isinstance(e, MessageUpdated)}

    def start(self, policy: DownloadPolicy = FAST, max_bytes: int = 1 << 20, **changes: object) -> MediaDownloader:
        downloader = MediaDownloader(
            self.sessions,
            self.network,
            self.storage,
            self.metrics,
            max_bytes=max_bytes,
            settled=lambda *ids: self.settled.append(ids),
            policy=replace(policy, **changes),
        )
        downloader.start()
        self.downloaders.append(downloader)
        return downloader

    async def point(self, name: str, *, up: bool = True) -> UUID:
        async with self.sessions() as session, session.begin():
            point = ServicePoint(name=name)
            session.add(point)
        if up:
            self.network.up.add(point.id)
        return point.id

    async def received(
        self,
        point: UUID,
        data: bytes | None,
        *,
        kind: MessageType = MessageType.IMAGE,
        mime_type: str | None = "image/jpeg",
        file_name: str | None = None,
        handled: bool = False,
        count: int = 1,
    ) -> list[tuple[UUID, UUID, bytes]]:
        """`count` customer messages with a file, PENDING and due now, as intake stores them; returns
        (media id, message id, handle) each. The network serves `data` for each handle."""
        now = datetime.now(UTC)
        made = []
        async with self.sessions() as session, session.begin():
            conversation = Conversation(
                service_point_id=point,
                customer_phone=f"+59399{next(self._ids):07d}",
                status=ConversationStatus.BOT,
                last_message_at=now,
            )
            session.add(conversation)
            await session.flush()
            for _ in range(count):
                handle = f"handle-{next(self._ids)}".encode()
                if data is not None:
                    self.network.files[handle] = data
                message = Message(
                    conversation_id=conversation.id,
                    service_point_id=point,
                    direction=Direction.IN,
                    sender_type=SenderType.CUSTOMER,
                    content="",
                    provider_message_id=f"IN{handle.decode()}",
                    type=kind,
                    handled_at=now if handled else None,
                )
                session.add(message)
                await session.flush()
                media = Media(
                    service_point_id=point,
                    message_id=message.id,
                    status=MediaStatus.PENDING,
                    mime_type=mime_type,
                    file_name=file_name,
                    source=handle,
                    next_attempt_at=now,
                )
                session.add(media)
                await session.flush()
                made.append((media.id, message.id, handle))
        return made

    async def media(self, media_id: UUID) -> Media:
        async with self.sessions() as session:
            row = await session.scalar(select(Media).where(Media.id == media_id))
        assert row is not None
        return row

    async def status(self, media_id: UUID) -> MediaStatus:
        return (await self.media(media_id)).status

    async def stop(self) -> None:
        for downloader in self.downloaders:
            await downloader.stop()


@pytest.fixture
async def files(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Files]:
    info: dict[str, object] = {}
    harness = Files(async_sessionmaker(engine, expire_on_commit=False, info=info), tmp_path / "media")
    info[PUBLISHER_KEY] = harness  # committed events reach the harness, as they reach the app's channels
    yield harness
    await harness.stop()


APP_DOWNLOADS = replace(FAST, sweep_seconds=30.0)  # what happens at once was woken by `notify`


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The whole app with the timings of `tests.flow.fast_app`, and short download timings."""
    return create_app(
        settings,
        session_policy=SESSIONS,
        pipeline_policy=PipelinePolicy(sweep_seconds=0.5, stale_seconds=0.5),
        delivery_policy=DeliveryPolicy(
            poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1, max_attempts=2
        ),
        download_policy=APP_DOWNLOADS,
    )
