"""Store first, whatever the rows hold and wherever the database is: stored, quarantined or journaled, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.outage import Outage
from ventanilla.db.models import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Media,
    MediaStatus,
    Message,
    MessageType,
    QuarantinedMessage,
    SenderType,
)
from ventanilla.pipeline.intake import Intake, IntakePolicy, Outcome
from ventanilla.pipeline.journal import Journal
from ventanilla.whatsapp.transport import ContactCard, InboundMessage, Location, MediaRef


def _message(provider_id: str, text: str = "hola", phone: str = "+593990000001") -> InboundMessage:
    return InboundMessage(provider_id, phone, text, datetime.now(UTC))


@pytest.fixture
async def intake(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Intake]:
    yield Intake(
        async_sessionmaker(engine, expire_on_commit=False),
        Journal(tmp_path / "journal"),
        IntakePolicy(retry_seconds=0.3, retry_first_delay=0.02, retry_max_delay=0.1),
    )


async def _stored(session: AsyncSession, point: UUID) -> dict[str, tuple[str, str]]:
    rows = await session.execute(
        select(Message.provider_message_id, Message.content, Message.conversation_id).where(
            Message.service_point_id == point
        )
    )
    return {pid: (content, str(conversation)) for pid, content, conversation in rows}


async def test_a_poison_row_in_a_batch_sinks_nothing_else(intake: Intake, world: World, session: AsyncSession) -> None:
    """Arriving together (one transaction), a NUL, a phone with a newline and an id the database refuses: the good
    messages are stored, the fixable ones cleaned and stored, the refused one quarantined with its reason."""
    arrivals = [
        _message("GOOD1"),
        _message("NUL", "a\x00b"),
        _message("NEWLINE", "hola", phone="+593423456780\n"),
        _message("X" * 300),  # longer than the column: refused by the database for its content
        _message("SURROGATE", "caf\ud800é"),
        _message("GOOD2", phone="+593990000002"),
    ]
    outcomes = await asyncio.gather(*(intake.store(world.point_a, m) for m in arrivals))
    assert [o.outcome for o in outcomes] == [Outcome.STORED] * 3 + [Outcome.QUARANTINED] + [Outcome.STORED] * 2
    stored = await _stored(session, world.point_a)
    assert set(stored) == {"GOOD1", "NUL", "NEWLINE", "SURROGATE", "GOOD2"}
    assert stored["NUL"][0] == "ab" and stored["SURROGATE"][0] == "caf\ufffdé"
    [quarantined] = (await session.scalars(select(QuarantinedMessage))).all()
    assert quarantined.service_point_id == world.point_a and quarantined.provider_message_id == "X" * 256
    assert "22001" in quarantined.reason  # string data right truncation, named by its SQLSTATE
    assert '"text":"hola"' in quarantined.payload


async def test_a_phone_that_is_not_a_phone_is_quarantined_not_dropped(
    intake: Intake, world: World, session: AsyncSession
) -> None:
    arrival = await intake.store(world.point_a, _message("BADPHONE", phone="+59342345678O"))
    assert arrival.outcome is Outcome.QUARANTINED
    [row] = (await session.scalars(select(QuarantinedMessage))).all()
    assert "E.164" in row.reason and "+59342345678O" in row.payload
    assert await intake.store(world.point_a, _message("BADPHONE", phone="+59342345678O"))  # a redelivery: kept once
    assert len((await session.scalars(select(QuarantinedMessage))).all()) == 1


async def test_a_redelivery_is_recognised(intake: Intake, world: World) -> None:
    assert (await intake.store(world.point_a, _message("ONCE"))).outcome is Outcome.STORED
    twins = await asyncio.gather(*(intake.store(world.point_a, _message("ONCE")) for _ in range(5)))
    assert {t.outcome for t in twins} == {Outcome.REDELIVERY}


async def test_while_the_database_refuses_connections_messages_go_to_the_journal_on_disk(
    intake: Intake, world: World, outage: Outage, tmp_path: Path, session: AsyncSession
) -> None:
    await session.close()
    async with outage.refusing():
        arrivals = await asyncio.gather(*(intake.store(world.point_a, _message(f"J{i}", f"m{i}")) for i in range(5)))
        assert {a.outcome for a in arrivals} == {Outcome.JOURNALED}
        # later arrivals queue behind the journal at once, without waiting for the database again
        assert (await intake.store(world.point_b, _message("LATER"))).outcome is Outcome.JOURNALED
        on_disk = b"".join(path.read_bytes() for path in sorted((tmp_path / "journal").iterdir()))
        assert on_disk.count(b"\n") == 6 and b'"id":"J3"' in on_disk
    # a new process (the same directory) finds them, stores them in order, and only then deletes the files
    journal = Journal(tmp_path / "journal")
    assert journal.active and journal.pending == 6
    replaying = Intake(intake.sessions, journal)
    for segment in await journal.seal():
        entries = list(journal.read(segment))
        assert [e.id for e in entries] == ["J0", "J1", "J2", "J3", "J4", "LATER"]
        results = [await replaying.store(e.point, e.message(), replaying=True) for e in entries]
        assert {r.outcome for r in results} == {Outcome.STORED}
        await journal.forget(segment, len(entries))
    assert not journal.active and not list((tmp_path / "journal").iterdir())
    assert (await replaying.store(world.point_a, _message("J0", "m0"), replaying=True)).outcome is Outcome.REDELIVERY


async def test_a_torn_last_line_is_skipped(tmp_path: Path, world: World) -> None:
    journal = Journal(tmp_path / "journal")
    await journal.append(world.point_a, _message("KEPT"))
    [segment] = await journal.seal()
    with segment.open("ab") as handle:
        handle.write(b'{"point":"' + str(world.point_a).encode() + b'","id":"TOR')  # kill -9 mid-write
    assert [e.id for e in Journal(tmp_path / "journal").read(segment)] == ["KEPT"]


async def test_a_journaled_photo_keeps_everything_it_carried(tmp_path: Path, world: World) -> None:
    """A media message written to the journal (the database away) comes back whole: its file handle (bytes), reply,
    location and card; lines written before these fields existed still read."""
    photo = replace(
        _message("PHOTO", ""),
        type="image",
        media=MediaRef(b"\x00\xffhandle", "image/jpeg", "label.jpg", 1234, voice=False),
        reply_to="3EB0QUOTED",
    )
    place = replace(_message("PLACE", "Sucursal"), type="location", location=Location(-0.18, -78.47, "Sucursal", None))
    card = replace(_message("CARD", ""), type="contact", contact=ContactCard("Ana", ("+593991234567",)))
    journal = Journal(tmp_path / "journal")
    for message in (photo, place, card):
        await journal.append(world.point_a, message)
    [segment] = await journal.seal()
    with segment.open("ab") as handle:  # a line of the earlier format, with only the text fields
        old = '{"point":"%s","id":"OLD","phone":"+593990000001","text":"hola","at":"2026-11-01T10:00:00Z"}\n'
        handle.write((old % world.point_a).encode())
    read = [entry.message() for entry in Journal(tmp_path / "journal").read(segment)]
    assert read[:3] == [photo, place, card]
    assert read[3].type == "text" and read[3].media is None and read[3].text == "hola"


async def test_a_photo_is_stored_with_its_file_pending_and_its_reply(
    intake: Intake, world: World, session: AsyncSession
) -> None:
    photo = replace(
        _message("PHOTO", "caja\x00 rota"),
        type="image",
        media=MediaRef(b"handle", "image/jpeg", "fo\x00to.jpg", 99),
        reply_to="3EB0QUOTED",
    )
    arrival = await intake.store(world.point_a, photo)
    assert arrival.outcome is Outcome.STORED and arrival.stored and arrival.stored.awaiting_media
    message = await session.scalar(select(Message).where(Message.provider_message_id == "PHOTO"))
    assert message and message.type is MessageType.IMAGE and message.content == "caja rota"
    assert message.reply_to == "3EB0QUOTED" and message.handled_at is None
    media = await session.scalar(select(Media).where(Media.message_id == message.id))
    assert media and media.status is MediaStatus.PENDING and media.source == b"handle"
    assert media.file_name == "foto.jpg" and media.mime_type == "image/jpeg" and media.next_attempt_at is not None


async def test_a_message_from_the_branch_phone_takes_the_conversation(
    intake: Intake, world: World, session: AsyncSession
) -> None:
    await intake.store(world.point_a, _message("CUSTOMER1"))
    staff = replace(_message("STAFF1", "Hola, le escribo de la sucursal"), from_phone=True)
    arrival = await intake.store(world.point_a, staff)
    assert arrival.stored and arrival.stored.conversation_status is ConversationStatus.HUMAN
    row = await session.scalar(select(Message).where(Message.provider_message_id == "STAFF1"))
    assert row and row.direction is Direction.OUT and row.sender_type is SenderType.AGENT and row.sent_from_phone
    assert row.delivery_status is DeliveryStatus.SENT and row.sent_at is not None
    conversation = await session.get(Conversation, row.conversation_id)
    assert conversation and conversation.status is ConversationStatus.HUMAN
    [event] = (await session.scalars(select(ConversationEvent))).all()
    assert event.kind is ConversationEventKind.TAKEN_FROM_PHONE and event.to_status is ConversationStatus.HUMAN
    # a redelivery of it, or a second message from the phone, changes nothing more
    assert (await intake.store(world.point_a, staff)).outcome is Outcome.REDELIVERY
    await intake.store(world.point_a, replace(staff, provider_message_id="STAFF2"))
    assert len((await session.scalars(select(ConversationEvent))).all()) == 1
