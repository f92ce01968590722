"""The pages in a real browser: log in, link a branch, watch it connect, answer a customer, give back; admin pages.

Customers and the branch's phone are the simulator, driven over the API; everything the staff does goes through
the pages. "Live" is checked by a flag set in the page's window: it would be gone after any reload.
"""

from __future__ import annotations

import asyncio
import re
from uuid import UUID

import httpx
from playwright.async_api import Locator, Page, expect

from tests.conftest import World
from tests.web.conftest import (
    PHONE,
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
OTHER_CUSTOMER = "+593987654321"


def _row(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


async def test_login_list_and_logout(login: Login, live_server: str, world: World) -> None:
    page = await login(world.agent_a)
    await expect(_row(page, "Punto A")).to_contain_text("Desconectado")
    await expect(_row(page, "Punto B")).to_have_count(0)  # only the branches the user belongs to

    await page.get_by_role("button", name="Salir").click()
    await page.wait_for_url("**/login")
    await page.goto("/puntos")  # the cookie is gone: back to the login form
    await page.wait_for_url(re.compile(r"/login\?next=%2Fpuntos$"))

    await page.goto("/")
    await page.wait_for_url("**/login")
    await page.get_by_label("Correo").fill(world.admin.email)
    await page.get_by_label("Contraseña").fill("not-the-password")
    await page.get_by_role("button", name="Ingresar").click()
    await expect(page.get_by_role("alert")).to_have_text("Correo o contraseña incorrectos.")
    await doc_screenshot(page, "login")

    admin = await login(world.admin)
    await expect(_row(admin, "Punto A")).to_contain_text("Desconectado")
    await expect(_row(admin, "Punto B")).to_contain_text("Desconectado")
    await admin.goto("/")
    await admin.wait_for_url("**/puntos")


async def test_branch_links_by_qr_and_turns_connected_live(login: Login, api: httpx.AsyncClient, world: World) -> None:
    branches = await login(world.agent_a)
    await mark_document(branches)
    page = await branches.context.new_page()
    await page.goto(f"/puntos/{world.point_a}")
    await mark_document(page)
    badge = page.locator("#wa-badge")
    await expect(badge).to_have_text("Desconectado")

    await page.get_by_role("button", name="Vincular WhatsApp", exact=True).click()
    qr = page.get_by_role("img", name="Código QR")
    await expect(qr).to_be_visible()
    await expect(badge).to_have_text("Conectando")
    first = await qr.get_attribute("src")
    assert first and "/whatsapp/qr?format=svg" in first
    await expect(qr).not_to_have_attribute("src", first)  # WhatsApp rotated the code; the page redrew it
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
    await doc_screenshot(page, "punto-qr")

    scanned = await api.post(f"/api/service-points/{world.point_a}/simulator/scan", headers=world.admin.headers)
    assert scanned.status_code == 201
    await expect(badge).to_have_text("Conectado")
    await expect(page.locator("#wa-status")).to_contain_text("vinculado al número +593200000001")
    await expect(qr).to_be_hidden()
    await expect(page.get_by_role("button", name="Vincular WhatsApp", exact=True)).to_be_hidden()
    assert await same_document(page)
    await doc_screenshot(page, "punto-conectado")

    await expect(_row(branches, "Punto A")).to_contain_text("Conectado")  # the list follows too
    assert await same_document(branches)
    await doc_screenshot(branches, "puntos")

    await page.get_by_role("button", name="Desvincular WhatsApp").click()  # confirmed by the dialog handler
    await expect(badge).to_have_text("Desconectado")
    await expect(page.get_by_role("button", name="Vincular WhatsApp", exact=True)).to_be_visible()


async def test_inbox_live_takeover_reply_and_give_back(
    login: Login, api: httpx.AsyncClient, world: World, live_server: str
) -> None:
    await link_point(api, world, world.point_a)
    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await mark_document(page)
    await expect(page.locator("#live")).to_contain_text("En vivo")

    await customer_says(api, world, world.point_a, CUSTOMER, "hola, ¿dónde está mi paquete?")
    conversation = page.get_by_role("link", name=re.compile(re.escape(CUSTOMER)))
    await expect(conversation).to_be_visible()  # appeared without a reload
    await conversation.click()
    messages = page.get_by_role("list", name="Mensajes")
    await expect(messages).to_contain_text("hola, ¿dónde está mi paquete?")
    await expect(messages.locator(".msg.bot")).to_have_count(1)  # the bot's answer, live
    await expect(page.locator("#thread-state")).to_have_text("Atiende el bot.")

    await page.get_by_role("button", name="Tomar conversación").click()
    await expect(page.locator("#thread-state")).to_contain_text("Atiende una persona: agent_a (tú)")
    await expect(page.get_by_role("button", name="Devolver al bot")).to_be_visible()

    reply = "Hola, soy del punto A: tu paquete sale hoy."
    await page.get_by_label("Respuesta").fill(reply)
    await page.get_by_role("button", name="Enviar").click()
    sent_bubble = messages.locator(".msg.agent").filter(has_text=reply)
    await expect(sent_bubble).to_contain_text("Enviado")  # PENDING, then SENT live

    async def phone_got_reply() -> bool:
        return any(m["to"] == CUSTOMER and m["text"] == reply for m in await phone_received(api, world, world.point_a))

    await eventually(phone_got_reply, what="the agent's reply on the customer's phone")
    received = len([m for m in await phone_received(api, world, world.point_a) if m["to"] == CUSTOMER])

    await customer_says(api, world, world.point_a, CUSTOMER, "gracias, lo espero")
    await expect(messages).to_contain_text("gracias, lo espero")  # new message in the open conversation
    await customer_says(api, world, world.point_a, OTHER_CUSTOMER, "quiero hablar con una persona")
    waiting = page.locator(".conv.waiting").filter(has_text=OTHER_CUSTOMER)
    await expect(waiting).to_contain_text("Espera a una persona desde hace")
    await expect(waiting).to_contain_text("pidió hablar con una persona")

    async def handoff_notice() -> bool:
        return any(m["to"] == OTHER_CUSTOMER for m in await phone_received(api, world, world.point_a))

    await eventually(handoff_notice, what="the bot's handoff notice")
    await asyncio.sleep(0.3)
    assert [m for m in await phone_received(api, world, world.point_a) if m["to"] == CUSTOMER][received:] == []
    await doc_screenshot(page, "inbox")

    await page.get_by_role("button", name="Devolver al bot").click()
    await expect(page.locator("#thread-state")).to_have_text("Atiende el bot.")
    await expect(messages).to_contain_text("devolvió la conversación al bot")
    await customer_says(api, world, world.point_a, CUSTOMER, "QTO999999")

    async def bot_answers_again() -> bool:
        return len([m for m in await phone_received(api, world, world.point_a) if m["to"] == CUSTOMER]) > received

    await eventually(bot_answers_again, what="the bot answering again")
    await expect(messages.locator(".msg.bot")).to_have_count(2)
    assert await same_document(page)

    phone = await page.context.browser.new_context(
        base_url=live_server, viewport=PHONE, storage_state=await page.context.storage_state()
    )
    small = await phone.new_page()
    await small.goto(f"/puntos/{world.point_a}/inbox")
    await small.get_by_role("link", name=re.compile(re.escape(OTHER_CUSTOMER))).click()
    await expect(small.get_by_role("list", name="Mensajes")).to_contain_text("quiero hablar con una persona")
    # taken or not (the assigner may already have handed it to agent_a, who is online), it can be resolved
    await expect(small.get_by_role("button", name="Resolver", exact=True)).to_be_visible()
    await doc_screenshot(small, "inbox-movil")
    await phone.close()


async def test_admin_pages_manage_branches_users_shipments_and_faqs(
    login: Login, world: World, api: httpx.AsyncClient
) -> None:
    page = await login(world.admin)
    menu = page.get_by_role("navigation", name="Principal")
    await menu.get_by_role("link", name="Sucursales").click()
    await page.get_by_label("Nombre de la sucursal").fill("Cuenca Sur")
    await page.get_by_label("Número de WhatsApp (opcional)").fill("+593723456789")
    await page.get_by_role("button", name="Crear").click()
    await expect(page.get_by_role("status").filter(has_text="Sucursal creada.")).to_be_visible()
    await expect(_row(page, "Cuenca Sur")).to_contain_text("+593723456789")
    await doc_screenshot(page, "admin-sucursales")

    await menu.get_by_role("link", name="Usuarios").click()
    await page.get_by_label("Nombre", exact=True).fill("Ana Torres")
    await page.get_by_label("Correo del usuario").fill("ana@example.com")
    await page.get_by_label("Contraseña inicial").fill("clave-de-ana-123")
    await page.get_by_role("button", name="Crear usuario").click()
    await expect(_row(page, "Ana Torres")).to_contain_text("Ninguna")
    await page.get_by_label("Usuario", exact=True).select_option(label="Ana Torres (ana@example.com)")
    await page.get_by_label("Sucursal", exact=True).select_option(label="Cuenca Sur")
    await page.get_by_label("Rol", exact=True).select_option(label="Agente")
    await page.get_by_role("button", name="Agregar").click()
    await expect(_row(page, "Ana Torres")).to_contain_text("Cuenca Sur: Agente")
    await doc_screenshot(page, "admin-usuarios")

    await page.goto(f"/puntos/{world.point_a}/envios")
    await page.locator("#csv-file").set_input_files(
        files=[{"name": "envios.csv", "mimeType": "text/csv", "buffer": _csv("ABC100001,IN_TRANSIT", "ABC100002,LOST")}]
    )
    await page.get_by_role("button", name="Importar").click()
    problems = page.get_by_role("table", name=re.compile("Problemas por fila"))
    await expect(problems.get_by_role("row").filter(has_text="LOST")).to_contain_text("3")
    await doc_screenshot(page, "envios")
    await page.locator("#csv-file").set_input_files(
        files=[
            {
                "name": "envios.csv",
                "mimeType": "text/csv",
                "buffer": _csv("ABC100001,IN_TRANSIT", "ABC100002,DELIVERED"),
            }
        ]
    )
    await page.get_by_role("button", name="Importar").click()
    await expect(page.locator("#flash")).to_contain_text("2 envíos nuevos y 0 actualizados")  # the list reloaded
    await expect(_row(page, "ABC100002")).to_contain_text("Entregado")
    await _row(page, "ABC100001").get_by_label("Nuevo estado de ABC100001").select_option(label="En reparto")
    await _row(page, "ABC100001").get_by_role("button", name="Cambiar el estado de ABC100001").click()
    await expect(_row(page, "ABC100001")).to_contain_text("En reparto")

    await page.get_by_role("link", name="Preguntas frecuentes").click()
    await page.get_by_label("Pregunta", exact=True).fill("¿Cuál es el horario de atención?")
    await page.get_by_label("Respuesta", exact=True).fill("De lunes a viernes de 08:00 a 18:00.")
    await page.get_by_label("Palabras clave").fill("horario, abren")
    await page.get_by_role("button", name="Agregar").click()
    await expect(page.get_by_role("heading", name="¿Cuál es el horario de atención?")).to_be_visible()
    await doc_screenshot(page, "preguntas")
    faqs = (await api.get(f"/api/service-points/{world.point_a}/faqs", headers=world.agent_a.headers)).json()
    assert [(f["question"], f["keywords"]) for f in faqs] == [
        ("¿Cuál es el horario de atención?", ["horario", "abren"])
    ]

    agent = await login(world.agent_a)
    await agent.goto("/admin/usuarios")
    await expect(agent.get_by_role("heading", name="Sin permiso")).to_be_visible()
    await agent.goto(f"/puntos/{world.point_b}")
    await expect(agent.get_by_role("heading", name="No encontrado")).to_be_visible()
    assert UUID(str(world.point_b))  # the id exists: the page does not say so


def _csv(*rows: str) -> bytes:
    return ("trackingNumber,status\n" + "\n".join(rows) + "\n").encode()
