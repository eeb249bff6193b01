"""Use cases for authenticator apps (F1, S1-S6, S20, S28)."""

from __future__ import annotations

import functools
import hmac
from datetime import datetime

from ..core import limits, otp, otpauth
from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.methods import Method
from ..core.records import BackupCodeRecord, TotpRecord
from ..core.results import (
    AuthenticatorInfo,
    BackupCodes,
    ExpectedCode,
    Reason,
    TotpConfirmation,
    TotpSetup,
    VerifyResult,
)
from ..core.validation import check_id, check_label, check_role
from ..core.writes import (
    AdvanceTotp,
    ConfirmTotp,
    DeleteTotp,
    PutCounter,
    ReplaceBackupCodes,
    RequireNoFactor,
    Write,
)
from ..errors import ConfigurationError, ConflictingState, NotFound, NotPermitted, StorageError
from ..ports.storage import Store
from .backup_codes import new_backup_codes
from .context import Context
from .devices import devices_revoked, security_writes
from .effects import UseCase, call
from .factors import (
    TOTP_DIGITS,
    TOTP_PURPOSE,
    begun_before_first_factor,
    has_second_factor,
    load_factors,
    malformed,
    match_totp,
    orphan_codes_dropped,
    require_factor_kept,
    totp_aad,
    totp_key,
)
from .limits import FAILURES, cleared_on_success, failure_key, refused
from .notices import deliver, notice, notice_target, queue
from .scope import audit, event
from .step_up import require_step_up
from .work import RACES, backoff, commit, contended

__all__ = [
    "begin_totp_setup",
    "confirm_totp_setup",
    "list_authenticators",
    "remove_authenticator",
    "rename_authenticator",
    "verify_totp",
]

DEFAULT_LABEL = "Authenticator app"


def _info(rec: TotpRecord) -> AuthenticatorInfo:
    return AuthenticatorInfo(
        id=rec.id,
        label=rec.label,
        algorithm=rec.algorithm,
        digits=rec.digits,
        period=rec.period,
        created_at=rec.created_at,
        last_used_at=rec.last_used_at,
    )


def begin_totp_setup(
    ctx: Context,
    actor: Actor,
    user_id: str,
    *,
    account_name: str,
    label: str | None = None,
    secret: str | None = None,
) -> UseCase[TotpSetup]:
    """Start adding an authenticator app. Only the user, personally and freshly
    re-authenticated, may do it (seed 001, S20), with a step-up when they
    already have a factor (S32). `secret` imports an existing
    base32 key (at least 128 bits, S1) when migrating from another system."""
    Actor.check(actor)
    check_id("user_id", user_id)
    name = check_label(DEFAULT_LABEL if label is None else label)
    actor.require_self(user_id, "set up an authenticator app")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    if Method.TOTP not in ctx.policy.allowed_methods:
        raise NotPermitted("authenticator apps are not allowed by the policy")
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    key = ctx.random_bytes(otp.SECRET_BYTES) if secret is None else otp.decode_secret(secret)
    policy = ctx.policy
    encoded = otp.encode_secret(key)
    uri = otpauth.otpauth_uri(
        secret=encoded,
        issuer=ctx.issuer,
        account=account_name,
        algorithm=policy.totp_algorithm,
        digits=policy.totp_digits,
        period=policy.totp_period,
    )
    factor_id = ctx.new_id()
    sealed = ctx.keyring.seal(
        TOTP_PURPOSE, key, aad=totp_aad(user_id, factor_id), nonce=ctx.random_bytes(12)
    )
    record = TotpRecord(
        id=factor_id,
        user_id=user_id,
        label=name,
        secret_key_id=sealed.key_id,
        secret_blob=sealed.blob,
        algorithm=policy.totp_algorithm,
        digits=policy.totp_digits,
        period=policy.totp_period,
        created_at=now,
        expires_at=now + policy.setup_ttl,
    )
    existing = list(factors.totps)
    if secret is not None and _has_key(ctx, existing, key, now):
        # The same key twice would make one code valid twice (0.2 attack review).
        raise ConflictingState("the user already has an authenticator with this key")
    # One pending setup per user: starting again (a reloaded setup page)
    # replaces the earlier one instead of using up the authenticator limit.
    for old in existing:
        if not old.confirmed:
            yield from call("store", Store.delete_totp, user_id, old.id)
    added = yield from call(
        "store", Store.add_totp, record, limit=policy.max_authenticators, now=now
    )
    if not added:
        raise ConflictingState(
            f"a user may have at most {policy.max_authenticators} authenticator apps"
        )
    return TotpSetup(
        id=factor_id,
        user_id=user_id,
        secret=encoded,
        uri=uri,
        expires_at=now + policy.setup_ttl,
        algorithm=policy.totp_algorithm,
        digits=policy.totp_digits,
        period=policy.totp_period,
        warnings=otpauth.compatibility_warnings(
            policy.totp_algorithm, policy.totp_digits, policy.totp_period
        ),
    )


