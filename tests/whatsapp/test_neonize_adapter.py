"""The neonize transport: translation of real neonize protobuf events, and a real whatsmeow client driven offline.

The socket tests need WhatsApp to be unreachable (the dial fails at once, as in CI); with a network they would open a
real session and show a real QR, so they skip.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import socket
import sqlite3
import stat
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from google.protobuf.message import Message as Protobuf
from neonize.aioze import events as neonize_events
from neonize.aioze.client import ClientFactory, NewAClient
from neonize.events import EVENT_TO_INT
from neonize.exc import NeonizeError
from neonize.proto import Neonize_pb2 as wa
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ExtendedTextMessage,
    PollCreationMessage,
    ProtocolMessage,
    ReactionMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage
from neonize.utils.jid import build_jid

from ventanilla.privacy import mask_phone
from ventanilla.whatsapp.neonize import (
    SESSION_DB,
    NeonizeSocket,
    NeonizeTransport,
    message_content,
    translate,
)
from ventanilla.whatsapp.transport import (
    Connected,
    Disconnected,
    InboundMessage,
    LoggedOut,
    QrCode,
    Reaction,
    Receipt,
    Replaced,
    SessionEvent,
    TemporarilyBanned,
    TransportError,
    Unrecoverable,
)

CUSTOMER = "593991234567"
POINT = "593987654321"
LID = "123456789012345"
SENT_AT_MS = 1_700_000_000_123  # neonize 0.5 sends milliseconds


def jid(user: str, server: str = "s.whatsapp.net") -> wa.JID:
    return build_jid(user, server)


NO_JID = wa.JID(User="", Server="", RawAgent=0, Device=0, Integrator=0, IsEmpty=True)


def message_event(
    content: WaMessage,
    *,
    sender: wa.JID | None = None,
    chat: wa.JID | None = None,
    sender_alt: wa.JID = NO_JID,
    recipient_alt: wa.JID = NO_JID,
    from_me: bool = False,
    group: bool = False,
    is_edit: bool = False,
    message_id: str = "3EB0C0FFEE",
) -> wa.Message:
    """A MessageEv as neonize's Go side fills it (every required field set, empty JIDs included)."""
    sender = sender or jid(CUSTOMER)
    source = wa.MessageSource(
        Chat=chat or sender,
        Sender=sender,
        IsFromMe=from_me,
        IsGroup=group,
        SenderAlt=sender_alt,
        RecipientAlt=recipient_alt,
        BroadcastListOwner=NO_JID,
    )
    info = wa.MessageInfo(
        MessageSource=source,
        ID=message_id,
        ServerID=0,
        Type="text",
        Pushname="Ana",
        Timestamp=SENT_AT_MS,
        Category="",
        Multicast=False,
        MediaType="",
        Edit="",
    )
    return wa.Message(
        Info=info,
        Message=content,
        IsEphemeral=False,
        IsViewOnce=False,
        IsViewOnceV2=False,
        IsViewOnceV2Extension=False,
        IsDocumentWithCaption=False,
        IsLottieSticker=False,
        IsEdit=is_edit,
        UnavailableRequestID="",
        RetryCount=0,
    )


# --- translation ------------------------------------------------------------------------------------------------


def test_a_text_from_a_phone_jid_becomes_inbound_text() -> None:
    event = translate(message_event(WaMessage(conversation="¿Dónde está mi paquete?")))
    assert event == InboundMessage(
        provider_message_id="3EB0C0FFEE",
        customer_phone="+593991234567",
        text="¿Dónde está mi paquete?",
        timestamp=datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        push_name="Ana",
    )


def receipt_event(kind: int, ids: list[str], *, from_me: bool = False) -> wa.Receipt:
    """A ReceiptEv as neonize's Go side fills it."""
    source = wa.MessageSource(
        Chat=jid(CUSTOMER),
        Sender=jid(CUSTOMER),
        IsFromMe=from_me,
        IsGroup=False,
        SenderAlt=NO_JID,
        RecipientAlt=NO_JID,
        BroadcastListOwner=NO_JID,
    )
    return wa.Receipt(MessageSource=source, MessageIDs=ids, Timestamp=SENT_AT_MS, Type=kind)


