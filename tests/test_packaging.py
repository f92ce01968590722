"""Docker files: the compose file is valid and mounts credentials where the app keeps them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_mounts_auth_sessions_where_the_app_reads_them() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    api = compose["services"]["api"]
    sessions_dir = api["environment"]["AUTH_SESSIONS_DIR"]
    assert f"auth_sessions:{sessions_dir}" in api["volumes"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgresql+asyncpg://" in api["environment"]["DATABASE_URL"]
    assert api["environment"]["VENTANILLA_ENV"] == "production"
    assert any(v.startswith("postgres_data:") for v in compose["services"]["postgres"]["volumes"])


def test_dockerfile_runs_as_non_root_with_a_ready_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER ventanilla\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/ready" in dockerfile
    assert "COPY migrations ./migrations" in dockerfile


def _compose_command() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="neither `docker compose` nor `docker-compose` is installed")
def test_compose_config_is_accepted() -> None:
    command = _compose_command()
    assert command is not None
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "POSTGRES_PASSWORD": "pw",
        "JWT_SECRET": "s" * 40,
        "METRICS_TOKEN": "m" * 20,
    }
    for profile in ([], ["--profile", "replicas"]):  # one replica, and three behind the proxy
        result = subprocess.run(
            [*command, *profile, "config", "-q"], check=False, cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
