"""The throttle's rules with a controllable clock: guessers are stopped, nobody else is locked out."""

from __future__ import annotations

import random

from ventanilla.auth.throttle import LoginThrottle

ACCOUNT = "a@x.ec"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(clock: Clock, **limits: float) -> LoginThrottle:
    return LoginThrottle(clock=clock, **limits)  # type: ignore[arg-type]


def test_a_guessing_client_is_stopped_for_that_account_only() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(5):
        assert throttle.retry_after(ACCOUNT, "1.1.1.1") == 0
        throttle.record_failure(ACCOUNT, "1.1.1.1")
        clock.now += 10
    assert throttle.retry_after(ACCOUNT, "1.1.1.1") == 15 * 60 - 50  # until the first failure leaves the window
    assert throttle.retry_after(ACCOUNT, "2.2.2.2") == 0  # the account's owner, elsewhere
    assert throttle.retry_after("b@x.ec", "1.1.1.1") == 0  # the same client, another account
    clock.now = 1000 + 15 * 60
    assert throttle.retry_after(ACCOUNT, "1.1.1.1") == 0


def test_an_address_spraying_many_accounts_is_stopped() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for index in range(20):
        assert throttle.retry_after(f"user{index}@x.ec", "1.1.1.1") == 0
        throttle.record_failure(f"user{index}@x.ec", "1.1.1.1")
    assert throttle.retry_after("fresh@x.ec", "1.1.1.1") == 15 * 60
    assert throttle.retry_after("fresh@x.ec", "2.2.2.2") == 0


def test_an_account_under_attack_slows_down_failing_clients_with_a_growing_delay() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for index in range(10):  # one guess each from ten addresses: no pair or address limit is reached
        throttle.record_failure(ACCOUNT, f"10.0.0.{index}")
    assert throttle.retry_after(ACCOUNT, "10.0.0.1") == 1
    assert throttle.retry_after(ACCOUNT, "192.0.2.1") == 0  # a client without failures is never delayed
    clock.now += 1
    assert throttle.retry_after(ACCOUNT, "10.0.0.1") == 0
    throttle.record_failure(ACCOUNT, "10.0.0.1")
    assert throttle.retry_after(ACCOUNT, "10.0.0.2") == 2
    throttle.record_failure(ACCOUNT, "10.0.0.3")
    assert throttle.retry_after(ACCOUNT, "10.0.0.2") == 4
    for index in range(40):
        throttle.record_failure(ACCOUNT, f"10.0.1.{index}")
    assert throttle.retry_after(ACCOUNT, "10.0.0.2") == 15 * 60  # capped
    assert throttle.retry_after(ACCOUNT, "192.0.2.1") == 0


def test_a_clean_client_is_never_delayed_whatever_others_do() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    rng = random.Random(7)
    for step in range(3000):
        throttle.record_failure(rng.choice([ACCOUNT, "b@x.ec"]), f"10.0.{rng.randrange(4)}.{rng.randrange(250)}")
        clock.now += rng.random() * 2
        if step % 50 == 0:
            assert throttle.retry_after(ACCOUNT, f"192.0.2.{step % 200}") == 0


def test_success_forgives_the_clients_own_failures_but_not_the_attack() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(4):
        throttle.record_failure(ACCOUNT, "1.1.1.1")
    throttle.record_success(ACCOUNT, "1.1.1.1")
    for _ in range(4):
        throttle.record_failure(ACCOUNT, "1.1.1.1")
    assert throttle.retry_after(ACCOUNT, "1.1.1.1") == 0  # 4 since the success: under the pair limit
    for index in range(2):
        throttle.record_failure(ACCOUNT, f"10.0.0.{index}")
    assert throttle.retry_after(ACCOUNT, "1.1.1.1") == 1  # the account's 10 failures still count


def test_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for index in range(100):
        throttle.record_failure(f"user{index}@x.ec", f"10.0.0.{index}")
    clock.now += 15 * 60
    throttle.record_failure(ACCOUNT, "1.1.1.1")
    assert throttle._pairs.keys() == {(ACCOUNT, "1.1.1.1")}
    assert throttle._addresses.keys() == {"1.1.1.1"} and throttle._accounts.keys() == {ACCOUNT}


def test_an_account_attacked_from_many_addresses_keeps_only_what_its_slowdown_needs() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for index in range(5000):  # one guess from each of 5,000 addresses: none is delayed, none is stopped
        throttle.record_failure(ACCOUNT, f"10.0.{index // 256}.{index % 256}")
    assert len(throttle._accounts[ACCOUNT]) <= 10 + 11  # not 5,000 timestamps: the delay is capped after 10 doublings
    assert throttle.retry_after(ACCOUNT, "10.0.0.1") == 15 * 60  # the cap, as with every failure kept
    assert throttle.retry_after(ACCOUNT, "192.0.2.1") == 0
    clock.now += 15 * 60
    throttle.record_failure("b@x.ec", "192.0.2.1")  # the next failure sweeps what left the window
    assert ACCOUNT not in throttle._accounts and len(throttle._addresses) == 1
