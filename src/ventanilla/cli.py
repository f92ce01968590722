"""`ventanilla serve | migrate | create-admin | demo-data`.

Every command validates the settings first and turns configuration problems into one line on stderr and exit
status 2. With no DATABASE_URL each command starts (or joins) the embedded PostgreSQL in the data dir.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import logging
import resource
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from ventanilla.config import ConfigError, Settings, load_settings
from ventanilla.db import migrations
from ventanilla.db.embedded import start_embedded_server
from ventanilla.instance_lock import serve_lock
from ventanilla.privacy import AccessLogWithoutQuery, RedactPrivate

logger = logging.getLogger("ventanilla")
GC_THRESHOLDS = (10_000, 20, 20)
TRANSPORTS = {
    "simulator": "simulator (in-process phones: nothing reaches real WhatsApp)",
    "neonize": "neonize (real WhatsApp Web, linked by QR)",
}  # allocations before a young collection; young passes per older one
_T = TypeVar("_T")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        console = logging.StreamHandler()
        console.addFilter(RedactPrivate())
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[console]
        )
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        return args.run(settings, args)
    except ConfigError as exc:
        print(f"ventanilla: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ventanilla", description="Multi-branch WhatsApp inbox with a tracking bot")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser("serve", help="migrate, then serve the API, web UI and WhatsApp sessions")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="upgrade the database to the latest schema").set_defaults(run=_migrate)

    admin = commands.add_parser("create-admin", help="create an admin, or reset an existing user's password")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--name")
    admin.set_defaults(run=_create_admin)

    commands.add_parser("demo-data", help="load two demo branches, staff, shipments and FAQs").set_defaults(
        run=_demo_data
    )

    commands.add_parser(
        "reseal-secrets",
        help="after a key rotation: seal every stored secret again under the first VENTANILLA_SECRET_KEY",
    ).set_defaults(run=_reseal_secrets)
    return parser


def _with_database(settings: Settings) -> Settings:
    if settings.uses_embedded_database:
        return settings.with_database_url(start_embedded_server(settings.data_dir))
    return settings


def _migrate_to_head(settings: Settings) -> None:
    try:
        migrations.upgrade(settings.require_database_url(), secret_keys=settings.secret_keys)
    except OSError as exc:
        raise ConfigError(f"cannot reach the database: {exc.strerror or exc}") from None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.main import STARTUP_FAILURE

    from ventanilla.app import create_app

    # the credentials directory is private to one process only while credentials live in files
    in_files = settings.whatsapp_session_store == "files"
    with serve_lock(settings.data_dir, *([settings.auth_sessions_dir] if in_files else [])):
        settings = _with_database(settings)
        _migrate_to_head(settings)
        if settings.admin_email and settings.admin_password:
            _run_in_session(settings, lambda s: _ensure_admin(s, settings.admin_email, settings.admin_password, None))
        logger.info("serving on http://%s:%s", args.host, args.port)
        logger.info("WhatsApp transport: %s", TRANSPORTS.get(settings.whatsapp_transport, settings.whatsapp_transport))
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit normally instead, so that exit
        # handlers run and the embedded PostgreSQL is stopped with us.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        logging.getLogger("uvicorn.access").addFilter(AccessLogWithoutQuery())
        _raise_open_file_limit()
        app = create_app(settings)
        # What is loaded by now (libraries, the app) lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise walk ~260,000 such objects every few seconds under load and
        # stall every request for 150 to 200 ms each time. Young collections are made rarer too: with the default
        # (700, 10, 10) a full pass still came every second or so under load (bench/inbox.py: read p99 beside the
        # pipeline 15-22 ms with the defaults, 14-16 ms with these; pipeline worst case 104-124 ms, then 66 ms).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            timeout_graceful_shutdown=15,
            **forwarded_header_options(settings.trusted_proxies),
        )
        server = _stream_closing_server(config, app.state.live_streams.close)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled; we are done
            server.run()
        if not server.started:
            return STARTUP_FAILURE  # the reason is logged
    return 0


def _stream_closing_server(config: Any, close_streams: Callable[[], None]) -> Any:
    """uvicorn's server, which ends the live event streams as soon as it starts stopping: they never end by
    themselves, so uvicorn would wait its whole graceful timeout for them (Ctrl-C took 16 s), then cancel them with
    a traceback."""
    import uvicorn

    class StreamClosingServer(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            close_streams()
            await super().shutdown(sockets)

    return StreamClosingServer(config)


def forwarded_header_options(trusted_proxies: tuple[str, ...]) -> dict[str, Any]:
    """uvicorn options: believe X-Forwarded-For/-Proto only from TRUSTED_PROXIES, and from nobody when it is empty.

    uvicorn's own default trusts 127.0.0.1: any local process could then choose its client address for the login
    throttle, and behind a proxy every client would share the proxy's.
    """
    if not trusted_proxies:
        return {"proxy_headers": False}
    # uvicorn wants networks in strict form (10.0.0.0/8, not 10.1.2.3/8); the settings accept both.
    networks = [str(ipaddress.ip_network(proxy, strict=False)) if "/" in proxy else proxy for proxy in trusted_proxies]
    return {"proxy_headers": True, "forwarded_allow_ips": networks}


def _raise_open_file_limit() -> None:
    """Every branch holds sockets and files, and neonize leaks one SQLite handle per reconnect: use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        logger.info("open file limit raised from %d to %d", soft, hard)


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    settings = _with_database(settings)
    _migrate_to_head(settings)
    print(f"database at revision {migrations.head_revision()}")
    return 0


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from ventanilla.config import EMAIL_PATTERN, MIN_PASSWORD_LENGTH

    if not EMAIL_PATTERN.match(args.email):
        raise ConfigError("--email is not an email address")
    if len(args.password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"--password must have at least {MIN_PASSWORD_LENGTH} characters")
    settings = _with_database(settings)
    _migrate_to_head(settings)
    created = _run_in_session(settings, lambda s: _ensure_admin(s, args.email, args.password, args.name))
    print(f"admin {args.email.lower()} {'created' if created else 'updated'}")
    return 0


