"""An app with a fast dispatcher, and a receiver on a free port that checks signatures the way a customer would.

The receivers listen on 127.0.0.1, which webhooks may not reach by default: these tests' settings allow
127.0.0.0/8 through WEBHOOK_ALLOWED_NETWORKS (`allowed_networks`; a test overrides it to see the refusals).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
from litestar import Litestar

from tests.whatsapp.conftest import FAST
from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.delivery.worker import DeliveryPolicy
from ventanilla.pipeline import PipelinePolicy
from ventanilla.webhooks.dispatcher import WebhookPolicy
from ventanilla.webhooks.targets import IPNetwork

FAST_WEBHOOKS = WebhookPolicy(
    poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.2, claim_seconds=5, refresh_seconds=0.5
)


@pytest.fixture
def webhook_policy() -> WebhookPolicy:
    return FAST_WEBHOOKS


@pytest.fixture
def allowed_networks() -> tuple[IPNetwork, ...]:
    """WEBHOOK_ALLOWED_NETWORKS of these tests: the receivers are local."""
    return (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def settings(settings: Settings, allowed_networks: tuple[IPNetwork, ...]) -> Settings:
    return replace(settings, webhook_allowed_networks=allowed_networks)


@pytest.fixture
def app(settings: Settings, webhook_policy: WebhookPolicy) -> Litestar:
    """`tests.flow.fast_app`'s timers, and a dispatcher that polls and retries within milliseconds."""
    return create_app(
        settings,
        session_policy=FAST,
        pipeline_policy=PipelinePolicy(sweep_seconds=0.5, stale_seconds=0.5),
        delivery_policy=DeliveryPolicy(poll_seconds=0.05, retry_base_seconds=0.05, retry_max_seconds=0.1),
        webhook_policy=webhook_policy,
    )


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """What a receiver does: HMAC-SHA256 over "<timestamp>.<raw body>", compared in constant time."""
        timestamp = self.headers["x-ventanilla-timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-ventanilla-signature"], f"sha256={expected}")


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (200 once they run out) and keeps what it got."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    always: int = 200
    delay: float = 0.0  # seconds before answering
    got: list[Delivery] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.got.append(Delivery(headers, body))
        await asyncio.sleep(self.delay)
        status = self.answers.pop(0) if self.answers else self.always
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


async def serve(receiver: Receiver) -> asyncio.Server:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    return server


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with await serve(receiver):
        yield receiver


@pytest.fixture
async def slow_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(delay=3.0)
    async with await serve(receiver):
        yield receiver
