"""Failed-login throttling that slows guessing down without letting anyone lock a person out.

Three rules, over a sliding window (15 minutes by default):

- per (account, client address): after 5 failures that client may not try that account again until the oldest of
  them leaves the window. Only the guesser is stopped; the account's owner elsewhere is not.
- per client address, across accounts: after 20 failures the address is stopped (password spraying).
- per account, a slowdown: once an account has many recent failures (10, from anywhere), a client that itself has
  recent failures must wait an increasing delay after the account's latest failure (doubling, capped). A client
  without failures is never delayed, so a correct password from a clean client always goes through.

Ventanilla runs as one process (each WhatsApp socket lives in it), so memory is the right place: no table to
clean, and a restart forgetting old failures is acceptable. The clock is injectable for tests. Memory stays bounded:
keys whose failures left the window are swept, and each key keeps only the latest failures its rule can use (an
account attacked from many addresses does not collect a timestamp per guess).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

_Key = TypeVar("_Key", bound=Hashable)


@dataclass
class LoginThrottle:
    max_failures_per_pair: int = 5
    max_failures_per_address: int = 20
    slowdown_after: int = 10  # failures of one account within the window before its slowdown starts
    slowdown_first_seconds: float = 1.0
    slowdown_max_seconds: float = 15 * 60
    window_seconds: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _pairs: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _addresses: dict[str, deque[float]] = field(default_factory=dict)
    _accounts: dict[str, deque[float]] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until this client may try this account again; 0 when it may try now."""
        now = self.clock()
        pair = self._recent(self._pairs, (email, address), now)
        by_address = self._recent(self._addresses, address, now)
        by_account = self._recent(self._accounts, email, now)
        waits = [
            self._over_limit(pair, self.max_failures_per_pair, now),
            self._over_limit(by_address, self.max_failures_per_address, now),
        ]
        if by_address and len(by_account) >= self.slowdown_after:
            doublings = len(by_account) - self.slowdown_after
            delay = min(self.slowdown_first_seconds * 2 ** min(doublings, 32), self.slowdown_max_seconds)
            waits.append(by_account[-1] + delay - now)
        wait = max(waits)
        return math.ceil(wait) if wait > 0 else 0

    def record_failure(self, email: str, address: str) -> None:
        now = self.clock()
        self._append(self._pairs, (email, address), self.max_failures_per_pair, now)
        self._append(self._addresses, address, self.max_failures_per_address, now)
        self._append(self._accounts, email, self._account_memory(), now)
        self._sweep(now)

    def record_success(self, email: str, address: str) -> None:
        """The client knew the password: its own failures on this account no longer count against it."""
        self._pairs.pop((email, address), None)

    def forget_account(self, email: str) -> None:
        """An administrator unlocked the account: its failures, from every client, no longer count. A client
        stopped for spraying many accounts stays stopped."""
        self._accounts.pop(email, None)
        for key in [key for key in self._pairs if key[0] == email]:
            del self._pairs[key]

    def recent_failures(self, email: str) -> int:
        """Failed logins of the account within the window (what an administrator sees before unlocking)."""
        return len(self._recent(self._accounts, email, self.clock()))

    def _recent(self, table: dict[_Key, deque[float]], key: _Key, now: float) -> deque[float]:
        stamps = table.get(key)
        if stamps is None:
            return deque()
        while stamps and now - stamps[0] >= self.window_seconds:
            stamps.popleft()
        return stamps

    @staticmethod
    def _append(table: dict[_Key, deque[float]], key: _Key, keep: float, now: float) -> None:
        """Record a failure under `key`, keeping only its latest `keep`."""
        stamps = table.get(key)
        if stamps is None:
            stamps = table[key] = deque(maxlen=max(1, int(keep)))
        stamps.append(now)

    def _account_memory(self) -> int:
        """An account's failures worth keeping: the latest ones, enough for its slowdown to reach the cap (the rules
        only ask how many, up to that, and when the latest was)."""
        doublings, delay = 0, self.slowdown_first_seconds
        while 0 < delay < self.slowdown_max_seconds and doublings < 32:
            delay *= 2
            doublings += 1
        return int(self.slowdown_after) + doublings + 1

    def _over_limit(self, stamps: deque[float], limit: int, now: float) -> float:
        """Seconds until fewer than `limit` failures remain in the window."""
        if len(stamps) < limit:
            return 0
        return stamps[-limit] + self.window_seconds - now

    def _sweep(self, now: float) -> None:
        """Forget keys whose latest failure left the window; at most once a window, so a failure stays cheap."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_seconds
        for table in (self._pairs, self._addresses, self._accounts):
            for key in [key for key, stamps in table.items() if not stamps or now - stamps[-1] >= self.window_seconds]:
                del table[key]
