"""Counters by compare-and-set: per-account failures of the cheap factors
shared by every verification (S13, S14), the separate failures of backup codes
(S34), and the fixed-window quotas (sends, send budgets, contact changes per
day)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..core import limits
from ..core.actor import Actor, ActorKind
from ..core.audit import Action, Outcome
from ..core.limits import FailureDecision
from ..core.methods import Method
from ..core.records import Counter
from ..core.results import VerifyResult
from ..core.validation import check_id
from ..core.writes import ExpectCounter, PutCounter, Write
from ..errors import NotPermitted, StorageError
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call
from .scope import audit, notify

__all__ = [
    "BACKUP_FAILURES",
    "FAILURES",
    "backup_code_succeeded",
    "cleared_on_success",
    "count_in_window",
    "failure_key",
    "give_back",
    "refused",
    "release_attempt",
    "reserve_attempt",
    "reset_failures",
    "unlock_second_step",
]

_MAX_RACES = 50

FAILURES = "failures:"
"""Prefix of a user's consecutive-failures counter (S13): `failures:<user_id>`."""
BACKUP_FAILURES = "backup-failures:"
"""Prefix of a user's consecutive backup-code failures, counted apart (S34)."""


def failure_key(user_id: str, *, backup_code: bool = False) -> str:
    """The counter of consecutive failures: of backup codes apart (S34)."""
    return (BACKUP_FAILURES if backup_code else FAILURES) + user_id


def reserve_attempt(
    ctx: Context, user_id: str, now: datetime, *, backup_code: bool = False
) -> UseCase[tuple[FailureDecision, Counter | None]]:
    """Count this attempt as a failure *before* checking the code, unless the
    account is backing off or locked. Returns the decision and, when allowed,
    the counter as stored, which a success hands to `reset_failures`.
    A backup code is counted on its own counter (S34)."""
    key = failure_key(user_id, backup_code=backup_code)
    for _ in range(_MAX_RACES):
        counter = yield from call("store", Store.get_counter, key)
        decision = limits.check_failures(counter, now, ctx.policy, backup_code=backup_code)
        if not decision.allowed:
            return decision, None
        reserved = limits.count_failure(counter, key, now)
        if (yield from call("store", Store.put_counter, reserved)):
            return decision, limits.stored(reserved)
    raise StorageError("the failure counter is too contended; try again")


def cleared_on_success(counter: Counter | None, key: str, now: datetime) -> Write:
    """The failure counter's part in a success's unit of work (S14): reset to
    zero, or, when it is at zero already (or absent), no write at all but the
    condition that it still is, so the success stays decided on the counter
    as read (an attempt counted meanwhile rolls it back and it decides again)
    for one statement less."""
    if counter is None or counter.count == 0:
        return ExpectCounter(key, 0 if counter is None else counter.version)
    return PutCounter(limits.cleared(counter, now))


def reset_failures(
    user_id: str, now: datetime, reserved: Counter | None = None, *, backup_code: bool = False
) -> UseCase[None]:
    """A success clears the account's consecutive failures (S14).

    `reserved` is the counter as this attempt stored it: when nobody wrote
    since, one compare-and-set suffices.
    """
    key = failure_key(user_id, backup_code=backup_code)
    counter = reserved
    for _ in range(_MAX_RACES):
        if counter is None:
            counter = yield from call("store", Store.get_counter, key)
            if counter is None or counter.count == 0:
                return
        if (yield from call("store", Store.put_counter, limits.cleared(counter, now))):
            return
        counter = None
    raise StorageError("the failure counter is too contended; try again")


def count_in_window(
    key: str, now: datetime, *, limit: int, window: timedelta
) -> UseCase[timedelta | None]:
    """Count one event under `key` in its fixed window; the wait if it is full."""
    for _ in range(_MAX_RACES):
        counter = yield from call("store", Store.get_counter, key)
        updated, wait = limits.window_hit(counter, key, now, limit=limit, window=window)
        if updated is None:
            return wait
        if (yield from call("store", Store.put_counter, updated)):
            return None
    raise StorageError("a limit counter is too contended; try again")


