"""The throttle's window arithmetic, with a controllable clock."""

from __future__ import annotations

from ventanilla.auth.throttle import LoginThrottle


def test_blocks_after_limit_and_releases_after_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(
        max_failures_per_account=3, max_failures_per_address=100, window_seconds=60, clock=lambda: now[0]
    )
    for step in range(3):
        assert throttle.retry_after("a@x.ec", "1.1.1.1") == 0
        throttle.record_failure("a@x.ec", "1.1.1.1")
        now[0] += 10 * (step + 1)
    # failures at 1000, 1010, 1030; now 1060: the oldest expires at 1060+... (1000 + 60)
    now[0] = 1050
    assert throttle.retry_after("a@x.ec", "1.1.1.1") == 10
    now[0] = 1060
    assert throttle.retry_after("a@x.ec", "1.1.1.1") == 0
    assert throttle.retry_after("b@x.ec", "1.1.1.1") == 0
