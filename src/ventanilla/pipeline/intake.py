"""Store first: a customer's message is committed before anything else is done with it, and never dropped.

WhatsApp acknowledges a message before we see it and will not send it again, so whatever goes wrong, the message
ends in one of three places before the socket handler returns:

- the `message` table (the normal case): messages arriving together share one transaction, idempotent on the
  provider id (a redelivery finds its row and stops);
- the quarantine, when the database refuses that very row even after cleaning (a batch is split until the bad
  row is alone, so the others are stored); text is always cleaned first (NUL removed, phone trimmed);
- the journal on disk, when the database stays unreachable for `retry_seconds` (or the process is stopping).
  While the journal holds anything, new arrivals go behind it, and `replay` stores it in order once the database
  answers again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ventanilla.batching import MicroBatcher
from ventanilla.db.arrays import among, insert_rows
from ventanilla.db.errors import describe, is_refused_content
from ventanilla.db.models import Conversation, ConversationEvent, ConversationStatus, Media, Message
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import incoming_media_values, incoming_values, phone_takeover_event_values
from ventanilla.lifecycle.csat import parse_rating
from ventanilla.lifecycle.returning import Returned, customer_returned
from ventanilla.live.events import ConversationUpdated, MessageCreated, after_commit
from ventanilla.pipeline.journal import Journal
from ventanilla.quarantine.services import set_aside
from ventanilla.schemas import E164_PATTERN
from ventanilla.text import storable
from ventanilla.whatsapp.transport import InboundMessage

logger = logging.getLogger(__name__)
_E164 = re.compile(E164_PATTERN)
NOT_E164 = "the customer's phone is not an E.164 number"
AWAITED = frozenset({"image", "audio"})  # files the bot reads (a photo of a label, a voice note) before answering


class Outcome(enum.Enum):
    STORED = "stored"
    REDELIVERY = "redelivery"  # already stored: nothing more to do
    JOURNALED = "journaled"  # on disk until the database is back
    QUARANTINED = "quarantined"  # refused by the database: kept aside with the reason


@dataclass(frozen=True, slots=True)
class StoredInbound:
    message_id: UUID
    conversation_id: UUID
    conversation_status: ConversationStatus
    awaiting_media: bool = False  # the bot reads its file: its turn comes once the downloader is done with it


@dataclass(frozen=True, slots=True)
class Arrival:
    outcome: Outcome
    stored: StoredInbound | None = None


@dataclass(frozen=True)
class IntakePolicy:
    retry_seconds: float = 2.0  # how long a message waits for the database before it goes to the journal
    retry_first_delay: float = 0.05  # then doubling, at most retry_max_delay
    retry_max_delay: float = 0.5


class DatabaseUnavailable(Exception):
    """Replay stopped: the database did not take the journal's messages (they stay on disk)."""


def cleaned(message: InboundMessage) -> InboundMessage:
    """What is always safe to fix before storing: characters PostgreSQL cannot hold, blanks around the phone."""
    fixed = replace(
        message,
        text=storable(message.text),
        customer_phone=message.customer_phone.strip(),
        push_name=_storable(message.push_name),
        reply_to=_storable(message.reply_to),
        media=message.media
        and replace(
            message.media, mime_type=_storable(message.media.mime_type), file_name=_storable(message.media.file_name)
        ),
        location=message.location
        and replace(
            message.location, name=_storable(message.location.name), address=_storable(message.location.address)
        ),
        contact=message.contact
        and replace(
            message.contact, name=storable(message.contact.name), phones=tuple(map(storable, message.contact.phones))
        ),
    )
    return message if fixed == message else fixed


def _storable(text: str | None) -> str | None:
    return None if text is None else storable(text)


