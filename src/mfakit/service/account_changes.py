"""Changing the phone number or email, guarded by a second factor (L4, S16,
S19), and managing 2FA: listing factors, the preferred method, removing a
contact factor, turning 2FA off (L5, S20, S22).

The flow reproduced is seed 001's "mandatory 2FA for phone number changes":
the change is approved only through a channel verified *before* it, never the
new destination; at most five attempts per user per day; an admin may start it
for a team member, and the code still goes to the member.
"""

from __future__ import annotations

from datetime import timedelta

from ..core.actor import Actor
from ..core.audit import Action
from ..core.challenge import Purpose
from ..core.contacts import ContactKind, mask, normalize_email, normalize_phone
from ..core.messages import check_locale
from ..core.methods import RESTRICTED_METHODS, Method, parse_method
from ..core.results import ContactChangeStart, Contacts, FactorInfo, Reason
from ..core.validation import check_id, check_role
from ..core.writes import ClearFactors, DeleteContact, SetLocale, SetPreferredMethod, Write
from ..errors import ConflictingState, InvalidInput, NotFound, NotPermitted
from ..ports.storage import Store
from .challenges import create_challenge, view
from .contact_change import contact_info
from .context import Context
from .devices import devices_revoked, security_writes
from .effects import UseCase, call
from .factors import (
    CHANNEL_KIND,
    Factors,
    load_factors,
    orphan_codes_dropped,
    require_factor_kept,
)
from .limits import count_in_window
from .notices import deliver, notice, notice_target, queue
from .scope import audit, event
from .step_up import require_step_up
from .work import commit, contended

__all__ = [
    "begin_contact_change",
    "disable_two_factor",
    "get_contacts",
    "list_factors",
    "remove_contact",
    "set_locale",
    "set_preferred_method",
]

_DAY = timedelta(days=1)


def _eligible(ctx: Context, factors: Factors) -> tuple[Method, ...]:
    """Channels verified before the change that may approve it (S19)."""
    methods: list[Method] = []
    if any(t.confirmed for t in factors.totps):
        methods.append(Method.TOTP)
    if factors.verified_contact(ContactKind.PHONE) is not None:
        methods += [Method.SMS, Method.VOICE]
    if factors.verified_contact(ContactKind.EMAIL) is not None:
        methods.append(Method.EMAIL)
    return tuple(
        m
        for m in methods
        if m in ctx.policy.allowed_methods and (m is Method.TOTP or m in ctx.channels)
    )


def begin_contact_change(
    ctx: Context,
    actor: Actor,
    user_id: str,
    *,
    phone: object = None,
    email: object = None,
) -> UseCase[ContactChangeStart]:
    """Start changing the user's phone number or email address.

    The actor is the user, or an admin acting for them (whether that admin may
    edit this user is the host's decision, made before calling). Returns a
    challenge offering only channels verified before the change; nothing is
    sent until the user picks one ([`MFA.send`][mfakit.facade.Facade.send]) unless it is an
    authenticator app. Verifying it applies the change.
    """
    check_id("user_id", user_id)
    Actor.check(actor).require_may_act_for(user_id)
    if (phone is None) == (email is None):
        raise InvalidInput("phone", "give exactly one of phone= or email=")
    if phone is not None:
        kind, value = ContactKind.PHONE, normalize_phone(phone)
    else:
        kind, value = ContactKind.EMAIL, normalize_email(email)
    now = ctx.clock.now()
    factors = yield from load_factors(user_id)
    # A change to the current value is not refused: that answer would confirm a
    # guess of a masked number (0.2 attack review). It is counted and started
    # like any other; approving it changes nothing (contact_for_change).
    methods = _eligible(ctx, factors)
    if not methods:
        yield from audit(
            ctx,
            Action.CONTACT_CHANGE_REFUSED,
            user_id,
            actor_id=actor.id,
            reason=Reason.NO_ELIGIBLE_METHOD,
            details={"kind": kind.value},
            at=now,
        )
        return ContactChangeStart(ok=False, reason=Reason.NO_ELIGIBLE_METHOD)
    wait = yield from count_in_window(
        f"contact-changes:{user_id}", now, limit=ctx.policy.contact_changes_per_day, window=_DAY
    )
    if wait is not None:
        yield from audit(
            ctx,
            Action.CONTACT_CHANGE_REFUSED,
            user_id,
            actor_id=actor.id,
            reason=Reason.DAILY_LIMIT,
            details={"kind": kind.value},
            at=now,
        )
        return ContactChangeStart(ok=False, reason=Reason.DAILY_LIMIT, retry_after=wait)
    rec = yield from create_challenge(
        ctx,
        user_id=user_id,
        purpose=Purpose.CONTACT_CHANGE,
        methods=methods,
        method=methods[0],
        now=now,
        target_kind=kind,
        target_value=value,
        actor_id=actor.id,
    )
    yield from audit(
        ctx,
        Action.CONTACT_CHANGE_STARTED,
        user_id,
        actor_id=actor.id,
        details={"kind": kind.value, "new": mask(kind, value)},
        at=now,
    )
    return ContactChangeStart(ok=True, challenge=view(ctx, rec))