def test_receipts_from_the_customer_become_delivered_or_read() -> None:
    ids = ["3EB0AAA", "3EB0BBB"]
    assert translate(receipt_event(wa.Receipt.DELIVERED, ids)) == Receipt(("3EB0AAA", "3EB0BBB"), read=False)
    assert translate(receipt_event(wa.Receipt.READ, ids)) == Receipt(("3EB0AAA", "3EB0BBB"), read=True)
    assert translate(receipt_event(wa.Receipt.PLAYED, ids[:1])) == Receipt(("3EB0AAA",), read=True)  # a voice note
    # our own other devices, retries and server notices say nothing about the customer
    assert translate(receipt_event(wa.Receipt.READ, ids, from_me=True)) is None
    assert translate(receipt_event(wa.Receipt.READ_SELF, ids)) is None
    assert translate(receipt_event(wa.Receipt.RETRY, ids)) is None
    assert translate(receipt_event(wa.Receipt.SERVER_ERROR, ids)) is None
    assert translate(receipt_event(wa.Receipt.READ, [])) is None


def test_extended_text_is_text() -> None:
    event = translate(message_event(WaMessage(extendedTextMessage=ExtendedTextMessage(text="EC123456789"))))
    assert isinstance(event, InboundMessage)
    assert event.text == "EC123456789"


def test_a_lid_sender_is_known_by_its_sender_alt() -> None:
    event = translate(message_event(WaMessage(conversation="hola"), sender=jid(LID, "lid"), sender_alt=jid(CUSTOMER)))
    assert isinstance(event, InboundMessage)
    assert event.customer_phone == "+593991234567"


def test_a_lid_sender_without_a_phone_needs_the_one_the_socket_looked_up() -> None:
    lid_only = message_event(WaMessage(conversation="hola"), sender=jid(LID, "lid"))
    assert translate(lid_only) is None
    event = translate(lid_only, sender="+593991234567")
    assert isinstance(event, InboundMessage)
    assert event.customer_phone == "+593991234567"


@pytest.mark.parametrize(
    "event",
    [
        message_event(WaMessage(conversation="hola grupo"), chat=jid("120363012345678901", "g.us"), group=True),
        message_event(
            WaMessage(conversation="la sucursal en un grupo"),
            sender=jid(POINT),
            chat=jid("120363012345678901", "g.us"),
            group=True,
            from_me=True,
        ),
        message_event(WaMessage(conversation="nota para mí"), sender=jid(POINT), from_me=True),
        message_event(
            WaMessage(conversation="mi estado"), sender=jid(POINT), chat=jid("status", "broadcast"), from_me=True
        ),
        message_event(WaMessage(conversation="mi estado"), chat=jid("status", "broadcast")),
        message_event(WaMessage(conversation="a mi lista"), chat=jid("1700000000", "broadcast")),
        message_event(WaMessage(conversation="noticias"), chat=jid("120363111111111111", "newsletter")),
    ],
    ids=["group", "own-in-group", "note-to-self", "own-status", "status", "broadcast-list", "newsletter"],
)
def test_messages_that_are_not_a_customer_writing_are_ignored(event: wa.Message) -> None:
    assert translate(event) is None


def test_what_nobody_here_understands_is_unsupported_with_a_placeholder() -> None:
    """Files, places, cards, replies and reactions: see test_neonize_media.py."""
    poll = WaMessage(pollCreationMessage=PollCreationMessage(name="¿Sábado?"))
    content = message_content(poll)
    assert content is not None
    assert (content.type, content.text) == ("unsupported", "[mensaje no compatible]")
    event = translate(message_event(poll))
    assert isinstance(event, InboundMessage)
    assert (event.type, event.text, event.media) == ("unsupported", "[mensaje no compatible]", None)


