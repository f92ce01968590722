"""Canned responses in the reply box of a real browser: "/" and the first letters of a shortcut open a list of the
point's (and the global) canned responses; the arrows and Enter, or a click, put the content in place of `/shortcut`.

The canned responses are created through the API; the agent only uses the page, and what reaches the customer's
phone is the inserted text.
"""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from tests.conftest import World
from tests.web.conftest import Login, customer_says, doc_screenshot, link_point, phone_received
from tests.whatsapp.conftest import eventually

CUSTOMER = "+593991112233"
GREETING = "¡Hola! Te saluda la sucursal. ¿En qué te ayudo?"


async def _canned(api: httpx.AsyncClient, world: World, shortcut: str, content: str, *, point: bool = True) -> None:
    path = f"/api/service-points/{world.point_a}/canned-responses" if point else "/api/canned-responses"
    headers = world.agent_a.headers if point else world.admin.headers
    response = await api.post(path, json={"shortcut": shortcut, "content": content}, headers=headers)
    assert response.status_code == 201, response.text


async def test_slash_shortcut_inserts_a_canned_response(login: Login, api: httpx.AsyncClient, world: World) -> None:
    await link_point(api, world, world.point_a)
    await customer_says(api, world, world.point_a, CUSTOMER, "hola, ¿atienden hoy?")
    await _canned(api, world, "saludo", GREETING)
    await _canned(api, world, "salida", "Gracias por escribirnos. ¡Hasta pronto!")
    await _canned(api, world, "gracias", "Gracias por tu paciencia.", point=False)

    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await page.get_by_role("link", name=re.compile(re.escape(CUSTOMER))).click()
    box = page.get_by_role("textbox", name="Respuesta")
    picker = page.get_by_role("listbox", name="Atajos disponibles")
    await expect(picker).to_be_hidden()

    await box.press_sequentially("Buenas tardes. /sal")
    await expect(picker).to_be_visible()
    options = picker.get_by_role("option")
    await expect(options).to_have_count(2)  # /saludo and /salida; not the global /gracias
    await expect(options.first).to_contain_text("/salida")  # by shortcut
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await doc_screenshot(page, "inbox-canned")
    await box.press("ArrowDown")
    saludo = picker.get_by_role("option", name="/saludo")
    await expect(saludo).to_have_attribute("aria-selected", "true")
    assert await box.get_attribute("aria-activedescendant") == await saludo.get_attribute("id")
    await box.press("Enter")
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value(f"Buenas tardes. {GREETING}")

    # Escape closes without changing anything; a click inserts the global one.
    await box.press_sequentially(" /gr")
    await expect(picker.get_by_role("option")).to_have_count(1)
    await box.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value(f"Buenas tardes. {GREETING} /gr")
    await box.press_sequentially("a")  # still the dismissed word: stays closed
    await expect(picker).to_be_hidden()
    for _ in "/gra":  # the word gone, a new "/" opens the list again
        await box.press("Backspace")
    await box.press_sequentially("/")
    await expect(picker.get_by_role("option")).to_have_count(3)
    await picker.get_by_role("option", name="/gracias").click()
    await expect(box).to_have_value(f"Buenas tardes. {GREETING} Gracias por tu paciencia.")
    await expect(box).to_be_focused()

    # A "/" inside a word (a date, a web address) is just text.
    await box.press_sequentially(" 1/s")
    await expect(picker).to_be_hidden()
    await box.fill(GREETING)
    await page.get_by_role("button", name="Enviar").click()

    async def delivered() -> bool:
        return any(m["text"] == GREETING for m in await phone_received(api, world, world.point_a))

    await eventually(delivered, timeout=10, what="the canned response on the customer's phone")
