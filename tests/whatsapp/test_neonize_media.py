"""The neonize transport and files, places, cards, replies, reactions and messages written on the point's phone.

Translation uses real neonize protobuf messages. The socket tests drive a real whatsmeow client offline; where they
need WhatsApp's answer (a file, a 404, an upload) the client's network call alone is replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from neonize.aioze import events as neonize_events
from neonize.aioze.client import NewAClient
from neonize.exc import DownloadError, SendMessageError, UploadError
from neonize.proto import Neonize_pb2 as wa
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContactsArrayMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    LiveLocationMessage,
    LocationMessage,
    ProtocolMessage,
    ReactionMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage
from neonize.utils.enum import MediaType

from tests.whatsapp.test_neonize_adapter import (
    CUSTOMER,
    LID,
    POINT,
    Sink,
    client_of,
    go_delivers,
    jid,
    make_linked_store,
    message_event,
    offline,
)
from ventanilla.whatsapp.neonize import NeonizeSocket, NeonizeTransport, media_message, translate, vcard_phones
from ventanilla.whatsapp.transport import (
    ContactCard,
    InboundMessage,
    Location,
    MediaRef,
    OutgoingMedia,
    Reaction,
    TransportError,
)

SENT_AT = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
QUOTED = "3EB0QUOTED"
# What WhatsApp puts in a received file's message: where it is and how to decrypt it, plus what the app shows.
FILE = {
    "URL": "https://mmg.whatsapp.net/o1/v/t62/abc?ccb=9-4",
    "directPath": "/o1/v/t62/abc?ccb=9-4",
    "mediaKey": b"k" * 32,
    "mediaKeyTimestamp": 1_700_000_000,
    "fileSHA256": b"p" * 32,
    "fileEncSHA256": b"e" * 32,
    "fileLength": 48_213,
}
VCARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;Luis;;;\r\nFN:Luis Pérez\r\n"
    "item1.TEL;waid=593987000111:+593 98 700 0111\r\nitem1.X-ABLabel:Móvil\r\n"
    "TEL;TYPE=HOME:(02) 255-\r\n 1234\r\nEND:VCARD"
)


def inbound(content: WaMessage, **kwargs: Any) -> InboundMessage:
    event = translate(message_event(content, **kwargs))
    assert isinstance(event, InboundMessage)
    return event


def quoting() -> ContextInfo:
    return ContextInfo(
        stanzaID=QUOTED, participant=f"{POINT}@s.whatsapp.net", quotedMessage=WaMessage(conversation="¿Su guía?")
    )


# --- files ------------------------------------------------------------------------------------------------------


def test_an_image_is_its_caption_and_a_file_to_download_later() -> None:
    image = ImageMessage(
        caption="así llegó la caja",
        mimetype="image/jpeg",
        JPEGThumbnail=b"\xff\xd8thumbnail",
        height=1280,
        width=960,
        contextInfo=quoting(),
        **FILE,
    )
    event = inbound(WaMessage(imageMessage=image))

    assert (event.type, event.text, event.reply_to, event.from_phone) == ("image", "así llegó la caja", QUOTED, False)
    assert event.media is not None
    assert (event.media.mime_type, event.media.size, event.media.file_name, event.media.voice) == (
        "image/jpeg",
        48_213,
        None,
        False,
    )
    # The handle is what a download needs and nothing else: it is stored, and the caption or quote are not its.
    handle = WaMessage.FromString(event.media.handle)
    assert handle == WaMessage(imageMessage=ImageMessage(mimetype="image/jpeg", **FILE))


def test_an_image_without_caption_has_no_text() -> None:
    event = inbound(WaMessage(imageMessage=ImageMessage(mimetype="image/png", **FILE)))
    assert (event.type, event.text, event.reply_to) == ("image", "", None)


@pytest.mark.parametrize("voice", [True, False], ids=["voice-note", "audio-file"])
def test_an_audio_is_a_voice_note_when_push_to_talk(voice: bool) -> None:
    audio = AudioMessage(mimetype="audio/ogg; codecs=opus", seconds=7, PTT=voice, waveform=b"\x01\x02", **FILE)
    event = inbound(WaMessage(audioMessage=audio))
    assert (event.type, event.text) == ("audio", "")
    assert event.media is not None
    assert event.media.voice is voice
    assert event.media.mime_type == "audio/ogg; codecs=opus"
    assert WaMessage.FromString(event.media.handle).audioMessage.directPath == FILE["directPath"]


def test_a_video_and_a_video_note_are_videos() -> None:
    video = inbound(WaMessage(videoMessage=VideoMessage(caption="mire", mimetype="video/mp4", seconds=12, **FILE)))
    assert (video.type, video.text) == ("video", "mire")

    note = inbound(WaMessage(ptvMessage=VideoMessage(mimetype="video/mp4", seconds=5, **FILE)))
    assert (note.type, note.text) == ("video", "")
    assert note.media is not None
    # whatsmeow's DownloadAny has no case for a video note; as a video it downloads the same file.
    assert WaMessage.FromString(note.media.handle) == WaMessage(videoMessage=VideoMessage(mimetype="video/mp4", **FILE))


def test_a_document_keeps_its_name_with_or_without_a_caption() -> None:
    pdf = DocumentMessage(fileName="factura 001.pdf", title="factura 001.pdf", mimetype="application/pdf", **FILE)
    plain = inbound(WaMessage(documentMessage=pdf))
    assert (plain.type, plain.text) == ("document", "")
    assert plain.media is not None and plain.media.file_name == "factura 001.pdf"

    captioned_pdf = DocumentMessage(caption="la factura", contextInfo=quoting())
    captioned_pdf.MergeFrom(pdf)
    wrapped = WaMessage(documentWithCaptionMessage=FutureProofMessage(message=WaMessage(documentMessage=captioned_pdf)))
    event = inbound(wrapped)
    assert (event.type, event.text, event.reply_to) == ("document", "la factura", QUOTED)
    assert event.media is not None
    assert (event.media.file_name, event.media.mime_type) == ("factura 001.pdf", "application/pdf")
    assert WaMessage.FromString(event.media.handle) == WaMessage(
        documentMessage=DocumentMessage(mimetype="application/pdf", **FILE)
    )


def test_a_sticker_is_a_file_without_text() -> None:
    event = inbound(WaMessage(stickerMessage=StickerMessage(mimetype="image/webp", isAnimated=False, **FILE)))
    assert (event.type, event.text) == ("sticker", "")
    assert event.media is not None and event.media.mime_type == "image/webp"


def test_a_file_whatsmeow_unwrapped_late_is_still_a_file() -> None:
    """whatsmeow unwraps ephemeral and view-once messages before the event; if it ever stops, nothing changes."""
    image = WaMessage(imageMessage=ImageMessage(caption="foto", mimetype="image/jpeg", **FILE))
    event = inbound(WaMessage(ephemeralMessage=FutureProofMessage(message=image)))
    assert (event.type, event.text) == ("image", "foto")


def test_a_file_with_no_declared_size_or_type() -> None:
    event = inbound(WaMessage(imageMessage=ImageMessage()))
    assert event.media is not None
    assert (event.media.size, event.media.mime_type) == (None, None)
    assert WaMessage.FromString(event.media.handle).HasField("imageMessage")  # download says what is missing


# --- places, cards, replies, edits ------------------------------------------------------------------------------


def test_a_location_carries_its_place() -> None:
    place = LocationMessage(
        degreesLatitude=-0.1807,
        degreesLongitude=-78.4678,
        name="Agencia La Carolina",
        address="Av. Amazonas N36-152, Quito",
        contextInfo=quoting(),
    )
    event = inbound(WaMessage(locationMessage=place))
    assert (event.type, event.text, event.reply_to, event.media) == (
        "location",
        "Agencia La Carolina\nAv. Amazonas N36-152, Quito",
        QUOTED,
        None,
    )
    assert event.location == Location(-0.1807, -78.4678, "Agencia La Carolina", "Av. Amazonas N36-152, Quito")

    pin = inbound(WaMessage(locationMessage=LocationMessage(degreesLatitude=-2.19, degreesLongitude=-79.88)))
    assert (pin.text, pin.location) == ("", Location(-2.19, -79.88))


def test_a_live_location_is_a_location() -> None:
    live = LiveLocationMessage(degreesLatitude=-2.19, degreesLongitude=-79.88, caption="voy en camino")
    event = inbound(WaMessage(liveLocationMessage=live))
    assert (event.type, event.text, event.location) == ("location", "voy en camino", Location(-2.19, -79.88))


def test_a_contact_carries_its_name_and_numbers() -> None:
    event = inbound(WaMessage(contactMessage=ContactMessage(displayName="Luis Pérez", vcard=VCARD)))
    assert (event.type, event.text, event.media) == ("contact", "", None)
    assert event.contact == ContactCard(name="Luis Pérez", phones=("+593987000111", "(02) 255-1234"))


def test_several_contacts_become_one_card_with_every_number() -> None:
    ana = ContactMessage(displayName="Ana", vcard="BEGIN:VCARD\nFN:Ana\nTEL;TYPE=CELL:+593 99 111 2222\nEND:VCARD")
    luis = ContactMessage(displayName="Luis Pérez", vcard=VCARD)
    event = inbound(WaMessage(contactsArrayMessage=ContactsArrayMessage(contacts=[ana, luis])))
    assert event.type == "contact"
    assert event.contact == ContactCard(
        name="Ana, Luis Pérez", phones=("+593991112222", "+593987000111", "(02) 255-1234")
    )
    named = ContactsArrayMessage(displayName="2 contactos", contacts=[ana, luis])
    assert inbound(WaMessage(contactsArrayMessage=named)).contact.name == "2 contactos"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("vcard", "phones"),
    [
        ("TEL;waid=593991234567:+593 99 123 4567", ("+593991234567",)),
        ("item2.TEL;type=CELL;waid=14155550123:+1 (415) 555-0123", ("+14155550123",)),
        ("TEL:+593-99-123-4567\nTEL:+593 99 123 4567", ("+593991234567",)),  # the same number once
        ("TEL;TYPE=WORK:099 123 4567", ("099 123 4567",)),  # no country: as written
        ("TEL:+12", ("+12",)),  # too short for E.164: as written
        ("TEL:\nTEL;TYPE=CELL:sin número", ()),
        ("FN:Luis\nX-TEL:+593991234567\nNOTE:TEL:+593991234567", ()),
        ("", ()),
    ],
    ids=["waid", "grouped-with-params", "duplicate", "local", "short", "empty", "not-tel", "nothing"],
)
def test_vcard_numbers(vcard: str, phones: tuple[str, ...]) -> None:
    assert vcard_phones(vcard) == phones


def test_a_text_that_quotes_a_message_is_a_reply() -> None:
    reply = ExtendedTextMessage(text="sí, esa", contextInfo=quoting())
    event = inbound(WaMessage(extendedTextMessage=reply))
    assert (event.type, event.text, event.reply_to) == ("text", "sí, esa", QUOTED)
    assert inbound(WaMessage(conversation="hola")).reply_to is None


def test_an_edited_caption_is_an_edited_text() -> None:
    edit = WaMessage(
        protocolMessage=ProtocolMessage(
            type=ProtocolMessage.MESSAGE_EDIT,
            key=MessageKey(ID="3EB0ORIGINAL"),
            editedMessage=WaMessage(imageMessage=ImageMessage(caption="así llegó, rota")),
        )
    )
    event = inbound(edit, is_edit=True)
    assert (event.type, event.text, event.media) == ("text", "(editado) así llegó, rota", None)


# --- reactions --------------------------------------------------------------------------------------------------


def reaction(emoji: str, target: str = "3EB0OURS") -> WaMessage:
    return WaMessage(
        reactionMessage=ReactionMessage(
            key=MessageKey(remoteJID=f"{CUSTOMER}@s.whatsapp.net", fromMe=True, ID=target),
            text=emoji,
            senderTimestampMS=1_700_000_000_000,
        )
    )


def test_a_reaction_names_the_message_it_reacts_to() -> None:
    event = translate(message_event(reaction("❤️"), message_id="3EB0REACTION"))
    assert event == Reaction(
        provider_message_id="3EB0REACTION",
        customer_phone=f"+{CUSTOMER}",
        target_message_id="3EB0OURS",
        emoji="❤️",
        timestamp=SENT_AT,
    )


def test_an_empty_reaction_removes_it() -> None:
    event = translate(message_event(reaction("")))
    assert isinstance(event, Reaction)
    assert (event.target_message_id, event.emoji) == ("3EB0OURS", "")


def test_a_reaction_from_a_lid_is_known_by_its_sender_alt() -> None:
    event = translate(message_event(reaction("👍"), sender=jid(LID, "lid"), sender_alt=jid(CUSTOMER)))
    assert isinstance(event, Reaction)
    assert event.customer_phone == f"+{CUSTOMER}"


def test_the_points_own_reactions_are_ignored() -> None:
    own = message_event(reaction("👍"), sender=jid(POINT), chat=jid(CUSTOMER), from_me=True)
    assert translate(own) is None


# --- written on the point's phone -------------------------------------------------------------------------------


def test_a_message_written_on_the_phone_is_to_the_chats_customer() -> None:
    event = inbound(
        WaMessage(conversation="Le escribo desde la agencia"), sender=jid(POINT), chat=jid(CUSTOMER), from_me=True
    )
    assert event == InboundMessage(
        provider_message_id="3EB0C0FFEE",
        customer_phone=f"+{CUSTOMER}",
        text="Le escribo desde la agencia",
        timestamp=SENT_AT,
        push_name=None,  # the pushname is the staff's own, not the customer's
        from_phone=True,
    )


def test_a_file_written_on_the_phone_is_a_file_from_the_phone() -> None:
    image = WaMessage(imageMessage=ImageMessage(caption="su comprobante", mimetype="image/jpeg", **FILE))
    event = inbound(image, sender=jid(POINT), chat=jid(CUSTOMER), from_me=True)
    assert (event.type, event.text, event.from_phone, event.customer_phone) == (
        "image",
        "su comprobante",
        True,
        f"+{CUSTOMER}",
    )


def test_a_lid_chat_written_on_the_phone_is_known_by_its_recipient_alt() -> None:
    event = inbound(
        WaMessage(conversation="hola"),
        sender=jid("210987654321098", "lid"),
        chat=jid(LID, "lid"),
        recipient_alt=jid(CUSTOMER),
        from_me=True,
    )
    assert (event.customer_phone, event.from_phone) == (f"+{CUSTOMER}", True)

    lid_only = message_event(WaMessage(conversation="hola"), sender=jid(POINT), chat=jid(LID, "lid"), from_me=True)
    assert translate(lid_only) is None  # the socket looks the LID up first
    looked_up = translate(lid_only, sender=f"+{CUSTOMER}")
    assert isinstance(looked_up, InboundMessage)
    assert (looked_up.customer_phone, looked_up.from_phone) == (f"+{CUSTOMER}", True)


# --- sending: the message for an uploaded file ------------------------------------------------------------------


UPLOAD = wa.UploadResponse(
    url="https://mmg.whatsapp.net/o1/v/t62/new?ccb=9-4",
    DirectPath="/o1/v/t62/new?ccb=9-4",
    Handle="",
    MediaKey=b"m" * 32,
    FileEncSHA256=b"e" * 32,
    FileSHA256=b"s" * 32,
    FileLength=1234,
)
UPLOADED = {
    "URL": UPLOAD.url,
    "directPath": UPLOAD.DirectPath,
    "mediaKey": UPLOAD.MediaKey,
    "fileEncSHA256": UPLOAD.FileEncSHA256,
    "fileSHA256": UPLOAD.FileSHA256,
    "fileLength": 1234,
}


def test_media_messages_point_at_the_upload() -> None:
    photo = OutgoingMedia("image", b"jpeg bytes", "image/jpeg")
    assert media_message(photo, "su guía", UPLOAD) == WaMessage(
        imageMessage=ImageMessage(caption="su guía", mimetype="image/jpeg", **UPLOADED)
    )
    assert not media_message(photo, "", UPLOAD).imageMessage.HasField("caption")
    clip = OutgoingMedia("video", b"mp4 bytes", "video/mp4")
    assert media_message(clip, "", UPLOAD) == WaMessage(videoMessage=VideoMessage(mimetype="video/mp4", **UPLOADED))
    song = OutgoingMedia("audio", b"ogg bytes", "audio/ogg")
    assert media_message(song, "", UPLOAD) == WaMessage(
        audioMessage=AudioMessage(mimetype="audio/ogg", PTT=False, **UPLOADED)
    )


def test_a_document_goes_with_its_name_and_a_caption_in_the_wrapper_the_apps_use() -> None:
    pdf = OutgoingMedia("document", b"%PDF-1.7", "application/pdf", "guía EC123.pdf")
    document = DocumentMessage(
        fileName="guía EC123.pdf", title="guía EC123.pdf", mimetype="application/pdf", **UPLOADED
    )
    assert media_message(pdf, "", UPLOAD) == WaMessage(documentMessage=document)

    captioned = media_message(pdf, "su guía", UPLOAD)
    document.caption = "su guía"
    assert captioned == WaMessage(
        documentWithCaptionMessage=FutureProofMessage(message=WaMessage(documentMessage=document))
    )
    unnamed = media_message(OutgoingMedia("document", b"%PDF-1.7", "application/pdf"), "", UPLOAD)
    assert unnamed.documentMessage.fileName == "archivo"


def test_an_audio_with_a_caption_goes_as_a_document_so_both_arrive() -> None:
    song = OutgoingMedia("audio", b"mp3 bytes", "audio/mpeg", "nota.mp3")
    message = media_message(song, "escuche esto", UPLOAD)
    document = message.documentWithCaptionMessage.message.documentMessage
    assert (document.fileName, document.caption, document.mimetype) == ("nota.mp3", "escuche esto", "audio/mpeg")


# --- the socket: downloads and sends through a real client ------------------------------------------------------


@pytest.fixture
async def connected(tmp_path: Path) -> AsyncIterator[tuple[NeonizeSocket, NewAClient]]:
    """A point whose whatsmeow client believes it is connected (WhatsApp itself stays unreachable)."""
    store = tmp_path / "point"
    store.mkdir(mode=0o700)
    await make_linked_store(store)
    sink = Sink()
    point = NeonizeTransport().open(uuid4(), store, sink)
    await point.connect()
    await sink.wait_for(1)  # the offline dial failed
    client = client_of(point)
    await go_delivers(client, neonize_events.ConnectedEv(status=True))
    await sink.wait_for(2)
    yield point, client
    await point.close()


def received(size: int | None = 1000) -> MediaRef:
    handle = WaMessage(imageMessage=ImageMessage(mimetype="image/jpeg", **FILE)).SerializeToString()
    return MediaRef(handle=handle, mime_type="image/jpeg", size=size)


async def test_a_file_larger_than_allowed_is_refused_before_anything_else(tmp_path: Path) -> None:
    point = NeonizeTransport().open(uuid4(), tmp_path, Sink())  # not even connected
    with pytest.raises(TransportError) as too_large:
        await point.download(received(size=16_777_217), max_bytes=16_777_216)
    assert too_large.value.permanent
    with pytest.raises(TransportError) as not_connected:
        await point.download(received(), max_bytes=16_777_216)
    assert not not_connected.value.permanent
    with pytest.raises(TransportError) as garbage:
        await point.download(MediaRef(handle=b"\xff\xff\xff"), max_bytes=16_777_216)
    assert garbage.value.permanent
    await point.close()


@offline
async def test_downloads_need_whatsapp_and_a_handle_that_points_somewhere(
    connected: tuple[NeonizeSocket, NewAClient],
) -> None:
    point, _ = connected
    only_a_path = WaMessage(imageMessage=ImageMessage(directPath="/o1/v/t62/abc", mediaKey=b"k" * 32))
    with pytest.raises(TransportError) as unreachable:
        await point.download(MediaRef(handle=only_a_path.SerializeToString()), max_bytes=1000)
    assert not unreachable.value.permanent  # whatsmeow: websocket not connected
    assert "websocket not connected" in str(unreachable.value)

    for nowhere in (WaMessage(imageMessage=ImageMessage()), WaMessage()):
        with pytest.raises(TransportError) as useless:
            await point.download(MediaRef(handle=nowhere.SerializeToString()), max_bytes=1000)
        assert useless.value.permanent  # "no url present", "didn't find any attachments in message"


@offline
async def test_a_download_hands_the_handle_to_whatsmeow_and_checks_what_comes_back(
    connected: tuple[NeonizeSocket, NewAClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    point, client = connected
    asked: list[WaMessage] = []
    answer = b"\xff\xd8\xff" + b"j" * 997

    async def download_any(message: WaMessage) -> bytes:
        asked.append(message)
        return answer

    monkeypatch.setattr(client, "download_any", download_any)
    media = received()
    assert await point.download(media, max_bytes=1000) == answer
    assert asked == [WaMessage.FromString(media.handle)]

    with pytest.raises(TransportError) as too_large:  # the sender declared less than it sent
        await point.download(received(size=None), max_bytes=999)
    assert too_large.value.permanent


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        ("download failed with status code 404", True),
        ("download failed with status code 410", True),
        ("media not found", True),
        ("media url expired", True),
        ('failed to download media: Get "https://mmg.whatsapp.net/...": context deadline exceeded', False),
        ("download failed with status code 503", False),
        ("invalid media hmac", False),
    ],
)
@offline
async def test_download_errors(
    connected: tuple[NeonizeSocket, NewAClient], monkeypatch: pytest.MonkeyPatch, error: str, permanent: bool
) -> None:
    point, client = connected

    async def download_any(_: WaMessage) -> bytes:
        raise DownloadError(error)

    monkeypatch.setattr(client, "download_any", download_any)
    with pytest.raises(TransportError) as failed:
        await point.download(received(), max_bytes=16_777_216)
    assert failed.value.permanent is permanent


class FakeWhatsApp:
    """The network edge of a real client: what it uploaded and sent, and WhatsApp's answers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, client: NewAClient) -> None:
        self.uploads: list[tuple[bytes, MediaType]] = []
        self.sent: list[tuple[wa.JID, WaMessage]] = []
        self.send_error: str | None = None
        monkeypatch.setattr(client, "upload", self.upload)
        monkeypatch.setattr(client, "send_message", self.send_message)

    async def upload(self, data: bytes, media_type: MediaType) -> wa.UploadResponse:
        self.uploads.append((data, media_type))
        return UPLOAD

    async def send_message(self, to: wa.JID, message: WaMessage) -> wa.SendResponse:
        if self.send_error is not None:
            raise SendMessageError(self.send_error)
        self.sent.append((to, message))
        return wa.SendResponse(ID="3EB0FROMWHATSAPP", Timestamp=1_700_000_000)