def give_back(key: str, counter: Counter | None = None) -> UseCase[None]:
    """Take one event off the counter `key` (`counter`: as last stored, if known)."""
    for _ in range(_MAX_RACES):
        if counter is None:
            counter = yield from call("store", Store.get_counter, key)
        if counter is None or counter.count == 0:
            return
        if (yield from call("store", Store.put_counter, limits.less_one(counter))):
            return
        counter = None
    raise StorageError("a limit counter is too contended; try again")


def backup_code_succeeded(
    ctx: Context, user_id: str, now: datetime, reserved: Counter | None
) -> UseCase[None]:
    """A right backup code clears both failure counters (S14, S34). When the
    cheap factors were backing off or locked, that was a lock-out recovered by
    the user: record it and tell them someone tried many codes."""
    yield from reset_failures(user_id, now, reserved, backup_code=True)
    cheap = yield from call("store", Store.get_counter, failure_key(user_id))
    if cheap is None or cheap.count == 0:
        return
    yield from reset_failures(user_id, now, cheap)
    yield from lockout_recovered(ctx, user_id, now, cheap)


def lockout_recovered(
    ctx: Context, user_id: str, now: datetime, cheap: Counter | None, *, passkey: str = ""
) -> UseCase[None]:
    """A factor nobody can guess (a backup code, or the passkey named `passkey`)
    succeeded while the cheap factors were backing off or locked (`cheap`: their
    counter as it was): a lock-out recovered by the user (S34). Record it and
    tell them someone tried many codes. The caller clears the counter."""
    if not limits.backing_off(cheap, ctx.policy):
        return
    assert cheap is not None
    yield from audit(
        ctx,
        Action.ACCOUNT_RECOVERED,
        user_id,
        method=Method.WEBAUTHN if passkey else Method.BACKUP_CODE,
        details={"failures": str(cheap.count)},
        at=now,
    )
    if passkey:
        yield from notify(ctx, user_id, "lockout_recovered_passkey", detail=passkey)
    else:
        yield from notify(ctx, user_id, "lockout_recovered")


def clear_after_passkey(ctx: Context, user_id: str, now: datetime, passkey: str) -> UseCase[None]:
    """A passwordless sign-in with a passkey: the cheap factors' failures are
    cleared (S14), and a lock-out they had reached is recovered (S34)."""
    cheap = yield from call("store", Store.get_counter, failure_key(user_id))
    if cheap is None or cheap.count == 0:
        return
    yield from reset_failures(user_id, now, cheap)
    yield from lockout_recovered(ctx, user_id, now, cheap, passkey=passkey)


def release_attempt(user_id: str, reserved: Counter | None) -> UseCase[None]:
    """Give back one reserved attempt (for a step that is not a failure but not
    a full success either, like a right security answer)."""
    yield from give_back(failure_key(user_id), reserved)


def refused(
    ctx: Context, user_id: str, decision: FailureDecision, method: object, now: datetime
) -> UseCase[VerifyResult]:
    """Record and answer an attempt refused by the account's back-off (S13)."""
    action = Action.ACCOUNT_LOCKED if decision.locked else Action.ACCOUNT_BACKOFF
    details = {"counter": "backup_codes"} if method is Method.BACKUP_CODE else None
    yield from audit(
        ctx, action, user_id, outcome=Outcome.REFUSED, method=method, details=details, at=now
    )
    return decision.refusal()


def unlock_second_step(ctx: Context, actor: Actor, user_id: str) -> UseCase[None]:
    """Clear a user's consecutive failures, lifting a back-off or lock-out (S13).

    An admin's decision, from the admin's own session, freshly re-authenticated:
    a locked-out user cannot unlock themselves.
    """
    check_id("user_id", user_id)
    if Actor.check(actor).kind is not ActorKind.ADMIN:
        raise NotPermitted("only an admin, from their own session, may unlock a user")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    yield from reset_failures(user_id, now)
    yield from reset_failures(user_id, now, backup_code=True)
    yield from audit(ctx, Action.ACCOUNT_UNLOCKED, user_id, actor_id=actor.id, at=now)
