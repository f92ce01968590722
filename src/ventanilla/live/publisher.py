"""Publishing live events: one channel per service point, so a subscriber only ever hears its own point.

Subscribers live in this process's memory channels. With several replicas, each event is also relayed to the others
through PostgreSQL (`NotifyHub`, channel `ventanilla_live`), tagged with the replica it comes from: each replica
republishes the others' events into its own memory channels, byte for byte, and ignores its own (already published
here). Local subscribers hear an event at once; other replicas' a round trip later, and best effort. A replica
that knows of no other live replica (`peers`, from its last heartbeat) relays nothing: a single process pays nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from ventanilla.cluster.notify import NotifyHub
from ventanilla.live.events import PUBLISHER_KEY, LiveEvent

RELAY_CHANNEL = "ventanilla_live"

logger = logging.getLogger(__name__)


class Publish(Protocol):
    """What workers are given to publish events that no transaction of theirs carries (QR codes, send outcomes)."""

    def publish(self, event: LiveEvent) -> None: ...


def channel_of(service_point_id: UUID) -> str:
    return f"point:{service_point_id}"


def build_channels() -> ChannelsPlugin:
    """In-process channels: this process's subscribers; other replicas' events are relayed into them."""
    return ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)


class _Relayed(msgspec.Struct, frozen=True):
    """An event on its way to the other replicas: `event` is its JSON exactly as local subscribers got it."""

    origin: str  # the replica that published it
    point: UUID
    event: msgspec.Raw


class LivePublisher:
    """The process's one publisher: with a hub, it registers the relay listener, so build it once per process."""

    def __init__(
        self,
        channels: ChannelsPlugin,
        hub: NotifyHub | None = None,
        origin: str = "",
        peers: Callable[[], bool] = lambda: True,
    ) -> None:
        if hub is not None and not origin:
            raise ValueError("relaying live events needs the replica's id as origin")
        self.channels = channels
        self.hub = hub
        self.origin = origin
        self.peers = peers  # whether another live replica may have subscribers
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(_Relayed)
        if hub is not None:
            hub.listen(RELAY_CHANNEL, self._republish)

    def publish(self, event: LiveEvent) -> None:
        data = self._encoder.encode(event)
        self.channels.publish(data, channels=[channel_of(event.service_point_id)])
        if self.hub is None or not self.peers():
            return
        relayed = _Relayed(origin=self.origin, point=event.service_point_id, event=msgspec.Raw(data))
        try:
            self.hub.notify(RELAY_CHANNEL, self._encoder.encode(relayed).decode())
        except ValueError:  # too large for a notification: this replica's subscribers heard it, the others will not
            logger.warning("live event %s not relayed to the other replicas (too large)", type(event).__name__)

    def _republish(self, payload: str) -> None:
        relayed = self._decoder.decode(payload)
        if relayed.origin != self.origin:
            self.channels.publish(bytes(relayed.event), channels=[channel_of(relayed.point)])

    def session_info(self) -> dict[str, Any]:
        """For the session configuration: sessions then publish what `after_commit` queued on them."""
        return {PUBLISHER_KEY: self}