@pytest.mark.parametrize(
    "content",
    [
        WaMessage(reactionMessage=ReactionMessage(text="👍")),
        WaMessage(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE)),
        WaMessage(conversation=""),
        WaMessage(),
    ],
    ids=["reaction-to-nothing", "revoke", "empty-text", "nothing"],
)
def test_protocol_messages_and_empty_ones_are_ignored(content: WaMessage) -> None:
    assert translate(message_event(content)) is None


def test_an_edit_is_a_new_text_marked_as_edited() -> None:
    edit = WaMessage(
        protocolMessage=ProtocolMessage(
            type=ProtocolMessage.MESSAGE_EDIT,
            key=MessageKey(ID="3EB0ORIGINAL"),
            editedMessage=WaMessage(conversation="EC123456780, perdón"),
        )
    )
    event = translate(message_event(edit, is_edit=True, message_id="3EB0EDIT"))
    assert isinstance(event, InboundMessage)
    assert event.text == "(editado) EC123456780, perdón"
    assert event.provider_message_id == "3EB0EDIT"


NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (neonize_events.ConnectedEv(status=True), Connected(phone_number=None)),
        (neonize_events.DisconnectedEv(status=True), Disconnected(reason="connection lost")),
        (neonize_events.KeepAliveTimeoutEv(ErrorCount=3, LastSuccess=0), Disconnected(reason="keepalive timeout")),
        (neonize_events.StreamErrorEv(Code="503", Raw=wa.Node(Tag="stream:error")), Disconnected("stream error 503")),
        (neonize_events.LoggedOutEv(OnConnect=False, Reason=wa.LOGGED_OUT), LoggedOut(reason="LOGGED_OUT")),
        (neonize_events.StreamReplacedEv(), Replaced()),
        (
            neonize_events.TemporaryBanEv(Code=neonize_events.TemporaryBanEv.BLOCKED_BY_USERS, Expire=3600),
            TemporarilyBanned(until=NOW + timedelta(hours=1), reason="BLOCKED_BY_USERS"),
        ),
        (neonize_events.ClientOutdatedEv(), Unrecoverable(reason="CLIENT_OUTDATED")),
        (
            neonize_events.PairStatusEv(ID=jid(POINT), BusinessName="", Platform="", Status=wa.PairStatus.SUCCESS),
            None,
        ),
    ],
    ids=lambda value: type(value).__name__,
)
def test_session_events(event: Protobuf, expected: SessionEvent | None) -> None:
    assert translate(event, now=NOW) == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (wa.LOGGED_OUT, LoggedOut(reason="LOGGED_OUT")),
        (wa.MAIN_DEVICE_GONE, LoggedOut(reason="MAIN_DEVICE_GONE")),
        (wa.UNKNOWN_LOGOUT, LoggedOut(reason="UNKNOWN_LOGOUT")),
        (wa.TEMP_BANNED, TemporarilyBanned(until=None, reason="TEMP_BANNED")),
        (wa.CLIENT_OUTDATED, Unrecoverable(reason="CLIENT_OUTDATED")),
        (wa.BAD_USER_AGENT, Unrecoverable(reason="BAD_USER_AGENT")),
        (wa.SERVICE_UNAVAILABLE, Disconnected(reason="connect failure SERVICE_UNAVAILABLE: try later")),
        (wa.INTERNAL_SERVER_ERROR, Disconnected(reason="connect failure INTERNAL_SERVER_ERROR: try later")),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, int) else wa.ConnectFailureReason.Name(value),
)
def test_connect_failures(reason: int, expected: SessionEvent) -> None:
    failure = neonize_events.ConnectFailureEv(Reason=reason, Message="try later", Raw=wa.Node(Tag="failure"))
    assert translate(failure) == expected


def test_phones_are_masked_for_logs() -> None:
    assert mask_phone("+593991234567") == "+59399****567"
    assert mask_phone("593991234567") == "59399****567"


