"""The inbox of a service point over HTTP: conversations, their messages, takeover, replies and retries."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.db.models import ConversationStatus, Message, ServicePoint, User
from ventanilla.http_errors import ConflictException
from ventanilla.inbox.schemas import (
    AgentMessage,
    ConversationDetail,
    ConversationEventRead,
    ConversationPage,
    ConversationSummary,
    ConversationUpdate,
    MessagePage,
    MessageRead,
)
from ventanilla.inbox.services import (
    ConversationCursor,
    ConversationFilters,
    InboxService,
    InvalidAssigneeError,
    ListedConversation,
    MessageCursor,
    NotRetryableError,
)
from ventanilla.inbox.writer import AssignmentNeedsHumanError
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.service_points.dependencies import provide_service_point

CONVERSATION = "/{conversation_id:uuid}"
PageSize = Annotated[int, QueryParameter(ge=1, le=200)]


async def provide_inbox(db_session: NamedDependency[AsyncSession]) -> InboxService:
    return InboxService(db_session)


def _summary(listed: ListedConversation) -> ConversationSummary:
    c = listed.conversation
    return ConversationSummary(
        id=c.id,
        customer_phone=c.customer_phone,
        status=c.status,
        assigned_to_user_id=c.assigned_to_user_id,
        last_message_at=c.last_message_at,
        last_message_preview=listed.preview,
        waiting_since=c.waiting_since,
        handoff_reason=c.handoff_reason,
    )


def _message(m: Message) -> MessageRead:
    return MessageRead(
        id=m.id,
        direction=m.direction,
        sender_type=m.sender_type,
        content=m.content,
        timestamp=m.timestamp,
        delivery_status=m.delivery_status,
        provider_message_id=m.provider_message_id,
        sender_user_id=m.sender_user_id,
        delivery_error=m.delivery_error,
    )


def _assigned_to(value: str | None, me: User) -> UUID | None:
    if value is None:
        return None
    if value == "me":
        return me.id
    try:
        return UUID(value)
    except ValueError:
        message = "assignedTo must be 'me' or a user id"
        raise ValidationException(message, extra=[{"key": "assignedTo", "message": message}]) from None


class InboxController(Controller):
    path = "/api/service-points/{sp_id:uuid}/conversations"
    tags = ["inbox"]
    guards = [requires_point_member]
    dependencies = {"service_point": Provide(provide_service_point), "inbox": Provide(provide_inbox)}

    @get("/", summary="Conversations of the point, newest activity first")
    async def list_conversations(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
        status: Annotated[ConversationStatus | None, QueryParameter()] = None,
        assigned_to: Annotated[str | None, QueryParameter(name="assignedTo")] = None,
        waiting: Annotated[bool | None, QueryParameter(description="only conversations waiting for a person")] = None,
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=100)] = None,
        limit: PageSize = 50,
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> ConversationPage:
        filters = ConversationFilters(status, _assigned_to(assigned_to, request.user), waiting, q)
        position = decode_cursor(cursor, ConversationCursor) if cursor else None
        listed, following = await inbox.list_conversations(service_point.id, filters, limit, position)
        return ConversationPage(
            items=[_summary(item) for item in listed],
            next_cursor=encode_cursor(following) if following else None,
        )

    @get(CONVERSATION, summary="One conversation, with its history of status and assignment changes")
    async def get_conversation(
        self,
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> ConversationDetail:
        conversation = await inbox.get(service_point.id, conversation_id)
        events = await inbox.events(conversation.id)
        return ConversationDetail(
            id=conversation.id,
            service_point_id=conversation.service_point_id,
            customer_phone=conversation.customer_phone,
            status=conversation.status,
            assigned_to_user_id=conversation.assigned_to_user_id,
            last_message_at=conversation.last_message_at,
            waiting_since=conversation.waiting_since,
            handoff_reason=conversation.handoff_reason,
            created_at=conversation.created_at,
            events=[
                ConversationEventRead(
                    id=e.id,
                    kind=e.kind,
                    actor_user_id=e.actor_user_id,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    assigned_to_user_id=e.assigned_to_user_id,
                    reason=e.reason,
                    created_at=e.created_at,
                )
                for e in events
            ],
        )

    @patch(CONVERSATION, summary="HUMAN stops the bot (optionally assigning), BOT gives it back")
    async def update_conversation(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        data: JSONBody[ConversationUpdate],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> ConversationSummary:
        try:
            conversation = await inbox.update(service_point.id, conversation_id, request.user, data)
        except InvalidAssigneeError:
            message = "assignedToUserId must be a member of this service point"
            raise ValidationException(message, extra=[{"key": "assignedToUserId", "message": message}]) from None
        except AssignmentNeedsHumanError:
            raise ConflictException("the bot answers this conversation: set status HUMAN to assign it") from None
        await inbox.session.commit()  # live subscribers refetch at once: they must see the change
        return _summary(ListedConversation(conversation, None))

    @get(CONVERSATION + "/messages", summary="Messages of a conversation, newest first")
    async def list_messages(
        self,
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
        limit: PageSize = 50,
        before: Annotated[str | None, QueryParameter(description="nextCursor of the previous page")] = None,
    ) -> MessagePage:
        position = decode_cursor(before, MessageCursor, field="before") if before else None
        messages, following = await inbox.messages(service_point.id, conversation_id, limit, position)
        return MessagePage(
            items=[_message(m) for m in messages], next_cursor=encode_cursor(following) if following else None
        )

    @post(CONVERSATION + "/messages", summary="Reply as an agent, through this point's own WhatsApp")
    async def send_message(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        data: JSONBody[AgentMessage],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> MessageRead:
        content = data.content.strip()
        if not content:
            message = "content must not be blank"
            raise ValidationException(message, extra=[{"key": "content", "message": message}])
        sent = await inbox.send(service_point.id, conversation_id, request.user, content)
        await inbox.session.commit()  # the outbox row must exist before the worker looks for it
        request.app.state.delivery.notify()
        return _message(sent)

    @post(CONVERSATION + "/messages/{message_id:uuid}/retry", summary="Send a FAILED message again")
    async def retry_message(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        message_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> MessageRead:
        try:
            message = await inbox.retry(service_point.id, conversation_id, message_id)
        except NotRetryableError as exc:
            raise ConflictException(str(exc)) from None
        await inbox.session.commit()
        request.app.state.delivery.notify()
        return _message(message)
