"""Meta's webhook bodies read into the transport's events: every message type Meta documents, statuses, and bodies
that are not Meta's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.fakes.graph_api import envelope, media_message, reaction_message, sign, status_update, text_message
from ventanilla.whatsapp.cloud.inbound import WebhookError, events_by_number, numbers_named, signed_by
from ventanilla.whatsapp.transport import DeliveryFailed, InboundMessage, Reaction, Receipt

NUMBER = "106540352242922"
CUSTOMER = "593991112233"


def _read(*messages: dict, statuses: tuple[dict, ...] = (), contacts: tuple[dict, ...] = ()) -> list:
    body = json.dumps(envelope(NUMBER, messages=messages, statuses=statuses, contacts=contacts)).encode()
    return events_by_number(body, {NUMBER}).get(NUMBER, [])


def _inbound(**fields: object) -> dict:
    return {"from": CUSTOMER, "id": "wamid.X", "timestamp": "1764300000", **fields}


def test_a_text_with_its_sender_name_time_and_quote() -> None:
    [event] = _read(
        text_message(CUSTOMER, "Hola\u0000", message_id="wamid.1", timestamp=1764300000, reply_to="wamid.OUT"),
        contacts=({"wa_id": CUSTOMER, "profile": {"name": "Ana"}},),
    )
    assert isinstance(event, InboundMessage)
    assert (event.provider_message_id, event.customer_phone, event.push_name) == ("wamid.1", "+" + CUSTOMER, "Ana")
    assert event.text == "Hola\u0000"  # NUL is the intake's to clean, as for every transport
    assert event.timestamp == datetime.fromtimestamp(1764300000, UTC) and event.reply_to == "wamid.OUT"


def test_files_keep_their_media_id_type_name_and_caption() -> None:
    document = media_message(CUSTOMER, "document", "MEDIA1", "application/pdf", caption="guía", file_name="g.pdf")
    voice = media_message(CUSTOMER, "audio", "MEDIA2", "audio/ogg; codecs=opus")
    [pdf, note] = _read(document, voice)
    assert pdf.type == "document" and pdf.text == "guía"
    assert pdf.media.handle == b"MEDIA1" and pdf.media.file_name == "g.pdf" and pdf.media.mime_type == "application/pdf"
    assert note.type == "audio" and note.media.voice is True and note.text == ""


def test_locations_contacts_buttons_and_list_choices() -> None:
    location = _inbound(type="location", location={"latitude": -0.18, "longitude": -78.47, "name": "Casa"})
    card = _inbound(
        type="contacts", contacts=[{"name": {"formatted_name": "Luis"}, "phones": [{"phone": "+593 99 111 2233"}]}]
    )
    button = _inbound(type="button", button={"text": "Sí, avísame", "payload": "X"})
    choice = _inbound(
        type="interactive", interactive={"type": "list_reply", "list_reply": {"id": "1", "title": "Quito"}}
    )
    place, contact, quick, listed = _read(location, card, button, choice)
    assert place.type == "location" and place.location.name == "Casa" and place.location.latitude == -0.18
    assert (
        contact.type == "contact" and contact.contact.name == "Luis" and contact.contact.phones == ("+593 99 111 2233",)
    )
    assert (quick.type, quick.text) == ("text", "Sí, avísame")
    assert (listed.type, listed.text) == ("text", "Quito")


def test_unknown_types_are_kept_as_unsupported_not_refused() -> None:
    [order, odd] = _read(_inbound(type="order", order={"catalog_id": "1"}), _inbound(type="a_type_of_2030"))
    assert order.type == odd.type == "unsupported"


def test_a_reaction_and_its_removal() -> None:
    added = reaction_message(CUSTOMER, "wamid.OUT", "👍", message_id="wamid.R1")
    removed = _inbound(type="reaction", reaction={"message_id": "wamid.OUT"})
    [first, second] = _read(added, removed)
    assert isinstance(first, Reaction) and (first.target_message_id, first.emoji) == ("wamid.OUT", "👍")
    assert isinstance(second, Reaction) and second.emoji == ""


def test_statuses_become_receipts_and_failures() -> None:
    error = {"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Receiver is incapable"}}
    events = _read(
        statuses=(
            status_update("wamid.A", "sent", CUSTOMER),
            status_update("wamid.A", "delivered", CUSTOMER),
            status_update("wamid.A", "read", CUSTOMER),
            status_update("wamid.B", "failed", CUSTOMER, errors=[error]),
            status_update("wamid.C", "failed", CUSTOMER),
        )
    )
    assert events[0] == Receipt(("wamid.A",), read=False) and events[1] == Receipt(("wamid.A",), read=True)
    assert isinstance(events[2], DeliveryFailed) and "Meta 131026: Receiver is incapable" in events[2].reason
    assert isinstance(events[3], DeliveryFailed) and "sin detalle" in events[3].reason
    assert len(events) == 4  # "sent" says nothing new


def test_an_unreadable_time_dates_the_message_on_arrival() -> None:
    [event] = _read(_inbound(type="text", text={"body": "x"}, timestamp="99999999999999999999"))
    assert abs((event.timestamp - datetime.now(UTC)).total_seconds()) < 5


def test_only_the_named_numbers_are_read() -> None:
    body = json.dumps(envelope("999", messages=[text_message(CUSTOMER, "hola")])).encode()
    assert numbers_named(body) == {"999"}
    assert events_by_number(body, {NUMBER}) == {}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"object": "page"}',
        b'{"entry": {"a": 1}}',
        b'{"entry": [{"changes": [{"value": 1}]}]}',
    ],
)
def test_bodies_that_are_not_metas_are_refused(body: bytes) -> None:
    with pytest.raises(WebhookError):
        numbers_named(body)


def test_the_signature_is_the_hmac_of_the_exact_body() -> None:
    body = b'{"entry": []}'
    good = sign("secret", body)
    assert signed_by(body, good, "secret")
    assert signed_by(body, good.upper().replace("SHA256=", "sha256="), "secret")  # hex case does not matter
    assert not signed_by(body + b" ", good, "secret")
    assert not signed_by(body, good, "other")
    assert not signed_by(body, None, "secret") and not signed_by(body, "", "secret")
    assert not signed_by(body, good.removeprefix("sha256="), "secret")
    assert not signed_by(body, "sha256=zz\u00e9", "secret")
