"""Settings are validated at start-up; every problem is one clear line and a non-zero exit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import process_env
from ventanilla.config import JWT_SECRET_FILE, SECRET_KEY_FILE, ConfigError, load_settings

# Everything production requires, valid: each case below breaks one thing only.
PRODUCTION = {"VENTANILLA_ENV": "production", "JWT_SECRET": "p" * 40, "METRICS_TOKEN": "m" * 20}


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {"VENTANILLA_DATA_DIR": str(tmp_path / "data"), "AUTH_SESSIONS_DIR": str(tmp_path / "auth")}
    env.update(overrides)
    return env


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path), env_file=None)
    assert settings.database_url is None and settings.uses_embedded_database
    assert settings.whatsapp_transport == "neonize"
    assert settings.openai_model == "gpt-4o-mini"
    assert settings.environment == "development"
    assert (tmp_path / "data").is_dir() and (tmp_path / "auth").is_dir()


def test_generated_jwt_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_settings(_env(tmp_path), env_file=None).jwt_secret
    secret_file = tmp_path / "data" / JWT_SECRET_FILE
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert load_settings(_env(tmp_path), env_file=None).jwt_secret == first
    assert len(first) >= 32


def test_plain_postgresql_url_is_rewritten_for_asyncpg(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path, DATABASE_URL="postgresql://u:p@db:5432/app"), env_file=None)
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/app"


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_MODEL=from-file\nWHATSAPP_TRANSPORT=simulator\n")
    settings = load_settings(_env(tmp_path, OPENAI_MODEL="from-env"), env_file=env_file)
    assert settings.openai_model == "from-env"
    assert settings.whatsapp_transport == "simulator"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid database URL"),
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL must point at PostgreSQL"),
        ({"DATABASE_URL": "postgresql+asyncpg://u:p@h:5432/"}, "DATABASE_URL names no database"),
        ({"WHATSAPP_TRANSPORT": "baileys"}, "WHATSAPP_TRANSPORT must be one of neonize, simulator"),
        ({"VENTANILLA_ENV": "production"}, "JWT_SECRET must be set when VENTANILLA_ENV=production"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must have at least 32 characters"),
        ({"ADMIN_EMAIL": "a@b.ec"}, "ADMIN_EMAIL and ADMIN_PASSWORD must be set together"),
        ({"ADMIN_EMAIL": "nope", "ADMIN_PASSWORD": "long-enough"}, "ADMIN_EMAIL is not an email address"),
        ({"ADMIN_EMAIL": "a@b.ec", "ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD must have at least 8"),
        ({"OPENAI_BASE_URL": "localhost:9999"}, "OPENAI_BASE_URL must be an http(s) URL"),
        (PRODUCTION | {"METRICS_TOKEN": ""}, "METRICS_TOKEN must be set when VENTANILLA_ENV=production"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must have at least 16 characters"),
        (PRODUCTION | {"WHATSAPP_TRANSPORT": "simulator"}, "WHATSAPP_TRANSPORT=simulator is for demos and tests"),
        ({"TRUSTED_PROXIES": "10.0.0.1, proxy.internal"}, "TRUSTED_PROXIES: 'proxy.internal' is not an IP address"),
        ({"VENTANILLA_SECRET_KEY": "short"}, "VENTANILLA_SECRET_KEY: each key must have at least 32 characters"),
        ({"VENTANILLA_SECRET_KEY": "k" * 40 + ",short"}, "VENTANILLA_SECRET_KEY: each key must have at least 32"),
        ({"WHATSAPP_CLOUD_API_BASE": "graph.facebook.com"}, "WHATSAPP_CLOUD_API_BASE must be an http(s) URL"),
        ({"WHATSAPP_CLOUD_PROXY": "user:secret@proxy:3128"}, "WHATSAPP_CLOUD_PROXY must be an http(s) URL"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(_env(tmp_path, **overrides), env_file=None)


def test_password_in_database_url_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env(tmp_path, DATABASE_URL="mysql://user:s3cr3t-pw@h/db"), env_file=None)
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_data_dir(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"VENTANILLA_DATA_DIR .* not readable and writable"):
        load_settings(_env(tmp_path, VENTANILLA_DATA_DIR=str(locked)), env_file=None)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match=r"VENTANILLA_DATA_DIR .* cannot be created"):
        load_settings(_env(tmp_path, VENTANILLA_DATA_DIR=str(a_file / "sub")), env_file=None)


def test_production_and_access_settings(tmp_path: Path) -> None:
    """The control for the production refusals above: all of it valid loads."""
    settings = load_settings(_env(tmp_path, **PRODUCTION, TRUSTED_PROXIES=" 10.0.0.0/8, 192.168.1.7 ,"), env_file=None)
    assert settings.environment == "production" and settings.whatsapp_transport == "neonize"
    assert settings.metrics_token == "m" * 20
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.7")
    assert load_settings(_env(tmp_path), env_file=None).trusted_proxies == ()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL must point at PostgreSQL"),
        ({"VENTANILLA_ENV": "production"}, "JWT_SECRET must be set"),
    ],
)
def test_cli_reports_one_line_and_exits_non_zero(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    env = process_env(**_env(tmp_path, **overrides))
    result = subprocess.run(
        [sys.executable, "-m", "ventanilla", "serve"],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ventanilla: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_access_log_drops_query_strings() -> None:
    """Searches carry phone numbers in the query string; the access log keeps only the path."""
    import logging

    from ventanilla.privacy import AccessLogWithoutQuery, mask_phone

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/service-points/x/conversations?q=%2B593991234567", "1.1", 200),
        None,
    )
    assert AccessLogWithoutQuery().filter(record)
    assert "593991234567" not in record.getMessage()
    assert "/api/service-points/x/conversations" in record.getMessage()
    assert mask_phone("+593991234567") == "+59399****567"


def test_the_secret_key_is_generated_once_kept_private_and_rotatable(tmp_path: Path) -> None:
    first = load_settings(_env(tmp_path), env_file=None)
    key_file = tmp_path / "data" / SECRET_KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_settings(_env(tmp_path), env_file=None).secret_keys == first.secret_keys == (key_file.read_text(),)
    rotating = load_settings(_env(tmp_path, VENTANILLA_SECRET_KEY=f"{'n' * 32}, {'o' * 32}"), env_file=None)
    assert rotating.secret_keys == ("n" * 32, "o" * 32)  # the first seals, both open


def test_a_proxy_password_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env(tmp_path, WHATSAPP_CLOUD_PROXY="ftp://user:hunter2-secret@proxy:21"), env_file=None)
    assert "hunter2" not in str(refused.value)
    settings = load_settings(_env(tmp_path, WHATSAPP_CLOUD_PROXY="http://user:pw@proxy:3128"), env_file=None)
    assert settings.whatsapp_cloud_proxy == "http://user:pw@proxy:3128"
