"""Daily-use friction in a real browser: errors in Spanish that name the field, phone numbers as people type them,
tables as cards on a phone, a CSV import that refreshes the list, and user management from the pages."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.web.conftest import PHONE, Login

ENGLISH = re.compile(r"Validation|Expected|required|not an?|must", re.IGNORECASE)


async def form_error(page: Page, form_button: str) -> str:
    """The error shown by the form whose submit button is named `form_button`."""
    form = page.locator("form").filter(has=page.get_by_role("button", name=form_button, exact=True))
    status = form.locator("[data-form-status]")
    await expect(status).to_have_class(re.compile(r"\berror\b"))
    return (await status.text_content() or "").strip()


async def test_errors_are_spanish_and_name_the_field_and_local_phones_are_accepted(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    page = await login(world.admin)
    await page.goto("/admin/puntos")
    await page.get_by_label("Nombre de la sucursal").fill("Centro Norte")
    phone = page.get_by_label("Número de WhatsApp (opcional)")
    await phone.fill("099-12ab")
    await page.get_by_role("button", name="Crear", exact=True).click()
    text = await form_error(page, "Crear")
    assert text == (
        "Número de WhatsApp (opcional): no es un número de teléfono válido (por ejemplo 0991234567 o +593991234567)."
    )
    assert not ENGLISH.search(text)
    await expect(phone).to_have_attribute("aria-invalid", "true")
    await expect(phone).to_be_focused()

    await phone.fill("(099) 123-4567")  # a local format: stored as E.164
    await page.get_by_role("button", name="Crear", exact=True).click()
    await expect(page.locator("#flash")).to_have_text("Sucursal creada.")
    await expect(page.locator("#admin-points")).to_contain_text("+593991234567")

    # The account page, from the header: the wrong current password is named in Spanish.
    await page.get_by_role("link", name=re.compile("mi cuenta")).click()
    await expect(page.get_by_role("heading", name="Mi cuenta")).to_be_visible()
    current = page.get_by_label("Contraseña actual")
    await current.fill("not-my-password")
    await page.get_by_label("Contraseña nueva").fill("una-clave-nueva")
    await page.get_by_role("button", name="Cambiar contraseña").click()
    assert await form_error(page, "Cambiar contraseña") == "Contraseña actual: no es correcta."
    await expect(current).to_have_attribute("aria-invalid", "true")

    await current.fill(world.admin.password)
    await page.get_by_role("button", name="Cambiar contraseña").click()
    await expect(page.locator("#flash")).to_have_text("Contraseña cambiada. Tus otras sesiones se cerraron.")
    await page.reload()  # the page's own session goes on with its fresh cookie
    await expect(page).to_have_url(re.compile(r"/cuenta$"))
    assert (await api.get("/api/me", headers=world.admin.headers)).status_code == 401  # other sessions ended
    login_again = await api.post("/api/auth/login", json={"email": world.admin.email, "password": "una-clave-nueva"})
    assert login_again.status_code == 201


async def test_tables_are_cards_on_a_phone_and_the_list_refreshes_after_an_import(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    base = f"/api/service-points/{world.point_a}/shipments"
    long_destination = "Urbanización" + "X" * 100  # one unbroken word, as wide as five phones
    created = await api.post(
        base,
        json={"trackingNumber": "QTO100001", "status": "IN_TRANSIT", "destination": long_destination},
        headers=world.agent_a.headers,
    )
    assert created.status_code == 201, created.text

    page = await login(world.agent_a, viewport=PHONE)
    await page.goto(f"/puntos/{world.point_a}/envios")
    table = page.locator("#shipments")
    await expect(table).to_contain_text("QTO100001")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    row = table.locator("tbody tr").first
    assert await row.evaluate("node => getComputedStyle(node).display") == "block"
    destination = row.locator("td", has_text="Urbanización")
    await expect(destination).to_have_attribute("data-label", "Destino")
    label = await destination.evaluate("node => getComputedStyle(node, '::before').content")
    assert label == '"Destino"'
    box = await destination.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]

    # A spreadsheet's CSV (Windows-1252, ";", Spanish headers, statuses and dates): the list shows it at once.
    content = (
        "Guía;Estado;Destino;Fecha estimada\r\nQTO100002;Entregado;Cuenca;31/12/2026\r\nQTO100003;En tránsito;Loja;\r\n"
    )
    await page.get_by_label("Archivo CSV", exact=True).set_input_files(
        files=[{"name": "envios.csv", "mimeType": "text/csv", "buffer": content.encode("cp1252")}]
    )
    await page.get_by_role("button", name="Importar").click()
    await expect(page.locator("#flash")).to_have_text("Importación lista: 2 envíos nuevos y 0 actualizados.")
    await expect(table).to_contain_text("QTO100002")
    await expect(table.locator("tr", has_text="QTO100003")).to_contain_text("En tránsito")

    await page.goto("/puntos")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await expect(page.locator("#points td").first).to_have_attribute("data-label", "WhatsApp")


async def test_admin_edits_unlocks_resets_and_deactivates_users_from_the_page(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    for _ in range(5):
        await api.post("/api/auth/login", json={"email": world.agent_b.email, "password": "a-wrong-guess"})
    stopped = await api.post("/api/auth/login", json={"email": world.agent_b.email, "password": world.agent_b.password})
    assert stopped.status_code == 429

    page = await login(world.admin)
    await page.goto("/admin/usuarios")
    users = page.locator("#users")
    agent_b = users.locator("tr[data-user='agent.b@example.com']")
    await expect(agent_b).to_contain_text("5 intento(s) fallido(s)")
    await page.get_by_role("button", name="Desbloquear a agent_b").click()
    await expect(page.locator("#flash")).to_have_text("agent_b puede volver a ingresar.")
    await expect(agent_b).not_to_contain_text("intento(s) fallido(s)")
    unlocked = await api.post(
        "/api/auth/login", json={"email": world.agent_b.email, "password": world.agent_b.password}
    )
    assert unlocked.status_code == 201

    await page.get_by_text("Editar a agent_a").click()
    await page.get_by_label("Nombre de agent_a").fill("Ana Agente")
    await page.get_by_role("button", name="Guardar cambios de agent_a").click()
    await expect(page.locator("#flash")).to_have_text("Usuario guardado.")
    await expect(users.locator("tr[data-user='agent.a@example.com'] th")).to_have_text("Ana Agente")

    await page.get_by_text("Nueva contraseña para Ana Agente").click()
    await page.get_by_label("Nueva contraseña de Ana Agente").fill("clave-de-ana-2026")
    await page.get_by_role("button", name="Cambiar contraseña de Ana Agente").click()
    await expect(page.locator("#flash")).to_have_text("Contraseña cambiada: Ana Agente debe ingresar con la nueva.")
    assert (await api.get("/api/me", headers=world.agent_a.headers)).status_code == 401
    new_login = await api.post("/api/auth/login", json={"email": world.agent_a.email, "password": "clave-de-ana-2026"})
    assert new_login.status_code == 201

    await page.get_by_role("button", name="Desactivar a agent_b").click()  # the confirmation is accepted
    await expect(page.locator("#flash")).to_have_text("Usuario desactivado.")
    await expect(agent_b).to_contain_text("Desactivado")
    await expect(page.get_by_role("button", name="Reactivar a agent_b")).to_be_visible()
    assert (await api.get("/api/me", headers=world.agent_b.headers)).status_code == 401

    # The admin cannot deactivate themselves (no button) nor stop being the last admin: said in Spanish.
    await expect(page.get_by_role("button", name="Desactivar a admin")).to_have_count(0)
    await page.get_by_text("Editar a admin").click()
    await page.get_by_label("Administrador (admin)").uncheck()
    await page.get_by_role("button", name="Guardar cambios de admin").click()
    assert await form_error(page, "Guardar cambios de admin") == "Debe quedar al menos un administrador activo."
