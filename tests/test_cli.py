"""The `ventanilla` command as a user runs it: separate processes against a real database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import free_port, process_env, stop, wait_until_ready
from ventanilla.db.models import CloudAccount, Faq, ServicePoint, Shipment, ShipmentStatus, User, Webhook
from ventanilla.secret_box import SecretBox


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ventanilla", *args],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return process_env(
        VENTANILLA_DATA_DIR=str(tmp_path / "data"),
        AUTH_SESSIONS_DIR=str(tmp_path / "auth_sessions"),
        WHATSAPP_TRANSPORT="simulator",
        **values,
    )


async def _counts(session: AsyncSession) -> tuple[int, ...]:
    counts = []
    for model in (ServicePoint, User, Shipment, Faq):
        counts.append(await session.scalar(select(func.count()).select_from(model)))
    return tuple(counts)


async def test_demo_data_twice_changes_nothing(tmp_path: Path, database_url: str, session: AsyncSession) -> None:
    env = _env(tmp_path, DATABASE_URL=database_url)
    first = _run(["demo-data"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    after_first = await _counts(session)
    assert after_first == (2, 5, 20, 10)
    statuses = set((await session.scalars(select(Shipment.status))).all())
    assert statuses == set(ShipmentStatus)
    scopes = {point_id is None for point_id in (await session.scalars(select(Faq.service_point_id))).all()}
    assert scopes == {True, False}  # global and per-branch FAQs

    second = _run(["demo-data"], env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 service points, 0 users, 0 shipments and 0 FAQs added" in second.stdout
    session.expire_all()
    assert await _counts(session) == after_first


def test_demo_data_is_refused_in_production(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, DATABASE_URL=database_url, VENTANILLA_ENV="production", JWT_SECRET="p" * 40)
    result = _run(["demo-data"], env, tmp_path)
    assert result.returncode == 2
    assert "refused when VENTANILLA_ENV=production" in result.stderr


def test_create_admin_then_log_in(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, DATABASE_URL=database_url)
    created = _run(
        ["create-admin", "--email", "Jefa@Example.com", "--password", "first-password", "--name", "Jefa"], env, tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert "admin jefa@example.com created" in created.stdout
    reset = _run(["create-admin", "--email", "jefa@example.com", "--password", "second-password"], env, tmp_path)
    assert "updated" in reset.stdout
    bad = _run(["create-admin", "--email", "jefa", "--password", "second-password"], env, tmp_path)
    assert bad.returncode == 2 and "--email is not an email address" in bad.stderr


@pytest.fixture
def serve(tmp_path: Path):
    processes: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], port: int) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "ventanilla", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        stop(process)


def test_serve_bootstraps_admin_and_refuses_a_second_server(tmp_path: Path, database_url: str, serve) -> None:
    env = _env(tmp_path, DATABASE_URL=database_url, ADMIN_EMAIL="boss@example.com", ADMIN_PASSWORD="boss-password")
    port = free_port()
    first = serve(env, port)
    wait_until_ready(f"http://127.0.0.1:{port}", first)
    login = httpx.post(
        f"http://127.0.0.1:{port}/api/auth/login", json={"email": "boss@example.com", "password": "boss-password"}
    )
    assert login.status_code == 201 and login.json()["user"]["isAdmin"] is True

    second = _run(["serve", "--port", str(free_port())], env, tmp_path)
    assert second.returncode == 2
    assert f"another `ventanilla serve` (pid {first.pid}) is already using" in second.stderr


def test_embedded_database_from_nothing(tmp_path: Path, serve) -> None:
    """The fresh-machine path: no DATABASE_URL, serve, demo-data beside it, admin sees both branches."""
    env = _env(tmp_path)
    port = free_port()
    server = serve(env, port)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, server)
    demo = _run(["demo-data"], env, tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert server.poll() is None  # demo-data joined the embedded server and left it running
    token = httpx.post(
        f"{base}/api/auth/login", json={"email": "admin@demo.ventanilla.ec", "password": "ventanilla-demo"}
    )
    points = httpx.get(f"{base}/api/service-points", headers={"Authorization": f"Bearer {token.json()['accessToken']}"})
    assert sorted(p["name"] for p in points.json()) == ["Guayaquil Centro", "Quito Norte"]
    assert (tmp_path / "data" / "pg" / "PG_VERSION").is_file()
    output = stop(server)
    assert "Traceback" not in output, output
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()  # the embedded server stopped with it


@pytest.mark.parametrize("trusted_proxies", [None, "127.0.0.0/8"])
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, database_url: str, serve, trusted_proxies: str | None
) -> None:
    """Five wrong passwords from one client stop that client; whether another forwarded address is another client
    depends on TRUSTED_PROXIES (unset: the header is ignored, even from 127.0.0.1)."""
    admin = {"email": "boss@example.com", "password": "boss-password"}
    extra = {"TRUSTED_PROXIES": trusted_proxies} if trusted_proxies else {}
    env = _env(
        tmp_path, DATABASE_URL=database_url, ADMIN_EMAIL=admin["email"], ADMIN_PASSWORD=admin["password"], **extra
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, serve(env, port))
    for _ in range(5):
        wrong = httpx.post(
            f"{base}/api/auth/login", json=admin | {"password": "guess"}, headers={"X-Forwarded-For": "203.0.113.7"}
        )
        assert wrong.status_code == 401
    owner = httpx.post(f"{base}/api/auth/login", json=admin, headers={"X-Forwarded-For": "198.51.100.20"})
    assert owner.status_code == (201 if trusted_proxies else 429)


def test_uvicorn_options_for_trusted_proxies() -> None:
    import uvicorn
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from ventanilla.cli import forwarded_header_options

    async def app(scope, receive, send) -> None:
        raise AssertionError("not called")

    untrusted = uvicorn.Config(app, **forwarded_header_options(()))
    untrusted.load()
    assert untrusted.loaded_app is app  # no forwarded header is read at all
    trusted = uvicorn.Config(app, **forwarded_header_options(("10.1.2.3/8", "192.168.1.7")))
    trusted.load()
    proxies = trusted.loaded_app
    assert isinstance(proxies, ProxyHeadersMiddleware)
    assert "10.200.0.1" in proxies.trusted_hosts and "192.168.1.7" in proxies.trusted_hosts
    assert "127.0.0.1" not in proxies.trusted_hosts and "192.168.1.8" not in proxies.trusted_hosts


async def test_reseal_secrets_after_a_key_rotation(tmp_path: Path, database_url: str, session: AsyncSession) -> None:
    old, new = "old-key-old-key-old-key-old-key-0123", "new-key-new-key-new-key-new-key-4567"
    point = ServicePoint(name="Nube", transport="cloud")
    session.add(point)
    await session.flush()
    point_id = point.id
    session.add(
        CloudAccount(
            service_point_id=point_id,
            phone_number_id="106540352242922",
            access_token=SecretBox([old]).seal("the-token"),
            app_secret=SecretBox([old]).seal("the-app-secret"),
            verify_token_sha256="0" * 64,
        )
    )
    session.add(
        Webhook(url="https://crm.example.com/hook", events=["message.received"], secret=SecretBox([old]).seal("s"))
    )
    await session.commit()

    rotated = _run(
        ["reseal-secrets"], _env(tmp_path, DATABASE_URL=database_url, VENTANILLA_SECRET_KEY=f"{new},{old}"), tmp_path
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "3 stored secrets sealed again" in rotated.stdout
    session.expire_all()
    account = await session.get(CloudAccount, point_id)
    webhook = await session.scalar(select(Webhook))
    assert account is not None and webhook is not None
    only_new = SecretBox([new])  # the old key may go now
    assert only_new.open(account.access_token) == "the-token" and only_new.open(account.app_secret) == "the-app-secret"
    assert only_new.open(webhook.secret) == "s"

    lost = _run(
        ["reseal-secrets"], _env(tmp_path, DATABASE_URL=database_url, VENTANILLA_SECRET_KEY=old + "-x"), tmp_path
    )
    assert lost.returncode == 1
    assert "cloud_account.access_token: 1" in lost.stderr and "webhook.secret: 1" in lost.stderr
    assert "the-token" not in lost.stdout + lost.stderr
