"""Operator actions: what a support desk or the `mfakit` command does to an
account from outside any user's session.

An operator is an admin [`Actor`][mfakit.Actor] (the CLI's is
`cli:<operator name>`). They have no password of the user's to re-enter, so
these use cases take a written reason instead of a step-up and record it in
the audit trail. `user_status` reads everything an operator needs at 3 a.m.
in one snapshot, masked (S-rules: no secret, code or full destination).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core import limits as core_limits
from ..core.actor import Actor, ActorKind
from ..core.audit import Action
from ..core.contacts import ContactKind, mask
from ..core.validation import check_id, check_text
from ..core.writes import ClearFactors, SetPreferredMethod, Write
from ..errors import ConflictingState, InvalidInput, NotPermitted
from ..ports.storage import Store
from .context import Context
from .devices import devices_revoked, security_writes
from .effects import UseCase, call
from .factors import factors_of
from .limits import FAILURES
from .notices import deliver, notice, notice_target, queue
from .retention import KEEP_NONZERO, MIN_AGE, audit_cutoff
from .scope import audit, event
from .work import commit, contended

__all__ = [
    "SYSTEM_SUBJECT",
    "UserStatus",
    "disable_two_factor",
    "purge_batch",
    "record_maintenance",
    "user_status",
]

SYSTEM_SUBJECT = "*"
"""The subject of maintenance events that concern no user (an upgrade, a purge)."""

MAX_REASON = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class UserStatus:
    """A user's 2FA state as an operator sees it (destinations masked).

    `locked` means locked out until unlocked; `retry_after` a running
    back-off; `failures` the consecutive failures counted so far.
    """

    user_id: str
    two_factor_on: bool
    authenticators: int
    pending_authenticators: int
    phone: str | None
    phone_verified: bool
    email: str | None
    email_verified: bool
    backup_codes_left: int
    security_question: bool
    preferred_method: str | None
    security_version: int
    failures: int
    locked: bool
    retry_after: timedelta | None
    trusted_devices: int
    last_used_at: datetime | None


def _operator(actor: object) -> Actor:
    if Actor.check(actor).kind is not ActorKind.ADMIN:
        raise NotPermitted("only an admin may act as an operator")
    assert isinstance(actor, Actor)
    return actor


def user_status(ctx: Context, user_id: str) -> UseCase[UserStatus]:
    """Everything about the user's 2FA an operator needs, in one read plus the
    device list."""
    check_id("user_id", user_id)
    snapshot = yield from call("store", Store.load_user, user_id, counters=(FAILURES,))
    devices = yield from call("store", Store.list_devices, user_id)
    now = ctx.clock.now()
    factors = factors_of(snapshot)
    counter = snapshot.counter(FAILURES)
    decision = core_limits.check_failures(counter, now, ctx.policy)
    state = snapshot.state
    version = state.security_version if state is not None else 0
    contacts = {c.kind: c for c in snapshot.contacts}
    phone, email = contacts.get(ContactKind.PHONE), contacts.get(ContactKind.EMAIL)
    used = [t.last_used_at for t in snapshot.totps if t.last_used_at is not None]
    return UserStatus(
        user_id=user_id,
        two_factor_on=factors.enrolled,
        authenticators=sum(1 for t in snapshot.totps if t.confirmed),
        pending_authenticators=sum(1 for t in snapshot.totps if not t.confirmed),
        phone=None if phone is None else mask(phone.kind, phone.value),
        phone_verified=phone is not None and phone.verified,
        email=None if email is None else mask(email.kind, email.value),
        email_verified=email is not None and email.verified,
        backup_codes_left=snapshot.backup_codes_left,
        security_question=snapshot.question is not None,
        preferred_method=(
            None if state is None or state.preferred_method is None else str(state.preferred_method)
        ),
        security_version=version,
        failures=0 if counter is None else counter.count,
        locked=decision.locked,
        retry_after=None if decision.allowed else decision.retry_after,
        trusted_devices=sum(
            1
            for d in devices
            if d.revoked_at is None and d.expires_at > now and d.security_version == version
        ),
        last_used_at=max(used, default=None),
    )


def disable_two_factor(
    ctx: Context, actor: Actor, user_id: str, *, reason: object
) -> UseCase[None]:
    """Turn the user's 2FA off for them (they lost every factor and every
    backup code): authenticators and backup codes deleted, phone and email kept
    unverified, trusted devices revoked, the user notified. No step-up (the
    operator has no password of the user's) and no role check (a user whose
    role requires 2FA must enrol again at the next sign-in); the written
    `reason` goes into the audit trail instead."""
    check_id("user_id", user_id)
    operator = _operator(actor)
    note = check_text("reason", reason, max_length=MAX_REASON)
    now = ctx.clock.now()
    snapshot = yield from call("store", Store.load_user, user_id)
    factors = factors_of(snapshot)
    if not factors.enrolled:
        raise ConflictingState("two-step verification is not on for this user")
    # The notice goes to a channel verified before 2FA goes off (S21).
    target = notice_target(ctx, factors.contacts)
    notices, queued = queue([notice(ctx, user_id, "two_factor_disabled", target, now)])
    writes: list[Write] = [
        ClearFactors(user_id),
        SetPreferredMethod(user_id, None, now),
        *security_writes(user_id, now),
        *queued,
    ]
    disabled = event(
        ctx,
        Action.TWO_FACTOR_DISABLED,
        user_id,
        actor_id=operator.id,
        reason="operator",
        details={"note": note},
        at=now,
    )
    results = yield from commit(ctx, writes, [disabled])
    if results is None:  # pragma: no cover - nothing in the batch is conditional
        raise contended("the user's factors")
    yield from devices_revoked(ctx, user_id, results[3], now)
    yield from deliver(ctx, notices)


def purge_batch(ctx: Context, *, before: object, batch: object = 1000) -> UseCase[int]:
    """One round of `purge_expired` (at most `batch` rows
    of each kind) for what ended before `before`, which must be at least
    `MIN_AGE` ago, and audit events older than the policy's
    `audit_retention_days`; returns how many rows went (0: done).
    For callers that show progress between rounds."""
    if not isinstance(before, datetime) or before.tzinfo is None:
        raise InvalidInput("before", "must be a timezone-aware datetime")
    if before > ctx.clock.now() - MIN_AGE:
        raise InvalidInput("before", "must be at least one day ago")
    if type(batch) is not int or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", "must be an int from 1 to 100000")
    gone: int = yield from call(
        "store",
        Store.purge,
        before=before,
        keep_nonzero=KEEP_NONZERO,
        limit=batch,
        audit_before=audit_cutoff(ctx),
    )
    return gone


def record_maintenance(
    ctx: Context, actor: Actor, action: object, *, details: dict[str, str]
) -> UseCase[None]:
    """Record a maintenance event (an upgrade, a purge, a key rotation) done by `actor`."""
    operator = _operator(actor)
    if action not in (Action.SCHEMA_UPGRADED, Action.DATA_PURGED, Action.KEYS_ROTATED):
        raise InvalidInput("action", "must be a maintenance action")
    assert isinstance(action, Action)
    yield from audit(ctx, action, SYSTEM_SUBJECT, actor_id=operator.id, details=details)