ADMIN_LOCK = 0x76656E7462  # replicas starting together create the bootstrap admin once, one after the other


async def _ensure_admin(session: AsyncSession, email: str, password: str, name: str | None) -> bool:
    from ventanilla.auth.services import UserService

    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMIN_LOCK})

    _, created = await UserService(session=session).ensure_admin(email=email, password=password, name=name)
    return created


def _demo_data(settings: Settings, _: argparse.Namespace) -> int:
    from ventanilla.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, STAFF, load_demo_data

    if settings.environment == "production":
        raise ConfigError(
            "demo-data creates users with a published password; it is refused when VENTANILLA_ENV=production"
        )
    settings = _with_database(settings)
    _migrate_to_head(settings)
    summary = _run_in_session(settings, load_demo_data)
    print(
        f"demo data: {summary.points} service points, {summary.users} users, {summary.shipments} shipments "
        f"and {summary.faqs} FAQs added (existing rows kept)"
    )
    print(f"log in as {DEMO_ADMIN_EMAIL} (admin) or {', '.join(e for e, *_ in STAFF)}; password: {DEMO_PASSWORD}")
    return 0


def _reseal_secrets(settings: Settings, _: argparse.Namespace) -> int:
    """Exit 1 when some stored secrets open with no configured key (those stay as they are, the others are sealed
    again): the old key is still needed for them, or they must be entered again."""
    from ventanilla.db.sealed import reseal_all
    from ventanilla.secret_box import SecretBox

    settings = _with_database(settings)
    _migrate_to_head(settings)
    outcome = _run_in_session(settings, lambda session: reseal_all(session, SecretBox(settings.secret_keys)))
    print(f"{outcome.resealed} stored secrets sealed again under the first key")
    if outcome.unreadable:
        where = ", ".join(f"{name}: {count}" for name, count in sorted(outcome.unreadable.items()))
        print(f"not opened by any configured key (keep the old key, or enter them again): {where}", file=sys.stderr)
        return 1
    return 0


def _run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """Run `work` in one committed transaction on a short-lived engine (CLI commands, outside the app)."""

    async def run() -> _T:
        engine = create_async_engine(settings.require_database_url())
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
