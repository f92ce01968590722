"""The inbox's queries and agents' actions, always within the service point taken from the path.

A conversation id of another point is simply not found: every query filters by (point, id).

Listing is newest activity first, and its pages stay complete and free of repeats while messages keep arriving:
the first page fixes a snapshot time (`asOf`), and every later page orders conversations by their last activity
*as of that time*. A conversation that gets a new message mid-way keeps its old place in this listing (its new
activity shows on the next first page, and live), instead of jumping to a page already read and vanishing from
the rest.

Private notes are part of the thread but not of the conversation with the customer: a note does not move the
conversation in the list (`last_message_at`), is never its preview, does not count as an agent's answer (the
customer is still waiting, nobody is assigned by it) and is never sent.

Search (`q`) ignores case and accents (`ventanilla_fold`, as the FAQ search), finds a conversation by its customer's
number typed in any local format (`ventanilla.phones`), and finds a tracking number by its letters and digits
whatever separators either side wrote ("EC 123-456" finds "EC123456" and the other way round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import msgspec
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ventanilla.bot.intents import MAX_ANALYZED_CHARS, tracking_numbers
from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Media,
    Membership,
    Message,
    MessageKind,
    MessageType,
    SenderType,
    ServicePoint,
    Shipment,
    User,
)
from ventanilla.inbox.schemas import (
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_SHIPMENT_CARDS,
    PREVIEW_CHARS,
    QUOTE_CHARS,
    ConversationUpdate,
)
from ventanilla.inbox.window import ensure_window_open
from ventanilla.inbox.writer import UNCHANGED, ConversationWriter
from ventanilla.lifecycle.csat import ask_if_resolved
from ventanilla.live.events import ConversationUpdated, MessageCreated, after_commit
from ventanilla.pagination import PageCursor
from ventanilla.phones import phone_digits_for_search
from ventanilla.schemas import AwareDatetime

if TYPE_CHECKING:
    from ventanilla.media.services import AcceptedUpload


class ConversationCursor(PageCursor):
    as_of: AwareDatetime
    key: AwareDatetime
    id: UUID


class MessageCursor(PageCursor):
    timestamp: AwareDatetime
    id: UUID


@dataclass(frozen=True)
class ConversationFilters:
    status: ConversationStatus | None = None
    assigned_to: UUID | None = None
    waiting: bool | None = None
    q: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ListedConversation:
    conversation: Conversation
    preview: str | None
    last_from: SenderType | None = None
    unread: int = 0


@dataclass(frozen=True)
class MentionedShipment:
    shipment: Shipment
    point_name: str


@dataclass(frozen=True)
class Quote:
    id: UUID
    sender_type: SenderType
    type: MessageType
    content: str


@dataclass(frozen=True)
class ThreadMessage:
    """A message as the thread shows it: with its file, and the message it quotes when this point has it."""

    message: Message
    media: Media | None = None
    quote: Quote | None = None


class InvalidAssigneeError(Exception):
    """The user is not a member of this point (nor an admin)."""


class AssigneeChangedError(Exception):
    """Someone else holds the conversation by now than the caller believed (`expectedAssignedToUserId`)."""

    def __init__(self, holder_name: str | None) -> None:
        super().__init__(f"la atiende {holder_name}" if holder_name else "ya no la atiende nadie")


class InvalidLabelError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotRetryableError(Exception):
    def __init__(self, status: DeliveryStatus | None) -> None:
        super().__init__(f"only FAILED messages can be retried (this one is {status})")


class InboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- reading -------------------------------------------------------------------------------------------

    async def list_conversations(
        self, point_id: UUID, filters: ConversationFilters, limit: int, cursor: ConversationCursor | None
    ) -> tuple[list[ListedConversation], ConversationCursor | None]:
        as_of = cursor.as_of if cursor else datetime.now(UTC)
        key = _activity_as_of(as_of)
        candidates = union_all(
            # the bulk: no activity since the snapshot, ordered straight from the (point, last_message_at) index
            self._filtered(point_id, filters, Conversation.last_message_at.label("k"))
            .where(Conversation.last_message_at <= as_of)
            .where(*_after(Conversation.last_message_at, cursor))
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(limit + 1),
            # the few with activity since the snapshot: placed by their activity as of the snapshot
            self._filtered(point_id, filters, key.label("k"))
            .where(Conversation.last_message_at > as_of, Conversation.created_at <= as_of)
            .where(key.is_not(None), *_after(key, cursor)),
        ).subquery()
        page = (
            select(candidates.c.id, candidates.c.k)
            .order_by(candidates.c.k.desc(), candidates.c.id.desc())
            .limit(limit + 1)
        )
        rows = (await self.session.execute(page)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        loaded = await self._load([row.id for row in rows])
        listed = [loaded[row.id] for row in rows]
        next_cursor = ConversationCursor(as_of, rows[-1].k, rows[-1].id) if more and rows else None
        return listed, next_cursor

    def _filtered(self, point_id: UUID, filters: ConversationFilters, key: ColumnElement[datetime]) -> Select:
        statement = select(Conversation.id, key).where(Conversation.service_point_id == point_id)
        if filters.status is not None:
            statement = statement.where(Conversation.status == filters.status)
        if filters.assigned_to is not None:
            statement = statement.where(Conversation.assigned_to_user_id == filters.assigned_to)
        if filters.waiting is not None:
            waiting = Conversation.waiting_since.is_not(None)
            statement = statement.where(waiting if filters.waiting else ~waiting)
        if filters.label is not None:  # containment, so that the GIN index ix_conversation_labels serves it
            statement = statement.where(Conversation.labels.op("@>")(literal([filters.label], ARRAY(Text))))
        if filters.q:
            statement = statement.where(_matches(filters.q))
        return statement

    async def _load(self, ids: Sequence[UUID]) -> dict[UUID, ListedConversation]:
        """The page's conversations with their preview, who wrote last and the assignee's unread count, in one
        query (each figure walks the conversation's newest messages on ix_message_conversation_timestamp)."""
        if not ids:
            return {}
        shown = func.coalesce(func.nullif(func.left(Message.content, PREVIEW_CHARS), ""), _type_label())

        def latest(column: ColumnElement, *where: ColumnElement[bool]) -> ColumnElement:
            return (
                select(column)
                .where(Message.conversation_id == Conversation.id, Message.kind == MessageKind.MESSAGE, *where)
                .order_by(Message.timestamp.desc(), Message.id.desc())
                .limit(1)
                .scalar_subquery()
            )

        preview = func.coalesce(latest(shown, Message.direction == Direction.IN), latest(shown))
        unread = case(
            (
                Conversation.assigned_to_user_id.is_not(None),
                select(func.count())
                .where(
                    Message.conversation_id == Conversation.id,
                    Message.direction == Direction.IN,
                    Message.kind == MessageKind.MESSAGE,
                    Message.created_at > func.coalesce(Conversation.assignee_read_at, Conversation.assigned_at),
                )
                .scalar_subquery(),
            ),
            else_=0,
        )
        rows = await self.session.execute(
            select(Conversation, preview, latest(Message.sender_type), unread).where(Conversation.id.in_(ids))
        )
        return {
            conversation.id: ListedConversation(conversation, text, SenderType(sender) if sender else None, count or 0)
            for conversation, text, sender, count in rows
        }

    async def list_one(self, point_id: UUID, conversation_id: UUID) -> ListedConversation:
        """One conversation as the list shows it (after a change, for the caller's row)."""
        conversation = await self.get(point_id, conversation_id)
        return (await self._load([conversation.id]))[conversation.id]

    async def get(self, point_id: UUID, conversation_id: UUID, *, for_update: bool = False) -> Conversation:
        statement = select(Conversation).where(
            Conversation.id == conversation_id, Conversation.service_point_id == point_id
        )
        conversation = await self.session.scalar(statement.with_for_update() if for_update else statement)
        if conversation is None:
            raise NotFoundError(detail="conversation not found")
        return conversation

    async def events(self, conversation_id: UUID) -> Sequence[ConversationEvent]:
        return (
            await self.session.scalars(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conversation_id)
                .order_by(ConversationEvent.created_at, ConversationEvent.id)
            )
        ).all()

    async def messages(
        self, point_id: UUID, conversation_id: UUID, limit: int, before: MessageCursor | None
    ) -> tuple[list[ThreadMessage], MessageCursor | None]:
        """Newest first, each with its file and the message it quotes; `before` continues where the previous page
        ended."""
        await self.get(point_id, conversation_id)
        quoted = aliased(Message)
        statement = (
            select(Message, Media, quoted.id, quoted.sender_type, quoted.type, func.left(quoted.content, QUOTE_CHARS))
            .outerjoin(Media, Media.message_id == Message.id)
            .outerjoin(
                quoted,
                and_(
                    quoted.service_point_id == Message.service_point_id,
                    quoted.provider_message_id == Message.reply_to,
                ),
            )
            .where(Message.conversation_id == conversation_id, Message.service_point_id == point_id)
            .order_by(Message.timestamp.desc(), Message.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            statement = statement.where(tuple_(Message.timestamp, Message.id) < tuple_(before.timestamp, before.id))
        rows = [
            ThreadMessage(message, media, Quote(*quote) if quote[0] is not None else None)
            for message, media, *quote in await self.session.execute(statement)
        ]
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1].message if rows else None
        return rows, MessageCursor(last.timestamp, last.id) if more and last else None

    # --- agents' actions -----------------------------------------------------------------------------------

    async def update(
        self, point_id: UUID, conversation_id: UUID, actor: User, data: ConversationUpdate
    ) -> Conversation:
        conversation = await self.get(point_id, conversation_id, for_update=True)
        expected = data.expected_assigned_to_user_id
        if expected is not msgspec.UNSET and expected != conversation.assigned_to_user_id:
            holder = conversation.assigned_to_user_id
            name = await self.session.scalar(select(User.name).where(User.id == holder)) if holder else None
            raise AssigneeChangedError(name)
        assignee = data.assigned_to_user_id
        if assignee is not msgspec.UNSET and assignee is not None:
            await self._check_assignee(point_id, assignee)
        changes = ConversationWriter(self.session).change(
            conversation,
            actor_id=actor.id,
            status=None if data.status is msgspec.UNSET else data.status,
            assignee=UNCHANGED if assignee is msgspec.UNSET else assignee,
            reason=data.reason,
        )
        await ask_if_resolved(self.session, conversation, changes)  # CSAT: the rating question, when the point asks
        await self.session.flush()
        if changes:  # nothing changed: no history entry, nothing to tell
            _announce(self.session, conversation)
        return conversation

    async def send(
        self,
        point_id: UUID,
        conversation_id: UUID,
        actor: User,
        content: str,
        attachment: AcceptedUpload | None = None,
        *,
        template: dict[str, Any] | None = None,
    ) -> ThreadMessage:
        """An agent's reply (a text, or a file with an optional caption), queued in the outbox of this point; a BOT
        conversation becomes the agent's. On a Cloud API point, outside the 24-hour window only an approved
        `template` may be sent (`content` is then its rendered text, what the agent sees)."""
        conversation = await self.get(point_id, conversation_id, for_update=True)
        if template is None:
            await ensure_window_open(self.session, point_id, conversation.id)
        writer = ConversationWriter(self.session)
        writer.agent_replies(conversation, actor.id)
        message, media = writer.queue_outgoing(
            conversation, content, SenderType.AGENT, sender_user_id=actor.id, attachment=attachment, details=template
        )
        await self.session.flush()
        after_commit(
            self.session,
            MessageCreated(
                service_point_id=point_id,
                conversation_id=conversation.id,
                message_id=message.id,
                direction=Direction.OUT,
                sender_type=SenderType.AGENT,
            ),
        )
        return ThreadMessage(message, media)

    async def retry(self, point_id: UUID, conversation_id: UUID, message_id: UUID) -> Message:
        """A FAILED outgoing message goes back to the outbox, with a fresh count of attempts."""
        await self.get(point_id, conversation_id)
        message = await self.session.scalar(
            select(Message)
            .where(
                Message.id == message_id,
                Message.conversation_id == conversation_id,
                Message.service_point_id == point_id,
                Message.direction == Direction.OUT,
            )
            .with_for_update()
        )
        if message is None:
            raise NotFoundError(detail="message not found")
        if message.delivery_status is not DeliveryStatus.FAILED:
            raise NotRetryableError(message.delivery_status)
        if "template" not in (message.details or {}):
            await ensure_window_open(self.session, point_id, conversation_id)
        message.delivery_status = DeliveryStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = datetime.now(UTC)
        await self.session.flush()
        return message

    async def add_note(self, point_id: UUID, conversation_id: UUID, actor: User, content: str) -> Message:
        """A private note in the thread. Not a message to the customer: no delivery status (the outbox only takes
        PENDING ones), and it leaves the conversation's place in the list, its wait and its assignee alone."""
        conversation = await self.get(point_id, conversation_id)
        message = Message(
            conversation_id=conversation.id,
            service_point_id=point_id,
            direction=Direction.OUT,
            sender_type=SenderType.AGENT,
            sender_user_id=actor.id,
            content=content,
            provider_message_id=f"note-{uuid4().hex}",  # unique per point like every message; never a WhatsApp id
            timestamp=datetime.now(UTC),
            delivery_status=None,
            kind=MessageKind.NOTE,
        )
        self.session.add(message)
        await self.session.flush()
        after_commit(
            self.session,
            MessageCreated(
                service_point_id=point_id,
                conversation_id=conversation.id,
                message_id=message.id,
                direction=Direction.OUT,
                sender_type=SenderType.AGENT,
                kind=MessageKind.NOTE,
            ),
        )
        return message

    async def set_labels(self, point_id: UUID, conversation_id: UUID, actor: User, raw: Sequence[str]) -> Conversation:
        """The conversation's labels become `raw`, normalised; a change is an event in its history."""
        labels = normalize_labels(raw)
        conversation = await self.get(point_id, conversation_id, for_update=True)
        if labels != sorted(conversation.labels):
            conversation.labels = labels
            self.session.add(
                ConversationEvent(
                    conversation_id=conversation.id,
                    service_point_id=point_id,
                    kind=ConversationEventKind.LABELS_CHANGED,
                    actor_user_id=actor.id,
                    assigned_to_user_id=conversation.assigned_to_user_id,
                    reason=", ".join(labels) or None,
                )
            )
            await self.session.flush()
            _announce(self.session, conversation)
        return conversation

    async def labels_in_use(self, point_id: UUID) -> list[tuple[str, int]]:
        """Every label of the point's conversations, with how many carry it: most used first."""
        label = func.unnest(Conversation.labels).label("label")
        used = select(label).where(Conversation.service_point_id == point_id).subquery()
        rows = await self.session.execute(
            select(used.c.label, func.count()).group_by(used.c.label).order_by(func.count().desc(), used.c.label)
        )
        return [(name, count) for name, count in rows]

    async def mark_read(self, point_id: UUID, conversation_id: UUID, reader: User) -> None:
        """The assignee has seen the thread: its unread count starts again from now. Anyone else reading changes
        nothing (the count is the assignee's)."""
        conversation = await self.get(point_id, conversation_id, for_update=True)
        if conversation.assigned_to_user_id != reader.id:
            return
        since = conversation.assignee_read_at or conversation.assigned_at
        unread = exists().where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.IN,
            Message.created_at > since,
        )
        had_unread = since is None or bool(await self.session.scalar(select(unread)))
        conversation.assignee_read_at = datetime.now(UTC)
        await self.session.flush()
        if had_unread:  # the assignee's other tabs show the count: they refetch; nobody else is disturbed
            _announce(self.session, conversation)

    async def mentioned_shipments(self, point_id: UUID, conversation_id: UUID) -> list[MentionedShipment]:
        """The shipments whose tracking numbers the customer wrote here, newest mention first: company-wide, read
        the way the bot reads them (`bot.intents.tracking_numbers` over the start of each message)."""
        await self.get(point_id, conversation_id)
        texts = await self.session.scalars(
            select(func.left(Message.content, MAX_ANALYZED_CHARS))
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == Direction.IN,
                Message.kind == MessageKind.MESSAGE,
                Message.content.regexp_match("[0-9]{5}"),
            )
            .order_by(Message.timestamp.desc(), Message.id.desc())
            .limit(MENTION_SCAN)
        )
        numbers: list[str] = []
        for text in texts:
            numbers.extend(n for n in tracking_numbers(text) if n not in numbers)
        numbers = numbers[:MAX_SHIPMENT_CARDS]
        if not numbers:
            return []
        rows = await self.session.execute(
            select(Shipment, ServicePoint.name)
            .join(ServicePoint, ServicePoint.id == Shipment.service_point_id)
            .where(Shipment.tracking_number.in_(numbers))
        )
        found = {shipment.tracking_number: MentionedShipment(shipment, name) for shipment, name in rows}
        return [found[number] for number in numbers if number in found]

    async def _check_assignee(self, point_id: UUID, user_id: UUID) -> None:
        member = select(Membership.user_id).where(
            Membership.user_id == user_id, Membership.service_point_id == point_id
        )
        admin = select(User.id).where(User.id == user_id, User.is_admin.is_(True))
        if await self.session.scalar(select(literal(True)).where(or_(exists(member), exists(admin)))) is None:
            raise InvalidAssigneeError


