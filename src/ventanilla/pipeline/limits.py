"""Per-customer limit on bot turns: a customer who keeps writing cannot make the bot spend without bound.

Within `window_seconds`, a conversation gets `turns` bot turns. Past that, its messages are still stored and shown
to agents, the customer once gets a short "un momento" (no model call), and if they go on within the window the
conversation goes to a person. Kept in memory: the lanes that use it are in-memory too, and a restart forgetting a
minute of history is harmless.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID


class Verdict(enum.Enum):
    ANSWER = "answer"  # a normal bot turn
    HOLD = "hold"  # "un momento", without the model
    HANDOFF = "handoff"  # to a person, without the model


@dataclass
class _Recent:
    turns: deque[float] = field(default_factory=deque)
    held_at: float | None = None


@dataclass
class CustomerLimiter:
    turns: int = 6
    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _recent: dict[UUID, _Recent] = field(default_factory=dict)
    _prune_at: int = 1024  # the size at which quiet conversations are next dropped

    def verdict(self, conversation_id: UUID) -> Verdict:
        """What this conversation's next turn may be; the turn is counted."""
        now = self.clock()
        recent = self._recent.get(conversation_id)
        if recent is None:
            if len(self._recent) >= self._prune_at:
                self._forget_idle(now)
            recent = self._recent[conversation_id] = _Recent()
        while recent.turns and now - recent.turns[0] >= self.window_seconds:
            recent.turns.popleft()
        if recent.held_at is not None and now - recent.held_at >= self.window_seconds:
            recent.held_at = None
        if len(recent.turns) < self.turns:
            recent.turns.append(now)
            return Verdict.ANSWER
        if recent.held_at is None:
            recent.held_at = now
            return Verdict.HOLD
        del self._recent[conversation_id]  # a person takes it from here; a later return starts afresh
        return Verdict.HANDOFF

    def _forget_idle(self, now: float) -> None:
        """Drop conversations quiet for a whole window, so memory does not grow with every customer ever seen; the
        next pruning waits until the map has doubled from what is left (amortized O(1) per conversation)."""
        idle = [
            key
            for key, recent in self._recent.items()
            if (not recent.turns or now - recent.turns[-1] >= self.window_seconds)
            and (recent.held_at is None or now - recent.held_at >= self.window_seconds)
        ]
        for key in idle:
            del self._recent[key]
        self._prune_at = max(1024, 2 * len(self._recent))
