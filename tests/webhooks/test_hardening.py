"""Webhook hardening: secrets stored sealed (and old rows sealed by the migration), no private targets at creation
or at delivery unless WEBHOOK_ALLOWED_NETWORKS allows them, and a delivery log read a page at a time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.conftest import World
from tests.webhooks.conftest import Receiver
from tests.webhooks.test_webhooks import HOOKS, Client, app_sessions, create, log, whatsapp
from tests.whatsapp.conftest import eventually
from ventanilla.config import ConfigError, Settings, load_settings
from ventanilla.db import migrations
from ventanilla.db.models import Webhook, WebhookDelivery, WebhookDeliveryStatus
from ventanilla.live.events import after_commit
from ventanilla.pagination import INVALID_CURSOR
from ventanilla.secret_box import SecretBox
from ventanilla.webhooks.targets import GuardedTransport, TargetPolicy, TargetRefused

NO_PRIVATE_NETWORKS = pytest.mark.parametrize("allowed_networks", [()], ids=["no-allowed-networks"])
OTHER_KEY = "another-key-another-key-another-key-0123"


async def post_event(app: Litestar, engine: AsyncEngine, point: UUID) -> None:
    async with app_sessions(app, engine)() as writer:
        after_commit(writer, whatsapp(point))
        await writer.commit()


# --- sealed secrets ------------------------------------------------------------------------------------------


async def test_the_secret_is_stored_sealed_and_deliveries_are_signed_with_the_clear_one(
    client: Client,
    world: World,
    receiver: Receiver,
    app: Litestar,
    engine: AsyncEngine,
    session: AsyncSession,
    settings: Settings,
) -> None:
    hook = await create(client, world, receiver.url, ["whatsapp.status"])
    stored = await session.scalar(select(Webhook.secret))
    assert stored is not None and hook["secret"] not in stored and len(stored) > 128  # a Fernet token, in Text
    assert SecretBox(settings.secret_keys).open(stored) == hook["secret"]
    await post_event(app, engine, world.point_a)

    async def arrived() -> bool:
        return len(receiver.got) == 1

    await eventually(arrived, what="the delivery")
    assert receiver.got[0].signed_with(hook["secret"])
    assert not receiver.got[0].signed_with(stored)


async def test_a_secret_sealed_with_another_key_fails_the_delivery_with_a_clear_error(
    client: Client, world: World, receiver: Receiver, app: Litestar, engine: AsyncEngine, session: AsyncSession
) -> None:
    hook = await create(client, world, receiver.url, ["whatsapp.status"])
    await session.execute(update(Webhook).values(secret=SecretBox([OTHER_KEY]).seal(hook["secret"])))
    await session.commit()
    await post_event(app, engine, world.point_a)

    async def failed() -> bool:
        entries = await log(client, world, hook)
        return bool(entries) and entries[0]["attempts"] >= 1 and entries[0]["lastError"] is not None

    await eventually(failed, what="the attempt recorded as failed")
    entry = (await log(client, world, hook))[0]
    assert "VENTANILLA_SECRET_KEY" in entry["lastError"] and entry["status"] == "PENDING"  # retried later
    assert receiver.got == []  # never sent unsigned or signed with something else


async def _webhook_secrets(url: str) -> list[str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return [row["secret"] for row in await connection.fetch("SELECT secret FROM webhook")]
    finally:
        await connection.close()


async def _insert_clear_webhook(url: str, secret: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(
            "INSERT INTO webhook (id, url, events, secret, created_at, updated_at) "
            "VALUES ($1, 'https://crm.example.com/hook', ARRAY['message.sent'], $2, now(), now())",
            uuid.uuid4(),
            secret,
        )
    finally:
        await connection.close()


async def test_the_migration_seals_existing_secrets_and_the_downgrade_opens_them(empty_database_url: str) -> None:
    keys = ("migration-key-migration-key-migration-key",)
    clear = "whsec_" + "x" * 43
    await asyncio.to_thread(migrations.upgrade, empty_database_url, "0014")
    await _insert_clear_webhook(empty_database_url, clear)

    await asyncio.to_thread(migrations.upgrade, empty_database_url, "head", keys)
    [sealed] = await _webhook_secrets(empty_database_url)
    assert sealed != clear and SecretBox(keys).open(sealed) == clear

    with pytest.raises(Exception, match="VENTANILLA_SECRET_KEY"):  # not our key: nothing changes
        await asyncio.to_thread(migrations.downgrade, empty_database_url, "0014", ("x" * 32,))
    assert await _webhook_secrets(empty_database_url) == [sealed]

    await asyncio.to_thread(migrations.downgrade, empty_database_url, "0014", keys)
    assert await _webhook_secrets(empty_database_url) == [clear]


# --- private targets -----------------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://2130706433/hook",  # 127.0.0.1 written as one number
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.1.2.3]/hook",
    "http://10.0.0.5/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
]


@NO_PRIVATE_NETWORKS
@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_a_private_target_is_refused_at_creation(client: Client, world: World, url: str) -> None:
    response = await client.post(HOOKS, json={"url": url, "events": ["message.sent"]}, headers=world.admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"] == "url"
    assert "public addresses only" in response.text


async def test_allowed_networks_let_a_private_target_in_and_only_those(client: Client, world: World) -> None:
    """These tests' settings allow 127.0.0.0/8: loopback is accepted (also as a name or IPv4-mapped), 10/8 is not."""
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::ffff:127.0.0.1]:9/hook"):
        await create(client, world, url, ["message.sent"])
    for url in ("http://10.0.0.5/hook", "http://[::1]/hook"):
        response = await client.post(HOOKS, json={"url": url, "events": ["message.sent"]}, headers=world.admin.headers)
        assert response.status_code == 400, (url, response.text)


