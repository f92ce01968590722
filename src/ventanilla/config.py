"""Settings read once from the environment (and a `.env` file), validated before anything starts.

Every problem is reported as a `ConfigError` with one sentence that names the variable, so the CLI can print a
single clear line instead of a traceback. Secrets are never echoed back in those sentences.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

Transport = Literal["neonize", "simulator"]
Environment = Literal["development", "production"]
SessionStore = Literal["files", "postgres"]

TRANSPORTS: tuple[Transport, ...] = ("neonize", "simulator")
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production")
SESSION_STORES: tuple[SessionStore, ...] = ("files", "postgres")
REPLICA_ID_FILE = "replica-id"
REPLICA_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
DEFAULT_DAILY_MODEL_CALLS = 5000
DEFAULT_MEDIA_MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for photos, audio and video
MAX_MEDIA_MAX_BYTES = 100 * 1024 * 1024  # WhatsApp's limit for documents; a file is held in memory while it moves
DEFAULT_MEDIA_RETENTION_DAYS = 180
MIN_PASSWORD_LENGTH = 8
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JWT_SECRET_FILE = "jwt_secret"
SECRET_KEY_FILE = "secret-key"  # encrypts stored third-party secrets when VENTANILLA_SECRET_KEY is not set
DEFAULT_CLOUD_API_BASE = "https://graph.facebook.com/v21.0"
_Choice = TypeVar("_Choice", bound=str)


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration. `database_url` is None until the embedded server provides one."""

    database_url: str | None
    data_dir: Path
    auth_sessions_dir: Path
    whatsapp_transport: Transport
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    jwt_secret: str
    admin_email: str | None
    admin_password: str | None
    environment: Environment
    log_level: str
    metrics_token: str | None = None  # /metrics needs `Authorization: Bearer <token>` when set
    trusted_proxies: tuple[str, ...] = ()  # addresses (or networks) whose X-Forwarded-* headers are believed
    bot_daily_model_calls: int | None = DEFAULT_DAILY_MODEL_CALLS  # per point and day, then offline; None: no cap
    outbox_max_wait_hours: float = 24.0  # a reply due longer than this while its point was unlinked is not sent
    media_dir: Path | None = None  # stored media files; None: `data_dir / "media"`
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES  # largest file accepted in or out
    media_retention_days: int = DEFAULT_MEDIA_RETENTION_DAYS  # files older than this are deleted (the message stays)
    openai_transcription_model: str = "gpt-4o-mini-transcribe"  # voice notes, with OPENAI_API_KEY
    whatsapp_session_store: SessionStore = "files"  # where WhatsApp-Web credentials live (postgres: any replica)
    replica_id: str = "replica"  # this process among the replicas sharing the database (`/api/cluster`, logs)
    database_pool_size: int = 30  # connections this process keeps; a third more in bursts (replicas share a limit)
    # Encrypt stored third-party secrets (Cloud API tokens): the first encrypts, every one decrypts (rotation).
    secret_keys: tuple[str, ...] = ()
    whatsapp_cloud_api_base: str = DEFAULT_CLOUD_API_BASE  # the Graph API, version included (tests: a local fake)
    whatsapp_cloud_proxy: str | None = None  # an HTTP(S) proxy on the way to Meta, for egress-restricted networks
    # Private networks outbound webhooks may reach all the same (the company's own systems); else public only.
    webhook_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    def with_database_url(self, url: str) -> Settings:
        return replace(self, database_url=url)

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("no database: set DATABASE_URL or start the embedded server first")
        return self.database_url


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")) -> Settings:
    """Read settings from `environ` (default: the process environment) over the values of `env_file`."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    environment = _choice("VENTANILLA_ENV", get("VENTANILLA_ENV") or "development", ENVIRONMENTS)
    data_dir = _writable_dir("VENTANILLA_DATA_DIR", Path(get("VENTANILLA_DATA_DIR") or "./data"))
    auth_sessions_dir = _writable_dir("AUTH_SESSIONS_DIR", Path(get("AUTH_SESSIONS_DIR") or "./auth_sessions"))
    admin_email, admin_password = _admin(get("ADMIN_EMAIL"), get("ADMIN_PASSWORD"))
    transport = _choice("WHATSAPP_TRANSPORT", get("WHATSAPP_TRANSPORT") or "neonize", TRANSPORTS)
    if environment == "production" and transport == "simulator":
        raise ConfigError("WHATSAPP_TRANSPORT=simulator is for demos and tests: refused when VENTANILLA_ENV=production")
    return Settings(
        database_url=parse_database_url(get("DATABASE_URL")),
        data_dir=data_dir,
        auth_sessions_dir=auth_sessions_dir,
        whatsapp_transport=transport,
        openai_api_key=get("OPENAI_API_KEY"),
        openai_base_url=_http_url("OPENAI_BASE_URL", get("OPENAI_BASE_URL")),
        openai_model=get("OPENAI_MODEL") or "gpt-4o-mini",
        jwt_secret=_jwt_secret(get("JWT_SECRET"), data_dir, environment),
        admin_email=admin_email,
        admin_password=admin_password,
        environment=environment,
        log_level=_choice("LOG_LEVEL", (get("LOG_LEVEL") or "INFO").upper(), ("DEBUG", "INFO", "WARNING", "ERROR")),
        metrics_token=_metrics_token(get("METRICS_TOKEN"), environment),
        trusted_proxies=_trusted_proxies(get("TRUSTED_PROXIES")),
        bot_daily_model_calls=_daily_cap(get("BOT_DAILY_MODEL_CALLS")),
        outbox_max_wait_hours=_positive_number("OUTBOX_MAX_WAIT_HOURS", get("OUTBOX_MAX_WAIT_HOURS"), 24.0),
        media_dir=_writable_dir("MEDIA_DIR", Path(media_dir)) if (media_dir := get("MEDIA_DIR")) else None,
        media_max_bytes=_whole_number(
            "MEDIA_MAX_BYTES", get("MEDIA_MAX_BYTES"), DEFAULT_MEDIA_MAX_BYTES, 1, MAX_MEDIA_MAX_BYTES
        ),
        media_retention_days=_whole_number(
            "MEDIA_RETENTION_DAYS", get("MEDIA_RETENTION_DAYS"), DEFAULT_MEDIA_RETENTION_DAYS, 1, 36_500
        ),
        openai_transcription_model=get("OPENAI_TRANSCRIPTION_MODEL") or "gpt-4o-mini-transcribe",
        whatsapp_session_store=_choice(
            "WHATSAPP_SESSION_STORE",
            get("WHATSAPP_SESSION_STORE") or ("postgres" if get("DATABASE_URL") else "files"),
            SESSION_STORES,
        ),
        replica_id=_replica_id(get("VENTANILLA_REPLICA_ID"), data_dir),
        database_pool_size=_whole_number("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 30, 2, 1000),
        secret_keys=_secret_keys(get("VENTANILLA_SECRET_KEY"), data_dir),
        whatsapp_cloud_api_base=(
            _http_url("WHATSAPP_CLOUD_API_BASE", get("WHATSAPP_CLOUD_API_BASE")) or DEFAULT_CLOUD_API_BASE
        ).rstrip("/"),
        whatsapp_cloud_proxy=_http_url("WHATSAPP_CLOUD_PROXY", get("WHATSAPP_CLOUD_PROXY")),
        webhook_allowed_networks=_networks("WEBHOOK_ALLOWED_NETWORKS", get("WEBHOOK_ALLOWED_NETWORKS")),
    )


def _replica_id(raw: str | None, data_dir: Path) -> str:
    """VENTANILLA_REPLICA_ID, else the name generated at this data dir's first start and kept there: a replica that
    restarts (even after kill -9) is the same replica, and takes its points back at once instead of waiting for its
    leases to expire. Only one `serve` runs per data dir (instance_lock), so two live processes never share it."""
    if raw is not None:
        if not REPLICA_ID_PATTERN.match(raw):
            raise ConfigError("VENTANILLA_REPLICA_ID must be 1-100 letters, digits, '.', '_' or '-'")
        return raw
    path = data_dir / REPLICA_ID_FILE
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if REPLICA_ID_PATTERN.match(kept):
        return kept
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:60].strip(".-") or "replica"
    generated = f"{host}-{secrets.token_hex(3)}"
    path.write_text(generated + "\n")
    return generated


def _choice(name: str, value: str, allowed: tuple[_Choice, ...]) -> _Choice:
    for option in allowed:
        if value == option:
            return option
    raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")


def parse_database_url(raw: str | None) -> str | None:
    """Accept `postgresql+asyncpg://` (and plain `postgresql://`, rewritten); reject everything else."""
    if raw is None:
        return None
    hint = "expected postgresql+asyncpg://user:password@host:5432/database"
    try:
        url: URL = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL is not a valid database URL: {hint}") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername != "postgresql+asyncpg":
        raise ConfigError(f"DATABASE_URL must point at PostgreSQL through asyncpg: {hint}")
    if not url.database:
        raise ConfigError(f"DATABASE_URL names no database: {hint}")
    if not url.host and "host" not in url.query:
        raise ConfigError(f"DATABASE_URL names no host: {hint}")
    return url.render_as_string(hide_password=False)


def _writable_dir(name: str, path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{name} {path} cannot be created: {exc.strerror}") from None
    if not path.is_dir():
        raise ConfigError(f"{name} {path} is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(f"{name} {path} is not readable and writable by this user")
    return path


def _http_url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL with a host, such as https://example.com/v1")
    return raw


def _admin(email: str | None, password: str | None) -> tuple[str | None, str | None]:
    if (email is None) != (password is None):
        raise ConfigError("ADMIN_EMAIL and ADMIN_PASSWORD must be set together (or neither)")
    if email is not None and not EMAIL_PATTERN.match(email):
        raise ConfigError("ADMIN_EMAIL is not an email address")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters")
    return (email.lower() if email else None), password


def _metrics_token(raw: str | None, environment: Environment) -> str | None:
    if raw is None:
        if environment == "production":
            raise ConfigError("METRICS_TOKEN must be set when VENTANILLA_ENV=production (/metrics shows every branch)")
        return None
    if len(raw) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(f"METRICS_TOKEN must have at least {MIN_METRICS_TOKEN_LENGTH} characters")
    return raw


def _trusted_proxies(raw: str | None) -> tuple[str, ...]:
    """Comma-separated addresses or networks (10.0.0.0/8); each is checked so a typo does not trust nobody."""
    if raw is None:
        return ()
    proxies = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
        proxies.append(item)
    return tuple(proxies)


def _networks(name: str, raw: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs (10.0.0.0/8, fd00::/8; a bare address is its own /32 or /128)."""
    if raw is None:
        return ()
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP network such as 10.0.0.0/8") from None
    return tuple(networks)