def test_whatsmeow_logs_reach_ours_with_numbers_masked(caplog: pytest.LogCaptureFixture) -> None:
    NeonizeTransport()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("whatsmeow.Client.Recv").warning("Error decrypting message from %s@s.whatsapp.net", CUSTOMER)
    relayed = [r.getMessage() for r in caplog.records if r.name == "ventanilla.whatsapp.neonize"]
    assert relayed == ["whatsmeow.Client.Recv: Error decrypting message from 59399****567@s.whatsapp.net"]
    assert logging.getLogger("whatsmeow").propagate is False  # the raw line never reaches the app's handlers


# --- a real whatsmeow client, offline ---------------------------------------------------------------------------


def _whatsapp_reachable() -> bool:
    try:
        socket.getaddrinfo("web.whatsapp.com", 443)
    except OSError:
        return False
    return True


offline = pytest.mark.skipif(_whatsapp_reachable(), reason="needs WhatsApp to be unreachable (it would link for real)")


class Sink:
    """Records what the socket delivers; raises once, for the first event of type `fail_on`, as a buggy manager."""

    def __init__(self, fail_on: type | None = None) -> None:
        self.events: list[SessionEvent] = []
        self.fail_on = fail_on
        self.on_event: Callable[[SessionEvent], Awaitable[None]] | None = None

    async def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            await self.on_event(event)
        if self.fail_on is not None and isinstance(event, self.fail_on):
            self.fail_on = None
            raise RuntimeError("the manager failed")

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[SessionEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                await asyncio.sleep(0.01)
        return self.events


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "point"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual one: files would be world-readable without our care
    yield
    os.umask(previous)


@pytest.fixture
async def linked_store(store: Path) -> Path:
    return await make_linked_store(store)


async def make_linked_store(store: Path) -> Path:
    """A store as a linked device leaves it: whatsmeow's schema (from one offline attempt), a device, a LID."""
    client = NewAClient(name=str(store / SESSION_DB), uuid=f"schema-{uuid4()}")
    with suppress(NeonizeError):
        await (await client.connect())
    await client.stop()
    with closing(sqlite3.connect(store / SESSION_DB)) as db:
        db.execute(
            "INSERT INTO whatsmeow_device (jid, lid, registration_id, noise_key, identity_key, signed_pre_key,"
            " signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key,"
            " adv_device_sig) VALUES (?, ?, 1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (
                f"{POINT}:7@s.whatsapp.net",
                "210987654321098:7@lid",
                *(os.urandom(n) for n in (32, 32, 32, 64, 32, 10, 64, 32, 64)),
            ),
        )
        db.execute("INSERT INTO whatsmeow_lid_map (lid, pn) VALUES (?, ?)", (LID, CUSTOMER))
        db.commit()
    return store


async def go_delivers(client: NewAClient, event: Protobuf) -> None:
    """What neonize's Go side does for an event: call the client's ctypes callback from a thread of its own."""
    data = event.SerializeToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    code = EVENT_TO_INT[type(event)]
    await asyncio.to_thread(client.event.execute, client.uuid, ctypes.addressof(buffer), len(data), code)


async def go_shows_qr(client: NewAClient, code: bytes) -> None:
    """What the Go side does for each new QR code: call the client's (private) ctypes QR callback from a thread."""
    buffer = ctypes.create_string_buffer(code)
    await asyncio.to_thread(client._NewAClient__onQr, 0, ctypes.addressof(buffer))  # type: ignore[attr-defined]


def client_of(point: NeonizeSocket) -> NewAClient:
    client = point._client
    assert client is not None
    return client


@offline
@pytest.mark.usefixtures("umask")
async def test_an_offline_connect_is_one_network_drop_and_close_leaves_nothing_running(store: Path) -> None:
    neonize_events.event_global_loop = asyncio.new_event_loop()  # the loop of an earlier test, closed by now
    neonize_events.event_global_loop.close()
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), store, sink)

    await point.connect()
    [event] = await sink.wait_for(1)
    await asyncio.sleep(0.2)  # nothing else follows

    assert sink.events == [event]
    assert isinstance(event, Disconnected)
    assert event.reason.startswith("failed to dial whatsapp web websocket")
    assert neonize_events.event_global_loop is asyncio.get_running_loop()
    connection = client_of(point).connect_task
    await asyncio.wait_for(point.close(), timeout=1)
    assert connection is not None and connection.done()
    # Every worker thread is idle: the executor shuts down at once (it would wait for a Go call still blocking).
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), timeout=5)
    assert stat.S_IMODE((store / SESSION_DB).stat().st_mode) == 0o600


