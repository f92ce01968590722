"""The agent's workspace in a real browser: resolve, private notes, labels and their filter, the shipments the customer
wrote about, the thread staying on its newest message (or offering "mensajes nuevos"), taking a conversation a
colleague holds (with a confirmation that names them, and a clear message when someone was faster), who is typing,
the tab title's count and the alerts, and a phone-sized screen that a long unbroken message cannot widen.

Customers are the simulator, driven over the API; the staff only use the pages. Sound and browser notifications are
replaced in the page by recorders (an init script), since a headless browser has neither speakers nor a desktop.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.flow import fast_app
from tests.web.conftest import (
    PHONE,
    WEB_SESSIONS,
    Login,
    customer_says,
    doc_screenshot,
    link_point,
    phone_received,
)
from tests.whatsapp.conftest import eventually
from ventanilla.assignment.assigner import AssignmentPolicy
from ventanilla.config import Settings
from ventanilla.db.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    SenderType,
    Shipment,
    ShipmentStatus,
)

CUSTOMER = "+593991112233"
OTHER_CUSTOMER = "+593987654321"
TITLE = "Punto A: conversaciones · Ventanilla"

# The page's sound and notifications, recorded instead of played; the window never has the focus, as when the
# agent works in another tab.
ALERT_RECORDER = """
window.__tones = 0;
window.__notices = [];
class FakeNode { connect(next) { return next; } }
class FakeAudio {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = new FakeNode(); }
  resume() { return Promise.resolve(); }
  createOscillator() {
    const node = new FakeNode();
    node.frequency = { value: 0 };
    node.start = () => { window.__tones += 1; };
    node.stop = () => {};
    return node;
  }
  createGain() {
    const node = new FakeNode();
    node.gain = { setValueAtTime() {}, exponentialRampToValueAtTime() {} };
    return node;
  }
}
window.AudioContext = FakeAudio;
class FakeNotification {
  constructor(title, options) { window.__notices.push({ title, body: options && options.body }); }
  addEventListener() {}
  close() {}
  static requestPermission() { return Promise.resolve("granted"); }
}
FakeNotification.permission = "granted";
window.Notification = FakeNotification;
document.hasFocus = () => false;
"""
# Not available for new conversations: the assigner leaves the waiting ones to the test.
AWAY = 'localStorage.setItem("ventanilla-disponible", "no");'


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """No automatic assignment: these tests decide who holds what (a page that counts as ONLINE must not be handed
    the waiting conversation between two steps)."""
    return fast_app(settings, sessions=WEB_SESSIONS, assignment_policy=AssignmentPolicy(first_run_seconds=3600))


async def _inbox(login: Login, world: World, actor: Any, *scripts: str, viewport: dict[str, int] | None = None) -> Page:
    page = await login(actor, **({"viewport": viewport} if viewport else {}))
    for script in scripts:
        await page.context.add_init_script(script)
    await page.goto(f"/puntos/{world.point_a}/inbox")
    await expect(page.locator("#live")).to_contain_text("En vivo")
    return page


def _link(page: Page, phone: str) -> Any:
    return page.get_by_role("link", name=re.compile(re.escape(phone)))


async def _texts_sent(api: httpx.AsyncClient, world: World, to: str) -> list[str]:
    return [m["text"] for m in await phone_received(api, world, world.point_a) if m["to"] == to]


async def test_resolve_notes_labels_and_shipments(
    login: Login, api: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    session.add_all(
        [
            Shipment(
                service_point_id=world.point_a,
                tracking_number="QTO100001",
                status=ShipmentStatus.IN_TRANSIT,
                origin="Quito",
                destination="Cuenca",
                eta=date(2030, 1, 15),
            ),
            Shipment(
                service_point_id=world.point_b,
                tracking_number="GYE200002",
                status=ShipmentStatus.DELIVERED,
                destination="Guayaquil",
            ),
        ]
    )
    await session.commit()
    await link_point(api, world, world.point_a)
    await customer_says(api, world, world.point_a, CUSTOMER, "hola, ¿dónde están QTO100001 y GYE200002?")
    await customer_says(api, world, world.point_a, OTHER_CUSTOMER, "buenas tardes")

    async def bot_answered() -> bool:
        return bool(await _texts_sent(api, world, CUSTOMER)) and bool(await _texts_sent(api, world, OTHER_CUSTOMER))

    await eventually(bot_answered, what="the bot's answers")
    sent_before = await _texts_sent(api, world, CUSTOMER)

    page = await _inbox(login, world, world.agent_a)
    await _link(page, CUSTOMER).click()
    messages = page.get_by_role("list", name="Mensajes")
    await expect(messages.locator(".msg.bot")).to_have_count(1)

    # The shipments the customer wrote: this branch's with a link, another branch's read-only.
    cards = page.get_by_role("region", name="Envíos que mencionó el cliente")
    own = cards.get_by_role("listitem").filter(has_text="QTO100001")
    await expect(own).to_contain_text("En tránsito")
    await expect(own).to_contain_text("Quito → Cuenca")
    await expect(own.get_by_role("link", name="Ver el envío QTO100001 en Envíos")).to_be_visible()
    foreign = cards.get_by_role("listitem").filter(has_text="GYE200002")
    await expect(foreign).to_contain_text("De otra sucursal (Punto B): solo lectura.")
    await expect(foreign.get_by_role("link")).to_have_count(0)

    # A private note: in the thread, marked as such, never on the customer's phone.
    note = "Cliente frecuente: llamarlo antes de las 17:00."
    await page.get_by_label("Nota interna").fill(note)
    await page.get_by_role("button", name="Guardar nota").click()
    shown = messages.locator(".msg.note").filter(has_text=note)
    await expect(shown).to_contain_text("Nota interna · agent_a (tú)")
    await expect(page.get_by_label("Nota interna")).to_have_value("")

    # Labels: normalized, on the conversation and in the list, and a filter.
    await page.get_by_label("Agregar etiqueta").fill("  Reclamo ")
    await page.get_by_role("button", name="Agregar", exact=True).click()
    chips = page.get_by_role("list", name="Etiquetas de la conversación")
    await expect(chips).to_have_text(re.compile(r"^reclamo"))
    await expect(page.locator(".conv").filter(has_text=CUSTOMER).locator(".label-chip")).to_have_text("reclamo")
    await expect(messages).to_contain_text("agent_a (tú) cambió las etiquetas: reclamo")
    label_filter = page.get_by_label("Etiqueta", exact=True)
    await expect(label_filter.locator("option", has_text="reclamo (1)")).to_have_count(1)
    await label_filter.select_option("reclamo")
    await expect(_link(page, OTHER_CUSTOMER)).to_have_count(0)
    await expect(_link(page, CUSTOMER)).to_be_visible()
    await label_filter.select_option("")
    await expect(_link(page, OTHER_CUSTOMER)).to_be_visible()
    await page.get_by_label("Agregar etiqueta").fill("urgente")
    await page.get_by_role("button", name="Agregar", exact=True).click()
    await expect(chips.get_by_role("listitem")).to_have_count(2)
    await page.get_by_role("button", name="Quitar la etiqueta urgente").click()
    await expect(chips.get_by_role("listitem")).to_have_count(1)
    await doc_screenshot(page, "inbox-workspace")

    # Too long is refused with a clear message, and nothing leaves.
    reply = page.get_by_label("Respuesta")
    await reply.fill("x" * 4100)
    await expect(page.locator("#reply-count")).to_have_text("4100 de 4096 caracteres: sobran 4")
    await page.get_by_role("button", name="Enviar").click()
    await expect(page.locator("#reply-status")).to_have_text(
        "La respuesta tiene 4100 caracteres y el máximo es 4096: quita 4 caracteres o divídela en partes. "
        "No se envió nada."
    )
    await expect(reply).to_have_attribute("aria-invalid", "true")
    await reply.fill("")

    # Resolve: a badge, a history entry, the Resueltas filter.
    await page.get_by_role("button", name="Resolver", exact=True).click()
    await expect(page.locator("#thread-badge")).to_have_text("Resuelta")
    await expect(page.locator("#thread-state")).to_contain_text("Si el cliente vuelve a escribir, la atiende el bot.")
    await expect(messages).to_contain_text("agent_a (tú) marcó la conversación como resuelta")
    await expect(page.get_by_role("button", name="Resolver", exact=True)).to_be_hidden()
    await page.locator("label[for=f-resolved]").click()
    await expect(_link(page, CUSTOMER)).to_contain_text("Resuelta")
    await expect(_link(page, OTHER_CUSTOMER)).to_have_count(0)

    assert await _texts_sent(api, world, CUSTOMER) == sent_before  # neither the note nor the long reply left


async def _long_conversation(session: AsyncSession, world: World, count: int = 40) -> None:
    """A conversation agent_a holds, with enough messages to scroll."""
    now = datetime.now(UTC)
    conversation = Conversation(
        service_point_id=world.point_a,
        customer_phone=CUSTOMER,
        last_message_at=now,
        status=ConversationStatus.HUMAN,
        assigned_to_user_id=world.agent_a.user_id,
        assigned_at=now,
        assignee_read_at=now,
    )
    session.add(conversation)
    await session.flush()
    for index in range(count):
        at = now - timedelta(minutes=count - index)
        session.add(
            Message(
                conversation_id=conversation.id,
                service_point_id=world.point_a,
                direction=Direction.IN,
                sender_type=SenderType.CUSTOMER,
                content=f"mensaje {index}",
                provider_message_id=f"OLD{index}",
                timestamp=at,
                handled_at=at,
            )
        )
    await session.commit()


async def _from_end(page: Page) -> float:
    """How far the thread is scrolled from its end, in pixels."""
    pane = page.get_by_role("list", name="Mensajes")
    return float(await pane.evaluate("list => list.scrollHeight - list.scrollTop - list.clientHeight"))


async def test_thread_follows_new_messages_and_phone_width(
    login: Login, api: httpx.AsyncClient, world: World, session: AsyncSession, live_server: str
) -> None:
    await _long_conversation(session, world)
    await link_point(api, world, world.point_a)
    page = await _inbox(login, world, world.agent_a)
    await _link(page, CUSTOMER).click()
    messages = page.get_by_role("list", name="Mensajes")
    await expect(messages.get_by_text("mensaje 39")).to_be_in_viewport()
    assert await _from_end(page) < 2

    # At the end, a live message keeps the thread there.
    await customer_says(api, world, world.point_a, CUSTOMER, "llegó el primero")
    await expect(messages.get_by_text("llegó el primero")).to_be_in_viewport()
    assert await _from_end(page) < 2

    # Reading further up, a live message leaves the place alone and offers a way down.
    await messages.evaluate("list => { list.scrollTop = 0; }")
    await expect(messages.get_by_text("mensaje 0", exact=True)).to_be_in_viewport()
    await customer_says(api, world, world.point_a, CUSTOMER, "llegó el segundo")
    jump = page.get_by_role("button", name="1 mensaje nuevo")
    await expect(jump).to_be_visible()
    await expect(messages.get_by_text("llegó el segundo")).not_to_be_in_viewport()
    assert await messages.evaluate("list => list.scrollTop") == 0
    await jump.click()
    await expect(messages.get_by_text("llegó el segundo")).to_be_in_viewport()
    await expect(jump).to_be_hidden()

    # A phone-sized screen: a 500-character unbroken message widens neither the list nor the conversation.
    long_word = "Q" * 500
    await customer_says(api, world, world.point_a, OTHER_CUSTOMER, long_word)
    phone = await page.context.browser.new_context(
        base_url=live_server, viewport=PHONE, storage_state=await page.context.storage_state()
    )
    small = await phone.new_page()
    await small.goto(f"/puntos/{world.point_a}/inbox")
    other = _link(small, OTHER_CUSTOMER)
    await expect(other).to_contain_text("QQQQ")
    no_sideways = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert await small.evaluate(no_sideways)
    await other.click()
    bubble = small.get_by_role("list", name="Mensajes").locator(".msg.in").filter(has_text=long_word)
    await expect(bubble).to_be_visible()
    assert await small.evaluate(no_sideways)
    box = await bubble.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    await expect(small.get_by_role("button", name="Resolver", exact=True)).to_be_visible()
    await doc_screenshot(small, "inbox-workspace-movil")
    await phone.close()


async def test_take_asks_naming_the_holder_and_the_title_counts(
    login: Login, api: httpx.AsyncClient, world: World
) -> None:
    await link_point(api, world, world.point_a)
    agent = await _inbox(login, world, world.agent_a, AWAY, ALERT_RECORDER)
    await agent.mouse.click(1, 1)  # a gesture: the page may play sound from now on
    assert await agent.title() == TITLE

    # A customer starts waiting: the count in the title, a sound and a notification.
    await customer_says(api, world, world.point_a, CUSTOMER, "quiero hablar con una persona")
    await expect(agent).to_have_title(f"(1) {TITLE}")
    waiting = agent.get_by_role("region", name="Esperando a una persona")
    await expect(_link(waiting, CUSTOMER)).to_be_visible()
    assert await agent.evaluate("window.__tones") > 0
    notices = await agent.evaluate("window.__notices")
    assert [n["title"] for n in notices] == ["Un cliente espera a una persona"]
    assert notices[0]["body"].startswith(CUSTOMER)

    # A tab that stopped following the live events still believes nobody holds it.
    stale = await agent.context.new_page()
    await stale.route("**/events", lambda route: route.abort())
    await stale.goto(f"/puntos/{world.point_a}/inbox")
    await _link(stale, CUSTOMER).click()
    await expect(stale.locator("#thread-state")).to_contain_text("Espera a una persona (sin asignar)")

    supervisor = await _inbox(login, world, world.supervisor_a, AWAY)
    await _link(supervisor, CUSTOMER).click()
    await supervisor.get_by_role("button", name="Tomar conversación").click()
    await expect(supervisor.locator("#thread-state")).to_contain_text("Atiende una persona: supervisor_a (tú)")
    await expect(_link(agent, CUSTOMER)).to_contain_text("Atiende: supervisor_a")  # live

    # The stale tab's take is refused, naming who was faster; nothing is taken silently.
    await stale.get_by_role("button", name="Tomar conversación").click()
    await expect(stale.locator("#thread-status")).to_have_text(
        "No la tomaste: mientras tanto la tomó supervisor_a. "
        "Si aún quieres tomarla, vuelve a pulsar «Tomar conversación»."
    )
    await expect(stale.locator("#thread-state")).to_contain_text("Atiende una persona: supervisor_a")
    await stale.close()

    # Writing a reply shows in the colleague's tab.
    await _link(agent, CUSTOMER).click()
    await expect(agent.locator("#thread-state")).to_contain_text("Atiende una persona: supervisor_a")
    await agent.get_by_label("Respuesta").press_sequentially("Hola, ")
    await expect(supervisor.locator("#typing")).to_have_text("agent_a está escribiendo…")

    # Taking it from the colleague asks first, naming them; their tab follows live.
    questions: list[str] = []
    agent.on("dialog", lambda dialog: questions.append(dialog.message))
    await agent.get_by_role("button", name="Tomar conversación").click()
    await expect(agent.locator("#thread-state")).to_contain_text("Atiende una persona: agent_a (tú)")
    assert questions == [
        "supervisor_a atiende esta conversación. ¿Quieres tomarla tú? supervisor_a dejará de tenerla asignada."
    ]
    await expect(supervisor.locator("#thread-state")).to_contain_text("Atiende una persona: agent_a")
    history = agent.get_by_role("list", name="Mensajes")
    await expect(history).to_contain_text("supervisor_a tomó la conversación")
    await expect(history).to_contain_text("agent_a (tú) tomó la conversación")
    await expect(history).not_to_contain_text(re.compile("asignó la conversación a"))

    # Answered: nobody waits any more. Unread messages of my conversation count while I look elsewhere.
    await agent.get_by_label("Respuesta").fill("Hola, soy agent_a. ¿En qué te ayudo?")
    await agent.get_by_role("button", name="Enviar").click()
    await expect(agent).to_have_title(TITLE)
    await agent.go_back()  # to the list
    await expect(agent.locator("#thread")).to_be_hidden()
    await customer_says(api, world, world.point_a, CUSTOMER, "mi paquete no llega")
    await customer_says(api, world, world.point_a, CUSTOMER, "es el QTO100001")
    await expect(agent).to_have_title(f"(2) {TITLE}")
    await expect(_link(agent, CUSTOMER).locator(".unread")).to_contain_text("2")
    await _link(agent, CUSTOMER).click()  # I hold it and open it: read
    await expect(agent).to_have_title(TITLE)
    await expect(_link(agent, CUSTOMER).locator(".unread")).to_have_count(0)
