"""Abuse limits as pure decisions over `Counter` values.

Per-account failures (S13, S14): an account may fail `free_failures` times
in a row without waiting; after that, each attempt must wait a delay that starts
at `backoff_base` after the last failure and doubles with each further one,
never exceeding `backoff_ceiling`; at `lockout_after` consecutive failures
the second step locks until an admin unlocks it or the user recovers.

Backup codes count apart (S34): their own counter, with
`backup_code_free_failures` and `backup_code_lockout_after`, so failures of
the cheap factors never block them and a right backup code is the user's way
out of a lock-out.

An attempt is *reserved* before the code is checked: the counter is advanced
by compare-and-set first, so any number of concurrent guesses are each counted,
and a success then resets it (S14). A success can only come from a valid
factor, so the reset cannot be used to keep guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .policy import Policy
from .records import Counter
from .results import Reason, VerifyResult

__all__ = [
    "FailureDecision",
    "backing_off",
    "check_failures",
    "cleared",
    "count_failure",
    "fresh_counter",
    "less_one",
    "stored",
    "window_hit",
]


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """Whether an attempt may proceed now; if not, for how long (`None`:
    locked until unlocked)."""

    allowed: bool
    retry_after: timedelta | None = None
    locked: bool = False

    def refusal(self) -> VerifyResult:
        """The verification result for a refused attempt."""
        reason = Reason.LOCKED_OUT if self.locked else Reason.RATE_LIMITED
        return VerifyResult(ok=False, reason=reason, retry_after=self.retry_after)


def _thresholds(policy: Policy, backup_code: bool) -> tuple[int, int]:
    if backup_code:
        return policy.backup_code_free_failures, policy.backup_code_lockout_after
    return policy.free_failures, policy.lockout_after


def backoff_delay(failures: int, policy: Policy, *, backup_code: bool = False) -> timedelta:
    """Delay imposed after `failures` consecutive failures (of backup codes,
    with `backup_code`)."""
    over = failures - _thresholds(policy, backup_code)[0]
    if over < 0:
        return timedelta(0)
    # 2**over grows fast; clamp the exponent long before it could overflow.
    delay: timedelta = policy.backoff_base * (2 ** min(over, 32))
    return min(delay, policy.backoff_ceiling)


def check_failures(
    counter: Counter | None, now: datetime, policy: Policy, *, backup_code: bool = False
) -> FailureDecision:
    """Decide whether another attempt is allowed given the failures so far
    (of the cheap factors, or of backup codes with `backup_code`)."""
    if counter is None or counter.count == 0:
        return FailureDecision(True)
    if counter.count >= _thresholds(policy, backup_code)[1]:
        return FailureDecision(False, None, locked=True)
    delay = backoff_delay(counter.count, policy, backup_code=backup_code)
    if not delay:
        # Within the free allowance nothing waits, whatever the clocks say: a
        # failure recorded by another server whose clock runs a few
        # milliseconds ahead must not refuse a right code here.
        return FailureDecision(True)
    wait = counter.updated_at + delay - now
    if wait > timedelta(0):
        return FailureDecision(False, wait)
    return FailureDecision(True)


def backing_off(counter: Counter | None, policy: Policy) -> bool:
    """Whether the cheap factors' failures reached the back-off (or lock-out)."""
    return counter is not None and counter.count >= policy.free_failures


def fresh_counter(key: str, now: datetime) -> Counter:
    return Counter(key=key, count=0, window_start=now, updated_at=now, version=0)


def count_failure(counter: Counter | None, key: str, now: datetime) -> Counter:
    """The counter after one more failure (version unchanged: the store bumps it)."""
    if counter is None:
        return Counter(key=key, count=1, window_start=now, updated_at=now, version=0)
    return Counter(
        key=key,
        count=counter.count + 1,
        window_start=counter.window_start,
        updated_at=now,
        version=counter.version,
    )


def stored(counter: Counter) -> Counter:
    """`counter` as the store holds it after a successful compare-and-set."""
    return Counter(
        key=counter.key,
        count=counter.count,
        window_start=counter.window_start,
        updated_at=counter.updated_at,
        version=counter.version + 1,
    )


def less_one(counter: Counter) -> Counter:
    """`counter` with one event given back, to be written over its version."""
    return Counter(
        key=counter.key,
        count=max(counter.count - 1, 0),
        window_start=counter.window_start,
        updated_at=counter.updated_at,
        version=counter.version,
    )


def cleared(counter: Counter, now: datetime) -> Counter:
    """`counter` reset to zero, to be written over its current version."""
    return Counter(
        key=counter.key, count=0, window_start=now, updated_at=now, version=counter.version
    )


def window_hit(
    counter: Counter | None, key: str, now: datetime, *, limit: int, window: timedelta
) -> tuple[Counter | None, timedelta | None]:
    """Count one event in a fixed window of `window` starting at its first event.

    Returns `(new_counter, None)` when the event fits under `limit`, or
    `(None, retry_after)` when the window is full.
    """
    if counter is None or now >= counter.window_start + window:
        base = Counter(
            key=key,
            count=0,
            window_start=now,
            updated_at=now,
            version=counter.version if counter is not None else 0,
        )
    else:
        base = counter
    if base.count >= limit:
        return None, base.window_start + window - now
    return replace(base, count=base.count + 1, updated_at=now), None
