"""The tables Ventanilla stores, with the constraints the product's promises rest on.

Names and states follow `CONTRACT.md`. Python attributes are snake_case; the HTTP schemas rename them to camelCase.
Everything owned by a service point carries its `service_point_id` so every query can filter on it directly.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDAuditBase, orm_registry
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

metadata = orm_registry.metadata
DEFAULT_TIMEZONE = "America/Guayaquil"
E164_CHECK = r"^\+[1-9][0-9]{7,14}$"


class WhatsappStatus(enum.StrEnum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"


class ConversationStatus(enum.StrEnum):
    BOT = "BOT"  # the bot answers
    HUMAN = "HUMAN"  # a person answers (or is waited for)
    RESOLVED = "RESOLVED"  # done; the customer's next message opens it again as BOT


class Direction(enum.StrEnum):
    IN = "IN"
    OUT = "OUT"


class SenderType(enum.StrEnum):
    CUSTOMER = "CUSTOMER"
    BOT = "BOT"
    AGENT = "AGENT"


class DeliveryStatus(enum.StrEnum):
    """An outgoing message's progress. Receipts from the customer's phone only move it forward."""

    PENDING = "PENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"  # reached the customer's phone
    READ = "READ"  # the customer opened it (or played the voice note)
    FAILED = "FAILED"


class ShipmentStatus(enum.StrEnum):
    CREATED = "CREATED"
    IN_TRANSIT = "IN_TRANSIT"
    AT_SERVICE_POINT = "AT_SERVICE_POINT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    RETURNED = "RETURNED"
    EXCEPTION = "EXCEPTION"


SHIPMENT_STATUS_LABELS: dict[ShipmentStatus, str] = {
    ShipmentStatus.CREATED: "Registrado",
    ShipmentStatus.IN_TRANSIT: "En tránsito",
    ShipmentStatus.AT_SERVICE_POINT: "Disponible para retiro",
    ShipmentStatus.OUT_FOR_DELIVERY: "En reparto",
    ShipmentStatus.DELIVERED: "Entregado",
    ShipmentStatus.RETURNED: "Devuelto al remitente",
    ShipmentStatus.EXCEPTION: "Con novedad",
}


class ConversationEventKind(enum.StrEnum):
    HANDOFF_REQUESTED = "HANDOFF_REQUESTED"  # the bot (or the offline engine) asked for a person
    STATUS_CHANGED = "STATUS_CHANGED"  # BOT <-> HUMAN by an agent
    ASSIGNED = "ASSIGNED"  # assignee changed without a status change
    TAKEN_FROM_PHONE = "TAKEN_FROM_PHONE"  # the branch's staff wrote from the linked phone itself: the bot stops
    RESOLVED = "RESOLVED"  # an agent resolved it, or it was idle for the point's autoResolveHours (no actor)
    REOPENED = "REOPENED"  # the customer wrote again after RESOLVED: back to the bot
    LABELS_CHANGED = "LABELS_CHANGED"  # `reason` lists the labels after the change


class MessageKind(enum.StrEnum):
    MESSAGE = "message"  # to or from the customer
    NOTE = "note"  # an agent's private note in the thread: never sent, never shown to the bot


class Availability(enum.StrEnum):
    """Whether an agent takes new conversations; ONLINE lapses when the page stops confirming it."""

    ONLINE = "ONLINE"
    AWAY = "AWAY"


class MessageType(enum.StrEnum):
    """What a message holds; the types with a file have a `media` row."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    UNSUPPORTED = "unsupported"


class MediaStatus(enum.StrEnum):
    PENDING = "PENDING"  # stored without its file yet: the downloader fetches it
    READY = "READY"  # the file is under MEDIA_DIR
    FAILED = "FAILED"  # could not be downloaded after retries (an agent may ask for another try)
    EXPIRED = "EXPIRED"  # deleted by retention; the message stays


class MemberRole(enum.StrEnum):
    SUPERVISOR = "SUPERVISOR"
    AGENT = "AGENT"


def _enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """A VARCHAR with a CHECK constraint: adding a state later is a plain migration, not an ALTER TYPE."""
    return Enum(enum_class, name=name, native_enum=False, create_constraint=True, length=24, validate_strings=True)


POINT_TRANSPORTS = ("web", "cloud")  # WhatsApp Web linked by QR (neonize, or the simulator); Meta's Cloud API


