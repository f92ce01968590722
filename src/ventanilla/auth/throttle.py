"""Failed-login throttling per account and per client address, kept in memory.

Ventanilla runs as one process (each WhatsApp socket lives in it), so memory is the right place: no table to
clean, and a restart forgetting old failures is acceptable. A blocked key stays blocked, right password or not,
until its window passes, so guessing cannot continue at full speed.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window_seconds: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until a login may be tried again for this account or address; 0 when allowed now."""
        now = self.clock()
        waits = [
            self._wait(f"account:{email}", self.max_failures_per_account, now),
            self._wait(f"address:{address}", self.max_failures_per_address, now),
        ]
        return max(waits)

    def record_failure(self, email: str, address: str) -> None:
        now = self.clock()
        for key in (f"account:{email}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)
        self._forget_old(now)

    def record_success(self, email: str) -> None:
        self._failures.pop(f"account:{email}", None)

    def _wait(self, key: str, limit: int, now: float) -> int:
        stamps = self._failures.get(key)
        if not stamps:
            return 0
        while stamps and now - stamps[0] >= self.window_seconds:
            stamps.popleft()
        if len(stamps) < limit:
            return 0
        return max(1, math.ceil(stamps[-limit] + self.window_seconds - now))

    def _forget_old(self, now: float) -> None:
        stale = [key for key, stamps in self._failures.items() if now - stamps[-1] >= self.window_seconds]
        for key in stale:
            del self._failures[key]
