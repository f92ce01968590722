"""Per-customer limit on bot turns: a customer who keeps writing cannot make the bot spend without bound.

Within `window_seconds`, a conversation gets `turns` bot turns. Past that, its messages are still stored and shown
to agents, the customer once gets a short "un momento" (no model call), and if they go on within the window the
conversation goes to a person. Kept in memory: the lanes that use it are in-memory too, and a restart forgetting a
minute of history is harmless.

Only conversations active within the window are remembered: one quiet for a whole window would be treated as new
anyway, so it is forgotten at the next turn of anyone. Memory follows the conversations of the last minute, never
every customer ever seen.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID


class Verdict(enum.Enum):
    ANSWER = "answer"  # a normal bot turn
    HOLD = "hold"  # "un momento", without the model
    HANDOFF = "handoff"  # to a person, without the model


@dataclass(slots=True)
class _Recent:
    """One conversation's turns within the window (oldest first) and its "un momento", if any; small on purpose:
    there is one per conversation of the last window."""

    turns: tuple[float, ...]
    held_at: float | None

    @property
    def last(self) -> float:
        return max(self.turns[-1] if self.turns else float("-inf"), self.held_at or float("-inf"))


@dataclass
class CustomerLimiter:
    turns: int = 6
    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _recent: OrderedDict[UUID, _Recent] = field(default_factory=OrderedDict)  # least recently active first

    def __len__(self) -> int:
        """Conversations remembered: those with a turn or a hold within the window (and at most until the next
        verdict after it ends)."""
        return len(self._recent)

    def verdict(self, conversation_id: UUID) -> Verdict:
        """What this conversation's next turn may be; the turn is counted."""
        now = self.clock()
        self._forget_idle(now)
        recent = self._recent.pop(conversation_id, None)
        turns: tuple[float, ...] = ()
        held_at = None
        if recent is not None:
            turns = tuple(t for t in recent.turns if now - t < self.window_seconds)
            if recent.held_at is not None and now - recent.held_at < self.window_seconds:
                held_at = recent.held_at
        if len(turns) < self.turns:
            verdict, turns = Verdict.ANSWER, (*turns, now)
        elif held_at is None:
            verdict, held_at = Verdict.HOLD, now
        else:
            return Verdict.HANDOFF  # a person takes it from here (forgotten); a later return starts afresh
        self._recent[conversation_id] = _Recent(turns, held_at)  # now the most recently active
        return verdict

    def _forget_idle(self, now: float) -> None:
        """Drop the conversations quiet for a whole window: the least recently active come first, so this stops at
        the first one still active (amortized O(1) per turn)."""
        while self._recent:
            oldest = next(iter(self._recent.values()))
            if now - oldest.last < self.window_seconds:
                return
            self._recent.popitem(last=False)