@offline
async def test_a_file_is_uploaded_then_sent_and_whatsapps_id_returned(
    connected: tuple[NeonizeSocket, NewAClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    point, client = connected
    whatsapp = FakeWhatsApp(monkeypatch, client)
    pdf = OutgoingMedia("document", b"%PDF-1.7 ...", "application/pdf", "guía.pdf")

    provider_id = await point.send_media(f"+{CUSTOMER}", pdf, "", "ours-1")

    assert provider_id == "3EB0FROMWHATSAPP"
    assert whatsapp.uploads == [(b"%PDF-1.7 ...", MediaType.MediaDocument)]
    [(to, message)] = whatsapp.sent
    assert (to.User, to.Server) == (CUSTOMER, "s.whatsapp.net")
    assert message == media_message(pdf, "", UPLOAD)

    photo = OutgoingMedia("image", b"\xff\xd8\xff...", "image/jpeg")
    await point.send_media(f"+{CUSTOMER}", photo, "su paquete", "ours-2")
    assert whatsapp.uploads[-1] == (b"\xff\xd8\xff...", MediaType.MediaImage)
    assert whatsapp.sent[-1][1].imageMessage.caption == "su paquete"

    # An audio with a caption goes as a document: its upload must be encrypted as one.
    await point.send_media(f"+{CUSTOMER}", OutgoingMedia("audio", b"ID3...", "audio/mpeg"), "escuche", "ours-3")
    assert whatsapp.uploads[-1] == (b"ID3...", MediaType.MediaDocument)
    assert whatsapp.sent[-1][1].HasField("documentWithCaptionMessage")


@pytest.mark.parametrize(
    ("error", "permanent"),
    [("server returned error 479: invalid JID", True), ("failed to get device list: context deadline exceeded", False)],
)
@offline
async def test_send_media_errors_map_as_for_text(
    connected: tuple[NeonizeSocket, NewAClient], monkeypatch: pytest.MonkeyPatch, error: str, permanent: bool
) -> None:
    point, client = connected
    whatsapp = FakeWhatsApp(monkeypatch, client)
    whatsapp.send_error = error
    with pytest.raises(TransportError) as failed:
        await point.send_media(f"+{CUSTOMER}", OutgoingMedia("image", b"png", "image/png"), "", "ours-1")
    assert failed.value.permanent is permanent


@offline
async def test_a_failed_upload_is_transient(
    connected: tuple[NeonizeSocket, NewAClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    point, client = connected
    photo = OutgoingMedia("image", b"png", "image/png")
    with pytest.raises(TransportError) as unreachable:  # the real client: WhatsApp is unreachable
        await point.send_media(f"+{CUSTOMER}", photo, "", "ours-1")
    assert not unreachable.value.permanent
    assert "websocket not connected" in str(unreachable.value)

    async def upload(*_: object) -> wa.UploadResponse:
        raise UploadError("upload failed with status code 500")

    monkeypatch.setattr(client, "upload", upload)
    with pytest.raises(TransportError) as failed:
        await point.send_media(f"+{CUSTOMER}", photo, "", "ours-1")
    assert not failed.value.permanent


async def test_send_media_refuses_what_can_never_be_sent(tmp_path: Path) -> None:
    point = NeonizeTransport().open(uuid4(), tmp_path, Sink())
    photo = OutgoingMedia("image", b"png", "image/png")
    with pytest.raises(TransportError) as bad_number:
        await point.send_media("0991234567", photo, "", "ours-1")
    assert bad_number.value.permanent
    with pytest.raises(TransportError) as empty:
        await point.send_media(f"+{CUSTOMER}", OutgoingMedia("image", b"", "image/png"), "", "ours-1")
    assert empty.value.permanent
    with pytest.raises(TransportError) as not_connected:
        await point.send_media(f"+{CUSTOMER}", photo, "", "ours-1")
    assert not not_connected.value.permanent
    await point.close()


@offline
async def test_a_message_written_on_the_phone_in_a_lid_chat_is_looked_up(
    connected: tuple[NeonizeSocket, NewAClient],
) -> None:
    point, client = connected
    sink = point._sink
    assert isinstance(sink, Sink)
    written = message_event(
        WaMessage(conversation="Le escribo desde la agencia"),
        sender=jid(POINT),
        chat=jid(LID, "lid"),
        from_me=True,
        message_id="3EB0PHONE",
    )
    await go_delivers(client, written)
    *_, event = await sink.wait_for(3)
    assert isinstance(event, InboundMessage)
    assert (event.customer_phone, event.from_phone, event.push_name) == (
        f"+{CUSTOMER}",
        True,
        None,
    )  # whatsmeow's LID map
