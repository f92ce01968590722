"""The inbox in a real browser with more than text: customers' photos, documents and places, an agent attaching a
file, delivery ticks moving with the customer's receipts, reactions and quoted replies.

Customers and the branch's phone are the simulator, driven over the API; the agent only uses the page. Everything
must appear live: a flag set in the page's window would be gone after any reload.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any

import httpx
from playwright.async_api import Locator, Page, expect

from tests.conftest import World
from tests.web.conftest import (
    Login,
    customer_says,
    doc_screenshot,
    link_point,
    mark_document,
    phone_received,
    same_document,
)
from tests.whatsapp.conftest import eventually

CUSTOMER = "+593991112233"


def _png(width: int = 40, height: int = 30, rgb: tuple[int, int, int] = (11, 110, 79)) -> bytes:
    """A real PNG of one color (stdlib only): the server checks the bytes, not the declared type."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


async def _inbound(api: httpx.AsyncClient, world: World, point: Any, body: dict[str, Any]) -> str:
    response = await api.post(
        f"/api/service-points/{point}/simulator/inbound", json={"from": CUSTOMER, **body}, headers=world.admin.headers
    )
    assert response.status_code == 202, response.text
    return str(response.json()["messageId"])


async def _open_inbox(login: Login, api: httpx.AsyncClient, world: World) -> Page:
    await link_point(api, world, world.point_a)
    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await mark_document(page)
    await expect(page.locator("#live")).to_contain_text("En vivo")
    return page


async def _open_conversation(page: Page) -> Locator:
    await page.get_by_role("link", name=re.compile(re.escape(CUSTOMER))).click()
    return page.get_by_role("list", name="Mensajes")


async def _sent_to_customer(api: httpx.AsyncClient, world: World, match: Any) -> dict[str, Any]:
    """The one item of `simulator/sent` for which `match` holds, once the customer's phone has it."""
    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        found[:] = [m for m in await phone_received(api, world, world.point_a) if m["to"] == CUSTOMER and match(m)]
        return bool(found)

    await eventually(arrived, timeout=10, what="the message on the customer's phone")
    assert len(found) == 1, found
    return found[0]


async def test_customer_photo_document_and_place_appear_live(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    page = await _open_inbox(login, api, world)
    await customer_says(api, world, world.point_a, CUSTOMER, "hola, les mando la guía")
    messages = await _open_conversation(page)
    await expect(messages).to_contain_text("hola, les mando la guía")

    photo = _png()
    await _inbound(
        api,
        world,
        world.point_a,
        {
            "text": "esta es la foto del paquete",
            "media": {
                "mimeType": "image/png",
                "fileName": "paquete.png",
                "dataBase64": base64.b64encode(photo).decode(),
            },
        },
    )
    image = messages.get_by_role("img", name="Foto del cliente")
    await expect(image).to_be_visible()  # "descargando…" first, then the picture, without a reload
    await expect(image).to_have_js_property("naturalWidth", 40)  # really served by the media endpoint
    bubble = messages.locator(".msg.in").filter(has=page.get_by_role("img", name="Foto del cliente"))
    await expect(bubble).to_contain_text("esta es la foto del paquete")  # the caption under it
    src = await image.get_attribute("src")
    assert src and re.fullmatch(rf"/api/service-points/{world.point_a}/media/[0-9a-f-]+", src)

    await page.get_by_role("link", name="Foto del cliente: ver en tamaño completo").click()
    viewer = page.get_by_role("dialog", name="Foto en tamaño completo")
    await expect(viewer).to_be_visible()
    await expect(viewer.get_by_role("img")).to_have_attribute("src", src)
    await viewer.get_by_role("button", name="Cerrar").click()
    await expect(viewer).to_be_hidden()

    await _inbound(
        api,
        world,
        world.point_a,
        {
            "media": {
                "mimeType": "application/pdf",
                "fileName": "factura.pdf",
                "dataBase64": base64.b64encode(PDF).decode(),
            }
        },
    )
    document = messages.get_by_role("link", name=re.compile(r"^Descargar factura\.pdf \(\d+ B\)$"))
    await expect(document).to_be_visible()
    await expect(document).to_have_attribute("href", re.compile(rf"^/api/service-points/{world.point_a}/media/"))

    await _inbound(
        api,
        world,
        world.point_a,
        {
            "location": {
                "latitude": -2.1894,
                "longitude": -79.8891,
                "name": "Bodega Norte",
                "address": "Av. 9 de Octubre",
            }
        },
    )
    place = messages.get_by_role("link", name="Bodega Norte (ver en el mapa)")
    await expect(place).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=-2\.1894&mlon=-79\.8891")
    )
    await expect(messages).to_contain_text("Av. 9 de Octubre")
    assert await same_document(page)
    await doc_screenshot(page, "inbox-medios")


