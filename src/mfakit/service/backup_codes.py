"""Use cases for backup codes (F5, S26)."""

from __future__ import annotations

from datetime import datetime

from ..core import backup_codes as bc
from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.methods import Method
from ..core.records import BackupCodeRecord
from ..core.results import BackupCodes, Reason, VerifyResult
from ..core.validation import check_id
from ..errors import ConflictingState, NotPermitted
from ..hashers import Hasher
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call, offload
from .factors import consume_backup_code, has_second_factor, load_factors
from .limits import backup_code_succeeded, refused, reserve_attempt
from .scope import audit, notify
from .step_up import require_step_up

__all__ = [
    "backup_code_used",
    "backup_codes_left",
    "codes_for_first_factor",
    "new_backup_codes",
    "regenerate_backup_codes",
    "verify_backup_code",
]


def _hash_all(hasher: Hasher, codes: list[str]) -> list[str]:
    return [hasher.hash(c) for c in codes]


def new_backup_codes(
    ctx: Context, user_id: str, now: datetime
) -> UseCase[tuple[BackupCodes, list[BackupCodeRecord]]]:
    """Generate a set and hash it (off the event loop); the caller stores it."""
    generated = bc.generate_codes(ctx.policy.backup_code_count, ctx.random_bytes)
    hashes = yield from offload(_hash_all, ctx.hasher, [g.code for g in generated])
    records = [
        BackupCodeRecord(user_id=user_id, lookup=g.lookup, hash=h, created_at=now)
        for g, h in zip(generated, hashes, strict=True)
    ]
    return BackupCodes(tuple(bc.format_code(g.code) for g in generated)), records


def codes_for_first_factor(
    ctx: Context, user_id: str, now: datetime
) -> UseCase[tuple[BackupCodes | None, list[BackupCodeRecord] | None]]:
    """A fresh set when the factor being added is the user's first (L3, F5),
    to be stored in the same atomic step as the factor; else ``(None, None)``."""
    if Method.BACKUP_CODE not in ctx.policy.allowed_methods:
        return None, None
    if (yield from has_second_factor(user_id)):
        return None, None
    shown, records = yield from new_backup_codes(ctx, user_id, now)
    return shown, records


def verify_backup_code(ctx: Context, user_id: str, code: object) -> UseCase[VerifyResult]:
    """Accept an unused backup code once; costs one slow hash whatever happens."""
    check_id("user_id", user_id)
    canonical = bc.parse_code(code)
    if Method.BACKUP_CODE not in ctx.policy.allowed_methods:
        raise NotPermitted("backup codes are not allowed by the policy")
    now = ctx.clock.now()
    # Backup codes have their own failure counter: failures of the cheap
    # factors never block them, so they recover a lock-out (S34).
    decision, reserved = yield from reserve_attempt(ctx, user_id, now, backup_code=True)
    if not decision.allowed:
        return (yield from refused(ctx, user_id, decision, Method.BACKUP_CODE, now))
    if not (yield from consume_backup_code(ctx, user_id, canonical, now)):
        yield from audit(
            ctx,
            Action.SECOND_STEP_FAILED,
            user_id,
            outcome=Outcome.FAILURE,
            method=Method.BACKUP_CODE,
            reason=Reason.INVALID_CODE,
            at=now,
        )
        return VerifyResult(ok=False, reason=Reason.INVALID_CODE)
    yield from backup_code_succeeded(ctx, user_id, now, reserved)
    left = yield from backup_code_used(ctx, user_id, now)
    yield from audit(ctx, Action.SECOND_STEP_PASSED, user_id, method=Method.BACKUP_CODE, at=now)
    return VerifyResult(
        ok=True,
        method=Method.BACKUP_CODE,
        backup_codes_left=left,
        backup_codes_low=left <= ctx.policy.backup_codes_low_at,
    )


def backup_code_used(ctx: Context, user_id: str, now: datetime) -> UseCase[int]:
    """Record a used backup code and warn the user when few are left (S21)."""
    left: int = yield from call("store", Store.count_backup_codes, user_id)
    yield from audit(
        ctx,
        Action.BACKUP_CODE_USED,
        user_id,
        method=Method.BACKUP_CODE,
        details={"left": str(left)},
        at=now,
    )
    if left <= ctx.policy.backup_codes_low_at:
        yield from notify(ctx, user_id, "backup_codes_low", detail=str(left))
    return left


def regenerate_backup_codes(ctx: Context, actor: Actor, user_id: str) -> UseCase[BackupCodes]:
    """Replace the user's set with a fresh one; the old codes stop working at once.

    Only the user, personally, freshly re-authenticated (S20) and stepped up
    (S32), since the new codes are shown to whoever asks.
    """
    check_id("user_id", user_id)
    Actor.check(actor).require_self(user_id, "generate backup codes")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    if Method.BACKUP_CODE not in ctx.policy.allowed_methods:
        raise NotPermitted("backup codes are not allowed by the policy")
    factors = yield from load_factors(user_id)
    if not (yield from has_second_factor(user_id)):
        raise ConflictingState("set up a second factor before generating backup codes")
    yield from require_step_up(ctx, actor, user_id, factors, now)
    shown, records = yield from new_backup_codes(ctx, user_id, now)
    yield from call("store", Store.replace_backup_codes, user_id, records)
    yield from audit(ctx, Action.BACKUP_CODES_ISSUED, user_id, actor_id=actor.id, at=now)
    yield from notify(ctx, user_id, "backup_codes_regenerated")
    return shown


def backup_codes_left(ctx: Context, user_id: str) -> UseCase[int]:
    """How many unused backup codes the user has."""
    check_id("user_id", user_id)
    left: int = yield from call("store", Store.count_backup_codes, user_id)
    return left
