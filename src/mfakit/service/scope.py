"""Request scope shared by every use case: the tenant's policy, the host's
request facts, the audit trail (L8) and security notices (S21)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from ..core.audit import Action, Outcome, RequestContext, build_record
from ..core.contacts import ContactKind
from ..core.messages import language_tag, render_notice
from ..core.methods import Method
from ..core.policy import Policy
from ..core.records import AuditRecord
from ..core.validation import check_id
from ..errors import ConfigurationError, DeliveryError, InvalidInput, NotPermitted
from ..ports.audit import AuditLog, AuditSink
from ..ports.delivery import EmailSender, SmsSender
from ..ports.policies import PolicyResolver, UserPolicyResolver
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call

T = TypeVar("T")
_log = logging.getLogger("mfakit")

__all__ = [
    "audit",
    "event",
    "in_scope",
    "list_events",
    "notify",
    "notify_destination",
    "policy_for",
    "record",
    "scoped",
]


def scoped(
    ctx: Context, *, tenant: object = None, context: object = None, user_id: object = None
) -> UseCase[Context]:
    """`ctx` for one call: the tenant's policy and the request facts. With a
    resolver that knows users (`for_user`), the user's tenant is the tenant."""
    request = RequestContext.check(context)
    if user_id is not None and ctx.tenant_from_user:
        uid = check_id("user_id", user_id)
        own = yield from call("policies", UserPolicyResolver.for_user, uid)
        if own is not None:
            try:
                check_id("tenant", own)
            except InvalidInput:
                raise ConfigurationError("the policy resolver returned a bad tenant") from None
            if tenant is not None and tenant != own:
                raise NotPermitted("tenant= is not the user's tenant")
            tenant = own
    if tenant is None:
        if request == ctx.request:
            return ctx
        return dataclasses.replace(ctx, request=request)
    check_id("tenant", tenant)
    assert isinstance(tenant, str)
    policy = ctx.policy
    if ctx.has_resolver:
        found = yield from call("policies", PolicyResolver.policy_for, tenant)
        if found is not None:
            if not isinstance(found, Policy):
                raise ConfigurationError(
                    "the policy resolver returned something else than a Policy"
                )
            policy = found
    return dataclasses.replace(ctx, tenant=tenant, request=request, policy=policy)


def policy_for(ctx: Context) -> UseCase[Policy]:
    """The policy in force for the call's tenant (the default without one)."""
    return ctx.policy
    yield  # a use case like the others: a generator


def in_scope(
    ctx: Context,
    tenant: object,
    context: object,
    use_case: Callable[..., UseCase[T]],
    /,
    *args: object,
    **kwargs: object,
) -> UseCase[T]:
    """Run `use_case(scoped_ctx, *args, **kwargs)` for one call of a facade."""
    user_id = _user_id(use_case, args, kwargs) if ctx.tenant_from_user else None
    scoped_ctx = yield from scoped(ctx, tenant=tenant, context=context, user_id=user_id)
    result: T = yield from use_case(scoped_ctx, *args, **kwargs)
    return result


@functools.cache
def _user_id_position(use_case: Callable[..., object]) -> int | None:
    names = list(inspect.signature(use_case).parameters)
    return names.index("user_id") - 1 if "user_id" in names else None  # after ctx