TYPE_LABELS = {
    MessageType.IMAGE: "📷 Foto",
    MessageType.AUDIO: "🎤 Audio",
    MessageType.VIDEO: "🎬 Video",
    MessageType.DOCUMENT: "📄 Documento",
    MessageType.STICKER: "Sticker",
    MessageType.LOCATION: "📍 Ubicación",
    MessageType.CONTACT: "👤 Contacto",
    MessageType.UNSUPPORTED: "Mensaje no compatible",
}


MENTION_SCAN = 200  # the customer's latest messages with digits read for tracking numbers
TRACKING_SEPARATORS = " \t\n\r-_.#"  # what people put inside a tracking number or a phone number


def normalize_labels(raw: Sequence[str]) -> list[str]:
    """Trimmed, lower case, inner spaces collapsed, without repeats, sorted; each 1-40 characters, at most 20."""
    labels: set[str] = set()
    for index, value in enumerate(raw):
        label = " ".join(value.split()).lower()
        if not 1 <= len(label) <= MAX_LABEL_CHARS:
            raise InvalidLabelError(f"[{index}]", f"a label has 1 to {MAX_LABEL_CHARS} characters besides spaces")
        labels.add(label)
    if len(labels) > MAX_LABELS:
        raise InvalidLabelError("body", f"at most {MAX_LABELS} labels per conversation")
    return sorted(labels)


