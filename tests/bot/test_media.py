"""Photos, voice notes and files at the Bot: the offline engine reads labels with OCR, the model gets photos as
image inputs and voice notes as transcripts, and what nobody reads asks for text, then goes to a person.

Statuses only ever come from the database through `consultar_guia`, whatever a photo or the model says.
"""

from __future__ import annotations

import base64
import io
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.bot.conftest import BotWorld, bot_request, media_request
from tests.bot.media import VOICE_NOTE, card, claimed_png, label_png, needs_ocr, photo, png, text_png, voice
from tests.fakes.openai_server import FakeOpenAI, completion, error, tool_call, transcription
from ventanilla.bot import Bot, BotDecision, Turn, ocr
from ventanilla.bot.attachments import REASON_UNREADABLE
from ventanilla.bot.decision import Attachment
from ventanilla.bot.images import MODEL_MAX_SIDE
from ventanilla.bot.replies import (
    CANNOT_OPEN,
    HANDOFF,
    LOCATION,
    PHOTO_UNREADABLE,
    PHOTO_WITHOUT_NUMBER,
    VOICE_NOT_UNDERSTOOD,
)
from ventanilla.bot.replies import (
    VOICE_NOTE as ASK_VOICE_NOTE,
)
from ventanilla.config import Settings
from ventanilla.db.models import MessageType, SenderType

CUSTOMER, BOT = SenderType.CUSTOMER, SenderType.BOT
IN_TRANSIT = "Tu envío ABC123456 está: *En tránsito*."
DELIVERED = "Tu envío GYE200001 está: *Entregado*."


def tracked(decision: BotDecision) -> list[tuple[str, str, str]]:
    return [(c.tool, c.arguments.get("trackingNumber", ""), c.outcome) for c in decision.tool_calls]


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


# The offline engine: OCR on the label, the tracking number looked up in the database.


@needs_ocr
async def test_offline_reads_the_number_on_a_label_and_answers_from_the_database(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path
) -> None:
    decision = await offline_bot.decide(media_request(bot_world.point_a, [photo(media_dir, label_png("ABC123456"))]))
    assert decision.reply.startswith(IN_TRANSIT) and decision.handoff_reason is None
    assert tracked(decision) == [("consultar_guia", "ABC123456", "ok")]
    assert decision.engine == "offline" and decision.model_calls == 0


@needs_ocr
async def test_a_label_of_another_branch_and_its_other_codes(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path
) -> None:
    """Numbers are company-wide; a phone number or a reference printed on the label is not answered."""
    label = label_png("GYE200001", extra=["Tel 0991234567", "Ref: PQR77777"])
    decision = await offline_bot.decide(media_request(bot_world.point_a, [photo(media_dir, label)]))
    assert decision.reply.startswith(DELIVERED) and "PQR" not in decision.reply
    assert ("consultar_guia", "GYE200001", "ok") in tracked(decision)
    assert all(number != "TEL0991234567" for _, number, _ in tracked(decision))


@needs_ocr
async def test_a_label_whose_number_does_not_exist(offline_bot: Bot, bot_world: BotWorld, media_dir: Path) -> None:
    decision = await offline_bot.decide(media_request(bot_world.point_a, [photo(media_dir, label_png("XYZ987654"))]))
    assert "No encontré ninguna guía con el número XYZ987654" in decision.reply
    assert tracked(decision) == [("consultar_guia", "XYZ987654", "not_found")]


async def test_a_caption_with_the_number_wins_over_the_photo(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path
) -> None:
    request = media_request(bot_world.point_a, [photo(media_dir, label_png("XYZ987654"))], text="mi guía GYE200001")
    decision = await offline_bot.decide(request)
    assert decision.reply.startswith(DELIVERED) and tracked(decision) == [("consultar_guia", "GYE200001", "ok")]


