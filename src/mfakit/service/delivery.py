"""Handing a code to its channel, and what the provider says afterwards.

* `deliver` renders the code's message and gives it to the channel's
  sender, with `locale` and an HTML body for email when the sender's method
  takes them (decided once, at wiring: `Context.sender_options`). A
  channel configured with a [`CodeProvider`][mfakit.ports.delivery.CodeProvider]
  (Twilio Verify) is asked to start a verification instead: the provider makes
  and sends the code, and its reference is kept on the challenge.
* `check_with_provider` asks the provider whether a code is right.
* `record_delivery_status` records a status callback
  ([`mfakit.delivery_status`][mfakit.delivery_status]) on the challenge whose code went out under
  that message id, and in the audit log.

The challenge's state machine, limits, quotas and audit stay in
`mfakit.service.challenges`, whatever the channel.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime
from typing import Any

from ..core.audit import Action, Outcome
from ..core.challenge import END_STATES
from ..core.messages import language_tag
from ..core.methods import Method
from ..core.records import ChallengeRecord
from ..core.validation import check_id
from ..core.writes import UpdateChallenge
from ..errors import ConfigurationError, DeliveryError, InvalidInput
from ..ports.delivery import CodeChannel, CodeProvider, EmailSender, SmsSender, VoiceSender
from ..ports.storage import MessageLookup
from .context import Context
from .effects import UseCase, call
from .scope import event, scoped
from .work import RACES, backoff, commit, contended

__all__ = [
    "cancel_at_provider",
    "check_with_provider",
    "deliver",
    "email_html",
    "provider_ref",
    "record_delivery_status",
]

_log = logging.getLogger("mfakit")
_STATES = ("pending", "sent", "delivered", "failed")
_CHANNELS = {"sms": Method.SMS, "voice": Method.VOICE, "email": Method.EMAIL}
_CODE_CHANNELS: dict[Method, CodeChannel] = {
    Method.SMS: "sms",
    Method.VOICE: "voice",
    Method.EMAIL: "email",
}
_ERROR_CODE = re.compile(r"[A-Za-z0-9_./-]{1,64}")  # "30006", SES "Permanent/General"
_WORD = re.compile(r"[A-Za-z0-9_. -]{1,32}")


def email_html(text: str, code: str, locale: str | None) -> str:
    """The HTML part of a code email: the text escaped, paragraph by
    paragraph, with the code set apart so it is easy to read and copy."""
    escaped_code = html.escape(code)
    paragraphs = []
    for block in text.split("\n\n"):
        body = html.escape(block.strip()).replace("\n", "<br>\n")
        body = body.replace(
            escaped_code,
            '<strong style="font-size:1.5em;letter-spacing:0.15em;font-family:monospace">'
            f"{escaped_code}</strong>",
        )
        if body:
            paragraphs.append(f"<p>{body}</p>")
    lang = f' lang="{html.escape(locale)}"' if locale else ""
    return (
        f'<!DOCTYPE html>\n<html{lang}><head><meta charset="utf-8"></head>\n'
        f"<body>\n{chr(10).join(paragraphs)}\n</body></html>\n"
    )


def deliver(
    ctx: Context, method: Method, to: str, code: str, locale: str | None
) -> UseCase[str | None]:
    """Send `code` to `to` on `method`; the provider's id for it (a
    message id, a code provider's reference) or None. Raises
    [`DeliveryError`][mfakit.errors.DeliveryError] when nothing was sent."""
    channel = method.value
    tag = language_tag(locale)
    if method in ctx.code_providers:
        kind = _CODE_CHANNELS[method]
        ref = yield from call(channel, CodeProvider.start, to, kind, locale=tag)
        if not isinstance(ref, str) or not ref:
            raise ConfigurationError(f"the {channel} code provider's start() returned no reference")
        return ref
    minutes = max(int(ctx.policy.code_ttl.total_seconds() // 60), 1)
    msg = ctx.messages.render(channel, locale=locale, issuer=ctx.issuer, code=code, minutes=minutes)
    accepted = ctx.sender_options.get(method, frozenset())
    options: dict[str, Any] = {}
    if tag is not None and "locale" in accepted:
        options["locale"] = tag
    sent: object
    if method is Method.SMS:
        sent = yield from call("sms", SmsSender.send_sms, to, msg.text, **options)
    elif method is Method.VOICE:
        sent = yield from call("voice", VoiceSender.send_voice, to, msg.text, **options)
    else:
        if "html" in accepted:
            options["html"] = email_html(msg.text, code, tag)
        subject = msg.subject
        sent = yield from call("email", EmailSender.send_email, to, subject, msg.text, **options)
    # A sender may return anything (older ones return None); only a plausible id is kept.
    return sent if isinstance(sent, str) and 0 < len(sent) <= 128 else None


def provider_ref(rec: ChallengeRecord) -> str | None:
    """The code provider's reference when the challenge's current code was
    sent by one (no hash of our own; the provider checks it), else None."""
    if rec.code_hash is None and rec.code_sent_at is not None and rec.destination is not None:
        return rec.message_id
    return None


def check_with_provider(ctx: Context, rec: ChallengeRecord, code: str) -> UseCase[bool]:
    """Whether the provider that sent the challenge's code accepts `code`.
    Raises [`DeliveryError`][mfakit.errors.DeliveryError] when it could not answer."""
    ref = provider_ref(rec)
    if ref is None or rec.method not in ctx.code_providers:
        # The provider was removed from the configuration since: nothing can
        # check this code any more.
        return False
    ok = yield from call(rec.method.value, CodeProvider.check, ref, code)
    return ok is True


def cancel_at_provider(ctx: Context, rec: ChallengeRecord) -> UseCase[None]:
    """Tell the code provider that the challenge ended, so its code stops
    working there too. Best effort: the challenge is already over in mfakit,
    which refuses every later code whatever the provider says."""
    ref = provider_ref(rec)
    if ref is None or rec.method not in ctx.code_providers:
        return
    try:
        yield from call(rec.method.value, CodeProvider.cancel, ref)
    except DeliveryError as exc:
        _log.warning(
            "mfakit: the %s code provider could not cancel challenge %s's code (%s)",
            rec.method.value,
            rec.id,
            type(exc).__name__,
        )


def _check_status(status: object) -> tuple[str, Method, str, str, str, str | None]:
    """The fields of a [`DeliveryStatus`][mfakit.delivery_status.DeliveryStatus], checked."""
    provider = getattr(status, "provider", None)
    channel = _CHANNELS.get(str(getattr(status, "channel", "")))
    message_id = getattr(status, "message_id", None)
    state = getattr(status, "state", None)
    word = getattr(status, "provider_status", None)
    error = getattr(status, "error_code", None)
    if not isinstance(provider, str) or not _WORD.fullmatch(provider) or channel is None:
        raise InvalidInput("status", "must be an mfakit.delivery_status.DeliveryStatus")
    check_id("message_id", message_id)
    assert isinstance(message_id, str)
    if state not in _STATES:
        raise InvalidInput("status", "has an unknown state")
    if not isinstance(word, str) or not _WORD.fullmatch(word):
        raise InvalidInput("status", "has a malformed provider status")
    if error is not None and (not isinstance(error, str) or not _ERROR_CODE.fullmatch(error)):
        raise InvalidInput("status", "has a malformed error code")
    return provider, channel, message_id, str(state), word, error


def _moves(current: str | None, new: str) -> bool:
    """Whether a status may replace the recorded one: callbacks arrive out of
    order, so a final state (delivered, failed) is never replaced, and an
    earlier step never replaces a later one."""
    if current in ("delivered", "failed"):
        return False
    if current is None or new in ("delivered", "failed"):
        return True
    return _STATES.index(new) > _STATES.index(current)


def record_delivery_status(ctx: Context, status: object) -> UseCase[bool]:
    """Record `status` on the challenge whose current code went out as
    `status.message_id`, and audit it (provider, state, error code: never
    the destination, the text or the code). Returns whether a challenge
    matched; a status for an older message of a challenge (replaced by a
    resend) or for no challenge at all changes nothing."""
    provider, channel, message_id, state, word, error = _check_status(status)
    if not ctx.message_lookup:
        raise ConfigurationError(
            "recording delivery statuses needs a store with challenge_for_message() "
            "(every store shipped with mfakit has it)"
        )
    for attempt in range(RACES):
        if attempt:
            yield from backoff(ctx, attempt)
        rec = yield from call("store", MessageLookup.challenge_for_message, message_id)
        if rec is None or rec.method is not channel:
            return False
        if rec.tenant != ctx.tenant:  # the event belongs to the challenge's tenant
            ctx = yield from scoped(ctx, tenant=rec.tenant, context=ctx.request)
        if not _moves(rec.delivery, state):
            return True  # known: an earlier or equal state arriving late
        updated = rec.with_(delivery=state, delivery_error=error if state == "failed" else None)
        now: datetime = ctx.clock.now()
        details = {"provider": provider, "state": state, "provider_status": word}
        if error is not None:
            details["error_code"] = error
        details["purpose"] = rec.purpose.value
        if rec.state in END_STATES:
            details["challenge_state"] = rec.state.value
        audit_event = event(
            ctx,
            Action.CODE_DELIVERY,
            rec.user_id,
            actor_id=rec.actor_id,
            outcome=Outcome.FAILURE if state == "failed" else Outcome.SUCCESS,
            method=rec.method,
            details=details,
            at=now,
        )
        if (yield from commit(ctx, [UpdateChallenge(updated)], [audit_event])) is not None:
            return True
    raise contended("the challenge")
