"""The inbox's queries and agents' actions, always within the service point taken from the path.

A conversation id of another point is simply not found: every query filters by (point, id).

Listing is newest activity first, and its pages stay complete and free of repeats while messages keep arriving:
the first page fixes a snapshot time (`asOf`), and every later page orders conversations by their last activity
*as of that time*. A conversation that gets a new message mid-way keeps its old place in this listing (its new
activity shows on the next first page, and live), instead of jumping to a page already read and vanishing from
the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Media,
    Membership,
    Message,
    MessageType,
    SenderType,
    User,
)
from ventanilla.inbox.schemas import PREVIEW_CHARS, QUOTE_CHARS, ConversationUpdate
from ventanilla.inbox.writer import UNCHANGED, ConversationWriter
from ventanilla.live.events import ConversationUpdated, MessageCreated, after_commit
from ventanilla.pagination import PageCursor
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


@dataclass(frozen=True)
class ListedConversation:
    conversation: Conversation
    preview: str | None


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
        if filters.q:
            pattern = f"%{_escape_like(filters.q)}%"
            statement = statement.where(
                or_(
                    Conversation.customer_phone.ilike(pattern, escape="\\"),
                    exists().where(
                        Message.conversation_id == Conversation.id, Message.content.ilike(pattern, escape="\\")
                    ),
                )
            )
        return statement

    async def _load(self, ids: Sequence[UUID]) -> dict[UUID, ListedConversation]:
        """The page's conversations with the start of their latest message, in one query."""
        if not ids:
            return {}
        shown = func.coalesce(func.nullif(func.left(Message.content, PREVIEW_CHARS), ""), _type_label())
        preview = (
            select(shown)
            .where(Message.conversation_id == Conversation.id)
            .order_by(Message.timestamp.desc(), Message.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = await self.session.execute(select(Conversation, preview).where(Conversation.id.in_(ids)))
        return {conversation.id: ListedConversation(conversation, text) for conversation, text in rows}

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
        assignee = data.assigned_to_user_id
        if assignee is not msgspec.UNSET and assignee is not None:
            await self._check_assignee(point_id, assignee)
        ConversationWriter(self.session).change(
            conversation,
            actor_id=actor.id,
            status=None if data.status is msgspec.UNSET else data.status,
            assignee=UNCHANGED if assignee is msgspec.UNSET else assignee,
            reason=data.reason,
        )
        await self.session.flush()
        after_commit(
            self.session,
            ConversationUpdated(
                service_point_id=point_id,
                conversation_id=conversation.id,
                status=conversation.status,
                assigned_to_user_id=conversation.assigned_to_user_id,
            ),
        )
        return conversation

    async def send(
        self,
        point_id: UUID,
        conversation_id: UUID,
        actor: User,
        content: str,
        attachment: AcceptedUpload | None = None,
    ) -> ThreadMessage:
        """An agent's reply (a text, or a file with an optional caption), queued in the outbox of this point; a BOT
        conversation becomes the agent's."""
        conversation = await self.get(point_id, conversation_id, for_update=True)
        writer = ConversationWriter(self.session)
        writer.agent_replies(conversation, actor.id)
        message, media = writer.queue_outgoing(
            conversation, content, SenderType.AGENT, sender_user_id=actor.id, attachment=attachment
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
        message.delivery_status = DeliveryStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = datetime.now(UTC)
        await self.session.flush()
        return message

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


def _type_label() -> ColumnElement[str]:
    """What a list shows for a message without text (a photo without caption)."""
    return case({kind.value: label for kind, label in TYPE_LABELS.items()}, value=Message.type, else_=literal(""))


def _activity_as_of(as_of: datetime) -> ColumnElement[datetime]:
    """A conversation's last activity counting only messages that existed at `as_of`."""
    return (
        select(func.max(Message.timestamp))
        .where(Message.conversation_id == Conversation.id, Message.created_at <= as_of)
        .scalar_subquery()
    )


def _after(key: ColumnElement[datetime], cursor: ConversationCursor | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    return [tuple_(key, Conversation.id) < tuple_(cursor.key, cursor.id)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
