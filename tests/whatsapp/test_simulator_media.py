"""The simulator's files, replies, reactions and phone-sent messages, end to end over HTTP on real PostgreSQL: what a
customer's phone sends is stored as WhatsApp would deliver it, and what the point sends reaches the phone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import World
from tests.flow import CUSTOMER, fast_app, received, say, wait_phone
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings, load_settings
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
    SenderType,
    SimulatorMedia,
)
from ventanilla.whatsapp.simulator import SimulatorTransport
from ventanilla.whatsapp.transport import MediaRef, OutgoingMedia, TransportError

Client = AsyncTestClient[Litestar]
PHOTO = b"\xff\xd8\xff\xe0" + b"una foto de la guia" * 10  # what the customer's phone uploads (declared image/jpeg)
T = TypeVar("T")
QUIET_SECONDS = 0.8  # the offline bot answers within a few hundred milliseconds: longer than that, it is not coming


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


@pytest.fixture
async def files_stay_pending(client: Client, app: Litestar) -> None:
    """The app's downloader takes no file (it has tests of its own): files stay as the network declared them.
    Stopping it from the test instead waited out its 5 s drain each time: the test client runs the app (and the
    downloader's loop) in a thread of its own, so the stop's wake-up never reached it."""
    downloads = app.state["media_downloads"]
    downloads.policy = replace(downloads.policy, concurrency=0)


async def _in_app(client: Client, call: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`call` on the app's event loop: the test client runs the app in a thread of its own, and the simulator's
    database connections belong to that loop."""
    return await asyncio.to_thread(client.blocking_portal.call, call, *args)


def _url(point: UUID, tail: str) -> str:
    return f"/api/service-points/{point}/simulator/{tail}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _inbound(client: Client, world: World, body: dict, point: UUID | None = None) -> str:
    response = await client.post(_url(point or world.point_a, "inbound"), json=body, headers=world.admin.headers)
    assert response.status_code == 202, response.text
    return response.json()["messageId"]


async def _message(session: AsyncSession, provider_id: str) -> Message:
    session.expire_all()
    message = await session.scalar(select(Message).where(Message.provider_message_id == provider_id))
    assert message is not None, provider_id
    return message


async def _count(session: AsyncSession, model: type) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.usefixtures("files_stay_pending")
async def test_a_photo_arrives_as_an_image_with_a_pending_file_the_socket_can_download(
    client: Client, linked: World, session: AsyncSession, app: Litestar
) -> None:
    media = {"mimeType": "image/jpeg", "fileName": "guia.jpg", "dataBase64": _b64(PHOTO)}
    provider_id = await _inbound(client, linked, {"from": CUSTOMER, "text": "mi guía", "media": media})

    message = await _message(session, provider_id)
    assert (message.type, message.content, message.direction) == (MessageType.IMAGE, "mi guía", Direction.IN)
    file = await session.scalar(select(Media).where(Media.message_id == message.id))
    assert file is not None and file.status is MediaStatus.PENDING
    assert (file.mime_type, file.file_name, file.size, file.voice) == ("image/jpeg", "guia.jpg", len(PHOTO), False)

    digest = hashlib.sha256(PHOTO).hexdigest()
    assert file.source == digest.encode()  # the handle names the file on the simulated media server
    stored = await session.get(SimulatorMedia, digest)
    assert stored is not None and stored.data == PHOTO  # on the simulated media server

    download = app.state.simulator.socket(linked.point_a).download  # the point's socket, as the downloader uses it
    ref = MediaRef(handle=file.source, mime_type=file.mime_type, file_name=file.file_name, size=file.size)
    assert await _in_app(client, download, ref, len(PHOTO)) == PHOTO
    with pytest.raises(TransportError) as larger:
        await _in_app(client, download, ref, len(PHOTO) - 1)
    assert larger.value.permanent
    with pytest.raises(TransportError) as unknown:
        await _in_app(client, download, MediaRef(handle=b"../../jwt_secret"), 1024)
    assert unknown.value.permanent
    await session.delete(stored)  # the media server forgot it
    await session.commit()
    with pytest.raises(TransportError) as expired:
        await _in_app(client, download, ref, len(PHOTO))
    assert expired.value.permanent and "expired" in str(expired.value)


@pytest.mark.usefixtures("files_stay_pending")
async def test_the_type_follows_the_declared_file(client: Client, linked: World, session: AsyncSession) -> None:
    cases = [
        ({"mimeType": "audio/ogg; codecs=opus"}, {"voice": True}, MessageType.AUDIO, True),
        ({"mimeType": "audio/mpeg", "fileName": "cancion.mp3"}, {}, MessageType.AUDIO, False),
        ({"mimeType": "video/mp4"}, {}, MessageType.VIDEO, False),
        ({"mimeType": "image/webp"}, {"sticker": True}, MessageType.STICKER, False),
        ({"mimeType": "image/webp"}, {}, MessageType.IMAGE, False),
        ({"mimeType": "application/pdf", "fileName": "factura.pdf"}, {}, MessageType.DOCUMENT, False),
        ({"mimeType": "text/plain"}, {}, MessageType.DOCUMENT, False),
    ]
    for index, (declared, flags, kind, voice) in enumerate(cases):
        data = f"archivo {index}".encode()
        body = {"from": CUSTOMER, "media": declared | {"dataBase64": _b64(data)}} | flags
        message = await _message(session, await _inbound(client, linked, body))
        assert (message.type, message.content) == (kind, ""), declared  # no caption: empty text
        file = await session.scalar(select(Media).where(Media.message_id == message.id))
        assert file is not None and (file.mime_type, file.voice) == (declared["mimeType"], voice)


async def test_a_location_and_a_reply_are_stored_as_sent(client: Client, linked: World, session: AsyncSession) -> None:
    first = await say(client, linked, linked.point_a, "hola")
    place = {"latitude": -0.1807, "longitude": -78.4678, "name": "Oficina", "address": "Av. Amazonas"}
    located = await _message(session, await _inbound(client, linked, {"from": CUSTOMER, "location": place}))
    assert located.type is MessageType.LOCATION and located.content == ""
    assert located.details == place

    reply = await _inbound(client, linked, {"from": CUSTOMER, "text": "esto", "replyTo": first})
    assert (await _message(session, reply)).reply_to == first
    batch = await client.post(
        _url(linked.point_a, "inbound/batch"),
        json=[
            {"from": CUSTOMER, "text": "y esto", "replyTo": first},
            {"from": CUSTOMER, "media": {"mimeType": "image/png", "dataBase64": _b64(b"png")}, "replyTo": reply},
        ],
        headers=linked.admin.headers,
    )
    assert batch.status_code == 202, batch.text
    texted, photo = batch.json()["messageIds"]
    assert (await _message(session, texted)).reply_to == first
    photo_message = await _message(session, photo)
    assert (photo_message.reply_to, photo_message.type) == (reply, MessageType.IMAGE)


async def test_a_reaction_marks_our_message_and_wakes_nobody(
    client: Client, linked: World, session: AsyncSession
) -> None:
    await say(client, linked, linked.point_a, "hola")
    await wait_phone(client, linked, linked.point_a, 1)
    [ours] = await received(client, linked, linked.point_a)
    messages = await _count(session, Message)

    async def reaction_is(emoji: str | None) -> bool:
        return (await _message(session, ours["messageId"])).reaction == emoji

    reaction = {"messageId": ours["messageId"], "emoji": "👍"}
    reaction_id = await _inbound(client, linked, {"from": CUSTOMER, "reaction": reaction})
    await eventually(lambda: reaction_is("👍"), what="the reaction on our message")
    await _inbound(client, linked, {"from": CUSTOMER, "reaction": reaction | {"emoji": ""}})
    await eventually(lambda: reaction_is(None), what="the reaction taken off")

    await asyncio.sleep(QUIET_SECONDS)
    assert await _count(session, Message) == messages  # not a message
    assert await session.scalar(select(Message).where(Message.provider_message_id == reaction_id)) is None
    assert len(await received(client, linked, linked.point_a)) == 1  # and the bot said nothing


async def test_a_message_written_on_the_phone_takes_the_conversation_from_the_bot(
    client: Client, linked: World, session: AsyncSession
) -> None:
    response = await client.post(
        _url(linked.point_a, "phone-send"),
        json={"to": CUSTOMER, "text": "Buenas, le escribo desde la sucursal"},
        headers=linked.agent_a.headers,
    )
    assert response.status_code == 202, response.text
    provider_id = response.json()["messageId"]

    message = await _message(session, provider_id)
    assert (message.direction, message.sender_type, message.sent_from_phone) == (Direction.OUT, SenderType.AGENT, True)
    assert message.delivery_status is DeliveryStatus.SENT and message.content == "Buenas, le escribo desde la sucursal"
    conversation = await session.get(Conversation, message.conversation_id)
    assert conversation is not None and conversation.status is ConversationStatus.HUMAN
    kinds = await session.scalars(
        select(ConversationEvent.kind).where(ConversationEvent.conversation_id == conversation.id)
    )
    assert ConversationEventKind.TAKEN_FROM_PHONE in set(kinds)
    [on_phone] = await received(client, linked, linked.point_a)
    assert on_phone["messageId"] == provider_id and on_phone["fromPhone"] is True and on_phone["media"] is None

    later = await say(client, linked, linked.point_a, "¿cuál es el horario?")
    assert (await _message(session, later)).handled_at is not None  # no bot turn owed
    await asyncio.sleep(QUIET_SECONDS)
    assert len(await received(client, linked, linked.point_a)) == 1  # the bot did not answer


async def test_phone_send_needs_a_connected_point_of_the_caller(client: Client, linked: World) -> None:
    body = {"to": CUSTOMER, "text": "hola"}
    other = await client.post(_url(linked.point_a, "phone-send"), json=body, headers=linked.agent_b.headers)
    assert other.status_code == 404
    unknown = await client.post(_url(uuid4(), "phone-send"), json=body, headers=linked.admin.headers)
    assert unknown.status_code == 404
    for bad in ({"to": "12345", "text": "hola"}, {"to": CUSTOMER}, {"to": CUSTOMER, "text": ""}):
        response = await client.post(_url(linked.point_a, "phone-send"), json=bad, headers=linked.admin.headers)
        assert response.status_code == 400, bad
    dropped = await client.post(
        _url(linked.point_a, "disconnect"), json={"reason": "logged_out"}, headers=linked.admin.headers
    )
    assert dropped.status_code == 201, dropped.text

    async def closed() -> bool:
        response = await client.post(_url(linked.point_a, "phone-send"), json=body, headers=linked.admin.headers)
        return response.status_code == 409

    await eventually(closed, what="409 once the point is not connected")


async def test_a_file_sent_by_the_point_reaches_the_phone_once(
    client: Client, linked: World, app: Litestar, session: AsyncSession
) -> None:
    socket = app.state.simulator.socket(linked.point_a)  # the point's socket, as the delivery worker uses it
    data = b"%PDF-1.4 guia de remision"
    media = OutgoingMedia(type="document", data=data, mime_type="application/pdf", file_name="guia.pdf")
    for _ in range(2):  # then a resend
        assert await _in_app(client, socket.send_media, CUSTOMER, media, "su guía", "3EB0FILE") == "3EB0FILE"
    await _in_app(client, socket.send_text, CUSTOMER, "gracias", "3EB0TEXT")

    file, text = await received(client, linked, linked.point_a)
    digest = hashlib.sha256(data).hexdigest()
    assert (file["to"], file["text"], file["messageId"], file["fromPhone"]) == (CUSTOMER, "su guía", "3EB0FILE", False)
    assert file["media"] == {"mimeType": "application/pdf", "fileName": "guia.pdf", "size": len(data), "sha256": digest}
    assert text["media"] is None and text["text"] == "gracias"
    stored = await session.get(SimulatorMedia, digest)
    assert stored is not None and stored.data == data  # as the phone received it
    receipt = await client.post(
        _url(linked.point_a, "receipt"), json={"messageId": "3EB0FILE", "status": "READ"}, headers=linked.admin.headers
    )
    assert receipt.status_code == 202


async def test_every_bad_item_is_refused_naming_its_field(client: Client, linked: World, session: AsyncSession) -> None:
    photo = {"mimeType": "image/jpeg", "dataBase64": _b64(PHOTO)}
    reaction = {"messageId": "3EB0ABC", "emoji": "👍"}
    place = {"latitude": 1.0, "longitude": 2.0}
    sender = {"from": CUSTOMER}
    cases = [
        (sender | {"media": photo | {"dataBase64": "no es base64!"}}, "media.dataBase64"),
        (sender | {"media": photo | {"dataBase64": "aGk"}}, "media.dataBase64"),  # unpadded
        (sender | {"media": photo | {"dataBase64": ""}}, "media.dataBase64"),
        (sender | {"media": photo | {"mimeType": "jpeg"}}, "media.mimeType"),
        (sender | {"media": photo | {"mimeType": "image/jpeg\n"}}, "media.mimeType"),
        (sender | {"media": {"dataBase64": _b64(PHOTO)}}, "media.mimeType"),
        (sender | {"media": photo | {"size": 3}}, "media.size"),
        (sender | {"media": photo | {"fileName": ""}}, "media.fileName"),
        (sender | {"text": "hola", "reaction": reaction}, "text"),
        (sender | {"media": photo, "reaction": reaction}, "media"),
        (sender | {"reaction": reaction, "replyTo": "3EB0ABC"}, "replyTo"),
        (sender | {"reaction": {"emoji": "👍"}}, "reaction.messageId"),
        (sender | {"reaction": {"messageId": "3EB0ABC", "emoji": "x" * 33}}, "reaction.emoji"),
        (sender, "text"),
        (sender | {"replyTo": "3EB0ABC"}, "text"),
        (sender | {"location": place, "text": "aquí"}, "text"),
        (sender | {"location": place, "media": photo}, "location"),
        (sender | {"location": {"latitude": 91.0, "longitude": 0.0}}, "location.latitude"),
        (sender | {"location": {"latitude": 0.0}}, "location.longitude"),
        (sender | {"text": "hola", "voice": True}, "voice"),
        (sender | {"media": photo, "voice": True}, "voice"),
        (sender | {"media": photo, "sticker": True}, "sticker"),
        (sender | {"text": "hola", "voice": "yes"}, "voice"),
        (sender | {"text": "hola", "replyTo": "no\nid"}, "replyTo"),
    ]
    before = await _count(session, Message)
    for body, key in cases:
        for url, sent, prefix in (
            (_url(linked.point_a, "inbound"), body, ""),
            (_url(linked.point_a, "inbound/batch"), [sender | {"text": "bien"}, body], "[1]."),
        ):
            response = await client.post(url, json=sent, headers=linked.admin.headers)
            assert response.status_code == 400, (body, response.text)
            keys = [error.get("key") for error in response.json()["extra"]]
            assert f"{prefix}{key}" in keys, (body, keys)
    assert await _count(session, Message) == before  # a batch with one bad item is refused whole


async def test_a_file_over_the_media_limit_is_413(client: Client, world: World, settings: Settings) -> None:
    limited = load_settings(
        {
            "DATABASE_URL": settings.require_database_url(),
            "VENTANILLA_DATA_DIR": str(settings.data_dir),
            "AUTH_SESSIONS_DIR": str(settings.auth_sessions_dir),
            "WHATSAPP_TRANSPORT": "simulator",
            "JWT_SECRET": settings.jwt_secret,
            "MEDIA_MAX_BYTES": "1000",
        },
        env_file=None,
    )
    from tests.flow import link

    async with AsyncTestClient(fast_app(settings, settings_override=limited)) as small:
        await link(small, world, world.point_a)
        fits = {"from": CUSTOMER, "media": {"mimeType": "image/png", "dataBase64": _b64(b"x" * 1000)}}
        assert (
            await small.post(_url(world.point_a, "inbound"), json=fits, headers=world.admin.headers)
        ).status_code == 202
        too_big = {"from": CUSTOMER, "media": {"mimeType": "image/png", "dataBase64": _b64(b"x" * 1001)}}
        for url, body, key in (
            (_url(world.point_a, "inbound"), too_big, "media.dataBase64"),
            (_url(world.point_a, "inbound/batch"), [fits, too_big], "[1].media.dataBase64"),
        ):
            response = await small.post(url, json=body, headers=world.admin.headers)
            assert response.status_code == 413, response.text
            assert "MEDIA_MAX_BYTES" in response.json()["detail"]
            assert [error["key"] for error in response.json()["extra"]] == [key]


async def test_a_socket_that_is_not_connected_cannot_download_yet(engine: AsyncEngine, tmp_path: Path) -> None:
    network = SimulatorTransport(async_sessionmaker(engine, expire_on_commit=False))
    digest = await network.media.upload(b"foto")

    async def ignore(_: object) -> None:
        return None

    socket = network.open(uuid4(), tmp_path / "store", ignore)
    with pytest.raises(TransportError) as offline:
        await socket.download(MediaRef(handle=digest.encode()), 1024)
    assert not offline.value.permanent  # later, once connected, it may work
    assert await network.media.fetch(digest.encode(), 1024) == b"foto"
    await network.shutdown()
