"""Small helpers shared by tests that run Ventanilla as a separate process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VENTANILLA_VARIABLES = {
    "DATABASE_URL",
    "VENTANILLA_DATA_DIR",
    "AUTH_SESSIONS_DIR",
    "WHATSAPP_TRANSPORT",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "JWT_SECRET",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "VENTANILLA_ENV",
    "LOG_LEVEL",
    "METRICS_TOKEN",
    "TRUSTED_PROXIES",
    "BOT_DAILY_MODEL_CALLS",
    "OUTBOX_MAX_WAIT_HOURS",
    "VENTANILLA_REPLICA_ID",
    "WHATSAPP_SESSION_STORE",
    "DATABASE_POOL_SIZE",
    "VENTANILLA_SECRET_KEY",
    "WHATSAPP_CLOUD_API_BASE",
    "WHATSAPP_CLOUD_PROXY",
    "WEBHOOK_ALLOWED_NETWORKS",
}
ADMIN = {"email": "ops@example.com", "password": "ops-password"}


def process_env(**values: str) -> dict[str, str]:
    """The current environment without any Ventanilla setting of the developer's shell, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in VENTANILLA_VARIABLES}
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    """Poll /ready until 200; fail early with the server's output if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base_url}/ready did not answer 200 within {timeout} s")


def stop(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """SIGTERM (graceful), then the output."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""


class Server:
    """`ventanilla serve` as a separate process that can be killed without mercy and started again."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.env = process_env(
            DATABASE_URL=database_url,
            VENTANILLA_DATA_DIR=str(tmp_path / "data"),
            AUTH_SESSIONS_DIR=str(tmp_path / "auth"),
            WHATSAPP_TRANSPORT="simulator",
            ADMIN_EMAIL=ADMIN["email"],
            ADMIN_PASSWORD=ADMIN["password"],
            LOG_LEVEL="WARNING",
        )
        self.cwd = tmp_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.launch()
        assert self.process is not None
        wait_until_ready(self.base, self.process)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (several servers starting together)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ventanilla", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> str:
        return stop(self.process) if self.process else ""


async def login_headers(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/api/auth/login", json=ADMIN)
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


async def link_over_http(http: httpx.AsyncClient, headers: dict[str, str], point: str) -> None:
    await http.post(f"/api/service-points/{point}/whatsapp/connect", headers=headers)
    for _ in range(200):
        state = (await http.get(f"/api/service-points/{point}/whatsapp", headers=headers)).json()
        if state["qrAvailable"]:
            break
        await asyncio.sleep(0.02)
    assert (await http.post(f"/api/service-points/{point}/simulator/scan", headers=headers)).status_code == 201
