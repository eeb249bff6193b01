"""The sign-in second step (L1) and the step-up (S32): decide, then challenge."""

from __future__ import annotations

from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.challenge import Purpose
from ..core.messages import check_locale
from ..core.methods import Method
from ..core.records import ChallengeRecord
from ..core.results import (
    ChallengeRequired,
    EnrollmentRequired,
    Satisfied,
    SendResult,
    SignInStart,
    StepUpChallenge,
    StepUpNotNeeded,
    StepUpStart,
)
from ..core.validation import check_encodable, check_id, check_role
from ..errors import DeliveryError, InvalidInput
from ..ports.storage import Store
from .challenges import OUT_OF_BAND, create_challenge, switch_method, view
from .context import Context
from .devices import check_trust
from .effects import UseCase, call
from .factors import factors_of, load_factors
from .passkeys import issue_challenge_ceremony, with_options
from .scope import audit
from .step_up import step_up_methods

__all__ = ["begin_sign_in", "begin_step_up"]

MAX_TOKEN_LENGTH = 4096


def begin_sign_in(
    ctx: Context,
    user_id: str,
    *,
    role: str | None = None,
    trust_token: str | None = None,
    locale: str | None = None,
) -> UseCase[SignInStart]:
    """Call after the host checked the password. Returns `Satisfied`,
    `EnrollmentRequired`, or `ChallengeRequired` with the usable methods; when
    the preferred method is SMS, voice or email its code is sent at once."""
    check_id("user_id", user_id)
    role = check_role(role)
    check_locale(locale)
    if trust_token is not None and (
        not isinstance(trust_token, str) or len(trust_token) > MAX_TOKEN_LENGTH
    ):
        raise InvalidInput("trust_token", "must be a str of at most 4096 characters")
    if trust_token is not None:
        check_encodable("trust_token", trust_token)
    if trust_token == "":
        trust_token = None  # an empty cookie is no token
    policy = ctx.policy
    now = ctx.clock.now()
    if trust_token is not None:
        refusal = yield from check_trust(ctx, user_id, trust_token)
        if refusal is None:
            yield from audit(ctx, Action.SIGN_IN_TRUSTED, user_id, at=now)
            return Satisfied(trusted_device=True)
        # Go on as if there were no token, but keep the reason (L2).
        yield from audit(
            ctx, Action.TRUST_REJECTED, user_id, outcome=Outcome.REFUSED, reason=refusal, at=now
        )
    snapshot = yield from call("store", Store.load_user, user_id)
    factors = factors_of(snapshot)
    methods = factors.methods(ctx)
    has_factor = any(m is not Method.BACKUP_CODE for m in methods)
    if not has_factor:
        # A user who turned 2FA on keeps it even when the policy (or a missing
        # sender) leaves none of their factors usable: they must enrol one.
        if policy.requires_2fa(role) or factors.enrolled:
            yield from audit(
                ctx,
                Action.ENROLLMENT_REQUIRED,
                user_id,
                outcome=Outcome.REFUSED,
                details={"role": role or ""},
                at=now,
            )
            return EnrollmentRequired()
        return Satisfied()
    state = snapshot.state
    preferred = methods[0]
    if state is not None and state.preferred_method in methods:
        preferred = state.preferred_method
    guarded = (
        policy.question_guards_alternatives and factors.question is not None and len(methods) > 1
    )
    rec = yield from create_challenge(
        ctx,
        user_id=user_id,
        purpose=Purpose.SIGN_IN,
        methods=methods,
        method=preferred,
        now=now,
        alternatives_locked=guarded,
    )
    stronger = not policy.allow_restricted_only and factors.only_restricted(ctx)
    options = yield from issue_challenge_ceremony(ctx, rec, snapshot)
    sent, failed = yield from _send_at_once(ctx, rec, preferred, locale)
    return ChallengeRequired(
        challenge=with_options(sent.challenge if sent is not None else view(ctx, rec), options),
        delivery=sent,
        delivery_failed=failed,
        stronger_factor_required=stronger,
    )


def _send_at_once(
    ctx: Context, rec: ChallengeRecord, method: Method, locale: str | None
) -> UseCase[tuple[SendResult | None, bool]]:
    """Send the first code when `method` is SMS, voice or email: the outcome,
    and whether the provider refused it (the user can resend or switch)."""
    if method not in OUT_OF_BAND:
        return None, False
    try:
        sent = yield from switch_method(ctx, rec.id, method, locale=locale)
    except DeliveryError:
        return None, True
    return sent, False


def begin_step_up(
    ctx: Context, actor: Actor, user_id: str, *, locale: str | None = None
) -> UseCase[StepUpStart]:
    """Start proving a second factor again before removing or binding one (S32).

    A challenge of purpose `REAUTHENTICATE` over the user's usable methods,
    backup codes included; like sign-in, an SMS, voice or email preferred
    method sends at once. An admin acting for a member (seed 001) gets the
    member's challenge: the codes go to the member's verified channels, and the
    grant binds the admin and the member. A user with no active factor needs
    no step-up.
    """
    check_id("user_id", user_id)
    check_locale(locale)
    Actor.check(actor).require_manager(user_id, "step up for a user")
    now = ctx.clock.now()
    factors = yield from load_factors(user_id)
    methods = step_up_methods(ctx, factors)
    if not methods:
        return StepUpNotNeeded()
    state = yield from call("store", Store.get_user_state, user_id)
    first = methods[0]
    if state is not None and state.preferred_method in methods:
        first = state.preferred_method
    rec = yield from create_challenge(
        ctx,
        user_id=user_id,
        purpose=Purpose.REAUTHENTICATE,
        methods=methods,
        method=first,
        now=now,
        actor_id=actor.id,
    )
    yield from audit(
        ctx,
        Action.STEP_UP_STARTED,
        user_id,
        actor_id=actor.id,
        method=first,
        details={"methods": " ".join(m.value for m in methods)},
        at=now,
    )
    options = yield from issue_challenge_ceremony(ctx, rec)
    sent, failed = yield from _send_at_once(ctx, rec, first, locale)
    return StepUpChallenge(
        challenge=with_options(sent.challenge if sent is not None else view(ctx, rec), options),
        delivery=sent,
        delivery_failed=failed,
    )
