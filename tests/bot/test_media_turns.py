"""Photos and voice notes through the pipeline's own steps on a fresh database: the context finds the stored file,
the bot decides, the decision lands (the transcript with it); a file still downloading waits for the downloader,
whatever the recovery sweep finds meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.bot.media import VOICE_NOTE, label_png, needs_ocr, stored
from tests.fakes.openai_server import FakeOpenAI, completion, tool_call, transcription
from tests.flow import with_model
from tests.whatsapp.conftest import eventually
from ventanilla.bot import Bot, BotDecision
from ventanilla.bot.attachments import REASON_UNREADABLE
from ventanilla.bot.replies import CANNOT_OPEN
from ventanilla.config import Settings
from ventanilla.db.models import (
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Media,
    MediaStatus,
    Message,
    MessageType,
    SenderType,
    ServicePoint,
    Shipment,
    ShipmentStatus,
    ToolCall,
)
from ventanilla.live.events import PUBLISHER_KEY, LiveEvent, MessageUpdated
from ventanilla.metrics import Metrics
from ventanilla.pipeline.context import Asked, Context, ContextPolicy
from ventanilla.pipeline.decisions import Decisions
from ventanilla.pipeline.flow import InboundPipeline

START = datetime.now(UTC) - timedelta(minutes=10)


class Published:
    """Stands in for the live channels: what committed transactions published."""

    def __init__(self) -> None:
        self.events: list[LiveEvent] = []

    def publish(self, event: LiveEvent) -> None:
        self.events.append(event)


class Branch:
    """One point with shipment ABC123456 and one conversation with the bot, on the test's own database."""

    def __init__(self, session: AsyncSession, media_dir: Path) -> None:
        self.session = session
        self.media_dir = media_dir
        self.point = uuid.uuid4()
        self.conversation = uuid.uuid4()
        self._sent = 0

    async def create(self) -> None:
        self.session.add(ServicePoint(id=self.point, name="Punto Foto", phone_number="+593200000077"))
        await self.session.flush()
        self.session.add_all(
            [
                Shipment(
                    service_point_id=self.point,
                    tracking_number="ABC123456",
                    status=ShipmentStatus.IN_TRANSIT,
                    origin="Quito",
                    destination="Guayaquil",
                ),
                Conversation(id=self.conversation, service_point_id=self.point, customer_phone="+593991110077"),
            ]
        )
        await self.session.commit()

    async def says(
        self,
        message_type: MessageType = MessageType.TEXT,
        content: str = "",
        *,
        data: bytes | None = None,
        status: MediaStatus | None = None,
        sender: SenderType = SenderType.CUSTOMER,
        handled: bool = False,
        transcript: str | None = None,
    ) -> UUID:
        """A message in the thread (one second after the previous one); with `status`, its media row, whose file
        is stored like the downloader stores it when `data` is given."""
        self._sent += 1
        at = START + timedelta(seconds=self._sent)
        message = Message(
            id=uuid.uuid4(),
            conversation_id=self.conversation,
            service_point_id=self.point,
            direction=Direction.IN if sender == SenderType.CUSTOMER else Direction.OUT,
            sender_type=sender,
            content=content,
            provider_message_id=f"M{self._sent}-{uuid.uuid4().hex[:8]}",
            timestamp=at,
            delivery_status=None if sender == SenderType.CUSTOMER else DeliveryStatus.SENT,
            handled_at=at if handled and sender == SenderType.CUSTOMER else None,
            type=message_type,
            created_at=at,
        )
        self.session.add(message)
        await self.session.flush()
        if status is not None:
            sha256 = mime_type = None
            if data is not None:
                path, mime_type = stored(self.media_dir, data)
                sha256 = path.name
            self.session.add(
                Media(
                    service_point_id=self.point,
                    message_id=message.id,
                    status=status,
                    sha256=sha256,
                    mime_type=mime_type,
                    size=len(data) if data else None,
                    voice=message_type == MessageType.AUDIO,
                    transcript=transcript,
                )
            )
        await self.session.commit()
        return message.id

    async def row(self, message_id: UUID) -> Message:
        message = await self.session.get(Message, message_id, populate_existing=True)
        assert message is not None
        return message

    async def bot_replies(self) -> list[str]:
        rows = await self.session.scalars(
            select(Message.content)
            .where(Message.conversation_id == self.conversation, Message.sender_type == SenderType.BOT)
            .order_by(Message.timestamp)
        )
        return list(rows)


