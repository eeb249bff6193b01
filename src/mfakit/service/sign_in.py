"""The sign-in second step (L1): decide, then challenge."""

from __future__ import annotations

from ..core.audit import Action, Outcome
from ..core.challenge import Purpose
from ..core.messages import check_locale
from ..core.methods import Method
from ..core.results import SignInStart, SignInStatus
from ..core.validation import check_encodable, check_id, check_role
from ..errors import DeliveryError, InvalidInput
from ..ports.storage import Store
from .challenges import OUT_OF_BAND, create_challenge, switch_method, view
from .context import Context
from .devices import check_trust
from .effects import UseCase, call
from .factors import factors_of
from .scope import audit

__all__ = ["begin_sign_in"]

MAX_TOKEN_LENGTH = 4096


def begin_sign_in(
    ctx: Context,
    user_id: str,
    *,
    role: str | None = None,
    trust_token: str | None = None,
    locale: str | None = None,
) -> UseCase[SignInStart]:
    """Call after the host checked the password. Returns satisfied, enrollment
    required, or a challenge with the usable methods; when the preferred method
    is SMS, voice or email its code is sent at once."""
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
            return SignInStart(status=SignInStatus.SATISFIED, trusted_device=True)
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
            return SignInStart(status=SignInStatus.ENROLLMENT_REQUIRED)
        return SignInStart(status=SignInStatus.SATISFIED)
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
    if preferred not in OUT_OF_BAND:
        return SignInStart(
            status=SignInStatus.CHALLENGE,
            challenge=view(ctx, rec),
            stronger_factor_required=stronger,
        )
    try:
        sent = yield from switch_method(ctx, rec.id, preferred, locale=locale)
    except DeliveryError:
        return SignInStart(
            status=SignInStatus.CHALLENGE,
            challenge=view(ctx, rec),
            delivery_failed=True,
            stronger_factor_required=stronger,
        )
    return SignInStart(
        status=SignInStatus.CHALLENGE,
        challenge=sent.challenge,
        delivery=sent,
        stronger_factor_required=stronger,
    )
