"""The inbox of a service point over HTTP: conversations, their messages, takeover, replies and retries, private
notes, labels, the assignee's unread count, who is typing, and the shipments a customer wrote about."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.config import MAX_MEDIA_MAX_BYTES
from ventanilla.db.models import (
    SHIPMENT_STATUS_LABELS,
    ConversationStatus,
    DeliveryStatus,
    Media,
    Message,
    MessageType,
    ServicePoint,
    User,
)
from ventanilla.http_errors import NUL_MESSAGE, ConflictException, decode_strictly, invalid_field
from ventanilla.inbox.schemas import (
    AgentMessage,
    ContactRead,
    ConversationDetail,
    ConversationEventRead,
    ConversationPage,
    ConversationShipment,
    ConversationSummary,
    ConversationUpdate,
    LabelCount,
    LocationRead,
    MediaRead,
    MessagePage,
    MessageRead,
    NoteCreate,
    QuotedMessage,
    RawLabels,
)
from ventanilla.inbox.services import (
    AssigneeChangedError,
    ConversationCursor,
    ConversationFilters,
    InboxService,
    InvalidAssigneeError,
    InvalidLabelError,
    ListedConversation,
    MentionedShipment,
    MessageCursor,
    NotRetryableError,
    ThreadMessage,
)
from ventanilla.inbox.window import window_ends_at
from ventanilla.inbox.writer import AssignmentNeedsHumanError
from ventanilla.live.events import Typing
from ventanilla.media.services import AcceptedUpload, accept_upload
from ventanilla.pagination import decode_cursor, encode_cursor
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.text import has_nul
from ventanilla.whatsapp.cloud.schemas import TemplateSendRequest
from ventanilla.whatsapp.cloud.templates import CloudTemplates

CONVERSATION = "/{conversation_id:uuid}"
UPLOAD_FIELD = "file"
MAX_CAPTION_CHARS = 1024  # WhatsApp's limit for a caption
JSON_BODY_LIMIT = 64 * 1024  # a text reply; the route's own limit is the file's
UPLOAD_BODY_LIMIT = MAX_MEDIA_MAX_BYTES + 1024 * 1024  # the largest MEDIA_MAX_BYTES, plus the form around it
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
        labels=list(c.labels),
        unread_count=listed.unread,
        assigned_at=c.assigned_at,
        resolved_at=c.resolved_at,
        last_message_from=listed.last_from,
    )


def _message(thread: ThreadMessage | Message) -> MessageRead:
    if isinstance(thread, Message):
        thread = ThreadMessage(thread)
    m, media, quote = thread.message, thread.media, thread.quote
    details = m.details or {}
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
        type=m.type,
        kind=m.kind.value,
        media=_media(media) if media is not None else None,
        caption=m.content if m.type is not MessageType.TEXT and m.content else None,
        sent_from_phone=m.sent_from_phone,
        reaction=m.reaction,
        reply_to=quote.id if quote else None,
        quote=QuotedMessage(id=quote.id, sender_type=quote.sender_type, type=quote.type, content=quote.content)
        if quote
        else None,
        location=msgspec.convert(details, LocationRead) if m.type is MessageType.LOCATION and details else None,
        contact=msgspec.convert(details, ContactRead) if m.type is MessageType.CONTACT and details else None,
        failure_reason=m.delivery_error if m.delivery_status is DeliveryStatus.FAILED else None,
    )


def _media(media: Media) -> MediaRead:
    return MediaRead(
        id=media.id,
        mime_type=media.mime_type,
        file_name=media.file_name,
        size=media.size,
        url=f"/api/service-points/{media.service_point_id}/media/{media.id}",
        status=media.status,
        voice=media.voice,
        transcript=media.transcript,
    )


async def _agent_message(request: Request[User, Token, State]) -> tuple[str, AcceptedUpload | None]:
    """The reply's text and attached file, from a JSON body or a multipart form (415 for anything else)."""
    media_type = request.content_type[0]
    if media_type == "multipart/form-data":
        return await _upload(request)
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ClientException(
            detail="send the reply as application/json, or a file as multipart/form-data",
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if len(await request.body()) > JSON_BODY_LIMIT:
        raise RequestEntityTooLarge(detail="the body is larger than the server accepts")
    content = decode_strictly(await request.body(), AgentMessage).content.strip()
    if not content:
        raise invalid_field("content", "content must not be blank")
    return content, None


async def _upload(request: Request[User, Token, State]) -> tuple[str, AcceptedUpload]:
    settings = request.app.state.settings
    form = await request.form()
    upload = form.get(UPLOAD_FIELD)
    if not isinstance(upload, UploadFile):
        raise invalid_field(UPLOAD_FIELD, f"attach the file as the form field '{UPLOAD_FIELD}'")
    caption = form.get("content", "")
    if not isinstance(caption, str):
        raise invalid_field("content", "the caption must be text")
    if has_nul(caption):
        raise invalid_field("content", NUL_MESSAGE)
    caption = caption.strip()
    if len(caption) > MAX_CAPTION_CHARS:
        raise invalid_field("content", f"the caption may have at most {MAX_CAPTION_CHARS} characters")
    data = await upload.read()
    accepted = await accept_upload(request.app.state.media, data, upload.filename, settings.media_max_bytes)
    return caption, accepted


def _shipment(mentioned: MentionedShipment, point_id: UUID) -> ConversationShipment:
    s = mentioned.shipment
    return ConversationShipment(
        tracking_number=s.tracking_number,
        status=s.status,
        status_label=SHIPMENT_STATUS_LABELS[s.status],
        origin=s.origin,
        destination=s.destination,
        eta=s.eta,
        last_update=s.last_update,
        service_point_id=s.service_point_id,
        service_point_name=mentioned.point_name,
        own_point=s.service_point_id == point_id,
    )


def _label(value: str | None) -> str | None:
    """A label filter, normalised as labels are stored."""
    return " ".join(value.split()).lower() if value is not None else None


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

    @get("/", summary="Conversations of the point, newest activity first", opt={"scope": "messages:read"})
    async def list_conversations(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
        status: Annotated[ConversationStatus | None, QueryParameter()] = None,
        assigned_to: Annotated[str | None, QueryParameter(name="assignedTo")] = None,
        waiting: Annotated[bool | None, QueryParameter(description="only conversations waiting for a person")] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=100,
                description="text of a message or the customer's number (accents, case, a phone's local format "
                "and a tracking number's separators do not matter)",
            ),
        ] = None,
        label: Annotated[str | None, QueryParameter(min_length=1, max_length=100)] = None,
        limit: PageSize = 50,
        cursor: Annotated[str | None, QueryParameter()] = None,
    ) -> ConversationPage:
        filters = ConversationFilters(status, _assigned_to(assigned_to, request.user), waiting, q, _label(label))
        position = decode_cursor(cursor, ConversationCursor) if cursor else None
        listed, following = await inbox.list_conversations(service_point.id, filters, limit, position)
        return ConversationPage(
            items=[_summary(item) for item in listed],
            next_cursor=encode_cursor(following) if following else None,
        )

    @get(
        CONVERSATION,
        summary="One conversation, with its history of status and assignment changes",
        opt={"scope": "messages:read"},
    )
    async def get_conversation(
        self,
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> ConversationDetail:
        conversation = await inbox.get(service_point.id, conversation_id)
        events = await inbox.events(conversation.id)
        window = await window_ends_at(inbox.session, service_point.id, conversation.id)
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
            labels=list(conversation.labels),
            assigned_at=conversation.assigned_at,
            resolved_at=conversation.resolved_at,
            service_window_ends_at=window,
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

    @patch(
        CONVERSATION,
        summary="HUMAN stops the bot (optionally assigning), BOT gives it back, RESOLVED closes it",
        description="With `expectedAssignedToUserId`, 409 when someone else holds the conversation by now (the "
        "detail names them). A change that changes nothing leaves no entry in the history.",
    )
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
        except AssigneeChangedError as exc:
            field = {"key": "expectedAssignedToUserId", "message": str(exc), "source": "body"}
            raise ConflictException(str(exc), extra=[field]) from None
        await inbox.session.commit()  # live subscribers refetch at once: they must see the change
        request.app.state.delivery.notify()  # resolving may have queued the rating question
        return _summary(await inbox.list_one(service_point.id, conversation.id))

    @get(CONVERSATION + "/messages", summary="Messages of a conversation, newest first", opt={"scope": "messages:read"})
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
            items=[_message(thread) for thread in messages], next_cursor=encode_cursor(following) if following else None
        )

    @post(
        CONVERSATION + "/messages",
        summary="Reply as an agent, through this point's own WhatsApp: a text, or a file with a caption",
        description="JSON `{content}`, or multipart/form-data with `file` (an image or a document, at most "
        "MEDIA_MAX_BYTES) and an optional `content` (the caption).",
        request_max_body_size=UPLOAD_BODY_LIMIT,
        opt={"scope": "messages:send"},
    )
    async def send_message(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> MessageRead:
        content, attachment = await _agent_message(request)
        sent = await inbox.send(service_point.id, conversation_id, request.user, content, attachment)
        await inbox.session.commit()  # the outbox row must exist before the worker looks for it
        request.app.state.delivery.notify()
        return _message(sent)

    @post(
        CONVERSATION + "/templates",
        summary="Send an approved message template (Cloud API points)",
        description="What reopens a conversation after the customer's 24-hour window closed. The template must be "
        "approved for the point's number (`GET .../whatsapp/cloud/templates`) and take exactly these parameters.",
        opt={"scope": "messages:send"},
    )
    async def send_template(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        data: JSONBody[TemplateSendRequest],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> MessageRead:
        await inbox.get(service_point.id, conversation_id)  # 404 before asking Meta
        templates = CloudTemplates(inbox.session, request.app.state.cloud)
        template, text = await templates.prepare(service_point.id, data.name, data.language, list(data.parameters))
        sent = await inbox.send(service_point.id, conversation_id, request.user, text, template=template.as_details())
        await inbox.session.commit()
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

    @post(
        CONVERSATION + "/notes",
        summary="A private note in the thread: never sent to the customer, never shown to the bot",
        description="Listed among the messages with `kind: note`. It does not move the conversation in the list, "
        "does not end the customer's wait and does not assign the conversation.",
    )
    async def add_note(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        data: JSONBody[NoteCreate],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> MessageRead:
        note = await inbox.add_note(service_point.id, conversation_id, request.user, data.content.strip())
        await inbox.session.commit()
        return _message(note)

    @put(
        CONVERSATION + "/labels",
        summary="Set the conversation's labels",
        description="Labels are trimmed, lower-cased, inner spaces collapsed and repeats dropped; each has 1 to "
        "40 characters, at most 20 per conversation. A change is an entry in the history (LABELS_CHANGED).",
    )
    async def set_labels(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        data: JSONBody[RawLabels],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> ConversationSummary:
        try:
            conversation = await inbox.set_labels(service_point.id, conversation_id, request.user, data)
        except InvalidLabelError as exc:
            raise invalid_field(exc.field, str(exc)) from None
        await inbox.session.commit()
        listed = await inbox.list_one(service_point.id, conversation.id)
        return _summary(listed)

    @post(
        CONVERSATION + "/read",
        summary="The assignee has read the conversation: its unread count goes back to 0",
        description="Anyone else calling it changes nothing.",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def mark_read(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> None:
        await inbox.mark_read(service_point.id, conversation_id, request.user)
        await inbox.session.commit()

    @post(
        CONVERSATION + "/typing",
        summary="Tell the point's other agents that the caller is writing a reply",
        description="Publishes `conversation.typing` on the point's live stream at once; nothing is stored.",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def typing(
        self,
        request: Request[User, Token, State],
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> None:
        conversation = await inbox.get(service_point.id, conversation_id)
        me = request.user
        request.app.state.live_publisher.publish(  # the app's one publisher: it reaches the other replicas too
            Typing(service_point_id=service_point.id, conversation_id=conversation.id, user_id=me.id, user_name=me.name)
        )

    @get(
        CONVERSATION + "/shipments",
        summary="The shipments whose tracking numbers the customer wrote here, newest mention first",
        description="Company-wide, as the bot looks them up; `ownPoint` false marks another branch's shipment "
        "(read-only here). At most 10.",
    )
    async def list_shipments(
        self,
        conversation_id: FromPath[UUID],
        service_point: NamedDependency[ServicePoint],
        inbox: NamedDependency[InboxService],
    ) -> list[ConversationShipment]:
        mentioned = await inbox.mentioned_shipments(service_point.id, conversation_id)
        return [_shipment(item, service_point.id) for item in mentioned]


class LabelController(Controller):
    path = "/api/service-points/{sp_id:uuid}/labels"
    tags = ["inbox"]
    guards = [requires_point_member]
    dependencies = {"service_point": Provide(provide_service_point), "inbox": Provide(provide_inbox)}

    @get("/", summary="Labels in use on the point's conversations, most used first (for the list's filter)")
    async def list_labels(
        self, service_point: NamedDependency[ServicePoint], inbox: NamedDependency[InboxService]
    ) -> list[LabelCount]:
        return [LabelCount(label=label, count=count) for label, count in await inbox.labels_in_use(service_point.id)]