def _announce(session: AsyncSession, conversation: Conversation) -> None:
    """Subscribers of the point refetch the conversation once this transaction commits."""
    after_commit(
        session,
        ConversationUpdated(
            service_point_id=conversation.service_point_id,
            conversation_id=conversation.id,
            status=conversation.status,
            assigned_to_user_id=conversation.assigned_to_user_id,
        ),
    )


def _matches(q: str) -> ColumnElement[bool]:
    """A conversation whose customer's number or any message contains `q` (see the module's docstring)."""
    needle, text = q, func.ventanilla_fold(Message.content)
    if any(c.isdigit() for c in q):  # a number: compare letters and digits only, whatever separated them
        needle = "".join(c for c in q if c not in TRACKING_SEPARATORS)
        text = func.translate(text, TRACKING_SEPARATORS, "")
    pattern = literal("%") + func.ventanilla_fold(literal(_escape_like(needle), Text)) + "%"
    found = [
        Conversation.customer_phone.ilike(f"%{_escape_like(q)}%", escape="\\"),
        exists().where(Message.conversation_id == Conversation.id, text.like(pattern, escape="\\")),
    ]
    digits = phone_digits_for_search(q)
    if digits:
        found.append(Conversation.customer_phone.like(f"%{digits}%"))
    return or_(*found)


def _type_label() -> ColumnElement[str]:
    """What a list shows for a message without text (a photo without caption)."""
    return case({kind.value: label for kind, label in TYPE_LABELS.items()}, value=Message.type, else_=literal(""))


def _activity_as_of(as_of: datetime) -> ColumnElement[datetime]:
    """A conversation's last activity counting only messages that existed at `as_of`."""
    return (
        select(func.max(Message.timestamp))
        .where(
            Message.conversation_id == Conversation.id,
            Message.created_at <= as_of,
            Message.kind == MessageKind.MESSAGE,  # a note never moves a conversation in the list
        )
        .scalar_subquery()
    )


def _after(key: ColumnElement[datetime], cursor: ConversationCursor | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    return [tuple_(key, Conversation.id) < tuple_(cursor.key, cursor.id)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
