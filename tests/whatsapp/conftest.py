"""WhatsApp tests run the real app with the simulator transport and shortened timings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from litestar import Litestar

from ventanilla.app import create_app
from ventanilla.config import Settings
from ventanilla.whatsapp.manager import SessionPolicy

FAST = SessionPolicy(
    qr_first_seconds=0.8,
    qr_next_seconds=0.4,
    qr_give_up_seconds=2.0,
    reconnect_base_seconds=0.05,
    reconnect_max_seconds=0.2,
    pairing_wait_seconds=2.0,
)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings, session_policy=FAST)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `check` until it holds; fail with `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