@pytest.fixture
async def branch(session: AsyncSession, settings: Settings) -> Branch:
    branch = Branch(session, settings.media_path)
    await branch.create()
    return branch


def context(engine: AsyncEngine, settings: Settings) -> Context:
    return Context(async_sessionmaker(engine, expire_on_commit=False), ContextPolicy(media_dir=settings.media_path))


async def turn(
    engine: AsyncEngine, settings: Settings, bot: Bot, branch: Branch, ids: Sequence[UUID], publisher: object = None
) -> BotDecision:
    """Context, decision, and the decision applied: the pipeline's `_turn` without lanes and slots."""
    prepared = await context(engine, settings).prepare(Asked(branch.point, branch.conversation, tuple(ids)))
    assert prepared is not None
    decision = await bot.decide(prepared.request)
    info = {PUBLISHER_KEY: publisher} if publisher is not None else {}
    applied = await Decisions(async_sessionmaker(engine, expire_on_commit=False, info=info)).apply(
        prepared.request, decision
    )
    assert applied is not None
    return decision


@needs_ocr
async def test_a_stored_label_photo_is_answered_with_the_shipments_status(
    engine: AsyncEngine, settings: Settings, branch: Branch
) -> None:
    photo = await branch.says(MessageType.IMAGE, data=label_png("ABC123456"), status=MediaStatus.READY)
    prepared = await context(engine, settings).prepare(Asked(branch.point, branch.conversation, (photo,)))
    assert prepared is not None
    [attachment] = prepared.request.attachments
    assert attachment.message_id == photo and attachment.type == MessageType.IMAGE
    assert attachment.path is not None and attachment.path.is_file() and attachment.mime_type == "image/png"
    assert prepared.request.text == ""

    decision = await turn(engine, settings, Bot(settings, async_sessionmaker(engine)), branch, [photo])
    assert decision.engine == "offline"
    [reply] = await branch.bot_replies()
    assert reply.startswith("Tu envío ABC123456 está: *En tránsito*.")
    assert (await branch.row(photo)).handled_at is not None
    audit = (await branch.session.execute(select(ToolCall.tool, ToolCall.outcome))).all()
    assert [tuple(row) for row in audit] == [("consultar_guia", "ok")]


async def test_a_failed_download_is_unreadable_not_waited_for(
    engine: AsyncEngine, settings: Settings, branch: Branch
) -> None:
    photo = await branch.says(MessageType.IMAGE, status=MediaStatus.FAILED)
    prepared = await context(engine, settings).prepare(Asked(branch.point, branch.conversation, (photo,)))
    assert prepared is not None and prepared.request.attachments[0].path is None


async def test_a_photo_still_downloading_is_left_out_uncounted(
    engine: AsyncEngine, settings: Settings, branch: Branch
) -> None:
    photo = await branch.says(MessageType.IMAGE, status=MediaStatus.PENDING)
    text = await branch.says(content="hola")
    counted = frozenset({photo, text})  # back through recovery: the turn is counted on both
    prepared = await context(engine, settings).prepare(Asked(branch.point, branch.conversation, (photo, text), counted))
    assert prepared is not None and prepared.request.message_ids == (text,)
    assert prepared.request.attachments == ()
    assert (await branch.row(photo)).attempts == 0 and (await branch.row(text)).attempts == 1

    alone = Asked(branch.point, branch.conversation, (photo,), frozenset({photo}))
    for _ in range(8):  # many sweeps while the downloader retries: never counted, never given up on
        assert await context(engine, settings).prepare(alone) is None
    row = await branch.row(photo)
    assert row.attempts == 0 and row.handled_at is None

    await branch.session.execute(update(Media).where(Media.message_id == photo).values(status=MediaStatus.FAILED))
    await branch.session.commit()
    prepared = await context(engine, settings).prepare(Asked(branch.point, branch.conversation, (photo,)))
    assert prepared is not None and prepared.request.message_ids == (photo,)


