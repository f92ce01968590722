"""Decisions: what the bot decided lands in one transaction, for many conversations at once.

The reply (PENDING in the outbox), the handoff and its history entry, the shipment alerts the customer started or
stopped, the tool-call audit, the point's model calls of the day, the transcripts of the voice notes the bot heard
(shown to agents), and "these messages are handled".
A batch that fails because of one conversation's rows is split until that conversation fails alone (the others are
written); its messages stay unhandled, and their attempt count (see `context`) bounds how often that can happen.
The bot hands over text already made storable (`BotDecision`). A handoff while the point is closed (its business
hours) tells the customer, in the same reply, when a person will answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ventanilla.alerts.subscriptions import cancel_all, subscribe
from ventanilla.assignment.hours import BusinessHours
from ventanilla.batching import MicroBatcher
from ventanilla.bot import BotDecision, BotRequest
from ventanilla.db.arrays import among
from ventanilla.db.errors import is_refused_content
from ventanilla.db.models import (
    BotUsage,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Media,
    Message,
    SenderType,
    ServicePoint,
    ToolCall,
)
from ventanilla.db.session import SessionFactory
from ventanilla.inbox.writer import handoff_event_values, outgoing_created, outgoing_values
from ventanilla.live.events import HandoffRequested, MessageUpdated, after_commit


@dataclass(frozen=True, slots=True)
class Applied:
    reply_id: UUID  # the reply queued in the outbox


class Decisions:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self._writes: MicroBatcher[tuple[BotRequest, BotDecision], Applied | None] = MicroBatcher(
            self._write, isolate=is_refused_content
        )

    async def apply(self, request: BotRequest, decision: BotDecision) -> Applied | None:
        """None when there is nothing to send: the messages were handled already, or a person took over."""
        return await self._writes.submit((request, decision))

    async def _write(self, decided: list[tuple[BotRequest, BotDecision]]) -> list[Applied | None]:
        """A conversation an agent took meanwhile gets the audit but no bot reply. Each conversation has one turn
        in flight at most (its lane), so the turns of a batch never touch the same conversation."""
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            statuses = dict(
                (
                    await connection.execute(
                        select(Conversation.id, Conversation.status)
                        .where(among(Conversation.id, {r.conversation_id for r, _ in decided}))
                        .order_by(Conversation.id)
                        .with_for_update()
                    )
                ).all()
            )
            newly_handled = set(
                (
                    await connection.execute(
                        update(Message)
                        .where(
                            among(Message.id, [i for r, _ in decided for i in r.message_ids]),
                            Message.handled_at.is_(None),
                        )
                        .values(handled_at=now)
                        .returning(Message.id)
                    )
                ).scalars()
            )
            closed = await _closed_notices(connection, decided, now)
            audit, replies, handoffs, events, usage, results = [], [], [], [], {}, []
            transcripts: list[dict[str, object]] = []
            subscribed: list[tuple[UUID, UUID, str]] = []
            cancelled: list[UUID] = []
            for request, decision in decided:
                if not newly_handled.intersection(request.message_ids):  # a duplicate run of the same turn
                    results.append(None)
                    continue
                for message_id, transcript in decision.transcripts.items():
                    if message_id in request.message_ids:  # only this turn's messages, whatever the bot said
                        transcripts.append({"mid": message_id, "words": transcript})
                        after_commit(
                            session,
                            MessageUpdated(
                                service_point_id=request.service_point_id,
                                conversation_id=request.conversation_id,
                                message_id=message_id,
                            ),
                        )
                if decision.model_calls:
                    usage[request.service_point_id] = usage.get(request.service_point_id, 0) + decision.model_calls
                audit.extend(
                    {
                        "id": uuid.uuid4(),
                        "conversation_id": request.conversation_id,
                        "service_point_id": request.service_point_id,
                        "message_id": request.message_id,
                        "engine": call.engine,
                        "tool": call.tool,
                        "arguments": call.arguments,
                        "outcome": call.outcome,
                        "result": call.result,
                        "latency_ms": call.latency_ms,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for call in decision.tool_calls
                )
                if statuses.get(request.conversation_id) != ConversationStatus.BOT:
                    results.append(None)
                    continue
                text = decision.reply
                if decision.handoff_reason and request.service_point_id in closed:
                    text = f"{text}\n\n{closed[request.service_point_id]}"
                reply = outgoing_values(request.conversation_id, request.service_point_id, text, SenderType.BOT, now)
                replies.append(reply)
                results.append(Applied(reply["id"]))
                if alerts := decision.alerts:
                    if alerts.cancel_all:
                        cancelled.append(request.conversation_id)
                    subscribed.extend((request.conversation_id, request.service_point_id, n) for n in alerts.subscribe)
                after_commit(session, outgoing_created(reply))
                if reason := decision.handoff_reason:
                    handoffs.append({"cid": request.conversation_id, "why": reason})
                    events.append(
                        handoff_event_values(
                            request.conversation_id, request.service_point_id, ConversationStatus.BOT, reason, now
                        )
                    )
                    after_commit(
                        session,
                        HandoffRequested(
                            service_point_id=request.service_point_id,
                            conversation_id=request.conversation_id,
                            reason=reason,
                        ),
                    )
            if transcripts:
                await connection.execute(
                    update(Media.__table__)
                    .where(Media.__table__.c.message_id == bindparam("mid"))
                    .values(transcript=bindparam("words"), updated_at=now),
                    transcripts,
                )
            if audit:
                await connection.execute(insert(ToolCall.__table__), audit)
            if replies:
                await connection.execute(insert(Message.__table__), replies)
                await connection.execute(
                    update(Conversation)
                    .where(among(Conversation.id, [r["conversation_id"] for r in replies]))
                    .values(last_message_at=func.greatest(Conversation.last_message_at, now), updated_at=now)
                )
            if handoffs:
                await connection.execute(
                    update(Conversation.__table__)
                    .where(Conversation.__table__.c.id == bindparam("cid"))
                    .values(status=ConversationStatus.HUMAN, handoff_reason=bindparam("why"), waiting_since=now),
                    handoffs,
                )
                await connection.execute(insert(ConversationEvent.__table__), events)
            await cancel_all(connection, cancelled, now)
            await subscribe(connection, subscribed, now)
            if usage:
                spend = insert(BotUsage).values(
                    [{"service_point_id": p, "day": now.date(), "model_calls": n} for p, n in sorted(usage.items())]
                )
                await connection.execute(
                    spend.on_conflict_do_update(
                        index_elements=["service_point_id", "day"],
                        set_={"model_calls": BotUsage.model_calls + spend.excluded.model_calls},
                    )
                )
        return results


async def _closed_notices(
    connection: AsyncConnection, decided: list[tuple[BotRequest, BotDecision]], now: datetime
) -> dict[UUID, str]:
    """For the points of this batch's handoffs that are closed now: what to tell the customer. The query leaves out
    points without hours (always open), and a batch without a handoff reads nothing."""
    points = {r.service_point_id for r, d in decided if d.handoff_reason}
    if not points:
        return {}
    rows = await connection.execute(
        select(ServicePoint.id, ServicePoint.timezone, ServicePoint.business_hours).where(
            among(ServicePoint.id, points), ServicePoint.business_hours.is_not(None)
        )
    )
    notices = {point: BusinessHours.of(zone, hours).closed_notice(now) for point, zone, hours in rows.all()}
    return {point: notice for point, notice in notices.items() if notice}