# --- managing 2FA (L5) ----------------------------------------------------------


def list_factors(ctx: Context, user_id: str) -> UseCase[tuple[FactorInfo, ...]]:
    """The user's factors: authenticator apps, passkeys, phone and email, verified or not."""
    check_id("user_id", user_id)
    factors = yield from load_factors(user_id)
    state = yield from call("store", Store.get_user_state, user_id)
    preferred = state.preferred_method if state is not None else None
    out: list[FactorInfo] = []
    for t in factors.totps:
        if t.confirmed:
            out.append(
                FactorInfo(
                    id=t.id,
                    kind="totp",
                    label=t.label,
                    methods=(Method.TOTP,),
                    verified=True,
                    restricted=False,
                    created_at=t.created_at,
                    last_used_at=t.last_used_at,
                    preferred=preferred is Method.TOTP,
                )
            )
    for p in factors.webauthn:
        out.append(
            FactorInfo(
                id=p.id,
                kind="passkey",
                label=p.name,
                methods=(Method.WEBAUTHN,),
                verified=True,
                restricted=False,
                created_at=p.created_at,
                last_used_at=p.last_used_at,
                preferred=preferred is Method.WEBAUTHN,
            )
        )
    for c in factors.contacts:
        methods = (Method.SMS, Method.VOICE) if c.kind is ContactKind.PHONE else (Method.EMAIL,)
        out.append(
            FactorInfo(
                id=c.kind.value,
                kind=c.kind.value,
                label="Phone" if c.kind is ContactKind.PHONE else "Email",
                methods=methods,
                verified=c.verified,
                restricted=any(m in RESTRICTED_METHODS for m in methods),
                created_at=c.created_at,
                destination=mask(c.kind, c.value),
                preferred=preferred in methods,
            )
        )
    return tuple(out)


def get_contacts(ctx: Context, user_id: str) -> UseCase[Contacts]:
    """The user's phone and email with their full values and verified flags,
    for the account owner's own pages (`list_factors` masks them)."""
    check_id("user_id", user_id)
    stored = yield from call("store", Store.get_contacts, user_id)
    by_kind = {c.kind: contact_info(c) for c in stored}
    return Contacts(
        user_id=user_id,
        phone=by_kind.get(ContactKind.PHONE),
        email=by_kind.get(ContactKind.EMAIL),
    )


def set_preferred_method(ctx: Context, actor: Actor, user_id: str, method: object) -> UseCase[None]:
    """Choose which method sign-in starts with (it must be usable now)."""
    check_id("user_id", user_id)
    Actor.check(actor).require_may_act_for(user_id)
    chosen = None if method is None else parse_method(method)
    if chosen is Method.BACKUP_CODE:
        raise InvalidInput("method", "backup codes are a fallback, not a preference")
    if chosen is not None:
        factors = yield from load_factors(user_id)
        if chosen not in factors.methods(ctx):
            raise ConflictingState(f"{chosen} is not set up for this user")
    now = ctx.clock.now()
    yield from call("store", Store.set_preferred_method, user_id, chosen, now=now)
    yield from audit(
        ctx, Action.PREFERRED_METHOD_SET, user_id, actor_id=actor.id, method=chosen, at=now
    )


def set_locale(ctx: Context, actor: Actor, user_id: str, locale: object) -> UseCase[str | None]:
    """Store the language of the texts sent to the user (codes, security
    notices) when a call names none; None goes back to the default locale.
    Only a locale with texts of its own (mfakit's catalogs or the host's
    translations), or a regional variant of one (`"fr-CA"`), is accepted.
    Returns the locale stored, as a normalized tag (`"pt-br"`)."""
    check_id("user_id", user_id)
    Actor.check(actor).require_may_act_for(user_id)
    chosen = check_locale(locale)
    if chosen is not None:
        chosen = chosen.lower().replace("_", "-")
        known = ctx.messages.locales
        if chosen not in known and chosen.split("-")[0] not in known:
            raise InvalidInput("locale", f"has no texts; available: {', '.join(known)}")
    yield from commit(ctx, [SetLocale(user_id, chosen, ctx.clock.now())])
    return chosen


def _refuse_if_required(ctx: Context, role: str | None, what: str) -> None:
    if ctx.policy.requires_2fa(role):
        raise NotPermitted(f"the policy requires two-step verification for this role: {what}")