async def test_a_photo_without_a_number_asks_for_it(offline_bot: Bot, bot_world: BotWorld, media_dir: Path) -> None:
    decision = await offline_bot.decide(media_request(bot_world.point_a, [photo(media_dir, text_png("Hola amigos"))]))
    assert decision.reply == PHOTO_WITHOUT_NUMBER and decision.handoff_reason is None
    assert decision.tool_calls == ()


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff\xe0 not really a jpeg", claimed_png(9000, 9000)],
    ids=["corrupt", "too-many-pixels"],
)
async def test_a_photo_that_cannot_be_decoded_asks_for_the_number(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path, data: bytes
) -> None:
    decision = await offline_bot.decide(media_request(bot_world.point_a, [photo(media_dir, data)]))
    assert decision.reply == PHOTO_WITHOUT_NUMBER and decision.handoff_reason is None


async def test_a_photo_whose_file_is_missing(offline_bot: Bot, bot_world: BotWorld) -> None:
    """Failed or expired download: no path, nothing to read."""
    missing = Attachment(uuid.uuid4(), MessageType.IMAGE, "image/jpeg", None)
    decision = await offline_bot.decide(media_request(bot_world.point_a, [missing]))
    assert decision.reply == PHOTO_WITHOUT_NUMBER


@pytest.mark.parametrize(
    ("attachment", "reply"),
    [
        (card(MessageType.DOCUMENT), CANNOT_OPEN),
        (card(MessageType.STICKER), CANNOT_OPEN),
        (card(MessageType.VIDEO), CANNOT_OPEN),
        (card(MessageType.CONTACT), CANNOT_OPEN),
        (card(MessageType.UNSUPPORTED), CANNOT_OPEN),
        (card(MessageType.LOCATION), LOCATION),
        (Attachment(uuid.uuid4(), MessageType.AUDIO, "audio/ogg", None, voice=True), ASK_VOICE_NOTE),
    ],
    ids=["document", "sticker", "video", "contact", "unsupported", "location", "voice"],
)
async def test_offline_asks_for_text_for_what_it_cannot_read(
    offline_bot: Bot, bot_world: BotWorld, attachment: Attachment, reply: str
) -> None:
    decision = await offline_bot.decide(media_request(bot_world.point_a, [attachment]))
    assert decision.reply == reply and decision.handoff_reason is None and decision.tool_calls == ()


async def test_a_second_unreadable_message_in_a_row_goes_to_a_person(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path
) -> None:
    history = [Turn(CUSTOMER, "", MessageType.IMAGE), Turn(BOT, PHOTO_WITHOUT_NUMBER)]
    decision = await offline_bot.decide(
        media_request(bot_world.point_a, [photo(media_dir, text_png("Hola amigos"))], history=history)
    )
    assert decision.reply == HANDOFF and decision.handoff_reason == REASON_UNREADABLE
    voice_after_document = [Turn(CUSTOMER, "", MessageType.DOCUMENT), Turn(BOT, CANNOT_OPEN)]
    decision = await offline_bot.decide(
        media_request(bot_world.point_a, [voice(media_dir)], history=voice_after_document)
    )
    assert decision.handoff_reason == REASON_UNREADABLE


async def test_not_in_a_row_after_the_customer_wrote(offline_bot: Bot, bot_world: BotWorld) -> None:
    """A written message in between was answered: the next unreadable one asks for text again."""
    history = [
        Turn(CUSTOMER, "", MessageType.STICKER),
        Turn(BOT, CANNOT_OPEN),
        Turn(CUSTOMER, "¿a qué hora abren?"),
        Turn(BOT, "Punto A atiende de lunes a viernes de 08:00 a 18:00."),
    ]
    decision = await offline_bot.decide(media_request(bot_world.point_a, [card(MessageType.STICKER)], history=history))
    assert decision.reply == CANNOT_OPEN and decision.handoff_reason is None


@needs_ocr
async def test_a_label_after_an_unreadable_photo_is_still_read(
    offline_bot: Bot, bot_world: BotWorld, media_dir: Path
) -> None:
    history = [Turn(CUSTOMER, "", MessageType.IMAGE), Turn(BOT, PHOTO_WITHOUT_NUMBER)]
    request = media_request(bot_world.point_a, [photo(media_dir, label_png("ABC123456"))], history=history)
    decision = await offline_bot.decide(request)
    assert decision.reply.startswith(IN_TRANSIT) and decision.handoff_reason is None


