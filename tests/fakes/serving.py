"""Serving a fake (OpenAI, Meta's Graph API) for tests: uvicorn in a background thread, on a socket bound to a free
port before the thread starts, so there is no race for the port; and reading the forms the fakes receive."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import uvicorn


@contextmanager
def serving_in_thread(app: Any, name: str) -> Iterator[str]:
    """Serve the ASGI `app` on 127.0.0.1 until the block ends; yields its root URL (`http://127.0.0.1:PORT`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def multipart_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]] | None:
    """A multipart/form-data body's fields and files (name -> (file name, type, bytes)), by the standard library."""
    if not content_type.startswith("multipart/form-data"):
        return None
    parsed = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not isinstance(parsed, Message) or not parsed.is_multipart():
        return None
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if not isinstance(name, str):
            continue
        if (file_name := part.get_filename()) is not None:
            files[name] = (file_name, part.get_content_type(), payload)
        else:
            fields[name] = payload.decode()
    return fields, files


async def read_body(receive: Any) -> bytes:
    """The whole body of an ASGI HTTP request."""
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)