def remove_contact(
    ctx: Context, actor: Actor, user_id: str, kind: object, *, role: object = None
) -> UseCase[None]:
    """Remove the user's phone or email as a factor (and contact). Needs a fresh
    re-authentication (S20) and, while the user has a factor, a step-up (S32);
    refused when it would leave a user whose role requires 2FA with none. The
    removed destination is told, and so is another verified channel (S21)."""
    check_id("user_id", user_id)
    role = check_role(role)
    try:
        which = ContactKind(kind)
    except (ValueError, TypeError):
        raise InvalidInput("kind", "must be 'phone' or 'email'") from None
    Actor.check(actor).require_manager(user_id, "remove a user's factors")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    factors = yield from load_factors(user_id)
    yield from require_step_up(ctx, actor, user_id, factors, now)
    contact = next((c for c in factors.contacts if c.kind is which), None)
    if contact is None:
        raise NotFound(f"the user has no {which}")
    others = [
        m
        for m in factors.methods(ctx)
        if m is not Method.BACKUP_CODE and CHANNEL_KIND.get(m) is not which
    ]
    if contact.verified:
        require_factor_kept(
            ctx.policy.requires_2fa(role), others, f"keep a factor besides the {which}"
        )
    masked = mask(which, contact.value)
    detail = f"{which} {masked}"
    # Tell the user (S21) through another channel, and the removed destination
    # itself, so a user with no other channel hears of it too. The notices are
    # queued with the removal and sent after it (an outbox row each).
    target = notice_target(ctx, factors.contacts, exclude=contact.value)
    told = target is not None
    notices, queued = queue(
        [
            notice(ctx, user_id, "factor_removed", target, now, detail=detail),
            notice(ctx, user_id, "destination_removed", (which, contact.value), now, detail=detail)
            if contact.verified
            else None,
        ]
    )
    writes: list[Write] = [
        DeleteContact(user_id, which),
        *orphan_codes_dropped(user_id, factors, contact=which),
    ]
    revoked_at = len(writes) + 1
    writes += [*security_writes(user_id, now), *queued]
    details = {"kind": which.value, "destination": masked}
    events = [
        event(ctx, Action.FACTOR_REMOVED, user_id, actor_id=actor.id, details=details, at=now)
    ]
    if not told and contact.verified:
        events.append(
            event(
                ctx,
                Action.REMOVED_WITHOUT_NOTICE,
                user_id,
                actor_id=actor.id,
                details=details,
                at=now,
            )
        )
    results = yield from commit(ctx, writes, events)
    if results is None:
        raise NotFound(f"the user has no {which}")
    yield from devices_revoked(ctx, user_id, results[revoked_at], now)
    yield from deliver(ctx, notices)


def disable_two_factor(
    ctx: Context, actor: Actor, user_id: str, *, role: object = None
) -> UseCase[None]:
    """Turn 2FA off: authenticators and backup codes deleted, phone and email
    kept as contact data but unverified, trusted devices revoked. Needs a fresh
    re-authentication and a step-up (S20, S32); refused while the policy
    requires 2FA for the role.
    Enabling again is enrolling a factor again."""
    check_id("user_id", user_id)
    role = check_role(role)
    Actor.check(actor).require_manager(user_id, "turn off a user's 2FA")
    now = ctx.clock.now()
    actor.require_fresh(now, ctx.policy.reauth_max_age)
    _refuse_if_required(ctx, role, "it cannot be turned off")
    factors = yield from load_factors(user_id)
    if not factors.enrolled:
        raise ConflictingState("two-step verification is not on for this user")
    yield from require_step_up(ctx, actor, user_id, factors, now)
    # The notice goes to a channel verified before 2FA goes off (S21).
    target = notice_target(ctx, factors.contacts)
    notices, queued = queue([notice(ctx, user_id, "two_factor_disabled", target, now)])
    writes: list[Write] = [
        ClearFactors(user_id),
        SetPreferredMethod(user_id, None, now),
        *security_writes(user_id, now),
        *queued,
    ]
    events = [event(ctx, Action.TWO_FACTOR_DISABLED, user_id, actor_id=actor.id, at=now)]
    if target is None:
        events.append(
            event(
                ctx,
                Action.REMOVED_WITHOUT_NOTICE,
                user_id,
                actor_id=actor.id,
                details={"kind": "all"},
                at=now,
            )
        )
    results = yield from commit(ctx, writes, events)
    if results is None:  # pragma: no cover - nothing in the batch is conditional
        raise contended("the user's factors")
    yield from devices_revoked(ctx, user_id, results[3], now)
    yield from deliver(ctx, notices)
