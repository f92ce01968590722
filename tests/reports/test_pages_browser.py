"""The reports page and the canned-responses page in headless Chromium.

The reports page must draw its four charts (uPlot, served from our static files) from the hand-computed dataset
with no CSP refusal nor script error, show the period's figures after filtering by point and period, and link a CSV
of the same filters. The canned-responses page lists, adds, edits and deletes a point's canned responses.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import ConsoleMessage, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.reports.dataset import ZONE, hand_dataset
from tests.web.conftest import ARTIFACTS, DESKTOP, PHONE, Login

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def _screenshot(page: Page, name: str) -> None:
    """Under test-artifacts/screenshots; into docs/screenshots/ with UPDATE_SCREENSHOTS=1 (for docs/reports.md)."""
    target = ARTIFACTS / "screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target), full_page=True, animations="disabled", caret="hide")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOC_IMAGES / target.name)


def _watch(page: Page) -> list[str]:
    """Console errors (a CSP refusal is one) and uncaught script errors of the page."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


INK_PIXELS = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
  return ink;
}"""


async def test_reports_page_draws_its_charts(login: Login, world: World, session: AsyncSession) -> None:
    today = datetime.now(ZONE).date()
    data = await hand_dataset(session, world.point_a, world.point_b, world.agent_a.user_id, today - timedelta(days=3))
    page = await login(world.supervisor_a)
    problems = _watch(page)
    await page.get_by_role("navigation", name="Principal").get_by_role("link", name="Reportes").click()
    await expect(page.get_by_role("heading", name="Reportes", level=1)).to_be_visible()

    await page.get_by_label("Sucursal").select_option(label="Punto A")
    await page.get_by_label("Desde").fill(data.first_day.isoformat())
    await page.get_by_label("Hasta").fill(data.last_day.isoformat())
    await page.get_by_role("button", name="Ver reporte").click()
    figures = page.locator(".figures")
    await expect(figures.locator(".figure", has_text="Conversaciones")).to_contain_text("6")
    await expect(figures.locator(".figure", has_text="Contención del bot")).to_contain_text("33 %")
    await expect(figures.locator(".figure", has_text="Primera respuesta")).to_contain_text("2 min / 4,4 min")
    await expect(figures.locator(".figure", has_text="Satisfacción")).to_contain_text("4,0 de 5")

    await expect(page.locator("#charts")).to_have_attribute("data-ready", "true")
    canvases = page.locator("#charts canvas")
    await expect(canvases).to_have_count(4)
    for index in range(4):
        canvas = canvases.nth(index)
        box = await canvas.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert await canvas.evaluate(INK_PIXELS) > 500, f"chart {index} is blank"
    legend = page.locator("[data-chart=conversations] .u-legend")
    await expect(legend).to_contain_text("Solo bot")
    await expect(legend).to_contain_text("Derivadas a persona")
    await page.get_by_text("Ver los datos en una tabla").click()
    rows = page.locator("#daily-table tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(1).locator("td").nth(0)).to_have_text("2")  # day 1: C3 and C4, both handed off
    await expect(rows.nth(1).locator("td").nth(2)).to_have_text("2")
    await _screenshot(page, "reports")

    link = page.get_by_role("link", name="Descargar conversaciones (CSV)")
    download = await page.request.get(await link.get_attribute("href") or "")
    assert download.status == 200
    lines = (await download.text()).removeprefix("\ufeff").splitlines()
    assert lines[0].startswith("Sucursal;Conversación;") and len(lines) == 7
    assert problems == []

    phone = await login(world.supervisor_a, viewport=PHONE)
    await phone.goto(page.url)
    await expect(phone.locator("#charts")).to_have_attribute("data-ready", "true")
    await _screenshot(phone, "reports-phone")


async def test_a_bad_period_is_said_in_spanish(login: Login, world: World) -> None:
    page = await login(world.agent_a, viewport=DESKTOP)
    await page.goto("/reportes?from=2026-03-12&to=2026-03-10")
    await expect(page.get_by_role("alert")).to_have_text("La fecha «Desde» debe ser anterior o igual a «Hasta».")
    await expect(page.locator("#charts")).to_have_count(0)


async def test_canned_responses_page_adds_edits_and_deletes(login: Login, api: httpx.AsyncClient, world: World) -> None:
    created = await api.post(
        "/api/canned-responses",
        json={"shortcut": "gracias", "content": "Gracias por escribir."},
        headers=world.admin.headers,
    )
    assert created.status_code == 201, created.text
    page = await login(world.agent_a)
    await page.goto(f"/puntos/{world.point_a}")
    await page.get_by_role("link", name="Respuestas rápidas").click()
    await expect(page.get_by_role("heading", name="Respuestas rápidas de Punto A")).to_be_visible()
    await expect(page.get_by_text("Todavía no hay respuestas rápidas propias de esta sucursal.")).to_be_visible()
    await expect(page.get_by_text("Gracias por escribir.")).to_be_visible()  # the global one, read-only

    await page.get_by_label("Atajo").fill("saludo")
    await page.get_by_label("Texto").fill("¡Hola! ¿En qué te ayudo?")
    await page.get_by_role("button", name="Agregar").click()
    await expect(page.locator("#flash")).to_have_text("Respuesta rápida agregada.")
    item = page.locator("#canned li")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("/saludo")

    await page.get_by_label("Atajo", exact=True).first.fill("saludo")  # a repeated shortcut: refused, said why
    await page.get_by_label("Texto", exact=True).first.fill("Otro saludo")
    await page.get_by_role("button", name="Agregar").click()
    refusal = page.locator("[data-form-status]").first
    await expect(refusal).to_have_attribute("role", "alert")
    await expect(refusal).to_contain_text("Atajo")  # names the field, in Spanish
    await expect(item).to_have_count(1)

    await item.get_by_text("Editar").click()
    await item.get_by_label("Texto").fill("¡Buenas! ¿En qué te ayudo?")
    await item.get_by_role("button", name="Guardar").click()
    await expect(page.locator("#flash")).to_have_text("Respuesta rápida guardada.")
    await expect(page.locator("#canned li")).to_contain_text("¡Buenas! ¿En qué te ayudo?")
    await _screenshot(page, "reports-canned")
    listed = await api.get(f"/api/service-points/{world.point_a}/canned-responses", headers=world.agent_a.headers)
    assert [(c["shortcut"], c["content"]) for c in listed.json() if not c["global"]] == [
        ("saludo", "¡Buenas! ¿En qué te ayudo?")
    ]

    await page.locator("#canned li").get_by_role("button", name="Borrar").click()  # the test's dialogs say yes
    await expect(page.locator("#flash")).to_have_text("Respuesta rápida borrada.")
    await expect(page.locator("#canned")).to_have_count(0)
