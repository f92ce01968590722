"""Browser tests: Debian's Chromium driven by playwright against the app served by uvicorn in the test's loop.

No browser is ever downloaded: `make test` installs the `chromium` package where it can, and these tests fail
(never skip) with a clear message when it is missing. A failing test leaves a screenshot of every open page in
test-artifacts/. Screenshots for the documentation go to test-artifacts/screenshots/, and also to
docs/screenshots/ when UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from tests.conftest import Actor, World
from tests.flow import fast_app
from tests.whatsapp.conftest import eventually
from ventanilla.config import Settings
from ventanilla.whatsapp.manager import SessionPolicy

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking flags Chromium phones home at start, and a closed network refuses it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
TIMEOUT_MS = 10_000

# QR codes that rotate fast enough to watch one change, and live long enough to take a screenshot and scan.
WEB_SESSIONS = SessionPolicy(
    qr_first_seconds=1.0,
    qr_next_seconds=0.7,
    qr_give_up_seconds=30.0,
    reconnect_base_seconds=0.05,
    reconnect_max_seconds=0.2,
    pairing_wait_seconds=2.0,
)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return fast_app(settings, sessions=WEB_SESSIONS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the test, so fixtures can tell at teardown whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def browser(request: pytest.FixtureRequest, live_server: str) -> AsyncIterator[Browser]:
    """A fresh headless Chromium (fresh profile) per test; on failure, a screenshot of every open page.

    It depends on `live_server` so that it closes first: the server's shutdown waits for the pages' event streams.
    """
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: `apt-get install chromium` (make test does it when run "
            "as root on Debian), or point CHROMIUM_PATH at a Chromium binary",
            pytrace=False,
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the browser tests need playwright: .venv/bin/pip install -e '.[dev]'", pytrace=False)
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                await _failure_screenshots(chromium, request.node.name)
            await chromium.close()


async def _failure_screenshots(chromium: Browser, test_name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
    pages = [page for context in chromium.contexts for page in context.pages]
    for index, page in enumerate(pages):
        path = ARTIFACTS / f"{safe}-{index}.png"
        try:
            await page.screenshot(path=str(path), full_page=True)
        except Exception as exc:  # a crashed page must not hide the test's own failure
            print(f"no screenshot of page {index}: {exc!r}")
        else:
            print(f"screenshot of the failure: {path}")


async def doc_screenshot(page: Page, name: str) -> None:
    """A screenshot for docs/web.md: always under test-artifacts/, into docs/ only when asked to update them."""
    target = ARTIFACTS / "screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target), full_page=True, animations="disabled", caret="hide")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOC_SCREENSHOTS / target.name)


Login = Callable[..., Awaitable["Page"]]


@pytest.fixture
def login(browser: Browser, live_server: str) -> Login:
    """A new browser context logged in through the login form as `actor`, on the page it lands on."""

    async def log_in(actor: Actor, *, viewport: dict[str, int] = DESKTOP) -> Page:
        context = await browser.new_context(base_url=live_server, viewport=viewport, locale="es-EC")
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        context.on("dialog", lambda dialog: dialog.accept())  # confirmations: the tests say yes
        await page.goto("/login")
        await page.get_by_label("Correo").fill(actor.email)
        await page.get_by_label("Contraseña").fill(actor.password)
        await page.get_by_role("button", name="Ingresar").click()
        await page.wait_for_url("**/puntos")
        return page

    return log_in


@pytest.fixture
async def api(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client


async def mark_document(page: Page) -> None:
    """Set a flag that only survives as long as the page is not reloaded."""
    await page.evaluate("window.__sameDocument = true")


async def same_document(page: Page) -> bool:
    return bool(await page.evaluate("window.__sameDocument === true"))


async def link_point(api: httpx.AsyncClient, world: World, point: UUID) -> None:
    """Link a point through the API and the simulator, as the branch's phone would."""
    base = f"/api/service-points/{point}"
    await api.post(f"{base}/whatsapp/connect", headers=world.admin.headers)

    async def pending() -> bool:
        return (await api.get(f"{base}/whatsapp", headers=world.admin.headers)).json()["qrAvailable"]

    await eventually(pending, what="a QR code")
    assert (await api.post(f"{base}/simulator/scan", headers=world.admin.headers)).status_code == 201

    async def connected() -> bool:
        return (await api.get(f"{base}/whatsapp", headers=world.admin.headers)).json()["status"] == "CONNECTED"

    await eventually(connected, what="CONNECTED")


async def customer_says(api: httpx.AsyncClient, world: World, point: UUID, sender: str, text: str) -> None:
    response = await api.post(
        f"/api/service-points/{point}/simulator/inbound",
        json={"from": sender, "text": text},
        headers=world.admin.headers,
    )
    assert response.status_code == 202, response.text


async def phone_received(api: httpx.AsyncClient, world: World, point: UUID) -> list[dict[str, Any]]:
    """What the point's socket sent, as the customers' phones received it."""
    response = await api.get(f"/api/service-points/{point}/simulator/sent", headers=world.admin.headers)
    return response.json()
