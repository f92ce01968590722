"""Publishing live events: one channel per service point, so a subscriber only ever hears its own point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

# What services and workers are given to publish with: `publish(point_id, {"type": ..., ...})`.
Publish = Callable[[UUID, dict[str, Any]], None]


def channel_of(service_point_id: UUID) -> str:
    return f"point:{service_point_id}"


def build_channels() -> ChannelsPlugin:
    """In-process channels: Ventanilla runs as one process, so memory is the whole world."""
    return ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)


class LivePublisher:
    """`publish(point, event)` for services and workers; events are small JSON objects with a `type`."""

    def __init__(self, channels: ChannelsPlugin) -> None:
        self.channels = channels

    def __call__(self, service_point_id: UUID, event: dict[str, Any]) -> None:
        self.channels.publish(
            {"servicePointId": str(service_point_id), **event}, channels=[channel_of(service_point_id)]
        )
