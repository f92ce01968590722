"""Issue 12's "done when", end to end through the simulator over HTTP on real PostgreSQL: a customer's photo,
voice note and PDF appear in the inbox and open for members only; an agent's image reaches the phone; a message
written on the branch's phone appears and silences the bot; a photo of a label gets its shipment's status from the
offline bot."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import CUSTOMER, fast_app, received, say, wait_phone
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.db.models import Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis" + b"\x00" * 40


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings)


def _png(text: str = "", size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, "white")
    if text:
        ImageDraw.Draw(image).text((40, 60), text, fill="black", font=ImageFont.load_default(size=64))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _point(point: object) -> str:
    return f"/api/service-points/{point}"


async def _send_file(
    client: Client, world: World, point: object, data: bytes, mime: str, *, name: str | None = None, **extra: object
) -> str:
    media = {"mimeType": mime, "dataBase64": base64.b64encode(data).decode()} | ({"fileName": name} if name else {})
    body = {"from": CUSTOMER, "media": media, **extra}
    response = await client.post(f"{_point(point)}/simulator/inbound", json=body, headers=world.admin.headers)
    assert response.status_code == 202, response.text
    return response.json()["messageId"]


async def _thread(client: Client, world: World, point: object) -> tuple[str, list[dict]]:
    conversations = (await client.get(f"{_point(point)}/conversations", headers=world.agent_a.headers)).json()
    [conversation] = conversations["items"]
    url = f"{_point(point)}/conversations/{conversation['id']}/messages"
    return conversation["id"], (await client.get(url, headers=world.agent_a.headers)).json()["items"]


async def _ready(client: Client, world: World, point: object, count: int) -> list[dict]:
    """The thread's media messages once `count` of them have their file."""

    async def downloaded() -> bool:
        _, items = await _thread(client, world, point)
        return sum(1 for m in items if m["media"] and m["media"]["status"] == "READY") >= count

    await eventually(downloaded, timeout=10, what=f"{count} files downloaded")
    return [m for m in (await _thread(client, world, point))[1] if m["media"]]


async def test_photo_voice_note_and_pdf_open_for_members_only(client: Client, linked: World) -> None:
    world = linked
    photo = _png()
    await _send_file(client, world, world.point_a, photo, "image/png", text="la caja llegó así")
    await _send_file(client, world, world.point_a, OGG, "audio/ogg; codecs=opus", voice=True)
    await _send_file(client, world, world.point_a, PDF, "application/pdf", name="factura.pdf")
    media = {m["type"]: m for m in await _ready(client, world, world.point_a, 3)}
    assert set(media) == {"image", "audio", "document"}
    assert media["image"]["caption"] == "la caja llegó así"
    assert media["document"]["media"]["fileName"] == "factura.pdf"
    assert media["audio"]["media"]["voice"] is True

    image = await client.get(media["image"]["media"]["url"], headers=world.agent_a.headers)
    assert image.status_code == 200
    assert image.content == photo
    assert image.headers["content-type"].startswith("image/png")
    assert image.headers["x-content-type-options"] == "nosniff"
    document = await client.get(media["document"]["media"]["url"], headers=world.agent_a.headers)
    assert document.content == PDF and "factura.pdf" in document.headers["content-disposition"]
    for outsider in (world.agent_b, world.outsider):
        denied = await client.get(media["image"]["media"]["url"], headers=outsider.headers)
        assert denied.status_code in (403, 404), denied.text
    # another point's path with this point's media id: not found, never the file
    crossed = media["image"]["media"]["url"].replace(str(world.point_a), str(world.point_b))
    assert (await client.get(crossed, headers=world.admin.headers)).status_code == 404


async def test_an_agents_image_reaches_the_customers_phone(client: Client, linked: World) -> None:
    world = linked
    await say(client, world, world.point_a, "hola")
    await wait_phone(client, world, world.point_a, 1)
    conversation_id, _ = await _thread(client, world, world.point_a)
    photo = _png(size=(32, 32))
    response = await client.post(
        f"{_point(world.point_a)}/conversations/{conversation_id}/messages",
        files={"file": ("foto.png", photo, "image/png")},
        data={"content": "Así quedó su paquete"},
        headers=world.agent_a.headers,
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["type"] == "image" and sent["caption"] == "Así quedó su paquete"

    async def on_the_phone() -> bool:
        return any(item.get("media") for item in await received(client, world, world.point_a))

    await eventually(on_the_phone, what="the image on the customer's phone")
    [item] = [item for item in await received(client, world, world.point_a) if item.get("media")]
    assert item["media"]["mimeType"] == "image/png" and item["media"]["size"] == len(photo)
    assert item["text"] == "Así quedó su paquete"


async def test_a_message_from_the_branch_phone_silences_the_bot(client: Client, linked: World) -> None:
    world = linked
    await say(client, world, world.point_a, "hola")
    await wait_phone(client, world, world.point_a, 1)
    response = await client.post(
        f"{_point(world.point_a)}/simulator/phone-send",
        json={"to": CUSTOMER, "text": "Hola, le escribo desde la sucursal"},
        headers=world.admin.headers,
    )
    assert response.status_code == 202, response.text

    async def taken() -> bool:
        conversations = await client.get(f"{_point(world.point_a)}/conversations", headers=world.agent_a.headers)
        return conversations.json()["items"][0]["status"] == "HUMAN"

    await eventually(taken, what="the conversation taken from the phone")
    conversation_id, items = await _thread(client, world, world.point_a)
    [from_phone] = [m for m in items if m["sentFromPhone"]]
    assert from_phone["senderType"] == "AGENT" and from_phone["content"] == "Hola, le escribo desde la sucursal"
    detail = (
        await client.get(f"{_point(world.point_a)}/conversations/{conversation_id}", headers=world.agent_a.headers)
    ).json()
    assert detail["events"][-1]["kind"] == "TAKEN_FROM_PHONE"

    before = len(await received(client, world, world.point_a))
    await say(client, world, world.point_a, "¿y mi paquete?")
    _, items = await _thread(client, world, world.point_a)
    assert items[0]["content"] == "¿y mi paquete?"
    await asyncio.sleep(1.5)  # three sweeps of the fast app: time enough for a bot turn, had one been owed
    assert len(await received(client, world, world.point_a)) == before  # the bot said nothing


async def test_a_photo_of_a_label_gets_the_shipment_status_offline(
    client: Client, linked: World, session: AsyncSession
) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    world = linked
    session.add(Shipment(service_point_id=world.point_a, tracking_number="QTO482913", status=ShipmentStatus.IN_TRANSIT))
    await session.commit()
    label = _png("GUIA QTO482913", size=(900, 200))
    await _send_file(client, world, world.point_a, label, "image/png")
    [answer] = await wait_phone(client, world, world.point_a, 1)
    assert "QTO482913" in answer and "En tránsito" in answer
