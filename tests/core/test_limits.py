"""Abuse limits as pure decisions: per-account back-off and lockout (S13, S14),
fixed-window quotas (S15, S16)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core.limits import (
    FailureDecision,
    backoff_delay,
    check_failures,
    count_failure,
    fresh_counter,
    window_hit,
)
from mfakit.core.policy import Policy
from mfakit.core.records import Counter

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
POLICY = Policy()


def counter(count: int, *, at: datetime = T0, version: int = 3) -> Counter:
    return Counter(
        key="failures:alice", count=count, window_start=at, updated_at=at, version=version
    )


# --- backoff_delay --------------------------------------------------------------------


def test_free_failures_cost_nothing() -> None:
    for failures in range(POLICY.free_failures):
        assert backoff_delay(failures, POLICY) == timedelta(0)


def test_delay_starts_at_base_and_doubles() -> None:
    base = POLICY.backoff_base
    free = POLICY.free_failures
    assert backoff_delay(free, POLICY) == base
    assert backoff_delay(free + 1, POLICY) == 2 * base
    assert backoff_delay(free + 2, POLICY) == 4 * base
    assert backoff_delay(free + 3, POLICY) == 8 * base


def test_delay_never_exceeds_one_hour_by_default() -> None:
    assert POLICY.backoff_ceiling == HOUR
    assert backoff_delay(10_000, POLICY) == HOUR
    assert backoff_delay(10**9, POLICY) == HOUR


policies = st.builds(
    lambda lockout, free, base_s, ceiling_s: Policy(
        lockout_after=lockout,
        free_failures=min(free, lockout),
        backoff_base=timedelta(seconds=base_s),
        backoff_ceiling=timedelta(seconds=max(base_s, ceiling_s)),
    ),
    lockout=st.integers(1, 100),
    free=st.integers(1, 100),
    base_s=st.integers(1, 3600),
    ceiling_s=st.integers(1, 3600),
)


@given(policy=policies, failures=st.integers(0, 10_000))
def test_delay_properties(policy: Policy, failures: int) -> None:
    delay = backoff_delay(failures, policy)
    nxt = backoff_delay(failures + 1, policy)
    assert timedelta(0) <= delay <= policy.backoff_ceiling <= HOUR
    assert nxt >= delay
    if failures < policy.free_failures:
        assert delay == timedelta(0)
    else:
        assert delay >= min(policy.backoff_base, policy.backoff_ceiling)
        # The delay doubles until it reaches the ceiling, then stays there.
        assert nxt == min(2 * delay, policy.backoff_ceiling)


# --- check_failures / count_failure -----------------------------------------------------


def test_no_counter_or_zero_is_allowed() -> None:
    assert check_failures(None, T0, POLICY) == FailureDecision(True)
    assert check_failures(counter(0), T0, POLICY).allowed


def test_count_failure_from_nothing() -> None:
    first = count_failure(None, "failures:alice", T0)
    assert first.key == "failures:alice"
    assert first.count == 1
    assert first.updated_at == T0
    assert first.version == 0


def test_count_failure_increments_and_keeps_the_version() -> None:
    later = T0 + timedelta(minutes=3)
    after = count_failure(counter(4), "failures:alice", later)
    assert after.count == 5
    assert after.updated_at == later
    assert after.window_start == T0
    assert after.version == 3  # the store bumps it on compare-and-set


def test_fresh_counter() -> None:
    fresh = fresh_counter("k", T0)
    assert (fresh.key, fresh.count, fresh.window_start, fresh.updated_at, fresh.version) == (
        "k",
        0,
        T0,
        T0,
        0,
    )


def test_free_failures_can_be_made_back_to_back() -> None:
    # An attempt is counted before the code is checked: the first
    # `free_failures` attempts all pass at the same instant, the next waits.
    current: Counter | None = None
    for _ in range(POLICY.free_failures):
        assert check_failures(current, T0, POLICY).allowed
        current = count_failure(current, "k", T0)
    refused = check_failures(current, T0, POLICY)
    assert not refused.allowed
    assert not refused.locked
    assert refused.retry_after == POLICY.backoff_base


def test_retry_after_counts_down_and_then_allows() -> None:
    failures = POLICY.free_failures + 2
    delay = 4 * POLICY.backoff_base
    at_failure = counter(failures)
    half = check_failures(at_failure, T0 + delay / 2, POLICY)
    assert half == FailureDecision(False, delay / 2)
    almost = check_failures(at_failure, T0 + delay - timedelta(microseconds=1), POLICY)
    assert almost == FailureDecision(False, timedelta(microseconds=1))
    assert check_failures(at_failure, T0 + delay, POLICY).allowed


@pytest.mark.parametrize("lockout_after", [1, 5, 50, 100])
def test_lockout_at_lockout_after(lockout_after: int) -> None:
    policy = Policy(lockout_after=lockout_after, free_failures=1)
    far_later = T0 + timedelta(days=365)
    locked = check_failures(counter(lockout_after), far_later, policy)
    assert locked == FailureDecision(False, None, locked=True)
    assert check_failures(counter(lockout_after + 1000), far_later, policy).locked
    if lockout_after > 1:
        before = check_failures(counter(lockout_after - 1), far_later, policy)
        assert before.allowed
        assert not before.locked


@given(policy=policies)
def test_a_patient_attacker_is_locked_after_lockout_after_failures(policy: Policy) -> None:
    # Wait out every delay and fail again: the account locks after exactly
    # `lockout_after` failures and never takes longer than the ceiling per step.
    now = T0
    current: Counter | None = None
    failures = 0
    while True:
        decision = check_failures(current, now, policy)
        if decision.locked:
            break
        if not decision.allowed:
            assert decision.retry_after is not None
            assert timedelta(0) < decision.retry_after <= policy.backoff_ceiling
            now += decision.retry_after
            continue
        current = count_failure(current, "k", now)
        failures += 1
        assert failures <= 100
    assert failures == policy.lockout_after
    assert not decision.allowed
    assert decision.retry_after is None
    assert now - T0 <= policy.lockout_after * policy.backoff_ceiling


def test_reset_counter_allows_again() -> None:
    # A success resets the count to 0 (done by the service); the core then allows.
    assert check_failures(counter(0, version=4), T0, POLICY).allowed


# --- window_hit -------------------------------------------------------------------------

WINDOW = timedelta(minutes=10)


def test_window_counts_up_to_the_limit_then_refuses() -> None:
    current: Counter | None = None
    for i in range(1, 6):
        now = T0 + timedelta(seconds=10 * i)
        current, retry = window_hit(current, "sends:+15551234567", now, limit=5, window=WINDOW)
        assert retry is None
        assert current is not None
        assert current.count == i
        assert current.window_start == T0 + timedelta(seconds=10)
        assert current.updated_at == now
    full = current
    now = T0 + timedelta(minutes=5)
    refused, retry = window_hit(full, "sends:+15551234567", now, limit=5, window=WINDOW)
    assert refused is None
    assert retry == T0 + timedelta(seconds=10) + WINDOW - now
    # Still refused one microsecond before the window ends.
    end = T0 + timedelta(seconds=10) + WINDOW
    refused, retry = window_hit(full, "k", end - timedelta(microseconds=1), limit=5, window=WINDOW)
    assert refused is None
    assert retry == timedelta(microseconds=1)
    # A new window starts when the old one has passed; the version is kept for CAS.
    again, retry = window_hit(full, "k", end, limit=5, window=WINDOW)
    assert retry is None
    assert again is not None
    assert again.count == 1
    assert again.window_start == end
    assert again.version == full.version


def test_window_keeps_the_stored_version() -> None:
    stored = Counter(key="k", count=2, window_start=T0, updated_at=T0, version=7)
    new, _ = window_hit(stored, "k", T0 + timedelta(minutes=1), limit=5, window=WINDOW)
    assert new is not None
    assert new.version == 7
    assert new.count == 3


@given(
    limit=st.integers(1, 10),
    gaps=st.lists(st.integers(0, 900), min_size=1, max_size=60),
)
def test_window_never_lets_more_than_limit_through(limit: int, gaps: list[int]) -> None:
    now = T0
    current: Counter | None = None
    accepted: list[datetime] = []
    for gap in gaps:
        now += timedelta(seconds=gap)
        new, retry = window_hit(current, "k", now, limit=limit, window=WINDOW)
        if new is None:
            assert retry is not None
            assert timedelta(0) < retry <= WINDOW
            # Refused only when `limit` events were accepted within the window.
            recent = [t for t in accepted if t > now - WINDOW]
            assert len(recent) >= limit
        else:
            assert retry is None
            assert 1 <= new.count <= limit
            current = new
            accepted.append(now)
            # Fixed windows: at most `limit` accepted since this window began.
            assert sum(1 for t in accepted if t >= new.window_start) == new.count
