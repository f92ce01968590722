"""A small hand-computed dataset for the reports: three days of point A (America/Guayaquil, UTC-5), each row with
a known time, and the figures the reports must give for it (worked out by hand in the comments).

Day 0 .. day 2 are the period. In point A:
- C1 bot only (day 0): two customer messages, two bot answers.
- C2 handed off by the bot (day 0) at 10:00:05; a note at 10:00:30 (not a response); first agent message 10:02:05
  (120 s); resolved 10:30:05 (1,800 s); rated 5.
- C3 taken by an agent replying (day 1): the reply at 11:10:00.0, its STATUS_CHANGED BOT -> HUMAN at 11:10:00.5
  (a response at 0 s); resolved 11:20:00.5 (600 s); rated 3.
- C4 handed off (day 1) at 12:00:05, answered 12:05:05 (300 s), still open.
- C5 handed off (day 2) at 08:00:05, never answered, auto-resolved 20:00:05 (43,200 s).
- C7 bot only, written at 23:30 local time on day 2 (04:30 UTC the next day): counts on day 2.
Outside: C8 wrote at 21:00 local on the day before day 0 (02:00 UTC on day 0); C9 wrote on the day after day 2;
point B has a conversation on day 1.

Period figures: conversations 6 (C1 C2 C3 C4 C5 C7), inbound 8, bot answers 7, handoffs 4 (C2 C3 C4 C5),
containment 2/6 (C1 C7 of the six with a bot answer); first responses [0, 120, 300]: p50 120, p90 264
(120 + 0.8 x 180); resolutions [600, 1800, 43200]: p50 1800, p90 34920 (1800 + 0.8 x 41400); CSAT 4.0 of 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    CsatResponse,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    SenderType,
)

ZONE = ZoneInfo("America/Guayaquil")
SUMMARY = {
    "conversations": 6,
    "inboundMessages": 8,
    "botAnswers": 7,
    "handoffs": 4,
    "botContainmentRate": 0.3333,
    "firstResponseSeconds": {"p50": 120, "p90": 264},
    "resolutionSeconds": {"p50": 1800, "p90": 34920},
    "csat": {"average": 4.0, "responses": 2},
}
# (conversations, botOnly, handedOff, botContainmentRate, first response p50/p90, csat) per day
DAYS = [
    (2, 1, 1, 0.5, {"p50": 120, "p90": 120}, {"average": 5.0, "responses": 1}),
    (2, 0, 2, 0.0, {"p50": 150, "p90": 270}, {"average": 3.0, "responses": 1}),
    (2, 1, 1, 0.5, {"p50": None, "p90": None}, {"average": None, "responses": 0}),
]
C2_PHONE = "+593990000002"


@dataclass(frozen=True)
class Dataset:
    first_day: date
    agent_id: UUID
    conversations: dict[str, UUID]

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=2)


_ids = count()


class _Builder:
    def __init__(self, session: AsyncSession, first_day: date, agent: UUID) -> None:
        self.session, self.first_day, self.agent = session, first_day, agent

    def at(self, day: int, clock: str) -> datetime:
        hours, minutes, seconds = clock.split(":")
        whole, _, fraction = seconds.partition(".")
        moment = datetime.combine(self.first_day + timedelta(days=day), datetime.min.time(), ZONE)
        return moment + timedelta(
            hours=int(hours), minutes=int(minutes), seconds=int(whole), milliseconds=int(fraction or 0) * 100
        )

    async def conversation(self, point: UUID, phone: str, status: ConversationStatus) -> Conversation:
        conversation = Conversation(service_point_id=point, customer_phone=phone, status=status)
        self.session.add(conversation)
        await self.session.flush()
        return conversation

    def message(self, conversation: Conversation, sender: SenderType, moment: datetime, **extra: object) -> None:
        inbound = sender is SenderType.CUSTOMER
        self.session.add(
            Message(
                conversation_id=conversation.id,
                service_point_id=conversation.service_point_id,
                direction=Direction.IN if inbound else Direction.OUT,
                sender_type=sender,
                sender_user_id=self.agent if sender is SenderType.AGENT else None,
                content="texto",
                provider_message_id=f"R{next(_ids)}",
                timestamp=moment,
                delivery_status=None if inbound or extra.get("kind") else DeliveryStatus.SENT,
                handled_at=moment if inbound else None,
                created_at=moment,
                **extra,
            )
        )

    def event(
        self,
        conversation: Conversation,
        kind: ConversationEventKind,
        moment: datetime,
        to_status: ConversationStatus | None = None,
    ) -> None:
        self.session.add(
            ConversationEvent(
                conversation_id=conversation.id,
                service_point_id=conversation.service_point_id,
                kind=kind,
                from_status=ConversationStatus.BOT if to_status else None,
                to_status=to_status,
                created_at=moment,
            )
        )

    def rating(self, conversation: Conversation, rating: int, moment: datetime) -> None:
        self.session.add(
            CsatResponse(
                service_point_id=conversation.service_point_id,
                conversation_id=conversation.id,
                rating=rating,
                created_at=moment,
            )
        )


async def hand_dataset(
    session: AsyncSession, point_a: UUID, point_b: UUID, agent: UUID, first_day: date = date(2026, 3, 10)
) -> Dataset:
    b = _Builder(session, first_day, agent)
    customer, bot, person = SenderType.CUSTOMER, SenderType.BOT, SenderType.AGENT
    ids: dict[str, UUID] = {}

    c1 = await b.conversation(point_a, "+593990000001", ConversationStatus.BOT)
    for clock in ("09:00:00", "09:01:00"):
        b.message(c1, customer, b.at(0, clock))
        b.message(c1, bot, b.at(0, clock) + timedelta(seconds=5))

    c2 = await b.conversation(point_a, C2_PHONE, ConversationStatus.RESOLVED)
    b.message(c2, customer, b.at(0, "10:00:00"))
    b.message(c2, bot, b.at(0, "10:00:05"))
    b.event(c2, ConversationEventKind.HANDOFF_REQUESTED, b.at(0, "10:00:05"), ConversationStatus.HUMAN)
    b.message(c2, person, b.at(0, "10:00:30"), kind=MessageKind.NOTE)
    b.message(c2, person, b.at(0, "10:02:05"))
    b.message(c2, customer, b.at(0, "10:03:00"))
    b.message(c2, person, b.at(0, "10:04:00"))
    b.event(c2, ConversationEventKind.RESOLVED, b.at(0, "10:30:05"))
    b.rating(c2, 5, b.at(0, "10:31:00"))

    c3 = await b.conversation(point_a, "+593990000003", ConversationStatus.RESOLVED)
    b.message(c3, customer, b.at(1, "11:00:00"))
    b.message(c3, bot, b.at(1, "11:00:05"))
    b.message(c3, person, b.at(1, "11:10:00"))
    b.event(c3, ConversationEventKind.STATUS_CHANGED, b.at(1, "11:10:00.5"), ConversationStatus.HUMAN)
    b.event(c3, ConversationEventKind.RESOLVED, b.at(1, "11:20:00.5"))
    b.rating(c3, 3, b.at(1, "11:21:00"))

    c4 = await b.conversation(point_a, "+593990000004", ConversationStatus.HUMAN)
    b.message(c4, customer, b.at(1, "12:00:00"))
    b.message(c4, bot, b.at(1, "12:00:05"))
    b.event(c4, ConversationEventKind.HANDOFF_REQUESTED, b.at(1, "12:00:05"), ConversationStatus.HUMAN)
    b.message(c4, person, b.at(1, "12:05:05"))

    c5 = await b.conversation(point_a, "+593990000005", ConversationStatus.RESOLVED)
    b.message(c5, customer, b.at(2, "08:00:00"))
    b.message(c5, bot, b.at(2, "08:00:05"))
    b.event(c5, ConversationEventKind.HANDOFF_REQUESTED, b.at(2, "08:00:05"), ConversationStatus.HUMAN)
    b.event(c5, ConversationEventKind.RESOLVED, b.at(2, "20:00:05"))

    c7 = await b.conversation(point_a, "+593990000007", ConversationStatus.BOT)
    b.message(c7, customer, b.at(2, "23:30:00"))
    b.message(c7, bot, b.at(2, "23:30:05"))

    c8 = await b.conversation(point_a, "+593990000008", ConversationStatus.BOT)
    b.message(c8, customer, b.at(-1, "21:00:00"))
    b.message(c8, bot, b.at(-1, "21:00:05"))
    c9 = await b.conversation(point_a, "+593990000009", ConversationStatus.BOT)
    b.message(c9, customer, b.at(3, "09:00:00"))
    b.message(c9, bot, b.at(3, "09:00:05"))

    other = await b.conversation(point_b, "+593990000010", ConversationStatus.BOT)
    b.message(other, customer, b.at(1, "09:00:00"))
    b.message(other, bot, b.at(1, "09:00:05"))

    for name, conversation in (("C1", c1), ("C2", c2), ("C3", c3), ("C4", c4), ("C5", c5), ("C7", c7)):
        ids[name] = conversation.id
    await session.commit()
    return Dataset(first_day, agent, ids)