class ServicePoint(UUIDAuditBase):
    """A branch with its own WhatsApp number and session."""

    __tablename__ = "service_point"
    __table_args__ = (
        CheckConstraint(f"phone_number ~ '{E164_CHECK}'", name="phone_number_e164"),
        CheckConstraint("transport IN ('web', 'cloud')", name="transport_known"),
        CheckConstraint("auto_resolve_hours BETWEEN 1 AND 8760", name="auto_resolve_hours_range"),
        CheckConstraint("assignment_timeout_minutes BETWEEN 1 AND 1440", name="assignment_timeout_range"),
    )

    name: Mapped[str] = mapped_column(String(120))
    phone_number: Mapped[str | None] = mapped_column(String(16))
    whatsapp_status: Mapped[WhatsappStatus] = mapped_column(
        _enum(WhatsappStatus, "whatsapp_status"), default=WhatsappStatus.DISCONNECTED
    )
    last_qr_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_connected_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # The agents' workspace: when people answer, when idle conversations close, how long an assignee may stay silent.
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE)
    # {"mon": [["08:00", "18:00"]], ...}; an absent day is closed; NULL means always open (no hours set).
    business_hours: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSONB)
    auto_resolve_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    assignment_timeout_minutes: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    csat_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    transport: Mapped[str] = mapped_column(String(8), default="web", server_default="web")


Index("uq_service_point_name_lower", func.lower(ServicePoint.name), unique=True)
Index("uq_service_point_phone_number", ServicePoint.phone_number, unique=True)  # one point per WhatsApp number


class User(UUIDAuditBase):
    """A person who logs in: an admin, or a member of one or more service points."""

    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lower"),)

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Carried in every token; raising it (logout, password change) revokes every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A deactivated user cannot log in and takes no conversations; their history keeps their name.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    availability: Mapped[Availability] = mapped_column(
        _enum(Availability, "availability"), default=Availability.AWAY, server_default=Availability.AWAY.value
    )
    # When the page last confirmed ONLINE: an ONLINE without a recent confirmation (a closed tab) counts as AWAY.
    availability_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    def role_in(self, service_point_id: UUID) -> MemberRole | None:
        return next((m.role for m in self.memberships if m.service_point_id == service_point_id), None)


class Membership(DefaultBase):
    """A user's role in one service point."""

    __tablename__ = "membership"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    service_point_id: Mapped[UUID] = mapped_column(
        ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())

    user: Mapped[User] = relationship(back_populates="memberships")


class CloudAccount(DefaultBase):
    """A point's WhatsApp Cloud API number (migration 0014). The token and the app secret are sealed with
    `SecretBox` (Meta needs them back in clear); the verify token is only compared, so only its SHA-256 is kept."""

    __tablename__ = "cloud_account"
    __table_args__ = (
        CheckConstraint("phone_number_id ~ '^[0-9]{1,32}$'", name="phone_number_id_digits"),
        CheckConstraint("business_account_id ~ '^[0-9]{1,32}$'", name="business_account_id_digits"),
    )

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True)
    phone_number_id: Mapped[str] = mapped_column(String(32), unique=True)
    business_account_id: Mapped[str | None] = mapped_column(String(32))
    access_token: Mapped[str] = mapped_column(Text)
    app_secret: Mapped[str] = mapped_column(Text)
    verify_token_sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The approved template a shipment alert is sent as outside the 24-hour window ({{1}} tracking number, {{2}}
    # status); without one, such an alert is not sent (Meta would refuse free text).
    alert_template_name: Mapped[str | None] = mapped_column(String(512))
    alert_template_language: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())


class Conversation(UUIDAuditBase):
    """One customer's thread with one service point; the bot answers while its status is BOT."""

    __tablename__ = "conversation"
    __table_args__ = (
        UniqueConstraint("service_point_id", "customer_phone", name="uq_conversation_point_customer"),
        Index("ix_conversation_point_last_message", "service_point_id", text("last_message_at DESC"), text("id DESC")),
        CheckConstraint(f"customer_phone ~ '{E164_CHECK}'", name="customer_phone_e164"),
        # the auto-resolve sweep: HUMAN conversations by idleness
        Index("ix_conversation_human_idle", "last_message_at", postgresql_where=text("status = 'HUMAN'")),
        # the assigner: who is waiting for a person, oldest first, per point
        Index(
            "ix_conversation_waiting",
            "service_point_id",
            "waiting_since",
            postgresql_where=text("waiting_since IS NOT NULL"),
        ),
        Index("ix_conversation_labels", "labels", postgresql_using="gin"),
    )

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    customer_phone: Mapped[str] = mapped_column(String(16))
    status: Mapped[ConversationStatus] = mapped_column(
        _enum(ConversationStatus, "conversation_status"), default=ConversationStatus.BOT
    )
    assigned_to_user_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    last_message_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    # Set when the conversation starts waiting for a person (handoff or takeover), cleared when an agent answers.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    # When the current assignee got it (the assignment timeout counts from here) and last read it (unread count).
    assigned_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    assignee_read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Set when the customer was asked for a rating after RESOLVED; cleared by the answer or the next conversation.
    csat_requested_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    labels: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")


