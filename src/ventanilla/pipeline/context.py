"""Bot context: what the bot needs for one turn, read for many conversations in one transaction.

A turn answers every message of a conversation that is waiting in its lane (a customer who writes three lines
while the bot thinks gets one answer to all three). A message's first turn costs no write; a message that comes
back through recovery (its earlier turn never finished: a crash, a reply the database refused, a bug) has the turn
counted before the model is asked (`attempts`, in the database, so a message that crashes the process counts too).
Once it has had `max_attempts` it is answered without the model, and after a few more it is given up on. A turn
that failed only because the database went away is not the message's fault: it is not counted (see `flow`). The
point's model calls of the day are read here too, for its daily cap.

A photo or a voice note comes with its file (`Attachment`, a path under the media directory once the downloader
stored it). One whose file is still PENDING is left out of every turn, uncounted and unhandled: the downloader
hands it back when it is settled (`media_settled`), and a sweep that finds it meanwhile must not answer it early.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, exists, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ventanilla.batching import MicroBatcher
from ventanilla.bot import BotRequest, Turn
from ventanilla.bot.decision import Attachment
from ventanilla.db.arrays import among
from ventanilla.db.errors import is_refused_content
from ventanilla.db.models import (
    BotUsage,
    Conversation,
    ConversationStatus,
    Media,
    MediaStatus,
    Message,
    MessageKind,
    MessageType,
)
from ventanilla.db.session import SessionFactory
from ventanilla.media.storage import MediaStorage

logger = logging.getLogger(__name__)
HISTORY_TURNS = 12
GIVE_UP_AFTER_EXTRA = 2  # attempts past max_attempts before a message is marked handled without any answer
AWAITED = (MessageType.IMAGE, MessageType.AUDIO)  # the bot reads these files: no turn before the file is settled


@dataclass(frozen=True, slots=True)
class Asked:
    """A conversation's messages waiting in its lane, oldest first."""

    service_point_id: UUID
    conversation_id: UUID
    message_ids: tuple[UUID, ...]
    counted: frozenset[UUID] = frozenset()  # back through recovery: this turn is counted on them first


@dataclass(frozen=True, slots=True)
class Prepared:
    request: BotRequest
    exhausted: bool  # its messages already had `max_attempts` turns: answer without the model


@dataclass(frozen=True)
class ContextPolicy:
    max_attempts: int = 3  # bot turns per message before a person takes over
    daily_model_calls: int | None = None  # per point and UTC day; None: no cap
    media_dir: Path | None = None  # `settings.media_path`; None: the bot reads no file (photos ask for text)