def _daily_cap(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_DAILY_MODEL_CALLS
    if not raw.isdigit():
        raise ConfigError("BOT_DAILY_MODEL_CALLS must be a whole number (0 turns the cap off)")
    return int(raw) or None


def _whole_number(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _positive_number(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if not 0 < value < 1e6:
        raise ConfigError(f"{name} must be greater than 0")
    return value


def _jwt_secret(raw: str | None, data_dir: Path, environment: Environment) -> str:
    """Use JWT_SECRET; outside production fall back to a secret generated once into the data dir."""
    if raw is not None:
        if len(raw) < MIN_SECRET_LENGTH:
            raise ConfigError(f"JWT_SECRET must have at least {MIN_SECRET_LENGTH} characters")
        return raw
    if environment == "production":
        raise ConfigError("JWT_SECRET must be set when VENTANILLA_ENV=production")
    return _kept_secret(data_dir / JWT_SECRET_FILE, "the generated JWT secret")


def _secret_keys(raw: str | None, data_dir: Path) -> tuple[str, ...]:
    """VENTANILLA_SECRET_KEY (several, comma-separated, while rotating: the first encrypts), else a key generated
    once into the data dir. Replicas must share it: what one encrypts, every other one decrypts."""
    if raw is None:
        return (_kept_secret(data_dir / SECRET_KEY_FILE, "the generated secret key"),)
    keys = tuple(key.strip() for key in raw.split(","))
    if any(len(key) < MIN_SECRET_LENGTH for key in keys):
        raise ConfigError(f"VENTANILLA_SECRET_KEY: each key must have at least {MIN_SECRET_LENGTH} characters")
    return keys


def _kept_secret(path: Path, what: str) -> str:
    """A random secret generated at the first start into `path` (0600), read back on every later start."""
    try:
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        secret = path.read_text().strip()
    except FileExistsError:  # another process created it between our check and open
        secret = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot keep {what} in {path}: {exc.strerror}") from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters; delete it")
    return secret
