"""Publishing live events: one channel per service point, so a subscriber only ever hears its own point."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from ventanilla.live.events import PUBLISHER_KEY, LiveEvent


class Publish(Protocol):
    """What workers are given to publish events that no transaction of theirs carries (QR codes, send outcomes)."""

    def publish(self, event: LiveEvent) -> None: ...


def channel_of(service_point_id: UUID) -> str:
    return f"point:{service_point_id}"


def build_channels() -> ChannelsPlugin:
    """In-process channels: Ventanilla runs as one process, so memory is the whole world."""
    return ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)


class LivePublisher:
    def __init__(self, channels: ChannelsPlugin) -> None:
        self.channels = channels
        self._encoder = msgspec.json.Encoder()

    def publish(self, event: LiveEvent) -> None:
        self.channels.publish(self._encoder.encode(event), channels=[channel_of(event.service_point_id)])

    def session_info(self) -> dict[str, Any]:
        """For the session configuration: sessions then publish what `after_commit` queued on them."""
        return {PUBLISHER_KEY: self}
