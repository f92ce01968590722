"""What Meta's webhook brings, read into the transport's normalized events.

The body is read twice on purpose: first only the phone number ids it names (`numbers_named`), so the signature can
be checked with the app secret of the points they belong to (`signed_by`); only a body that passed is then read
whole (`events_by_number`). Meta's documented shapes are followed; fields we do not use are ignored, and a message
type we do not know becomes `unsupported` rather than an error, so a new type never makes Meta retry for days.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import msgspec

from ventanilla.whatsapp.transport import (
    MEDIA_TYPES,
    ChatEvent,
    ContactCard,
    DeliveryFailed,
    InboundMessage,
    Location,
    MediaRef,
    MessageType,
    Reaction,
    Receipt,
)

SIGNATURE_PREFIX = "sha256="


class WebhookError(Exception):
    """The body is not a Cloud API webhook we can read."""


# --- the shapes (only what we read) -----------------------------------------------------------------------------


class _Metadata(msgspec.Struct):
    phone_number_id: str


class _ValueHead(msgspec.Struct):
    metadata: _Metadata | None = None


class _ChangeHead(msgspec.Struct):
    value: _ValueHead | None = None
    field: str | None = None


class _EntryHead(msgspec.Struct):
    changes: list[_ChangeHead] = []


class _EnvelopeHead(msgspec.Struct):
    object: str | None = None
    entry: list[_EntryHead] = []


class _Profile(msgspec.Struct):
    name: str | None = None


class _Contact(msgspec.Struct):
    wa_id: str | None = None
    profile: _Profile | None = None


class _Text(msgspec.Struct):
    body: str = ""


class _Media(msgspec.Struct):
    id: str
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False


class _Location(msgspec.Struct):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class _CardName(msgspec.Struct):
    formatted_name: str | None = None


class _CardPhone(msgspec.Struct):
    phone: str | None = None


class _Card(msgspec.Struct):
    name: _CardName | None = None
    phones: list[_CardPhone] = []


class _ReactionBody(msgspec.Struct):
    message_id: str
    emoji: str | None = None


class _Context(msgspec.Struct):
    id: str | None = None


class _Button(msgspec.Struct):
    text: str | None = None


class _Choice(msgspec.Struct):
    title: str | None = None


class _Interactive(msgspec.Struct):
    button_reply: _Choice | None = None
    list_reply: _Choice | None = None


class _Message(msgspec.Struct, rename={"sender": "from"}):
    sender: str
    id: str
    timestamp: str | int  # Meta sends Unix seconds as a string
    type: str
    text: _Text | None = None
    image: _Media | None = None
    audio: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    contacts: list[_Card] = []
    reaction: _ReactionBody | None = None
    context: _Context | None = None
    button: _Button | None = None
    interactive: _Interactive | None = None


class _ErrorData(msgspec.Struct):
    details: str | None = None


class _Error(msgspec.Struct):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: _ErrorData | None = None


class _Status(msgspec.Struct):
    id: str
    status: str
    errors: list[_Error] = []


class _Value(msgspec.Struct):
    metadata: _Metadata | None = None
    contacts: list[_Contact] = []
    messages: list[_Message] = []
    statuses: list[_Status] = []


class _Change(msgspec.Struct):
    value: _Value | None = None
    field: str | None = None


class _Entry(msgspec.Struct):
    changes: list[_Change] = []


class _Envelope(msgspec.Struct):
    entry: list[_Entry] = []


# --- reading ----------------------------------------------------------------------------------------------------


def numbers_named(body: bytes) -> set[str]:
    """The phone number ids the body's changes are for (WebhookError when it is not such a body)."""
    try:
        head = msgspec.json.decode(body, type=_EnvelopeHead)
    except msgspec.DecodeError as exc:
        raise WebhookError(f"not a Cloud API webhook body: {exc}") from None
    if head.object not in (None, "whatsapp_business_account"):
        raise WebhookError("not a WhatsApp Business Account webhook")
    return {
        change.value.metadata.phone_number_id
        for entry in head.entry
        for change in entry.changes
        if change.value is not None and change.value.metadata is not None
    }


