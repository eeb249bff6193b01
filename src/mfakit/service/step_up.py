"""Step-up (S32): which methods can prove a factor again, the check every call
that removes or binds a factor makes, and issuing the grant.

The check reads no store: the caller already loaded the user's factors, and
the grant is a signed value checked against mfakit's clock.
"""

from __future__ import annotations

from datetime import datetime

from ..core import step_up
from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.methods import Method
from ..core.step_up import StepUpClaims
from ..errors import StepUpRequired
from .context import Context
from .effects import UseCase
from .factors import Factors
from .scope import audit

__all__ = ["issue_grant", "require_step_up", "step_up_methods"]


def step_up_methods(ctx: Context, factors: Factors) -> tuple[Method, ...]:
    """The methods that can step up this user now: their usable factors, and
    their backup codes even alone (a backup code counts as a factor, S32).

    A factor the policy or the configured senders leave unusable counts as
    none, exactly as at sign-in: it proves nothing, so it guards nothing.
    """
    methods = factors.methods(ctx)
    if (
        Method.BACKUP_CODE not in methods
        and factors.backup_codes_left > 0
        and Method.BACKUP_CODE in ctx.policy.allowed_methods
    ):
        methods = (*methods, Method.BACKUP_CODE)
    return methods


def require_step_up(
    ctx: Context, actor: Actor, user_id: str, factors: Factors, now: datetime
) -> UseCase[None]:
    """Refuse with [`StepUpRequired`][mfakit.errors.StepUpRequired] unless the user has no active
    factor or `actor.step_up` is a grant for this user and this actor, issued
    within `policy.step_up_seconds`. Checked on top of the password
    freshness (S20), never instead of it."""
    if not step_up_methods(ctx, factors):
        return  # the first factor: there is nothing to step up with
    token = actor.step_up
    claims = None if token is None else step_up.read_grant(ctx.keyring, token)
    if claims is not None and step_up.grant_holds(
        claims, user_id=user_id, actor_id=actor.id, now=now, max_age=ctx.policy.step_up_max_age
    ):
        return
    yield from audit(
        ctx,
        Action.STEP_UP_REFUSED,
        user_id,
        actor_id=actor.id,
        outcome=Outcome.REFUSED,
        reason="missing" if token is None else "invalid",
        at=now,
    )
    # The same words whatever was wrong with the grant: no detail to probe with.
    raise StepUpRequired(
        f"verify a second factor first (begin_step_up), within {ctx.policy.step_up_seconds} s"
    )


def issue_grant(
    ctx: Context, user_id: str, actor_id: str, method: Method, now: datetime
) -> tuple[str, datetime]:
    """A fresh grant for `actor_id` over `user_id`, and when it expires."""
    token = step_up.sign_grant(ctx.keyring, StepUpClaims(user_id, actor_id, now, method))
    return token, step_up.grant_expires_at(now, ctx.policy.step_up_max_age)
