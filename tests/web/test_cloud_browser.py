"""A Cloud API branch in a real browser: an admin switches a branch to the official API and enters its number through
the branch page (against the fake Graph API), and agents work the 24-hour window from the inbox: the notice and the
template picker once it closed, the hint before it closes, and the switch to the picker when a send is refused.

Customers are Meta's signed webhooks, posted over HTTP; the staff only use the pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from tests.conftest import TEST_JWT_SECRET, World
from tests.fakes.graph_api import SAMPLE_TEMPLATES, FakeGraph, envelope, running_fake_graph, sign, text_message
from tests.web.conftest import Login
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings, load_settings

NUMBER_ID = "106540352242922"
BUSINESS_ACCOUNT_ID = "2233445566"
TOKEN = "EAAG-access-token-of-point-a"
APP_SECRET = "app-secret-of-the-meta-app"
VERIFY = "verify-token-of-point-a"
CUSTOMER = "593991112233"  # as Meta writes it
OTHER_CUSTOMER = "593987654321"
WEBHOOK = "/webhooks/whatsapp-cloud"
NOTICE = "Pasaron más de 24 horas desde el último mensaje del cliente"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with running_fake_graph() as fake:
        fake.add_number(NUMBER_ID, TOKEN, display_phone_number="+593 2 000 0011", verified_name="Punto A")
        fake.add_templates(BUSINESS_ACCOUNT_ID, TOKEN, SAMPLE_TEMPLATES)
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, graph: FakeGraph) -> Settings:
    environ = {
        "DATABASE_URL": database_url,
        "VENTANILLA_DATA_DIR": str(tmp_path / "data"),
        "AUTH_SESSIONS_DIR": str(tmp_path / "auth_sessions"),
        "WHATSAPP_TRANSPORT": "simulator",
        "JWT_SECRET": TEST_JWT_SECRET,
        "WHATSAPP_CLOUD_API_BASE": graph.url,
    }
    return load_settings(environ, env_file=None)


async def _customer_writes(api: httpx.AsyncClient, sender: str, text: str, *, hours_ago: float = 0) -> None:
    moment = int((datetime.now(UTC) - timedelta(hours=hours_ago)).timestamp())
    payload = envelope(NUMBER_ID, messages=[text_message(sender, text, timestamp=moment)])
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
    response = await api.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text


async def _set_up_through_the_page(login: Login, world: World, live_server: str) -> Page:
    page = await login(world.admin)
    await page.goto(f"/puntos/{world.point_a}")
    await expect(page.get_by_role("button", name="Vincular WhatsApp", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Usar la API oficial (Cloud API)").click()  # confirmed by the dialog handler
    await expect(page.locator("#wa-transport")).to_contain_text("API oficial de WhatsApp (Cloud API)")
    await expect(page.get_by_role("button", name="Vincular WhatsApp", exact=True)).to_have_count(0)
    await expect(page.get_by_role("img", name="Código QR")).to_have_count(0)
    await expect(page.locator("#pairing")).to_have_count(0)
    await expect(page.locator("#wa-error")).to_contain_text("no tiene número configurado")

    form = page.locator("#cloud-form")
    await form.get_by_label("Phone Number ID").fill("1065-4035")
    await form.get_by_label("Token de acceso").fill(TOKEN)
    await form.get_by_label("App Secret").fill(APP_SECRET)
    await form.get_by_label("Token de verificación del webhook").fill(VERIFY)
    await form.get_by_label("Nombre de la plantilla").fill("aviso_envio")
    await form.get_by_label("Idioma de la plantilla").fill("es")
    await form.get_by_role("button", name="Guardar el número").click()
    status = page.locator("#cloud-status")
    await expect(status).to_have_text("Phone Number ID: tiene un formato incorrecto.")  # the API's 400, in Spanish
    await expect(form.get_by_label("Phone Number ID")).to_have_attribute("aria-invalid", "true")

    await form.get_by_label("Phone Number ID").fill(NUMBER_ID)
    await form.get_by_label("WhatsApp Business Account ID").fill(BUSINESS_ACCOUNT_ID)
    await form.get_by_role("button", name="Guardar el número").click()
    await expect(status).to_contain_text("Número guardado")
    await expect(page.locator("#wa-badge")).to_have_text("Conectado")
    await expect(page.locator("#wa-status")).to_contain_text("Meta aceptó el número +59320000011")
    await expect(page.locator("#webhook-url")).to_have_text(f"{live_server}{WEBHOOK}")
    await expect(form.get_by_label("Token de acceso")).to_have_value("")  # secrets are never shown back
    return page


async def test_admin_sets_up_a_cloud_point_through_the_page(
    login: Login, world: World, live_server: str, api: httpx.AsyncClient, graph: FakeGraph
) -> None:
    page = await _set_up_through_the_page(login, world, live_server)

    await page.reload()  # the stored number fills the form; empty secrets keep the stored ones
    form = page.locator("#cloud-form")
    await expect(form.get_by_label("Phone Number ID")).to_have_value(NUMBER_ID)
    await expect(form.get_by_label("WhatsApp Business Account ID")).to_have_value(BUSINESS_ACCOUNT_ID)
    await expect(form.get_by_label("Nombre de la plantilla")).to_have_value("aviso_envio")
    await expect(page.locator("#c-secrets-rule")).to_contain_text("vacíos para conservar")
    await form.get_by_label("Nombre de la plantilla").fill("")
    await form.get_by_label("Idioma de la plantilla").fill("")
    await form.get_by_role("button", name="Guardar el número").click()
    await expect(page.locator("#cloud-status")).to_contain_text("Número guardado")
    account = (await api.get(f"/api/service-points/{world.point_a}/whatsapp/cloud", headers=world.admin.headers)).json()
    assert account["alertTemplate"] is None and account["phoneNumberId"] == NUMBER_ID
    await expect(page.locator("#wa-badge")).to_have_text("Conectado")  # the kept token still works

    # another branch cannot take the same number: the 409, in Spanish, next to the form
    await page.goto(f"/puntos/{world.point_b}")
    await page.get_by_role("button", name="Usar la API oficial (Cloud API)").click()
    other = page.locator("#cloud-form")
    await other.get_by_label("Phone Number ID").fill(NUMBER_ID)
    await other.get_by_label("Token de acceso").fill(TOKEN)
    await other.get_by_label("App Secret").fill(APP_SECRET)
    await other.get_by_label("Token de verificación del webhook").fill("another-verify-token")
    await other.get_by_role("button", name="Guardar el número").click()
    await expect(page.locator("#cloud-status")).to_have_text(
        "Phone Number ID: otra sucursal ya usa este número; elige otro."
    )

    # and back to WhatsApp Web: the QR block returns
    await page.get_by_role("button", name="Usar WhatsApp Web").click()
    await expect(page.locator("#transport-current")).to_have_text("WhatsApp Web (teléfono vinculado por QR)")
    await expect(page.locator("#flash")).to_have_text("La sucursal usa ahora WhatsApp Web.")
    await expect(page.locator("#qr-box")).to_have_count(1)
    await expect(page.locator("#cloud-form")).to_have_count(0)


async def test_agent_reopens_a_closed_window_with_a_template(
    login: Login, world: World, live_server: str, api: httpx.AsyncClient, graph: FakeGraph
) -> None:
    await _set_up_through_the_page(login, world, live_server)
    await _customer_writes(api, CUSTOMER, "Hola, ¿y mi paquete?", hours_ago=25)

    async def bot_answered() -> bool:
        return any(m.to == CUSTOMER for m in graph.sent)

    await eventually(bot_answered, timeout=10, what="the bot's answer of that time")

    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await page.get_by_role("link", name=re.compile(re.escape(f"+{CUSTOMER}"))).click()
    await expect(page.get_by_role("list", name="Mensajes")).to_contain_text("Hola, ¿y mi paquete?")
    await expect(page.locator("#window-notice")).to_contain_text(NOTICE)
    await expect(page.locator("#reply")).to_be_hidden()
    choice = page.get_by_label("Plantilla", exact=True)
    await expect(choice.locator("option")).to_have_count(2)  # the placeholder and the one APPROVED template
    await choice.select_option(label="seguimiento_envio (es)")
    await expect(page.locator("#template-body")).to_have_text("Hola {{1}}, tu envío {{2}} tiene novedades.")
    await page.get_by_role("button", name="Enviar plantilla").click()
    await expect(page.locator("#template-status")).to_contain_text("Valor para {{1}}: escribe el dato")
    await page.get_by_label("Valor para {{1}}").fill("Ana")
    await page.get_by_label("Valor para {{2}}").fill("ABC123456")
    await page.get_by_role("button", name="Enviar plantilla").click()
    messages = page.get_by_role("list", name="Mensajes")
    await expect(messages).to_contain_text("Hola Ana, tu envío ABC123456 tiene novedades.")

    async def template_sent() -> bool:
        return bool(graph.sent) and graph.sent[-1].body["type"] == "template"

    await eventually(template_sent, timeout=10, what="the template at Meta")
    sent = graph.sent[-1].body["template"]
    assert sent["name"] == "seguimiento_envio"
    assert [p["text"] for p in sent["components"][0]["parameters"]] == ["Ana", "ABC123456"]

    # the customer answers: the window opens again, live, and the answer box is back
    await _customer_writes(api, CUSTOMER, "gracias")
    await expect(messages).to_contain_text("gracias")
    await expect(page.locator("#window-closed")).to_be_hidden()
    await expect(page.locator("#reply")).to_be_visible()
    await expect(page.locator("#window-hint")).to_be_hidden()


async def test_the_hint_before_the_window_closes_and_a_refused_send(
    login: Login, world: World, live_server: str, api: httpx.AsyncClient, graph: FakeGraph
) -> None:
    await _set_up_through_the_page(login, world, live_server)
    await _customer_writes(api, OTHER_CUSTOMER, "¿Siguen abiertos?", hours_ago=23.5)
    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await page.get_by_role("link", name=re.compile(re.escape(f"+{OTHER_CUSTOMER}"))).click()
    await expect(page.locator("#window-hint")).to_contain_text(re.compile(r"Quedan \d+ minutos de las 24 horas"))
    await expect(page.locator("#reply")).to_be_visible()
    await expect(page.locator("#window-closed")).to_be_hidden()

    # The page believes the window is open (a wrong clock, or it closed meanwhile) while the server's has closed: the
    # send is refused (409) and the page switches to the picker by itself. The page is shown an open window by
    # rewriting the conversation's answer on its way to the page.
    await _customer_writes(api, CUSTOMER, "Hola", hours_ago=25)
    shown_end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    async def open_window(route: Route) -> None:
        response = await route.fetch()
        detail = await response.json()
        detail["serviceWindowEndsAt"] = shown_end
        await route.fulfill(response=response, json=detail)

    await page.route(re.compile(r"/conversations/[0-9a-f-]{36}$"), open_window)
    await page.get_by_role("link", name=re.compile(re.escape(f"+{CUSTOMER}"))).click()
    await expect(page.get_by_role("list", name="Mensajes")).to_contain_text("Hola")
    await expect(page.locator("#window-hint")).to_contain_text("Quedan 1 hora")
    await page.get_by_label("Respuesta").fill("¿Sigue ahí?")
    await page.get_by_role("button", name="Enviar", exact=True).click()
    await expect(page.locator("#window-closed")).to_be_visible()
    await expect(page.locator("#reply")).to_be_hidden()
    await expect(page.locator("#template-status")).to_contain_text("se cerró mientras tanto")
    await expect(page.get_by_label("Plantilla", exact=True).locator("option")).to_have_count(2)
    await expect(page.locator("#window-closed")).to_be_visible()  # still, after the conversation was fetched again
    assert not [m for m in graph.sent if m.type == "text" and m.body["text"]["body"] == "¿Sigue ahí?"]