def signed_by(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body with this app secret (constant time)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len(SIGNATURE_PREFIX) :].strip().lower().encode())


def events_by_number(body: bytes, numbers: set[str]) -> dict[str, list[ChatEvent]]:
    """The events of each of `numbers` (others in the body are skipped), in the order Meta wrote them."""
    try:
        envelope = msgspec.json.decode(body, type=_Envelope)
    except msgspec.DecodeError as exc:
        raise WebhookError(f"a Cloud API webhook we cannot read: {exc}") from None
    found: dict[str, list[ChatEvent]] = {}
    for entry in envelope.entry:
        for change in entry.changes:
            value = change.value
            if change.field not in (None, "messages") or value is None or value.metadata is None:
                continue
            number = value.metadata.phone_number_id
            if number not in numbers:
                continue
            names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile and c.profile.name}
            events = found.setdefault(number, [])
            events.extend(_message_event(message, names.get(message.sender)) for message in value.messages)
            events.extend(event for status in value.statuses if (event := _status_event(status)) is not None)
    return found


def _message_event(message: _Message, push_name: str | None) -> InboundMessage | Reaction:
    phone = "+" + message.sender.lstrip("+")
    at = _timestamp(message.timestamp)
    if message.type == "reaction" and message.reaction is not None:
        return Reaction(
            provider_message_id=message.id,
            customer_phone=phone,
            target_message_id=message.reaction.message_id,
            emoji=message.reaction.emoji or "",  # Meta sends no emoji when the customer takes it off
            timestamp=at,
        )
    kind: MessageType = "unsupported"
    text = ""
    media = location = contact = None
    if message.type == "text" and message.text is not None:
        kind, text = "text", message.text.body
    elif message.type in MEDIA_TYPES and (file := getattr(message, message.type)) is not None:
        kind, text = message.type, file.caption or ""
        media = MediaRef(handle=file.id.encode(), mime_type=file.mime_type, file_name=file.filename, voice=file.voice)
    elif message.type == "location" and message.location is not None:
        place = message.location
        kind, location = "location", Location(place.latitude, place.longitude, place.name, place.address)
    elif message.type == "contacts" and message.contacts:
        card = message.contacts[0]
        name = (card.name.formatted_name if card.name else None) or ""
        kind, contact = "contact", ContactCard(name, tuple(p.phone for p in card.phones if p.phone))
    elif message.type == "button" and message.button is not None:  # a quick reply to a template
        kind, text = "text", message.button.text or ""
    elif message.type == "interactive" and message.interactive is not None:
        choice = message.interactive.button_reply or message.interactive.list_reply
        kind, text = "text", (choice.title if choice else None) or ""
    return InboundMessage(
        provider_message_id=message.id,
        customer_phone=phone,
        text=text,
        timestamp=at,
        push_name=push_name,
        type=kind,
        media=media,
        reply_to=message.context.id if message.context else None,
        location=location,
        contact=contact,
    )


def _status_event(status: _Status) -> Receipt | DeliveryFailed | None:
    """delivered/read move the message forward; failed says why; sent changes nothing (the send said so)."""
    if status.status in ("delivered", "read"):
        return Receipt(provider_message_ids=(status.id,), read=status.status == "read")
    if status.status == "failed":
        return DeliveryFailed(provider_message_id=status.id, reason=failure_reason(status.errors))
    return None


def failure_reason(errors: list[_Error]) -> str:
    """What the agent reads: Meta's code and title (its details when it gives them)."""
    if not errors:
        return "WhatsApp no pudo entregar el mensaje (sin detalle de Meta)"
    error = errors[0]
    said = (error.error_data.details if error.error_data else None) or error.title or error.message or "sin detalle"
    return f"WhatsApp no pudo entregar el mensaje: Meta {error.code}: {said}"


def _timestamp(raw: str | int) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.now(UTC)  # an unreadable time must not lose the message: it is dated on arrival
