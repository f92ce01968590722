"""What both engines do with the non-text part of a turn: voice notes heard become text, and what the bot cannot
read gets a short request for text, or a person when it already asked once.

"Cannot read" depends on the engine: the model sees photos and hears voice notes (transcribed first), the offline
engine reads photos with OCR and hears nothing; nobody reads documents, stickers, videos or contact cards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from uuid import UUID

from ventanilla.bot.decision import Attachment, BotRequest, Engine, Turn
from ventanilla.bot.replies import (
    ASKED_FOR_TEXT,
    CANNOT_OPEN,
    LOCATION,
    PHOTO_UNREADABLE,
    PHOTO_WITHOUT_NUMBER,
    VOICE_NOT_UNDERSTOOD,
    VOICE_NOTE,
    Answer,
    handoff,
)
from ventanilla.db.models import MessageType, SenderType

REASON_UNREADABLE = "El cliente envió de nuevo algo que el bot no puede leer (foto, audio o archivo)."


def heard(request: BotRequest, transcripts: Mapping[UUID, str]) -> BotRequest:
    """The request with its voice notes' transcripts (this turn's, and any an earlier try stored) as text."""
    attachments: list[Attachment] = []
    words: list[str] = []
    for attachment in request.attachments:
        transcript = transcripts.get(attachment.message_id) or attachment.transcript
        if attachment.type == MessageType.AUDIO and transcript:
            attachments.append(replace(attachment, transcript=transcript))
            words.append(transcript)
        else:
            attachments.append(attachment)
    if not words:
        return request
    text = "\n".join(part for part in (request.text, *words) if part.strip())
    return replace(request, text=text, attachments=tuple(attachments))


def photos(request: BotRequest) -> list[Attachment]:
    """The turn's photos that have a file to read."""
    return [a for a in request.attachments if a.type == MessageType.IMAGE and a.path is not None]


def only_attachments(request: BotRequest) -> bool:
    """Nothing written in this turn (no caption, no transcript): only files or cards."""
    return bool(request.attachments) and not request.text.strip()


def asked_for_text_before(history: Sequence[Turn]) -> bool:
    """The customer's last message before this turn was something the bot could not read, and it asked for text."""
    for index in range(len(history) - 1, -1, -1):
        turn = history[index]
        if turn.sender == SenderType.CUSTOMER:
            continue
        if turn.sender != SenderType.BOT or turn.text not in ASKED_FOR_TEXT:
            return False
        earlier = history[index - 1] if index else None
        return earlier is not None and earlier.sender == SenderType.CUSTOMER and earlier.type != MessageType.TEXT
    return False


def unreadable(request: BotRequest, engine: Engine) -> Answer:
    """The answer to a turn of nothing but what `engine` could not read."""
    if asked_for_text_before(request.history):
        return handoff(REASON_UNREADABLE)
    return Answer(_asking_for_text(request.attachments, engine))


def _asking_for_text(attachments: Sequence[Attachment], engine: Engine) -> str:
    types = {a.type for a in attachments}
    if MessageType.IMAGE in types:
        return PHOTO_WITHOUT_NUMBER if engine == "offline" else PHOTO_UNREADABLE
    if MessageType.AUDIO in types:
        return VOICE_NOTE if engine == "offline" else VOICE_NOT_UNDERSTOOD
    if types == {MessageType.LOCATION}:
        return LOCATION
    return CANNOT_OPEN
