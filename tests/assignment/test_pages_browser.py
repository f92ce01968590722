"""The pages in headless Chromium: the header's "Disponible / Ausente", the point's settings form (Spanish errors
naming the day or the field), and the waiting count on /puntos."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.conftest import World
from tests.web.conftest import Login, api, browser, doc_screenshot, login  # noqa: F401 (fixtures)
from tests.whatsapp.conftest import eventually

ME = "/api/me/availability"


async def _status(api: httpx.AsyncClient, headers: dict[str, str]) -> str:  # noqa: F811
    return (await api.get(ME, headers=headers)).json()["status"]


async def test_presence_and_point_settings(login: Login, api: httpx.AsyncClient, world: World) -> None:  # noqa: F811
    page = await login(world.supervisor_a)
    presence = page.get_by_role("group", name="Mi disponibilidad")
    await expect(presence.get_by_role("radio", name="Disponible")).to_be_checked()
    await eventually(lambda: _is(api, world, "ONLINE"), what="ONLINE confirmed by the page")
    await expect(page.get_by_role("row", name="Punto A")).to_contain_text("Nadie esperando")

    await page.goto(f"/puntos/{world.point_a}")
    form = page.locator("#settings-form")
    await form.get_by_label("Atender a toda hora").uncheck()
    monday = form.get_by_label("Lunes")
    await monday.fill("18:00-08:00")
    await form.get_by_role("button", name="Guardar ajustes").click()
    status = page.locator("#settings-status")
    await expect(status).to_have_text("Horario del lunes: en «18:00-08:00» la apertura debe ser antes del cierre.")
    await expect(monday).to_have_attribute("aria-invalid", "true")

    await monday.fill("08:00-12:00, 14:00-18:00")
    await form.get_by_label("Sábado").fill("9:00-13:00")
    await form.get_by_label("Zona horaria").fill("Mars/Olympus")
    await form.get_by_role("button", name="Guardar ajustes").click()
    await expect(status).to_contain_text("Zona horaria: no es una zona horaria conocida")
    await expect(status).not_to_contain_text("time zone")

    await form.get_by_label("Zona horaria").fill("Asia/Tokyo")
    await form.get_by_label("Reasignar si la persona asignada no responde en (minutos)").fill("3")
    await form.get_by_label("Pedir al cliente una calificación").check()
    await form.get_by_label("Nombre de la sucursal").fill("Punto A Norte")
    await form.get_by_role("button", name="Guardar ajustes").click()
    await expect(page.locator("#flash")).to_have_text("Ajustes guardados.")
    await expect(page.locator("#hours-summary")).to_have_text(
        "lunes de 08:00 a 12:00 y de 14:00 a 18:00 y sábado de 09:00 a 13:00"
    )
    saved = (await api.get(f"/api/service-points/{world.point_a}", headers=world.admin.headers)).json()
    assert saved == saved | {
        "name": "Punto A Norte",
        "timezone": "Asia/Tokyo",
        "businessHours": {"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "sat": [["09:00", "13:00"]]},
        "assignmentTimeoutMinutes": 3,
        "csatEnabled": True,
    }
    await doc_screenshot(page, "point-settings")

    await presence.get_by_text("Ausente").click()
    await eventually(lambda: _is(api, world, "AWAY"), what="AWAY chosen")
    await page.reload()  # the choice holds across pages: no ONLINE is sent
    await expect(page.get_by_role("radio", name="Ausente")).to_be_checked()
    assert await _status(api, world.supervisor_a.headers) == "AWAY"

    agent = await login(world.agent_a)
    await agent.goto(f"/puntos/{world.point_a}")
    await expect(agent.locator("#hours-summary")).to_contain_text("lunes de 08:00 a 12:00")
    await expect(agent.locator("#settings-form")).to_have_count(0)


async def _is(api: httpx.AsyncClient, world: World, status: str) -> bool:  # noqa: F811
    return await _status(api, world.supervisor_a.headers) == status