async def test_without_the_ocr_extra_a_photo_is_unreadable_and_said_once(
    offline_bot: Bot,
    bot_world: BotWorld,
    media_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(ocr, "_shared", ocr._Shared())
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # import fails as if not installed
    caplog.set_level(logging.WARNING, logger="ventanilla.bot.ocr")
    for _ in range(2):
        decision = await offline_bot.decide(
            media_request(bot_world.point_a, [photo(media_dir, label_png("ABC123456"))])
        )
        assert decision.reply == PHOTO_WITHOUT_NUMBER and decision.tool_calls == ()
    assert sum(r.getMessage().startswith(ocr.UNAVAILABLE) for r in caplog.records) == 1


# The OpenAI engine: image inputs, transcripts, no call for what it cannot read.

TIMEOUT = 2.0


@pytest.fixture
async def model_bot(openai_settings: Settings, bot_engine: AsyncEngine) -> AsyncIterator[Bot]:
    bot = Bot(openai_settings, async_sessionmaker(bot_engine), timeout=TIMEOUT, max_retries=1)
    yield bot
    await bot.close()


def data_url_bytes(url: str) -> tuple[str, bytes]:
    header, encoded = url.split(",", 1)
    assert header.startswith("data:") and header.endswith(";base64")
    return header[5:-7], base64.b64decode(encoded)


async def test_a_photo_goes_to_the_model_as_a_data_url_and_the_tool_decides_the_status(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    label = label_png("ABC123456")
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"}, "call_1")]),
        completion("Tu envío ABC123456 ya fue Entregado."),  # the model contradicts the tool: replaced
    )
    decision = await model_bot.decide(media_request(bot_world.point_a, [photo(media_dir, label)]))

    first = fake_openai.requests[0]
    [url] = first.images
    assert data_url_bytes(url) == ("image/png", label)
    assert first.asked == "[Foto sin texto]"
    assert "foto" in first.messages("system")[0]["content"].lower()
    assert decision.engine == "openai" and decision.model_calls == 2
    assert tracked(decision) == [("consultar_guia", "ABC123456", "ok")]
    assert decision.reply.startswith(IN_TRANSIT) and "Entregado" not in decision.reply


async def test_a_photo_with_a_caption_and_the_models_own_answer(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    answer = "Tu envío ABC123456 está En tránsito hacia Guayaquil."
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]), completion(answer)
    )
    request = media_request(bot_world.point_a, [photo(media_dir, label_png("ABC123456"))], text="¿dónde está?")
    decision = await model_bot.decide(request)
    assert decision.reply == answer
    assert fake_openai.requests[0].asked == "¿dónde está?" and len(fake_openai.requests[0].images) == 1


