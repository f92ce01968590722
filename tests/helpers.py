"""Small helpers shared by tests that run Ventanilla as a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import time

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
}


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