def _count_setup_failure(ctx: Context, setup_id: str, now: datetime) -> UseCase[int]:
    """Count a wrong confirmation code; returns the failures so far."""
    key = f"setup:{setup_id}"
    for _ in range(50):
        counter = yield from call("store", Store.get_counter, key)
        updated = limits.count_failure(counter, key, now)
        if (yield from call("store", Store.put_counter, updated)):
            return updated.count
    raise StorageError("the setup attempt counter is too contended; try again")


def confirm_totp_setup(
    ctx: Context, actor: Actor, setup_id: str, code: object
) -> UseCase[TotpConfirmation]:
    """Finish a setup with a first code from the app. The user's first factor
    comes with a fresh set of backup codes, returned once."""
    user_id = Actor.check(actor).id
    check_id("setup_id", setup_id)
    actor.require_self(user_id, "set up an authenticator app")
    now = ctx.clock.now()
    rec = yield from call("store", Store.get_totp, user_id, setup_id)
    if rec is None or rec.confirmed or not rec.is_live(now):
        raise NotFound("no pending authenticator setup with this id (it may have expired)")
    typed = otp.typed_input(code)
    factors = yield from load_factors(user_id)
    if begun_before_first_factor(factors, rec.created_at):
        # Begun without a step-up while the user had no factor; they have one
        # now, so binding this one would skip the step-up (S32): start again.
        yield from call("store", Store.delete_totp, user_id, setup_id)
        raise NotFound("no pending authenticator setup with this id (start again)")
    failures_key = f"setup:{setup_id}"
    counter = yield from call("store", Store.get_counter, failures_key)
    if counter is not None and counter.count >= ctx.policy.max_attempts:
        yield from call("store", Store.delete_totp, user_id, setup_id)
        return TotpConfirmation(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
    normalized = otp.read_digits(typed, (rec.digits,))
    if normalized is None:
        # A typo is not counted against the setup (nor anything else).
        left = max(ctx.policy.max_attempts - (counter.count if counter else 0), 0)
        return TotpConfirmation(
            ok=False,
            reason=Reason.MALFORMED_CODE,
            attempts_left=left,
            expected=ExpectedCode(method=Method.TOTP, lengths=(rec.digits,)),
        )
    match = otp.match_totp(
        totp_key(ctx, rec),
        normalized,
        timestamp=now.timestamp(),
        last_step=None,
        period=rec.period,
        digits=rec.digits,
        algorithm=rec.algorithm,
        window=ctx.policy.totp_window,
    )
    if match.step is None:
        failures = yield from _count_setup_failure(ctx, setup_id, now)
        left = max(ctx.policy.max_attempts - failures, 0)
        if left == 0:
            yield from call("store", Store.delete_totp, user_id, setup_id)
            return TotpConfirmation(ok=False, reason=Reason.TOO_MANY_ATTEMPTS, attempts_left=0)
        return TotpConfirmation(ok=False, reason=Reason.INVALID_CODE, attempts_left=left)
    codes: BackupCodes | None = None
    records: list[BackupCodeRecord] | None = None
    if Method.BACKUP_CODE in ctx.policy.allowed_methods and not factors.has_second_factor:
        # The user's first factor comes with backup codes (L3, F5), issued
        # once: the batch goes on only while the user still has no factor, so
        # of two first enrolments at once only one issues them.
        codes, records = yield from new_backup_codes(ctx, user_id, now)
    target = notice_target(ctx, factors.contacts)
    detail = f"authenticator app “{rec.label}”"
    notices, queued = queue([notice(ctx, user_id, "factor_added", target, now, detail=detail)])
    writes: list[Write] = [ConfirmTotp(user_id, setup_id, match.step, now)]
    if records is not None:
        writes = [RequireNoFactor(user_id), *writes, ReplaceBackupCodes(user_id, records)]
    revoked_at = len(writes) + 1
    writes += [*security_writes(user_id, now), *queued]
    events = [
        event(
            ctx,
            Action.FACTOR_ADDED,
            user_id,
            actor_id=actor.id,
            method=Method.TOTP,
            details={"factor": setup_id[:8], "label": rec.label},
            at=now,
        )
    ]
    if codes is not None:
        events.append(event(ctx, Action.BACKUP_CODES_ISSUED, user_id, actor_id=actor.id, at=now))
    results = yield from commit(ctx, writes, events)
    if results is None:
        if records is not None and (yield from has_second_factor(user_id)):
            # Another first factor was bound meanwhile: binding this one now
            # would skip the step-up the user needs since (S32): start again.
            yield from call("store", Store.delete_totp, user_id, setup_id)
            raise NotFound("no pending authenticator setup with this id (start again)")
        raise NotFound("no pending authenticator setup with this id (it may have expired)")
    yield from devices_revoked(ctx, user_id, results[revoked_at], now)
    yield from deliver(ctx, notices)
    stored = rec.with_(confirmed_at=now, expires_at=None, last_step=match.step, last_used_at=now)
    return TotpConfirmation(ok=True, authenticator=_info(stored), backup_codes=codes)


@functools.lru_cache(maxsize=4096)
def _passed(factor_id: str) -> VerifyResult:
    """The answer to a right code from authenticator `factor_id`: an
    immutable value, built once per authenticator rather than on every
    sign-in (a result has 19 frozen fields). Holds factor ids, nothing secret."""
    return VerifyResult(ok=True, method=Method.TOTP, factor_id=factor_id)


def verify_totp(ctx: Context, user_id: str, code: object) -> UseCase[VerifyResult]:
    """Check a code from any of the user's authenticator apps.

    A code is accepted once, and never a code of a step not newer than the last
    one accepted for that app (S4). The answer for a user with no app is the
    same as for a wrong code (S24).

    One read (the user's authenticators and failure counter) and one unit of
    work: the step, the failure counter and the audit event commit together,
    conditional on the counter and the step being as read. A lost race reads
    and decides again, so every committed outcome was decided on the state it
    changed: no code accepted twice, no failure uncounted, no right code
    refused because another attempt was counted meanwhile.
    """
    check_id("user_id", user_id)
    typed = otp.typed_input(code)
    policy = ctx.policy
    if Method.TOTP not in policy.allowed_methods:
        raise NotPermitted("authenticator apps are not allowed by the policy")
    normalized = otp.read_digits(typed, TOTP_DIGITS)
    if normalized is None:
        # The same answer whatever apps the user has (S24): 6 or 8 digits.
        return malformed(Method.TOTP, TOTP_DIGITS)
    key = failure_key(user_id)
    for attempt in range(RACES):
        if attempt:
            yield from backoff(ctx, attempt)
        snapshot = yield from call("store", Store.load_user, user_id, counters=(FAILURES,))
        now = ctx.clock.now()
        counter = snapshot.counters.get(key)
        decision = limits.check_failures(counter, now, policy)
        if not decision.allowed:
            return (yield from refused(ctx, user_id, decision, Method.TOTP, now))
        match = match_totp(ctx, snapshot.totps, normalized, now)
        if match.factor_id is not None and match.step is not None:
            passed = event(
                ctx,
                Action.SECOND_STEP_PASSED,
                user_id,
                method=Method.TOTP,
                details={"factor": match.factor_id[:8]},
                at=now,
            )
            advance = AdvanceTotp(user_id, match.factor_id, match.step, now)
            writes: list[Write] = [advance, cleared_on_success(counter, key, now)]
            if (yield from commit(ctx, writes, [passed])) is None:
                continue
            return _passed(match.factor_id)
        reason = Reason.REPLAYED if match.replay else Reason.INVALID_CODE
        failed = event(
            ctx,
            Action.CODE_REPLAYED if match.replay else Action.SECOND_STEP_FAILED,
            user_id,
            outcome=Outcome.FAILURE,
            method=Method.TOTP,
            reason=reason,
            at=now,
        )
        # A replay is a right code already used (a double submit, or a race
        # with the user): recorded (S5), but no guess, so not a failure (S13).
        counted: list[Write] = []
        if not match.replay:
            counted.append(PutCounter(limits.count_failure(counter, key, now)))
        if (yield from commit(ctx, counted, [failed])) is None:
            continue
        return VerifyResult(ok=False, reason=reason)
    raise contended("the failure counter")


def list_authenticators(ctx: Context, user_id: str) -> UseCase[tuple[AuthenticatorInfo, ...]]:
    """The user's confirmed authenticator apps, oldest first."""
    check_id("user_id", user_id)
    records = yield from call("store", Store.list_totp, user_id)
    return tuple(_info(r) for r in records if r.confirmed)


def rename_authenticator(
    ctx: Context, actor: Actor, user_id: str, factor_id: str, label: str
) -> UseCase[AuthenticatorInfo]:
    """Give an authenticator a new display name."""
    check_id("user_id", user_id)
    check_id("factor_id", factor_id)
    name = check_label(label)
    Actor.check(actor).require_may_act_for(user_id)
    if not (yield from call("store", Store.rename_totp, user_id, factor_id, name)):
        raise NotFound("no such authenticator app for this user")
    rec = yield from call("store", Store.get_totp, user_id, factor_id)
    if rec is None:
        raise NotFound("no such authenticator app for this user")
    yield from audit(
        ctx,
        Action.FACTOR_RENAMED,
        user_id,
        actor_id=actor.id,
        method=Method.TOTP,
        details={"factor": factor_id[:8], "label": name},
    )
    return _info(rec)


def remove_authenticator(
    ctx: Context, actor: Actor, user_id: str, factor_id: str, *, role: object = None
) -> UseCase[None]:
    """Remove an authenticator app. The user, or an admin from their own
    session (e.g. after a lost phone), freshly re-authenticated (S20) and
    stepped up (S32, the member's factor for an admin); not an impersonating
    admin. Takes effect on the next verification (S22)."""
    check_id("user_id", user_id)
    check_id("factor_id", factor_id)
    checked_role = check_role(role)
    Actor.check(actor).require_manager(user_id, "remove a user's factors")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    rec = next((t for t in factors.totps if t.id == factor_id), None)
    if rec is None:
        raise NotFound("no such authenticator app for this user")
    if rec.confirmed:
        others: list[Method] = [
            m for m in factors.methods(ctx) if m is not Method.BACKUP_CODE and m is not Method.TOTP
        ]
        if any(t.confirmed and t.id != factor_id for t in factors.totps):
            others.append(Method.TOTP)
        require_factor_kept(
            ctx.policy.requires_2fa(checked_role), others, "keep another factor first"
        )
    details = {"factor": factor_id[:8], "label": rec.label}
    target = notice_target(ctx, factors.contacts)
    detail = f"authenticator app “{rec.label}”"
    notices, queued = queue([notice(ctx, user_id, "factor_removed", target, now, detail=detail)])
    writes: list[Write] = [
        DeleteTotp(user_id, factor_id),
        *orphan_codes_dropped(user_id, factors, totp_id=factor_id),
    ]
    revoked_at = len(writes) + 1
    writes += [*security_writes(user_id, now), *queued]
    events = [
        event(
            ctx,
            Action.FACTOR_REMOVED,
            user_id,
            actor_id=actor.id,
            method=Method.TOTP,
            details=details,
            at=now,
        )
    ]
    if target is None and rec.confirmed:
        events.append(
            event(
                ctx,
                Action.REMOVED_WITHOUT_NOTICE,
                user_id,
                actor_id=actor.id,
                method=Method.TOTP,
                details=details,
                at=now,
            )
        )
    results = yield from commit(ctx, writes, events)
    if results is None:
        raise NotFound("no such authenticator app for this user")
    yield from devices_revoked(ctx, user_id, results[revoked_at], now)
    yield from deliver(ctx, notices)


def _has_key(ctx: Context, records: list[TotpRecord], key: bytes, now: datetime) -> bool:
    """Whether a confirmed or live pending authenticator holds `key` (constant-time)."""
    found = False
    for rec in records:
        if not rec.is_live(now):
            continue
        try:
            found |= hmac.compare_digest(totp_key(ctx, rec), key)
        except ConfigurationError:
            continue  # sealed under a retired key: it cannot show codes either
    return found