async def test_a_large_photo_is_scaled_down_to_a_jpeg(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    large = png(Image.new("RGB", (2600, 1000), "white"), "BMP")  # not a type the model takes, and large
    fake_openai.script(completion("¿Me escribes el número de guía?"))
    await model_bot.decide(media_request(bot_world.point_a, [photo(media_dir, large)]))
    mime_type, data = data_url_bytes(fake_openai.requests[0].images[0])
    with Image.open(io.BytesIO(data)) as sent:
        assert mime_type == "image/jpeg" and sent.format == "JPEG" and max(sent.size) == MODEL_MAX_SIDE


async def test_a_photo_that_cannot_be_read_costs_no_call(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    decision = await model_bot.decide(media_request(bot_world.point_a, [photo(media_dir, b"GIF89a broken")]))
    assert decision.reply == PHOTO_UNREADABLE and decision.model_calls == 0 and fake_openai.requests == []


async def test_a_voice_note_is_transcribed_and_answered_like_text(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    note = voice(media_dir)
    words = "Hola, quería saber dónde está mi paquete ABC123456"
    fake_openai.transcribe(transcription(words))
    fake_openai.script(
        completion(tool_calls=[tool_call("consultar_guia", {"trackingNumber": "ABC123456"})]),
        completion("Tu envío ABC123456 está En tránsito."),
    )
    decision = await model_bot.decide(media_request(bot_world.point_a, [note]))

    [upload] = fake_openai.transcriptions
    assert upload.data == VOICE_NOTE and upload.file_name.endswith(".ogg")
    assert upload.fields["model"] == "gpt-4o-mini-transcribe" and upload.fields["language"] == "es"
    assert fake_openai.requests[0].asked == words and fake_openai.requests[0].images == []
    assert decision.transcripts == {note.message_id: words}
    assert decision.reply == "Tu envío ABC123456 está En tránsito." and decision.model_calls == 3


async def test_a_silent_voice_note_asks_for_text_without_a_chat_call(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    fake_openai.transcribe(transcription("  "))
    decision = await model_bot.decide(media_request(bot_world.point_a, [voice(media_dir)]))
    assert decision.reply == VOICE_NOT_UNDERSTOOD and decision.transcripts == {}
    assert fake_openai.requests == [] and decision.model_calls == 1


async def test_a_transcription_failure_falls_back_to_the_offline_engine(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    fake_openai.transcribe(error(500), error(500))  # the SDK's one retry too
    decision = await model_bot.decide(media_request(bot_world.point_a, [voice(media_dir)]))
    assert decision.engine == "offline" and decision.fallback_reason == "api_status_500"
    assert decision.reply == ASK_VOICE_NOTE and decision.transcripts == {}
    assert len(fake_openai.transcriptions) == 2 and fake_openai.requests == []


async def test_a_model_failure_after_the_transcript_answers_its_words_offline(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld, media_dir: Path
) -> None:
    note = voice(media_dir)
    fake_openai.transcribe(transcription("mi guía es GYE200001"))
    fake_openai.script(error(503), error(503))
    decision = await model_bot.decide(media_request(bot_world.point_a, [note]))
    assert decision.engine == "offline" and decision.fallback_reason == "api_status_503"
    assert decision.reply.startswith(DELIVERED)
    assert decision.transcripts == {note.message_id: "mi guía es GYE200001"}


async def test_what_the_model_cannot_see_costs_no_call_and_twice_goes_to_a_person(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    decision = await model_bot.decide(media_request(bot_world.point_a, [card(MessageType.DOCUMENT)]))
    assert decision.reply == CANNOT_OPEN and decision.engine == "openai" and decision.model_calls == 0
    history = [Turn(CUSTOMER, "", MessageType.DOCUMENT), Turn(BOT, CANNOT_OPEN)]
    decision = await model_bot.decide(media_request(bot_world.point_a, [card(MessageType.STICKER)], history=history))
    assert decision.handoff_reason == REASON_UNREADABLE
    assert fake_openai.requests == []


async def test_files_in_the_history_and_beside_the_text_are_named_for_the_model(
    model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld
) -> None:
    fake_openai.script(completion("Claro, ¿me escribes tu número de guía?"))
    history = [Turn(CUSTOMER, "mi guía ABC123456", MessageType.AUDIO), Turn(BOT, "Tu envío está En tránsito.")]
    request = media_request(
        bot_world.point_a, [card(MessageType.DOCUMENT)], text="te mando la factura", history=history
    )
    await model_bot.decide(request)
    sent = fake_openai.requests[0]
    assert sent.messages("user")[0]["content"] == "[Nota de voz] mi guía ABC123456"
    assert sent.asked.startswith("[Documento] (no puedes abrirlo") and sent.asked.endswith("te mando la factura")


async def test_text_turns_are_sent_as_before(model_bot: Bot, fake_openai: FakeOpenAI, bot_world: BotWorld) -> None:
    fake_openai.script(completion("¡Hola!"))
    await model_bot.decide(bot_request(bot_world.point_a, "hola"))
    assert fake_openai.requests[0].messages("user")[-1]["content"] == "hola"