async def test_a_name_that_does_not_resolve_yet_is_accepted(client: Client, world: World) -> None:
    await create(client, world, "https://nowhere.invalid/hook", ["message.sent"])


@NO_PRIVATE_NETWORKS
async def test_a_private_target_is_refused_at_delivery(
    client: Client, world: World, receiver: Receiver, app: Litestar, engine: AsyncEngine, session: AsyncSession
) -> None:
    """A row that got in some other way (or a name whose DNS changed since): the dispatcher checks again."""
    box: SecretBox = app.state.secret_box
    webhook = Webhook(url=receiver.url, events=["whatsapp.status"], secret=box.seal("whsec_x"), enabled=True)
    session.add(webhook)
    await session.commit()
    app.state.webhook_subscriptions.put(webhook)
    await post_event(app, engine, world.point_a)

    async def refused() -> bool:
        entries = await log(client, world, {"id": str(webhook.id)})
        return bool(entries) and entries[0]["lastError"] is not None

    await eventually(refused, what="the delivery refused")
    entry = (await log(client, world, {"id": str(webhook.id)}))[0]
    assert entry["lastError"].startswith("refused: 127.0.0.1 is a loopback address") and entry["status"] == "PENDING"
    assert receiver.got == []


def _resolving(answers: dict[str, list[str]]) -> Callable[..., Any]:
    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple]:
        if host not in answers:
            raise socket.gaierror(f"{host} unknown")
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answers[host]
        ]

    return getaddrinfo