@offline
async def test_the_manager_may_close_the_socket_from_inside_the_sink(store: Path) -> None:
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), store, sink)
    closed = asyncio.Event()

    async def close_on_drop(event: SessionEvent) -> None:
        if isinstance(event, Disconnected):
            await asyncio.wait_for(point.close(), timeout=10)  # as the session manager does
            closed.set()

    sink.on_event = close_on_drop
    await point.connect()
    await asyncio.wait_for(closed.wait(), timeout=5)
    pump = point._pump
    assert pump is not None
    await asyncio.wait_for(pump, timeout=1)  # the delivery task ended with the socket
    assert len(sink.events) == 1


@offline
async def test_go_events_arrive_in_order_and_a_failing_sink_does_not_lose_the_next_one(linked_store: Path) -> None:
    sink = Sink(fail_on=InboundMessage)
    point = NeonizeTransport().open(uuid4(), linked_store, sink)
    await point.connect()
    await sink.wait_for(1)  # the offline dial failed
    client = client_of(point)

    await go_delivers(client, neonize_events.ConnectedEv(status=True))
    await go_delivers(client, message_event(WaMessage(conversation="primero"), sender=jid(LID, "lid")))
    await go_delivers(client, message_event(WaMessage(conversation="segundo"), message_id="3EB0SECOND"))
    dropped, connected, first, second = await sink.wait_for(4)

    assert isinstance(dropped, Disconnected)
    assert connected == Connected(phone_number=f"+{POINT}")  # whatsmeow's device store knows the linked number
    assert isinstance(first, InboundMessage) and first.text == "primero"
    assert first.customer_phone == f"+{CUSTOMER}"  # looked up in whatsmeow's LID map
    assert isinstance(second, InboundMessage) and second.text == "segundo"  # the sink raised for the first one

    await point.close()
    await go_delivers(client, message_event(WaMessage(conversation="tarde")))
    await asyncio.sleep(0.1)
    assert len(sink.events) == 4  # nothing after close


@offline
async def test_each_qr_code_is_a_qr_event_and_pairing_needs_a_live_socket(store: Path) -> None:
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), store, sink)
    await point.connect()
    await sink.wait_for(1)
    client = client_of(point)

    await go_shows_qr(client, b"2@first,code")
    await go_shows_qr(client, b"2@second,code")
    _, first, second = await sink.wait_for(3)
    assert (first, second) == (QrCode(code="2@first,code"), QrCode(code="2@second,code"))

    with pytest.raises(TransportError) as bad_number:
        await point.request_pairing_code("0991234567")
    assert bad_number.value.permanent
    with pytest.raises(TransportError) as offline_pairing:
        await point.request_pairing_code("+593991234567")
    assert not offline_pairing.value.permanent  # whatsmeow: websocket not connected

    await point.close()
    await go_shows_qr(client, b"2@late,code")
    await asyncio.sleep(0.1)
    assert len(sink.events) == 3


@offline
async def test_a_send_while_whatsapp_is_unreachable_is_a_transient_error(linked_store: Path) -> None:
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), linked_store, sink)
    await point.connect()
    await sink.wait_for(1)
    await go_delivers(client_of(point), neonize_events.ConnectedEv(status=True))
    await sink.wait_for(2)

    with pytest.raises(TransportError) as unreachable:
        await point.send_text(f"+{CUSTOMER}", "Su paquete está en camino", "msg-1")
    assert not unreachable.value.permanent
    assert "websocket not connected" in str(unreachable.value)
    await point.close()


