"""The customer writes to a RESOLVED conversation: a rating is stored, anything else opens it again as BOT.

Called by the intake inside its batch transaction, after the messages are inserted and only for conversations that
were RESOLVED (the intake's upsert locked them, so their status cannot change meanwhile): one statement for the
whole batch, and one more when ratings were stored (the thanks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Boolean, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from ventanilla.db.arrays import insert_rows
from ventanilla.db.models import ConversationStatus, Message, SenderType
from ventanilla.inbox.writer import outgoing_created, outgoing_values
from ventanilla.lifecycle.csat import THANKS
from ventanilla.live.events import ConversationUpdated, after_commit

REOPEN_REASON = "el cliente escribió de nuevo"

# One row per conversation. `was` is the row before this statement (a self-join reads the old version): who held
# the conversation, whether a rating was asked. The rating goes to whoever resolved it last (the agent who clicked
# "Resolver"; after an auto-resolve, the agent who held it).
_RETURNED = text(
    """
    WITH changed AS (
        UPDATE conversation c SET
            status = CASE WHEN r.reopen THEN 'BOT' ELSE c.status END,
            assigned_to_user_id = CASE WHEN r.reopen THEN NULL ELSE c.assigned_to_user_id END,
            assigned_at = CASE WHEN r.reopen THEN NULL ELSE c.assigned_at END,
            assignee_read_at = CASE WHEN r.reopen THEN NULL ELSE c.assignee_read_at END,
            last_message_at = CASE WHEN r.rating IS NULL THEN c.last_message_at
                ELSE GREATEST(c.last_message_at, :now) END,
            csat_requested_at = NULL,
            updated_at = :now
        FROM unnest(CAST(:ids AS uuid[]), CAST(:reopen AS boolean[]), CAST(:ratings AS int[]),
                CAST(:answers AS uuid[])) AS r (id, reopen, rating, message_id),
            conversation was
        WHERE c.id = r.id AND was.id = r.id AND c.status = 'RESOLVED'
        RETURNING c.id, c.service_point_id, r.reopen,
            CASE WHEN was.csat_requested_at IS NOT NULL THEN r.rating END AS rating, r.message_id,
            COALESCE(
                (SELECT e.actor_user_id FROM conversation_event e
                 WHERE e.conversation_id = c.id AND e.kind = 'RESOLVED'
                 ORDER BY e.created_at DESC, e.id DESC LIMIT 1),
                was.assigned_to_user_id
            ) AS resolved_by
    ),
    reopened AS (
        INSERT INTO conversation_event
            (id, conversation_id, service_point_id, kind, from_status, to_status, reason, created_at, updated_at)
        SELECT gen_random_uuid(), id, service_point_id, 'REOPENED', 'RESOLVED', 'BOT', :reason, :now, :now
        FROM changed WHERE reopen
    ),
    rated AS (
        INSERT INTO csat_response
            (id, service_point_id, conversation_id, message_id, resolved_by_user_id, rating, created_at, updated_at)
        SELECT gen_random_uuid(), service_point_id, id, message_id, resolved_by, rating, :now, :now
        FROM changed WHERE rating IS NOT NULL
    )
    SELECT id, service_point_id, reopen, rating IS NOT NULL AS rated FROM changed
    """
).columns(id=Uuid(), service_point_id=Uuid(), reopen=Boolean(), rated=Boolean())


@dataclass(frozen=True, slots=True)
class Returned:
    """A RESOLVED conversation with new customer messages in this batch."""

    conversation_id: UUID
    reopen: bool  # a message that is not the rating: the bot answers it
    rating: int | None = None  # the first message answered the rating question with this
    answer_id: UUID | None = None  # that message


async def customer_returned(session: AsyncSession, returned: Sequence[Returned], now: datetime) -> dict[UUID, UUID]:
    """Store the ratings (thanking for them), open the others again as BOT: no assignee, nothing asked, an event
    without actor. Returns the reopened conversations with their point. Live events go out after the commit."""
    if not returned:
        return {}
    connection = await session.connection()
    rows = (
        await connection.execute(
            _RETURNED,
            {
                "ids": [r.conversation_id for r in returned],
                "reopen": [r.reopen for r in returned],
                "ratings": [r.rating for r in returned],
                "answers": [r.answer_id for r in returned],
                "reason": REOPEN_REASON,
                "now": now,
            },
        )
    ).all()
    thanks = [outgoing_values(row.id, row.service_point_id, THANKS, SenderType.BOT, now) for row in rows if row.rated]
    if thanks:
        await connection.execute(insert_rows(Message.__table__, thanks))
    after_commit(
        session,
        *(outgoing_created(values) for values in thanks),
        *(
            ConversationUpdated(
                service_point_id=row.service_point_id,
                conversation_id=row.id,
                status=ConversationStatus.BOT,
                assigned_to_user_id=None,
            )
            for row in rows
            if row.reopen
        ),
    )
    return {row.id: row.service_point_id for row in rows if row.reopen}