async def test_dns_rebinding_is_refused_at_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Public at the check, loopback at the connection: the connection resolves and checks by itself."""
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", _resolving({"crm.example.com": ["93.184.216.34"]}))
    targets = TargetPolicy()
    await targets.check_url_host("crm.example.com", 443)
    monkeypatch.setattr(loop, "getaddrinfo", _resolving({"crm.example.com": ["93.184.216.34", "127.0.0.1"]}))
    async with httpx.AsyncClient(transport=GuardedTransport(targets)) as http:
        with pytest.raises(TargetRefused, match=r"127\.0\.0\.1 is a loopback address"):
            await http.post("http://crm.example.com/hook", content=b"{}")


async def test_the_connection_goes_to_the_checked_address_under_the_host_name(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", _resolving({"crm.internal": ["127.0.0.1"]}))
    allowed = TargetPolicy([ipaddress.ip_network("127.0.0.0/8")])
    async with httpx.AsyncClient(transport=GuardedTransport(allowed)) as http:
        response = await http.post(f"http://crm.internal:{port}/hook", content=b"{}")
    assert response.status_code == 200
    assert receiver.got[0].headers["host"] == f"crm.internal:{port}"


@pytest.mark.parametrize(
    ("address", "allowed", "refused"),
    [
        ("93.184.216.34", (), False),
        ("2606:2800:220:1:248:1893:25c8:1946", (), False),
        ("::ffff:93.184.216.34", (), False),
        ("64:ff9b::5db8:d822", (), False),  # NAT64 of 93.184.216.34
        ("10.1.2.3", ("10.0.0.0/8",), False),
        ("::ffff:10.1.2.3", ("10.0.0.0/8",), False),
        ("fd12::1", ("fd00::/8",), False),
        ("10.1.2.3", ("192.168.0.0/16",), True),
        ("::ffff:10.1.2.3", ("::ffff:0:0/96",), True),  # judged as the IPv4 address it is
        ("198.51.100.7", (), True),  # documentation
        ("fec0::1", (), True),  # site-local
    ],
)
def test_which_addresses_are_refused(address: str, allowed: tuple[str, ...], refused: bool) -> None:
    policy = TargetPolicy(ipaddress.ip_network(network) for network in allowed)
    assert (policy.refusal(ipaddress.ip_address(address)) is not None) == refused


def test_the_allowed_networks_setting(tmp_path: Path) -> None:
    base = {"VENTANILLA_DATA_DIR": str(tmp_path / "data"), "AUTH_SESSIONS_DIR": str(tmp_path / "auth")}
    assert load_settings(base, env_file=None).webhook_allowed_networks == ()
    settings = load_settings(base | {"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8,192.168.1.7"}, env_file=None)
    assert [str(n) for n in settings.webhook_allowed_networks] == ["10.0.0.0/8", "fd00::/8", "192.168.1.7/32"]
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_NETWORKS"):
        load_settings(base | {"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, env_file=None)


# --- the delivery log, a page at a time ----------------------------------------------------------------------


async def test_the_delivery_log_is_paged_newest_first(client: Client, world: World, session: AsyncSession) -> None:
    hook = await create(client, world, "http://127.0.0.1:9/unused", ["whatsapp.status"])
    other = await create(client, world, "http://127.0.0.1:9/other", ["whatsapp.status"])
    written = [uuid.uuid4() for _ in range(7)]
    for delivery_id in written:
        for webhook in (hook, other):
            session.add(
                WebhookDelivery(
                    webhook_id=UUID(webhook["id"]),
                    event_type="whatsapp.status",
                    delivery_id=delivery_id if webhook is hook else uuid.uuid4(),
                    body="{}",
                    status=WebhookDeliveryStatus.DELIVERED,
                )
            )
        await session.flush()
    await session.commit()

    url = f"{HOOKS}/{hook['id']}/deliveries"
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(url, params=params, headers=world.admin.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["deliveryId"] for item in page["items"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [UUID(item) for page in pages for item in page] == written[::-1]

    everything = (await client.get(url, headers=world.admin.headers)).json()
    assert len(everything["items"]) == 7 and everything["nextCursor"] is None  # 50 by default


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJpZCI6Inh5eiJ9"},  # {"id":"xyz"}
        {"cursor": "eyJpZCI6MSwieCI6MX0"},  # {"id":1,"x":1}
        {"limit": 0},
        {"limit": 201},
    ],
)
async def test_a_tampered_cursor_or_a_bad_limit_is_refused(client: Client, world: World, params: dict) -> None:
    hook = await create(client, world, "http://127.0.0.1:9/unused", ["whatsapp.status"])
    response = await client.get(f"{HOOKS}/{hook['id']}/deliveries", params=params, headers=world.admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"] == next(iter(params))
    if "cursor" in params:
        assert INVALID_CURSOR in response.text