class ConversationEvent(UUIDAuditBase):
    """Who changed a conversation's status or assignee, when and why: its visible history."""

    __tablename__ = "conversation_event"
    __table_args__ = (
        Index("ix_conversation_event_conversation", "conversation_id", "created_at"),
        Index("ix_conversation_event_point_kind_created", "service_point_id", "kind", "created_at"),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    kind: Mapped[ConversationEventKind] = mapped_column(_enum(ConversationEventKind, "conversation_event_kind"))
    actor_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    from_status: Mapped[ConversationStatus | None] = mapped_column(_enum(ConversationStatus, "from_status"))
    to_status: Mapped[ConversationStatus | None] = mapped_column(_enum(ConversationStatus, "to_status"))
    assigned_to_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)


class Message(UUIDAuditBase):
    """One WhatsApp message in or out; `provider_message_id` makes redeliveries harmless."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("service_point_id", "provider_message_id", name="uq_message_point_provider_id"),
        Index("ix_message_conversation_timestamp", "conversation_id", text("timestamp DESC"), text("id DESC")),
        CheckConstraint(
            "kind = 'note' OR (direction = 'OUT') = (delivery_status IS NOT NULL)", name="delivery_status_only_outbound"
        ),
        CheckConstraint(
            "kind <> 'note' OR (direction = 'OUT' AND sender_type = 'AGENT' AND delivery_status IS NULL)",
            name="note_never_sent",
        ),
        CheckConstraint("(direction = 'IN') = (sender_type = 'CUSTOMER')", name="sender_matches_direction"),
        Index(
            "ix_message_outbox_pending",
            "service_point_id",
            "created_at",
            postgresql_where=text("delivery_status = 'PENDING'"),
        ),
        Index(
            "ix_message_inbound_unhandled",
            "created_at",
            postgresql_where=text("direction = 'IN' AND handled_at IS NULL"),
        ),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    sender_type: Mapped[SenderType] = mapped_column(_enum(SenderType, "sender_type"))
    content: Mapped[str] = mapped_column(Text)
    provider_message_id: Mapped[str] = mapped_column(String(128))
    timestamp: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    sender_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    # Outbox (OUT): attempts so far, when to try next, why the last attempt failed, when it left.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Inbound (IN): when the pipeline finished with it (bot decision committed, or no bot needed); `attempts`
    # counts the bot turns started for it, so a message that keeps failing stops costing model calls.
    handled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # What it holds: `content` is the text, or the caption of a media message ("" without one).
    type: Mapped[MessageType] = mapped_column(
        Enum(
            MessageType,
            name="message_type",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        default=MessageType.TEXT,
        server_default=MessageType.TEXT.value,
    )
    sent_from_phone: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    reply_to: Mapped[str | None] = mapped_column(String(128))  # provider id of the quoted message
    reaction: Mapped[str | None] = mapped_column(String(32))  # the customer's latest reaction to this message
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # a location's or a contact card's fields
    kind: Mapped[MessageKind] = mapped_column(
        Enum(
            MessageKind,
            name="message_kind",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        default=MessageKind.MESSAGE,
        server_default=MessageKind.MESSAGE.value,
    )


class Media(UUIDAuditBase):
    """The file of one message. Files live under MEDIA_DIR named by their SHA-256: the same file twice is kept once.

    An inbound file is PENDING until the downloader fetches it with `source` (the transport's opaque handle).
    """

    __tablename__ = "media"
    __table_args__ = (
        # The downloader's per-point walk of due files; a flooded point's backlog costs the others nothing.
        Index(
            "ix_media_pending_point",
            "service_point_id",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'PENDING'"),
        ),
        Index("ix_media_ready_created", "created_at", postgresql_where=text("status = 'READY'")),
        Index("ix_media_sha256", "sha256"),
    )

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[UUID] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), unique=True)
    status: Mapped[MediaStatus] = mapped_column(_enum(MediaStatus, "media_status"), default=MediaStatus.PENDING)
    mime_type: Mapped[str | None] = mapped_column(String(127))  # declared until READY, then sniffed from the bytes
    file_name: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    voice: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    source: Mapped[bytes | None] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    transcript: Mapped[str | None] = mapped_column(Text)  # a voice note's words, from the transcription API

    # Lets the ORM insert a new message before its file (a new Message and Media flushed together).
    message: Mapped[Message] = relationship(lazy="raise")


class Shipment(UUIDAuditBase):
    """A parcel the bot can report on; tracking numbers are company-wide."""

    __tablename__ = "shipment"
    __table_args__ = (CheckConstraint("tracking_number = upper(tracking_number)", name="tracking_number_upper"),)

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="RESTRICT"), index=True)
    tracking_number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[ShipmentStatus] = mapped_column(_enum(ShipmentStatus, "shipment_status"))
    origin: Mapped[str | None] = mapped_column(String(120))
    destination: Mapped[str | None] = mapped_column(String(120))
    eta: Mapped[date | None] = mapped_column(Date)
    last_update: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    sender_name: Mapped[str | None] = mapped_column(String(120))
    recipient_name: Mapped[str | None] = mapped_column(String(120))


class Faq(UUIDAuditBase):
    """A question the bot may answer word for word; `service_point_id` NULL means every branch.

    `search_vector` is kept by PostgreSQL: Spanish stems of question, answer and keywords with accents folded
    (`faq_search_document`, defined in the migrations), so "envio" finds "envío".
    """

    __tablename__ = "faq"
    __table_args__ = (Index("ix_faq_search_vector", "search_vector", postgresql_using="gin"),)

    service_point_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("service_point.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed("faq_search_document(question, answer, keywords)", persisted=True), deferred=True
    )


class ToolCall(UUIDAuditBase):
    """Audit of one bot tool call: what the bot looked up for whom, what came back, how long it took."""

    __tablename__ = "tool_call"
    __table_args__ = (
        Index("ix_tool_call_point_created", "service_point_id", text("created_at DESC")),
        Index("ix_tool_call_conversation", "conversation_id", "created_at"),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    message_id: Mapped[UUID | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    engine: Mapped[str] = mapped_column(String(16))  # "openai" or "offline"
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB)
    outcome: Mapped[str] = mapped_column(String(32))  # ok | not_found | invalid_arguments | unknown_tool | error
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    latency_ms: Mapped[int] = mapped_column(Integer)


class QuarantinedMessage(UUIDAuditBase):
    """An inbound message the database refused even after cleaning: kept whole, with the reason, for an admin.

    `payload` is the message as JSON text (NUL and the like escaped), so whatever WhatsApp delivered fits. No
    foreign key to the point: a message for a point deleted meanwhile is kept too.
    """

    __tablename__ = "quarantined_message"
    __table_args__ = (
        UniqueConstraint("service_point_id", "provider_message_id", name="uq_quarantined_point_provider_id"),
        Index("ix_quarantined_message_created", text("created_at DESC")),
    )

    service_point_id: Mapped[UUID] = mapped_column()
    provider_message_id: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class BotUsage(DefaultBase):
    """Model calls per point and day (UTC): what the daily cap is checked against."""

    __tablename__ = "bot_usage"

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    model_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# Shortcuts are typed after "/" in the reply box: lowercase so "/Saludo" and "/saludo" cannot mean two things.
SHORTCUT_CHECK = "^[a-z0-9_-]{1,32}$"
# The "point" of a global canned response in its unique index: NULLs are never equal, this value is.
NO_POINT_UUID = "00000000-0000-0000-0000-000000000000"


class CannedResponse(UUIDAuditBase):
    """A ready reply an agent inserts by typing `/shortcut`; `service_point_id` NULL means every branch (admins').

    A shortcut is unique within its point, and among the global ones; a point may reuse a global shortcut.
    """

    __tablename__ = "canned_response"
    __table_args__ = (
        CheckConstraint(f"shortcut ~ '{SHORTCUT_CHECK}'", name="shortcut_format"),
        CheckConstraint("char_length(content) BETWEEN 1 AND 4096", name="content_length"),
        Index(
            "uq_canned_response_scope_shortcut",
            text(f"coalesce(service_point_id, '{NO_POINT_UUID}'::uuid)"),
            "shortcut",
            unique=True,
        ),
    )

    service_point_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("service_point.id", ondelete="CASCADE"), index=True
    )
    shortcut: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)


class CsatResponse(UUIDAuditBase):
    """A customer's 1-5 rating of a RESOLVED conversation (asked when the point has `csat_enabled`)."""

    __tablename__ = "csat_response"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_csat_response_point_created", "service_point_id", "created_at"),
    )

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[UUID | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    # who resolved the conversation that was rated (None: the bot or auto-resolve), for per-agent reports
    resolved_by_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(Integer)


class ReportActivity(DefaultBase):
    """Messages to or from the customer (never notes) and handoffs per conversation and UTC hour, kept by triggers
    (migration 0008): the reports count a period from these rows instead of every message and event in it. Each row
    links to its conversation's latest earlier hour with each kind of activity (triggers of migration 0009), so a
    period counts conversations without grouping its rows by conversation."""

    __tablename__ = "report_activity"
    __table_args__ = (
        # the counts and links ride in the key's index: a period of a point is read by an index-only scan
        PrimaryKeyConstraint(
            "service_point_id",
            "hour",
            "conversation_id",
            postgresql_include=[
                "inbound",
                "bot",
                "agent",
                "handoffs",
                "prev_inbound_hour",
                "prev_bot_hour",
                "prev_human_hour",
                "prev_handoff_hour",
            ],
        ),
        Index("ix_report_activity_conversation_hour", "conversation_id", "hour"),  # the links follow it
    )

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    inbound: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bot: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    handoffs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # as in `report_handoff`
    first_inbound_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))  # of its messages
    # the latest earlier hour of the conversation with customer messages, bot answers, a person (an agent's message
    # or a handoff), a handoff; None: none before this one
    prev_inbound_hour: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    prev_bot_hour: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    prev_human_hour: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    prev_handoff_hour: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class ReportHandoff(DefaultBase):
    """One handoff (see docs/reports.md) with its first agent reply and how its episode ended, kept by triggers on
    `conversation_event` and `message` (migration 0008) so response times are read, not searched for."""

    __tablename__ = "report_handoff"
    __table_args__ = (
        Index("ix_report_handoff_point_at", "service_point_id", "at"),
        Index("ix_report_handoff_conversation_at", "conversation_id", "at"),
    )

    event_id: Mapped[UUID] = mapped_column(ForeignKey("conversation_event.id", ondelete="CASCADE"), primary_key=True)
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Replica(DefaultBase):
    """A running `ventanilla serve` on this database (migration 0010): alive while `last_seen_at` is recent."""

    __tablename__ = "replica"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    draining: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class PointLease(DefaultBase):
    """Which replica owns a point's socket until `expires_at`; `epoch` grows with every new owner and fences the
    writes only the owner may make. The owner's pending QR is here, so any replica can show it."""

    __tablename__ = "point_lease"

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True)
    replica_id: Mapped[str] = mapped_column(String(100), index=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    qr_code: Mapped[str | None] = mapped_column(Text)
    qr_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class PointCommand(DefaultBase):
    """Something a replica asks of a point's owner (`replica_id`), carried out once and answered in `result`."""

    __tablename__ = "point_command"
    __table_args__ = (
        Index("ix_point_command_waiting", "replica_id", "id", postgresql_where=text("started_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    replica_id: Mapped[str] = mapped_column(String(100))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SimulatorPhone(DefaultBase):
    """WHATSAPP_TRANSPORT=simulator: the phone linked to a point. `socket_id` is the socket WhatsApp (simulated)
    serves now: a newer socket replaces older ones, which can no longer send."""

    __tablename__ = "simulator_phone"

    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"), primary_key=True)
    phone_number: Mapped[str] = mapped_column(String(16))
    socket_id: Mapped[UUID | None]
    linked_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SimulatorSent(DefaultBase):
    """What the customers' phones received from a point (once per message id), in order of arrival."""

    __tablename__ = "simulator_sent"
    __table_args__ = (UniqueConstraint("service_point_id", "message_id", name="uq_simulator_sent_point_message"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(Text)
    to_phone: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    from_phone: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SimulatorMedia(DefaultBase):
    """The simulated WhatsApp media server: files by SHA-256, uploaded by senders and fetched by receivers."""

    __tablename__ = "simulator_media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())


API_KEY_SCOPES = ("messages:read", "messages:send", "shipments:read", "shipments:write")
_API_KEY_SCOPE_LIST = ", ".join(f"'{scope}'" for scope in API_KEY_SCOPES)


class ApiKey(UUIDAuditBase):
    """A company system's credential (`Authorization: Bearer vk_...`): only the SHA-256 of the secret is kept.

    `service_point_ids` NULL reaches every point; otherwise only those listed. `revoked_at` set means refused at once.
    Adding a scope to `API_KEY_SCOPES` needs a migration of the `scopes_known` check.
    """

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 120", name="name_length"),
        CheckConstraint(f"scopes <@ ARRAY[{_API_KEY_SCOPE_LIST}]::text[]", name="scopes_known"),
        CheckConstraint("cardinality(scopes) >= 1", name="scopes_present"),
        CheckConstraint(
            "service_point_ids IS NULL OR cardinality(service_point_ids) >= 1", name="service_point_ids_present"
        ),
    )

    name: Mapped[str] = mapped_column(String(120))
    # The first characters of the key (`vk_` and 8 more), shown in lists and used to find the row.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    service_point_ids: Mapped[list[UUID] | None] = mapped_column(ARRAY(Uuid))
    created_by_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class ShipmentEvent(UUIDAuditBase):
    """One status change pushed by the tracking system; the unique key makes a repeated push harmless."""

    __tablename__ = "shipment_event"
    __table_args__ = (UniqueConstraint("tracking_number", "status", "at", name="uq_shipment_event_tracking_status_at"),)

    # Not a foreign key: events may arrive before (or without) the shipment they describe.
    tracking_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[ShipmentStatus] = mapped_column(_enum(ShipmentStatus, "shipment_status"))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    origin: Mapped[str | None] = mapped_column(String(120))
    destination: Mapped[str | None] = mapped_column(String(120))
    eta: Mapped[date | None] = mapped_column(Date)


class ShipmentAlert(UUIDAuditBase):
    """A customer's opt-in to hear about each status change of one shipment, through the point that answered them.

    At most one active (`cancelled_at` NULL) subscription per conversation and tracking number.
    """

    __tablename__ = "shipment_alert"
    __table_args__ = (
        Index(
            "uq_shipment_alert_active",
            "conversation_id",
            "tracking_number",
            unique=True,
            postgresql_where=text("cancelled_at IS NULL"),
        ),
        Index("ix_shipment_alert_active_tracking", "tracking_number", postgresql_where=text("cancelled_at IS NULL")),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    service_point_id: Mapped[UUID] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    tracking_number: Mapped[str] = mapped_column(String(40))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


WEBHOOK_EVENTS = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.read",
    "message.failed",
    "conversation.handoff",
    "conversation.resolved",
    "whatsapp.status",
)
_WEBHOOK_EVENT_LIST = ", ".join(f"'{name}'" for name in WEBHOOK_EVENTS)


class Webhook(UUIDAuditBase):
    """A company system told of events by signed POSTs. `service_point_id` NULL: events of every point.

    `secret` signs each delivery: stored sealed by `SecretBox` (the HMAC needs it back, so not hashed), shown once
    in clear, at creation, and never again.
    A webhook whose deliveries keep failing past the retry window is disabled, `disabled_reason` saying why.
    Adding an event to `WEBHOOK_EVENTS` needs a migration of the `events_known` check.
    """

    __tablename__ = "webhook"
    __table_args__ = (
        CheckConstraint(f"events <@ ARRAY[{_WEBHOOK_EVENT_LIST}]::text[]", name="events_known"),
        CheckConstraint("cardinality(events) >= 1", name="events_present"),
    )

    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    service_point_id: Mapped[UUID | None] = mapped_column(ForeignKey("service_point.id", ondelete="CASCADE"))
    secret: Mapped[str] = mapped_column(Text)  # a Fernet token
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_by_user_id: Mapped[UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class WebhookDeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class WebhookDelivery(DefaultBase):
    """The outbox and the log of one webhook: one row per (webhook, event), written in the event's transaction.

    `delivery_id` is the `X-Ventanilla-Delivery` header, the same on every retry; `body` is the exact JSON signed.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'DELIVERED', 'FAILED')", name="status_known"),
        Index("ix_webhook_delivery_pending_due", "next_attempt_at", postgresql_where=text("status = 'PENDING'")),
        Index("ix_webhook_delivery_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    webhook_id: Mapped[UUID] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(Text)
    delivery_id: Mapped[UUID] = mapped_column(Uuid, unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="PENDING", server_default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