@offline
async def test_receipts_and_reactions_leave_the_session_connected(linked_store: Path) -> None:
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), linked_store, sink)
    await point.connect()
    await sink.wait_for(1)
    client = client_of(point)
    await go_delivers(client, neonize_events.ConnectedEv(status=True))
    await go_delivers(client, receipt_event(wa.Receipt.READ, ["3EB0AAA"]))
    reaction = ReactionMessage(key=MessageKey(ID="3EB0AAA"), text="👍")
    await go_delivers(client, message_event(WaMessage(reactionMessage=reaction), message_id="3EB0REACT"))
    _, _, receipt, liked = await sink.wait_for(4)
    assert isinstance(receipt, Receipt) and receipt.read
    assert isinstance(liked, Reaction) and liked.emoji == "👍"

    with pytest.raises(TransportError) as unreachable:
        await point.send_text(f"+{CUSTOMER}", "Gracias", "msg-1")
    assert "websocket not connected" in str(unreachable.value)  # whatsmeow's answer: the socket still tried
    await point.close()


@offline
async def test_logout_is_best_effort_then_closes(linked_store: Path) -> None:
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), linked_store, sink)
    await point.connect()
    await sink.wait_for(1)
    client = client_of(point)
    await go_delivers(client, neonize_events.ConnectedEv(status=True))
    await sink.wait_for(2)

    await asyncio.wait_for(point.logout(), timeout=5)  # WhatsApp is unreachable: logged, then closed anyway

    await go_delivers(client, message_event(WaMessage(conversation="tarde")))
    await asyncio.sleep(0.1)
    assert len(sink.events) == 2
    with pytest.raises(TransportError):
        await point.send_text(f"+{CUSTOMER}", "hola", "msg-1")


async def test_sending_needs_a_connected_socket_and_a_valid_number(store: Path) -> None:
    point = NeonizeTransport().open(uuid4(), store, Sink())
    with pytest.raises(TransportError) as not_connected:
        await point.send_text("+593991234567", "hola", "msg-1")
    assert not not_connected.value.permanent
    with pytest.raises(TransportError) as bad_number:
        await point.send_text("0991234567", "hola", "msg-1")
    assert bad_number.value.permanent
    await point.close()


async def test_an_empty_store_is_not_linked_and_stays_empty(store: Path) -> None:
    assert not await NeonizeTransport().is_linked(uuid4(), store)
    assert list(store.iterdir()) == []


@offline
@pytest.mark.usefixtures("umask")
async def test_an_unscanned_attempt_is_not_linked_and_its_files_are_private(store: Path) -> None:
    transport = NeonizeTransport()
    sink = Sink()
    point = transport.open(uuid4(), store, sink)
    await point.connect()
    await sink.wait_for(1)
    await point.close()

    assert (store / SESSION_DB).stat().st_size > 0  # whatsmeow created its tables
    assert not await transport.is_linked(uuid4(), store)
    assert ClientFactory.get_all_devices_from_db(str(store / SESSION_DB)) == []
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in store.iterdir()} == {SESSION_DB: 0o600}


@offline
async def test_a_store_with_a_device_is_linked(linked_store: Path) -> None:
    assert await NeonizeTransport().is_linked(uuid4(), linked_store)
    assert len(ClientFactory.get_all_devices_from_db(str(linked_store / SESSION_DB))) == 1  # neonize agrees


async def test_shutdown_lets_go_of_the_event_loop() -> None:
    neonize_events.event_global_loop = asyncio.get_running_loop()
    await NeonizeTransport().shutdown()
    assert neonize_events.event_global_loop is None


async def test_forgetting_a_file_store_leaves_the_directory_to_the_manager(linked_store: Path) -> None:
    transport = NeonizeTransport()
    await transport.forget(uuid4(), linked_store)
    assert await transport.is_linked(uuid4(), linked_store)  # the manager deletes the directory itself


def test_the_transport_says_its_name() -> None:
    assert NeonizeTransport().name == "neonize"