async def test_the_sweep_does_not_answer_a_photo_before_its_file(
    engine: AsyncEngine, settings: Settings, branch: Branch, tmp_path: Path
) -> None:
    photo = await branch.says(MessageType.IMAGE, status=MediaStatus.PENDING)
    document = await branch.says(MessageType.DOCUMENT, status=MediaStatus.PENDING)  # not read: answered now
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    pipeline = InboundPipeline(sessions, Bot(settings, sessions), lambda: None, Metrics(), tmp_path / "journal")
    assert await pipeline.recovery.resume(older_than=None) == 2

    async def answered() -> bool:
        return await branch.bot_replies() == [CANNOT_OPEN]

    await eventually(answered, what="the document's answer")
    await pipeline.stop()
    assert (await branch.row(document)).handled_at is not None
    row = await branch.row(photo)
    assert row.handled_at is None and row.attempts == 0  # the downloader hands it back (`media_settled`)


async def test_unreadable_twice_in_a_row_through_the_stored_history(
    engine: AsyncEngine, settings: Settings, branch: Branch
) -> None:
    await branch.says(MessageType.DOCUMENT, status=MediaStatus.READY, data=b"%PDF-1.4 factura", handled=True)
    await branch.says(content=CANNOT_OPEN, sender=SenderType.BOT)
    sticker = await branch.says(MessageType.STICKER, status=MediaStatus.READY, data=b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    decision = await turn(engine, settings, Bot(settings, async_sessionmaker(engine)), branch, [sticker])
    assert decision.handoff_reason == REASON_UNREADABLE
    conversation = await branch.session.get(Conversation, branch.conversation, populate_existing=True)
    assert conversation is not None and conversation.status == ConversationStatus.HUMAN


async def test_a_voice_note_is_heard_answered_and_its_transcript_stored(
    engine: AsyncEngine, settings: Settings, branch: Branch, fake_openai: FakeOpenAI
) -> None:
    await branch.says(
        MessageType.AUDIO, status=MediaStatus.READY, data=b"OggS earlier", handled=True, transcript="hola, buenas"
    )
    await branch.says(content="¡Hola! ¿En qué te ayudo?", sender=SenderType.BOT)
    note = await branch.says(MessageType.AUDIO, status=MediaStatus.READY, data=VOICE_NOTE)
    words = "quiero saber dónde está mi paquete ABC123456"
    fake_openai.transcribe(transcription(words))
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]),
        completion("Tu envío ABC123456 está En tránsito."),
    )
    model_settings = with_model(settings, fake_openai)
    bot = Bot(model_settings, async_sessionmaker(engine), timeout=2.0, max_retries=0)
    published = Published()
    try:
        decision = await turn(engine, settings, bot, branch, [note], publisher=published)
    finally:
        await bot.close()

    assert decision.transcripts == {note: words}
    assert fake_openai.transcriptions[0].data == VOICE_NOTE
    sent = fake_openai.requests[0]
    assert sent.messages("user")[0]["content"] == "[Nota de voz] hola, buenas"  # the earlier one, from the database
    assert sent.asked == words
    assert await branch.bot_replies() == ["¡Hola! ¿En qué te ayudo?", "Tu envío ABC123456 está En tránsito."]
    stored_words = await branch.session.scalar(select(Media.transcript).where(Media.message_id == note))
    assert stored_words == words
    updated = [e for e in published.events if isinstance(e, MessageUpdated)]
    assert [(e.conversation_id, e.message_id) for e in updated] == [(branch.conversation, note)]
