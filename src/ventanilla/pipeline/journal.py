"""The intake journal: customers' messages that could not be stored yet, kept on disk until the database is back.

WhatsApp acknowledges a message before we see it and never sends it again, so while PostgreSQL is unreachable the
only safe place for it is the local disk. Each message is appended as one JSON line to the current segment file
under `$VENTANILLA_DATA_DIR/journal/` and fsync'd before the socket handler returns (appends that arrive together
share one fsync). Replay seals the current segment (later arrivals start a new one), stores every line of the
sealed segments in order and deletes a segment only once all of it is stored: a crash during replay replays it
again, and the provider id makes that harmless. A line torn by a crash while it was written was never
acknowledged to anyone: it is skipped with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

import msgspec

from ventanilla.batching import MicroBatcher
from ventanilla.whatsapp.transport import ContactCard, InboundMessage, Location, MediaRef, MessageType

logger = logging.getLogger(__name__)
SUFFIX = ".jsonl"


class JournalEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line of a segment: a message as the socket handed it over, and the point it arrived at.

    Fields added later have defaults, so lines written by an earlier version still replay.
    """

    point: UUID
    id: str
    phone: str
    text: str
    at: datetime
    name: str | None = None
    type: MessageType = "text"
    media: JournaledMedia | None = None
    reply_to: str | None = None
    location: JournaledLocation | None = None
    contact: JournaledContact | None = None
    from_phone: bool = False

    @classmethod
    def of(cls, point_id: UUID, message: InboundMessage) -> JournalEntry:
        media, location, contact = message.media, message.location, message.contact
        return cls(
            point_id,
            message.provider_message_id,
            message.customer_phone,
            message.text,
            message.timestamp,
            message.push_name,
            message.type,
            JournaledMedia(media.handle, media.mime_type, media.file_name, media.size, media.voice) if media else None,
            message.reply_to,
            JournaledLocation(location.latitude, location.longitude, location.name, location.address)
            if location
            else None,
            JournaledContact(contact.name, list(contact.phones)) if contact else None,
            message.from_phone,
        )

    def message(self) -> InboundMessage:
        media, location, contact = self.media, self.location, self.contact
        return InboundMessage(
            self.id,
            self.phone,
            self.text,
            self.at,
            self.name,
            type=self.type,
            media=MediaRef(media.handle, media.mime_type, media.file_name, media.size, media.voice) if media else None,
            reply_to=self.reply_to,
            location=Location(location.latitude, location.longitude, location.name, location.address)
            if location
            else None,
            contact=ContactCard(contact.name, tuple(contact.phones)) if contact else None,
            from_phone=self.from_phone,
        )


class JournaledMedia(msgspec.Struct, frozen=True):
    handle: bytes  # base64 in the JSON line
    mime_type: str | None
    file_name: str | None
    size: int | None
    voice: bool


class JournaledLocation(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float
    name: str | None
    address: str | None


class JournaledContact(msgspec.Struct, frozen=True):
    name: str
    phones: list[str]


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sealed = sorted(self.directory.glob(f"*{SUFFIX}"))  # left by an earlier run: replayed first
        self._next_number = 1 + max((_number(path) for path in self._sealed), default=0)
        self._current: BinaryIO | None = None
        self._current_path: Path | None = None
        self._lock = asyncio.Lock()
        self._appends: MicroBatcher[JournalEntry, None] = MicroBatcher(self._append_together)
        self.pending = sum(1 for segment in self._sealed for _ in self.read(segment))  # messages not yet stored

    @property
    def active(self) -> bool:
        """Something is waiting on disk: new arrivals queue behind it, so each conversation keeps its order."""
        return bool(self._sealed) or self._current is not None

    async def append(self, point_id: UUID, message: InboundMessage) -> None:
        """Returns once the message is on disk (written and fsync'd)."""
        await self._appends.submit(JournalEntry.of(point_id, message))

    async def seal(self) -> list[Path]:
        """Close the segment being written (new arrivals go to a new one); every sealed segment, oldest first."""
        async with self._lock:
            if self._current is not None:
                handle, path = self._current, self._current_path
                self._current = self._current_path = None
                await asyncio.to_thread(handle.close)
                assert path is not None
                self._sealed.append(path)
            return list(self._sealed)

    def read(self, segment: Path) -> Iterator[JournalEntry]:
        decoder = msgspec.json.Decoder(JournalEntry)
        with segment.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield decoder.decode(line)
                except msgspec.DecodeError:
                    logger.warning("journal %s: line %d is torn or unreadable; skipped", segment.name, number)

    async def forget(self, segment: Path, stored: int) -> None:
        """Every message of `segment` is in the database now."""
        async with self._lock:
            await asyncio.to_thread(_unlink_durably, segment)
            self._sealed.remove(segment)
            self.pending = max(0, self.pending - stored)

    async def _append_together(self, entries: list[JournalEntry]) -> list[None]:
        data = b"".join(msgspec.json.encode(entry) + b"\n" for entry in entries)
        async with self._lock:
            if self._current is None:
                self._current_path = self.directory / f"{self._next_number:012d}{SUFFIX}"
                self._next_number += 1
                self._current = await asyncio.to_thread(_create_durably, self._current_path)
            await asyncio.to_thread(_write_durably, self._current, data)
            self.pending += len(entries)
        logger.warning("database unavailable: %d messages kept in the journal (%d waiting)", len(entries), self.pending)
        return [None] * len(entries)


def _number(segment: Path) -> int:
    return int(segment.stem) if segment.stem.isdigit() else 0


def _create_durably(path: Path) -> BinaryIO:
    handle = path.open("xb")
    os.chmod(path, 0o600)
    _sync_directory(path.parent)
    return handle


def _write_durably(handle: BinaryIO, data: bytes) -> None:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def _unlink_durably(path: Path) -> None:
    path.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """A new or removed file survives a crash only once its directory is synced too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