class Context:
    def __init__(self, sessions: SessionFactory, policy: ContextPolicy) -> None:
        self.sessions = sessions
        self.policy = policy
        self.storage = MediaStorage(policy.media_dir) if policy.media_dir is not None else None
        self._loads: MicroBatcher[Asked, Prepared | None] = MicroBatcher(self._load, isolate=is_refused_content)

    async def prepare(self, asked: Asked) -> Prepared | None:
        """None when nothing is left to answer (handled meanwhile, or the conversation went to a person)."""
        return await self._loads.submit(asked)

    async def _load(self, asks: list[Asked]) -> list[Prepared | None]:
        now = datetime.now(UTC)
        ids = [message_id for asked in asks for message_id in asked.message_ids]
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            counted = [i for asked in asks for i in asked.counted]
            if counted:
                await connection.execute(
                    update(Message)
                    .where(among(Message.id, counted), Message.handled_at.is_(None), ~_awaiting_file())
                    .values(attempts=Message.attempts + 1)
                )
            found = {
                row.id: row
                for row in await connection.execute(
                    select(
                        Message.id,
                        Message.content,
                        Message.timestamp,
                        Message.attempts,
                        Message.type,
                        Conversation.status,
                        Media.status.label("media_status"),
                        Media.sha256,
                        Media.mime_type,
                        Media.voice,
                        Media.transcript,
                    )
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .outerjoin(Media, Media.message_id == Message.id)
                    .where(among(Message.id, ids), Message.handled_at.is_(None))
                )
            }
            to_person = [i for i, row in found.items() if row.status != ConversationStatus.BOT]
            if to_person:  # the conversation went to a person meanwhile: agents answer these
                await connection.execute(update(Message).where(among(Message.id, to_person)).values(handled_at=now))
            attempts = {
                i: row.attempts
                for i, row in found.items()
                if row.status == ConversationStatus.BOT
                and not (row.type in AWAITED and row.media_status == MediaStatus.PENDING)
            }
            give_up = self.policy.max_attempts + GIVE_UP_AFTER_EXTRA
            abandoned = [i for i, n in attempts.items() if n > give_up]
            if abandoned:
                logger.error(
                    "%d messages failed %d bot turns each: given up without an answer", len(abandoned), give_up
                )
                await connection.execute(update(Message).where(among(Message.id, abandoned)).values(handled_at=now))
            turns = [
                sorted(
                    (i for i in asked.message_ids if i in attempts and i not in abandoned),
                    key=lambda i: (found[i].timestamp, i),
                )
                for asked in asks
            ]
            history = await _history(connection, [turn[0] for turn in turns if turn])
            spent = await self._spent(connection, {a.service_point_id for a, t in zip(asks, turns, strict=True) if t})
        return [
            Prepared(
                BotRequest(
                    service_point_id=asked.service_point_id,
                    conversation_id=asked.conversation_id,
                    message_ids=tuple(turn),
                    text="\n".join(found[i].content for i in turn if found[i].content),
                    history=history[turn[0]],
                    allow_model=self._within_cap(spent.get(asked.service_point_id, 0)),
                    attachments=tuple(self._attachment(i, found[i]) for i in turn if found[i].type != MessageType.TEXT),
                ),
                exhausted=max(attempts[i] for i in turn) > self.policy.max_attempts,
            )
            if turn
            else None
            for asked, turn in zip(asks, turns, strict=True)
        ]

    def _attachment(self, message_id: UUID, row: Any) -> Attachment:
        """A message's file as the bot may read it: a path only once it is stored (READY) and a directory is set."""
        path = None
        if row.media_status == MediaStatus.READY and row.sha256 and self.storage is not None:
            try:
                path = self.storage.path(row.sha256)
            except ValueError:  # not a digest: nothing to read
                path = None
        return Attachment(
            message_id=message_id,
            type=MessageType(row.type),
            mime_type=row.mime_type,
            path=path,
            voice=bool(row.voice),
            transcript=row.transcript or None,
        )

    def _within_cap(self, spent: int) -> bool:
        return self.policy.daily_model_calls is None or spent < self.policy.daily_model_calls

    async def _spent(self, connection: AsyncConnection, points: set[UUID]) -> dict[UUID, int]:
        """Model calls of today (UTC) per point, when a cap is set."""
        if not points or self.policy.daily_model_calls is None:
            return {}
        rows = await connection.execute(
            select(BotUsage.service_point_id, BotUsage.model_calls).where(
                among(BotUsage.service_point_id, points), BotUsage.day == datetime.now(UTC).date()
            )
        )
        return dict(rows.all())


async def _history(connection: AsyncConnection, first_ids: Sequence[UUID]) -> dict[UUID, list[Turn]]:
    """The conversation's messages before each turn's first message, oldest first, at most HISTORY_TURNS."""
    history: dict[UUID, list[Turn]] = {i: [] for i in first_ids}
    if not first_ids:
        return history
    asked = (
        select(Message.id, Message.conversation_id, Message.timestamp).where(among(Message.id, first_ids)).subquery()
    )
    earlier = (
        select(Message.sender_type, Message.content, Message.type, Media.transcript)
        .select_from(Message)
        .outerjoin(Media, Media.message_id == Message.id)
        .where(
            Message.conversation_id == asked.c.conversation_id,
            tuple_(Message.timestamp, Message.id) < tuple_(asked.c.timestamp, asked.c.id),
            Message.kind == MessageKind.MESSAGE,  # agents' private notes never reach the model
        )
        .order_by(Message.timestamp.desc(), Message.id.desc())
        .limit(HISTORY_TURNS)
        .lateral()
    )
    for row in await connection.execute(select(asked.c.id, earlier).join(earlier, true())):
        text = row.transcript or row.content if row.type == MessageType.AUDIO else row.content
        history[row.id].append(Turn(row.sender_type, text, MessageType(row.type)))
    for turns in history.values():
        turns.reverse()
    return history


def _awaiting_file() -> ColumnElement[bool]:
    """A photo or voice note whose file the downloader has not settled yet: it waits, uncounted."""
    return and_(
        Message.type.in_(AWAITED),
        exists().where(Media.message_id == Message.id, Media.status == MediaStatus.PENDING),
    )
