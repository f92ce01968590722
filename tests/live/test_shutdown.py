"""Stopping `ventanilla serve` with an inbox open: the event streams end at once, not after uvicorn's timeout."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import ADMIN, Server


def test_ctrl_c_with_an_open_event_stream_stops_at_once_without_traceback(tmp_path: Path, database_url: str) -> None:
    server = Server(tmp_path, database_url)
    server.env["LOG_LEVEL"] = "INFO"
    server.start()
    assert server.process is not None
    try:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            token = http.post("/api/auth/login", json=ADMIN).json()["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            point = http.post(
                "/api/service-points", json={"name": "Centro", "phoneNumber": "+593991230000"}, headers=headers
            ).json()["id"]
            opened = threading.Event()
            ended: list[float] = []

            def listen() -> None:  # what an open inbox tab does
                with http.stream("GET", f"/api/service-points/{point}/events", headers=headers) as stream:
                    for _ in stream.iter_lines():
                        opened.set()
                ended.append(time.monotonic())

            reader = threading.Thread(target=listen, daemon=True)
            reader.start()
            assert opened.wait(10), "the event stream did not open"

            started = time.monotonic()
            server.process.send_signal(signal.SIGINT)
            server.process.wait(timeout=20)
            took = time.monotonic() - started
            reader.join(5)
    finally:
        output = server.stop()
    assert took < 3, f"shutdown took {took:.1f} s:\n{output}"
    assert ended and ended[0] - started < 3, "the stream was not ended by the server"
    assert server.process.returncode == 0, output
    assert "Traceback" not in output and "timeout graceful shutdown exceeded" not in output, output
    assert "WhatsApp transport: simulator" in output