def _user_id(
    use_case: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> object:
    """The `user_id` argument of a use case call, if it takes one."""
    if "user_id" in kwargs:
        return kwargs["user_id"]
    position = _user_id_position(use_case)
    return args[position] if position is not None and position < len(args) else None


def event(
    ctx: Context,
    action: Action,
    subject_id: str,
    *,
    actor_id: str | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    method: object = None,
    reason: object = None,
    details: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> AuditRecord | None:
    """Build one audit event (None when the sink says nobody listens). Callers
    pass masked destinations only, never a code."""
    if ctx.audit_wants is not None:
        if not ctx.audit_wants(action.value, outcome.value):
            return None
    elif ctx.audit_enabled is not None and not ctx.audit_enabled():
        return None
    return build_record(
        record_id=ctx.new_id(),
        at=at if at is not None else ctx.clock.now(),
        action=action,
        subject_id=subject_id,
        actor_id=actor_id,
        context=ctx.request,
        outcome=outcome,
        method=None if method is None else str(method),
        reason=None if reason is None else str(reason),
        tenant=ctx.tenant,
        details=details,
    )


def record(ctx: Context, record: AuditRecord | None) -> UseCase[None]:
    """Hand one event to the audit port. A failing sink is logged, never
    allowed to undo the change the event describes."""
    if record is None:
        return
    try:
        yield from call("audit", AuditSink.record, record)
    except Exception as exc:
        # The change this event describes has already happened: a failing audit
        # sink must not make it look as if it had not. Say so loudly instead.
        _log.error(
            "mfakit: the audit sink failed (%s); event %s for subject %s was not recorded",
            type(exc).__name__,
            record.action,
            record.subject_id,
        )


def audit(
    ctx: Context,
    action: Action,
    subject_id: str,
    *,
    actor_id: str | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    method: object = None,
    reason: object = None,
    details: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> UseCase[None]:
    """Record one event now (see `event`)."""
    built = event(
        ctx,
        action,
        subject_id,
        actor_id=actor_id,
        outcome=outcome,
        method=method,
        reason=reason,
        details=details,
        at=at,
    )
    yield from record(ctx, built)


def list_events(
    ctx: Context, subject_id: str, *, limit: int = 50, before: str | None = None
) -> UseCase[list[AuditRecord]]:
    """A user's events, newest first (needs an audit port that can list).
    Page with `before=page[-1].id`."""
    check_id("user_id", subject_id)
    if type(limit) is not int or not 1 <= limit <= 500:
        raise InvalidInput("limit", "must be an int from 1 to 500")
    if before is not None:
        check_id("before", before)
    if not ctx.audit_log:
        raise ConfigurationError("the audit port cannot list events; use an AuditLog")
    events: list[AuditRecord] = yield from call(
        "audit", AuditLog.list_events, subject_id, limit=limit, before=before
    )
    return events


def notify(
    ctx: Context,
    user_id: str,
    kind: str,
    *,
    detail: str = "",
    locale: str | None = None,
    exclude: str | None = None,
) -> UseCase[bool]:
    """Tell the user of a security event through an already verified channel
    (S21): their email, else their phone by SMS, never `exclude` (the
    destination the event is about, so the notice comes by an independent
    channel). A failed notice is recorded, never allowed to undo the change.
    Without a `locale`, the notice is in the user's stored one (else the default).

    Returns whether such a channel exists (whether or not notices are on)."""
    snapshot = yield from call("store", Store.load_user, user_id)
    if locale is None and snapshot.state is not None:
        locale = snapshot.state.locale
    contacts = snapshot.contacts
    verified = {c.kind: c.value for c in contacts if c.verified and c.value != exclude}
    if ContactKind.EMAIL in verified and ctx.can_send(Method.EMAIL):
        target = (ContactKind.EMAIL, verified[ContactKind.EMAIL])
    elif ContactKind.PHONE in verified and ctx.can_send(Method.SMS):
        target = (ContactKind.PHONE, verified[ContactKind.PHONE])
    else:
        return False
    yield from notify_destination(
        ctx, user_id, kind, target, detail=detail, locale=locale, user_locale=False
    )
    return True


def _locale_option(ctx: Context, method: Method, locale: str | None) -> dict[str, str]:
    """`locale=` for a sender that takes it (decided at wiring), when known."""
    tag = language_tag(locale)
    if tag is None or "locale" not in ctx.sender_options.get(method, ()):
        return {}
    return {"locale": tag}


def notify_destination(
    ctx: Context,
    user_id: str,
    kind: str,
    destination: tuple[ContactKind, str],
    *,
    detail: str = "",
    locale: str | None = None,
    user_locale: bool = True,
) -> UseCase[None]:
    """Send a notice to one named destination, e.g. the *old* phone number
    after a change (L4), whatever its verified state. Without a `locale`,
    in the user's stored one (unless `user_locale` is False: the caller
    already looked), else the default."""
    if not ctx.notify:
        return
    if locale is None and user_locale:
        state = yield from call("store", Store.get_user_state, user_id)
        locale = state.locale if state is not None else None
    when = ctx.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    msg = render_notice(
        ctx.messages, kind, locale=locale, issuer=ctx.issuer, when=when, detail=detail
    )
    channel, to = destination
    try:
        if channel is ContactKind.EMAIL and ctx.can_send(Method.EMAIL):
            options = _locale_option(ctx, Method.EMAIL, locale)
            yield from call("email", EmailSender.send_email, to, msg.subject, msg.text, **options)
        elif channel is ContactKind.PHONE and ctx.can_send(Method.SMS):
            options = _locale_option(ctx, Method.SMS, locale)
            yield from call("sms", SmsSender.send_sms, to, msg.text, **options)
    except DeliveryError:
        yield from audit(ctx, Action.NOTICE_FAILED, user_id, outcome=Outcome.FAILURE, reason=kind)
