"""Enrolling a phone or an email by proving possession (L3, S18, S20), and
setting the security question (F6, S27)."""

from __future__ import annotations

from ..core.actor import Actor
from ..core.audit import Action
from ..core.challenge import Purpose
from ..core.contacts import ContactKind, normalize_email, normalize_phone
from ..core.messages import check_locale
from ..core.methods import Method, parse_method
from ..core.records import QuestionRecord
from ..core.results import SendResult
from ..core.validation import check_id
from ..errors import ConflictingState, InvalidInput, NotPermitted
from ..ports.storage import Store
from .challenges import create_challenge, normalize_answer, switch_method
from .context import Context
from .effects import UseCase, call, offload
from .factors import CHANNEL_KIND, hash_answer, load_factors
from .scope import audit
from .step_up import require_step_up

_PROOF = {ContactKind.PHONE: "sms or voice", ContactKind.EMAIL: "email"}

__all__ = ["begin_contact_enrolment", "get_security_question", "set_security_question"]


def begin_contact_enrolment(
    ctx: Context,
    actor: Actor,
    user_id: str,
    *,
    kind: ContactKind,
    value: object,
    method: object,
    locale: str | None = None,
) -> UseCase[SendResult]:
    """Send a code to a phone (by SMS or voice) or an email being enrolled.

    This is the only code that goes to an unverified destination (S18); it
    needs the user personally, freshly re-authenticated (L3, S20), and stepped
    up when they already have a factor (S32). Its sends count against the
    budgets for unverified destinations (S33). Verifying the challenge stores
    the destination as verified.
    """
    check_id("user_id", user_id)
    check_locale(locale)
    method = parse_method(method)
    if CHANNEL_KIND.get(method) is not kind:
        raise InvalidInput("method", f"a {kind} is proven by {_PROOF[kind]}")
    Actor.check(actor).require_self(user_id, "enrol a phone or email for two-step verification")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    normalized = normalize_phone(value) if kind is ContactKind.PHONE else normalize_email(value)
    if method not in ctx.policy.allowed_methods:
        raise NotPermitted(f"{method} is not allowed by the policy")
    if method not in ctx.channels:
        raise NotPermitted(f"no sender is configured for {method}")
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    if kind is ContactKind.PHONE and not ctx.policy.allow_restricted_only:
        # S25: SMS and voice may not be the user's only factor under this policy.
        stronger = [m for m in factors.methods(ctx) if m in (Method.TOTP, Method.EMAIL)]
        if not stronger:
            raise NotPermitted("set up an authenticator app or a verified email before a phone")
    for contact in factors.contacts:
        if contact.kind is kind and contact.verified:
            if contact.value == normalized:
                raise ConflictingState(f"this {kind} is already verified")
            raise ConflictingState(f"the user has a verified {kind}: change it instead")
    rec = yield from create_challenge(
        ctx,
        user_id=user_id,
        purpose=Purpose.ENROL_CONTACT,
        methods=(method,),
        method=method,
        now=now,
        target_kind=kind,
        target_value=normalized,
        actor_id=actor.id,
    )
    return (yield from switch_method(ctx, rec.id, method, locale=locale))


def set_security_question(
    ctx: Context, actor: Actor, user_id: str, question: object, answer: object
) -> UseCase[None]:
    """Choose one of the policy's questions and set its answer, stored only as a
    slow hash (S27). The user personally, freshly re-authenticated, and
    stepped up when they have a factor (S32): the answer guards the other
    methods when `question_guards_alternatives` is set."""
    check_id("user_id", user_id)
    Actor.check(actor).require_self(user_id, "set a security question")
    if not isinstance(question, str) or question not in ctx.policy.security_questions:
        raise InvalidInput("question", "must be one of the policy's security questions")
    normalized = normalize_answer(ctx, answer)
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    hashed = yield from offload(hash_answer, ctx.keyring, ctx.hasher, normalized)  # keyed (S27)
    record = QuestionRecord(user_id=user_id, question=question, answer_hash=hashed, created_at=now)
    yield from call("store", Store.put_question, record)
    yield from audit(ctx, Action.QUESTION_SET, user_id, actor_id=actor.id, at=now)


def get_security_question(ctx: Context, user_id: str) -> UseCase[str | None]:
    """The question the user chose (never the answer), or None."""
    check_id("user_id", user_id)
    record = yield from call("store", Store.get_question, user_id)
    return None if record is None else record.question