async def test_agent_attaches_an_image_and_the_customer_receives_it(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    page = await _open_inbox(login, api, world)
    await customer_says(api, world, world.point_a, CUSTOMER, "¿me confirman la dirección?")
    messages = await _open_conversation(page)
    await expect(messages).to_contain_text("¿me confirman la dirección?")
    status = page.locator("#reply-status")

    # The page refuses what WhatsApp would not take, before uploading anything.
    await page.get_by_label("Adjuntar").set_input_files(
        files=[{"name": "programa.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00"}]
    )
    await expect(status).to_contain_text("no se puede enviar")
    await expect(page.locator("#attachment")).to_be_hidden()
    await _drop_file(page, "enorme.pdf", "application/pdf", 17 * 1024 * 1024)
    await expect(status).to_contain_text("el máximo es 16 MB")
    await expect(page.locator("#attachment")).to_be_hidden()

    # A file dropped onto the conversation is attached, and can be taken off again.
    await _drop_file(page, "contrato.pdf", "application/pdf", 2048)
    await expect(page.locator("#attachment")).to_contain_text("contrato.pdf (2 KB)")
    await page.get_by_role("button", name="Quitar el archivo adjunto").click()
    await expect(page.locator("#attachment")).to_be_hidden()

    # So is an image pasted into the text box.
    await page.get_by_label("Respuesta").evaluate(
        """(box) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(300)], "image.png", { type: "image/png" }));
            const paste = new ClipboardEvent("paste", { bubbles: true, cancelable: true, clipboardData: transfer });
            box.dispatchEvent(paste);
        }"""
    )
    await expect(page.locator("#attachment")).to_contain_text("image.png (300 B)")
    await page.get_by_role("button", name="Quitar el archivo adjunto").click()
    await expect(page.locator("#attachment")).to_be_hidden()

    picture = _png(64, 48, (200, 30, 30))
    await page.get_by_label("Adjuntar").set_input_files(
        files=[{"name": "mapa.png", "mimeType": "image/png", "buffer": picture}]
    )
    await expect(page.locator("#attachment")).to_contain_text("mapa.png")
    await page.get_by_label("Respuesta").fill("Aquí está el mapa de la sucursal")
    await page.get_by_role("button", name="Enviar").click()
    await expect(status).to_have_text("Archivo en camino al cliente.")
    await expect(page.locator("#attachment")).to_be_hidden()
    await expect(page.get_by_label("Respuesta")).to_have_value("")

    sent = await _sent_to_customer(api, world, lambda m: m.get("media") is not None)
    assert sent["media"]["mimeType"] == "image/png"
    assert sent["media"]["fileName"] == "mapa.png"
    assert sent["media"]["size"] == len(picture)
    assert sent["text"] == "Aquí está el mapa de la sucursal"

    bubble = messages.locator(".msg.agent").filter(has=page.get_by_role("img", name="Foto de la sucursal"))
    await expect(bubble.get_by_role("img", name="Foto de la sucursal")).to_have_js_property("naturalWidth", 64)
    await expect(bubble).to_contain_text("Aquí está el mapa de la sucursal")
    await expect(bubble).to_contain_text("Enviado")
    assert await same_document(page)


async def _drop_file(page: Page, name: str, mime_type: str, size: int) -> None:
    """Drop a file made in the page onto the conversation, as dragging it from the desktop does."""
    await page.locator("#thread").evaluate(
        """(thread, [name, type, size]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(size)], name, { type }));
            for (const kind of ["dragenter", "dragover", "drop"]) {
                thread.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
            }
        }""",
        [name, mime_type, size],
    )


async def test_ticks_follow_receipts_and_reactions_and_replies_show(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    page = await _open_inbox(login, api, world)
    await customer_says(api, world, world.point_a, CUSTOMER, "necesito ayuda con mi envío")
    messages = await _open_conversation(page)
    await expect(messages).to_contain_text("necesito ayuda con mi envío")

    reply = "Con gusto, ¿cuál es tu número de guía?"
    await page.get_by_label("Respuesta").fill(reply)
    await page.get_by_role("button", name="Enviar").click()
    bubble = messages.locator(".msg.agent").filter(has_text=reply)
    delivery = bubble.locator(".delivery")
    await expect(delivery).to_have_text("✓ Enviado")
    provider_id = (await _sent_to_customer(api, world, lambda m: m["text"] == reply))["messageId"]

    base = f"/api/service-points/{world.point_a}/simulator"
    delivered = await api.post(
        f"{base}/receipt", json={"messageId": provider_id, "status": "DELIVERED"}, headers=world.admin.headers
    )
    assert delivered.status_code == 202, delivered.text
    await expect(delivery).to_have_text("✓✓ Entregado")
    read = await api.post(
        f"{base}/receipt", json={"messageId": provider_id, "status": "READ"}, headers=world.admin.headers
    )
    assert read.status_code == 202, read.text
    await expect(delivery).to_have_text("✓✓ Leído")
    await expect(delivery).to_have_class(re.compile(r"\bread\b"))

    await _inbound(api, world, world.point_a, {"reaction": {"messageId": provider_id, "emoji": "👍"}})
    await expect(bubble.get_by_role("img", name="Reacción del cliente: 👍")).to_be_visible()

    await _inbound(api, world, world.point_a, {"text": "es la QTO123456", "replyTo": provider_id})
    answer = messages.locator(".msg.in").filter(has_text="es la QTO123456")
    quote = answer.get_by_role("button", name=re.compile(r"^Responde a Sucursal: Con gusto"))
    await expect(quote).to_be_visible()
    await quote.click()
    await expect(bubble).to_be_focused()  # the quoted message, brought into view

    phone = await api.post(
        f"{base}/phone-send", json={"to": CUSTOMER, "text": "Te escribo desde la sucursal"}, headers=world.admin.headers
    )
    assert phone.status_code == 202, phone.text
    from_phone = messages.locator(".msg.out").filter(has_text="Te escribo desde la sucursal")
    await expect(from_phone).to_contain_text("desde el teléfono")
    assert await same_document(page)
