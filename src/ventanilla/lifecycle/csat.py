"""CSAT: the question after RESOLVED, and reading the customer's answer.

The answer is recognised only when the whole message is a rating ("5", "4 estrellas", "⭐⭐⭐", "excelente", "le doy
un 5"): a customer who writes "5 paquetes perdidos" is asking something, and that message goes to the bot like any
other. Accents, case, blanks and punctuation around it do not matter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    Message,
    SenderType,
    ServicePoint,
)
from ventanilla.inbox.writer import ConversationWriter
from ventanilla.live.events import MessageCreated, after_commit

QUESTION = "¿Cómo calificarías la atención que recibiste? Responde con un número del 1 (muy mala) al 5 (excelente)."
THANKS = "¡Gracias por tu calificación!"

_WORDS = {
    "excelente": 5,
    "muy bueno": 5,
    "muy buena": 5,
    "buenisimo": 5,
    "buenisima": 5,
    "bueno": 4,
    "buena": 4,
    "regular": 3,
    "malo": 2,
    "mala": 2,
    "muy malo": 1,
    "muy mala": 1,
    "pesimo": 1,
    "pesima": 1,
}
_NUMBERS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5}
_WORD = "|".join(sorted(map(re.escape, _WORDS), key=len, reverse=True))  # "muy bueno" before "bueno"
_STAR = "[\u2b50\U0001f31f\u2605]"  # ⭐ 🌟 ★
_STARS = re.compile(rf"(?:{_STAR} ?){{1,5}}")
_WORDED = re.compile(rf"(?P<word>{_WORD})(?: (?:la |el )?(?:atencion|servicio))?")
_NUMBERED = re.compile(
    r"(?:(?:le|te|les) doy )?(?:(?:un|una|con) )?"
    r"(?P<n>[1-5]|uno|dos|tres|cuatro|cinco|una(?= estrella))"
    r"(?: ?(?:/|de) ?5)?"  # "4/5", "4 de 5"
    rf"(?: ?(?:estrellas?|puntos?|(?:{_STAR} ?){{1,5}}))?"  # "5 estrellas", "5 ⭐"
    rf"(?: ?[,:-]? ?(?:{_WORD}))?"  # "5, excelente"
)
_AROUND = " .,;:!¡?¿()-"
_MARKS = ("Mn", "Me")


def parse_rating(text: str) -> int | None:
    """1-5 when the whole message is a rating, else None."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    # without accents, emoji variation selectors and keycap frames ("5️⃣")
    plain = "".join(c for c in folded if unicodedata.category(c) not in _MARKS and c != "\ufe0f")
    plain = " ".join(plain.split()).strip(_AROUND)
    if _STARS.fullmatch(plain):
        return sum(1 for c in plain if c != " ")
    if match := _WORDED.fullmatch(plain):
        return _WORDS[match["word"]]
    if match := _NUMBERED.fullmatch(plain):
        return _NUMBERS[match["n"]]
    return None


def ask(session: AsyncSession, conversation: Conversation, now: datetime | None = None) -> Message:
    """The question, queued in the outbox as the bot's; the customer's next message is read as the answer."""
    now = now or datetime.now(UTC)
    message, _ = ConversationWriter(session).queue_outgoing(conversation, QUESTION, SenderType.BOT, now=now)
    conversation.csat_requested_at = now
    after_commit(
        session,
        MessageCreated(
            service_point_id=conversation.service_point_id,
            conversation_id=conversation.id,
            message_id=message.id,
            direction=message.direction,
            sender_type=SenderType.BOT,
        ),
    )
    return message


async def ask_if_resolved(
    session: AsyncSession, conversation: Conversation, events: Sequence[ConversationEvent]
) -> Message | None:
    """After an agent's change: ask for a rating when it resolved the conversation and its point wants ratings."""
    if not any(event.kind is ConversationEventKind.RESOLVED for event in events):
        return None
    point = select(ServicePoint.csat_enabled).where(ServicePoint.id == conversation.service_point_id)
    if not await session.scalar(point):
        conversation.csat_requested_at = None  # a question asked at an earlier resolution is not this one's
        return None
    return ask(session, conversation)