class Intake:
    def __init__(self, sessions: SessionFactory, journal: Journal, policy: IntakePolicy | None = None) -> None:
        self.sessions = sessions
        self.journal = journal
        self.policy = policy or IntakePolicy()
        self.stopping = False  # set at shutdown: what cannot be stored at once goes to the journal
        self._writes: MicroBatcher[tuple[UUID, InboundMessage], StoredInbound | None] = MicroBatcher(
            self._write, isolate=is_refused_content
        )

    async def store(self, point_id: UUID, message: InboundMessage, *, replaying: bool = False) -> Arrival:
        """Returns once the message is stored, set aside, or on disk.

        `replaying` a journaled message: one attempt, and DatabaseUnavailable (it stays on disk) when the database
        does not take it.
        """
        message = cleaned(message)
        if not _E164.match(message.customer_phone):
            return await self._set_aside(point_id, message, NOT_E164)
        if self.journal.active and not replaying:
            await self.journal.append(point_id, message)
            return Arrival(Outcome.JOURNALED)
        deadline = time.monotonic() + self.policy.retry_seconds
        delay = self.policy.retry_first_delay
        while True:
            try:
                return self._arrived(await self._writes.submit((point_id, message)))
            except Exception as exc:
                if is_refused_content(exc):
                    return await self._set_aside(point_id, message, _reason(exc), describe(exc))
                if replaying:
                    raise DatabaseUnavailable(describe(exc)) from None
                if self.stopping or self.journal.active or time.monotonic() + delay > deadline:
                    logger.warning("storing a message of point %s failed (%s): journaling it", point_id, describe(exc))
                    await self.journal.append(point_id, message)
                    return Arrival(Outcome.JOURNALED)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.policy.retry_max_delay)

    @staticmethod
    def _arrived(stored: StoredInbound | None) -> Arrival:
        return Arrival(Outcome.REDELIVERY) if stored is None else Arrival(Outcome.STORED, stored)

    async def _set_aside(self, point_id: UUID, message: InboundMessage, reason: str, kind: str = "invalid") -> Arrival:
        """Into the quarantine; if even that cannot be written now, into the journal (replay tries again)."""
        try:
            async with self.sessions() as session, session.begin():
                await set_aside(await session.connection(), point_id, message, reason)
        except Exception as exc:
            logger.warning("quarantining a message of point %s failed (%s): journaling it", point_id, describe(exc))
            await self.journal.append(point_id, message)
            return Arrival(Outcome.JOURNALED)
        logger.error("point %s: a message was quarantined (%s); see GET /api/quarantine", point_id, kind)
        return Arrival(Outcome.QUARANTINED)

    async def _write(self, arrivals: list[tuple[UUID, InboundMessage]]) -> list[StoredInbound | None]:
        """One transaction for every message that arrived meanwhile: upsert their conversations, insert them.

        A RESOLVED conversation (the upsert says so, and locks it) takes its rating from the customer's first
        message when one was asked and that message is a rating; any other customer message opens it again as BOT.
        """
        now = datetime.now(UTC)
        latest: dict[tuple[UUID, str], datetime] = {}
        for point_id, message in arrivals:
            key, at = (point_id, message.customer_phone), min(message.timestamp, now)
            latest[key] = max(latest.get(key, at), at)
        conversations = Conversation.__table__
        messages = Message.__table__
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            upsert = insert_rows(
                conversations,
                [
                    {
                        "id": uuid.uuid4(),
                        "service_point_id": point_id,
                        "customer_phone": phone,
                        "status": ConversationStatus.BOT,
                        "last_message_at": at,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for (point_id, phone), at in sorted(latest.items())  # one lock order: no deadlocks
                ],
            )
            upsert = upsert.on_conflict_do_update(
                constraint="uq_conversation_point_customer",
                set_={
                    "last_message_at": func.greatest(conversations.c.last_message_at, upsert.excluded.last_message_at)
                },
            ).returning(
                conversations.c.id,
                conversations.c.service_point_id,
                conversations.c.customer_phone,
                conversations.c.status,
                conversations.c.csat_requested_at,
            )
            owners = {(row.service_point_id, row.customer_phone): row for row in await connection.execute(upsert)}
            ratings = _ratings(arrivals, owners)
            rows = [
                incoming_values(
                    owner.id,
                    point_id,
                    message,
                    now,
                    handled=owner.status == ConversationStatus.HUMAN or index in ratings,
                )
                for index, (point_id, message) in enumerate(arrivals)
                for owner in (owners[(point_id, message.customer_phone)],)
            ]
            inserted = (
                insert_rows(messages, rows)
                .on_conflict_do_nothing(constraint="uq_message_point_provider_id")
                .returning(messages.c.id, messages.c.service_point_id, messages.c.provider_message_id)
            )
            stored = {
                (row.service_point_id, row.provider_message_id): row.id for row in await connection.execute(inserted)
            }
            new: list[tuple[UUID, InboundMessage, dict[str, Any]] | None] = []
            for (point_id, message), row in zip(arrivals, rows, strict=True):
                message_id = stored.pop((point_id, message.provider_message_id), None)  # a twin in the batch: None
                new.append((point_id, message, row) if message_id == row["id"] else None)
            files = [
                incoming_media_values(row["id"], point_id, message.media, now)
                for point_id, message, row in filter(None, new)
                if message.media is not None
            ]
            if files:
                await connection.execute(insert_rows(Media.__table__, files))
            reopened = await customer_returned(session, _returned(new, owners, ratings), now)
            statuses = {owner.id: ConversationStatus(owner.status) for owner in owners.values()}
            statuses.update(dict.fromkeys(reopened, ConversationStatus.BOT))
            taken = await _taken_from_phone(
                connection,
                {row["conversation_id"]: point_id for point_id, m, row in filter(None, new) if m.from_phone},
                statuses,
            )
            results: list[StoredInbound | None] = []
            for item in new:
                if item is None:
                    results.append(None)
                    continue
                point_id, message, row = item
                owner = owners[(point_id, message.customer_phone)]
                status = ConversationStatus.HUMAN if owner.id in taken else statuses[owner.id]
                results.append(
                    StoredInbound(
                        row["id"], owner.id, status, awaiting_media=message.type in AWAITED and not message.from_phone
                    )
                )
                after_commit(
                    session,
                    MessageCreated(
                        service_point_id=point_id,
                        conversation_id=owner.id,
                        message_id=row["id"],
                        direction=row["direction"],
                        sender_type=row["sender_type"],
                    ),
                )
            for conversation_id, point_id in taken.items():
                after_commit(
                    session,
                    ConversationUpdated(
                        service_point_id=point_id,
                        conversation_id=conversation_id,
                        status=ConversationStatus.HUMAN,
                        assigned_to_user_id=None,
                    ),
                )
        return results


def _ratings(arrivals: list[tuple[UUID, InboundMessage]], owners: dict[tuple[UUID, str], Row[Any]]) -> dict[int, int]:
    """The answers to a rating question (by position in `arrivals`): only a RESOLVED conversation's first customer
    message can be one, and only when a rating was asked."""
    asked = {
        key for key, owner in owners.items() if owner.status == ConversationStatus.RESOLVED and owner.csat_requested_at
    }
    ratings: dict[int, int] = {}
    if not asked:  # the usual batch: nothing to look at
        return ratings
    for index, (point_id, message) in enumerate(arrivals):
        key = (point_id, message.customer_phone)
        if key in asked and not message.from_phone:
            asked.discard(key)
            rating = parse_rating(message.text) if message.type == "text" else None
            if rating is not None:
                ratings[index] = rating
    return ratings


def _returned(
    new: list[tuple[UUID, InboundMessage, dict[str, Any]] | None],
    owners: dict[tuple[UUID, str], Row[Any]],
    ratings: dict[int, int],
) -> list[Returned]:
    """RESOLVED conversations with new customer messages (a redelivery changes nothing): the rating among them,
    and whether any other message opens the conversation again."""
    found: dict[UUID, Returned] = {}
    for index, item in enumerate(new):
        if item is None or item[1].from_phone:
            continue
        point_id, message, row = item
        owner = owners[(point_id, message.customer_phone)]
        if owner.status != ConversationStatus.RESOLVED:
            continue
        seen = found.get(owner.id, Returned(owner.id, reopen=False))
        if index in ratings:
            found[owner.id] = replace(seen, rating=ratings[index], answer_id=row["id"])
        else:
            found[owner.id] = replace(seen, reopen=True)
    return list(found.values())


async def _taken_from_phone(
    connection: AsyncConnection, written: dict[UUID, UUID], statuses: dict[UUID, ConversationStatus]
) -> dict[UUID, UUID]:
    """Conversations the branch's staff wrote in from the phone: nobody is waited for any more, and a BOT (or
    RESOLVED) one becomes HUMAN (the bot stops; the history says why). Returns those that became HUMAN, with their
    point. The upsert above already locked these rows, so reading the status and changing it cannot race;
    `statuses` holds each one's status at this point of the batch."""
    if not written:
        return {}
    conversations = Conversation.__table__
    now = datetime.now(UTC)
    await connection.execute(
        update(conversations)
        .where(among(conversations.c.id, written), conversations.c.waiting_since.is_not(None))
        .values(waiting_since=None, updated_at=now)
    )
    taken = await connection.scalars(
        update(conversations)
        .where(
            among(conversations.c.id, written),
            conversations.c.status.in_([ConversationStatus.BOT, ConversationStatus.RESOLVED]),
        )
        .values(status=ConversationStatus.HUMAN, csat_requested_at=None, updated_at=now)
        .returning(conversations.c.id)
    )
    changed = {conversation_id: written[conversation_id] for conversation_id in taken}
    if changed:
        await connection.execute(
            insert_rows(
                ConversationEvent.__table__,
                [
                    phone_takeover_event_values(c, point_id, now) | {"from_status": statuses[c]}
                    for c, point_id in changed.items()
                ],
            )
        )
    return changed


def _reason(error: BaseException) -> str:
    """For the quarantine (admins read it; it may name a column but not our customers' data)."""
    original = getattr(error, "orig", None) or error
    return f"the database refused it ({describe(error)}): {str(original).splitlines()[0][:300]}"
