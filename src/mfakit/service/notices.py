"""Security notices through an outbox (S21): queued with the change, then sent.

Theory of operation
-------------------
A security change (a factor removed, 2FA turned off, a contact changed, a
password changed, ...) decides its notices in pure code (`notice`) and
queues them with `QueueNotice` in the *same* unit
of work as the change: the change and the promise to tell the user commit
together or not at all. Right after the commit the request delivers them
(`deliver`) and deletes each one delivered. A notice is queued already
claimed by the request that queued it (`attempts=1`, due again after
`LEASE`), so a send that fails, a crash or a cancelled task between the
commit and the send leaves it in the outbox, where
`deliver_pending_notices` (`MFA.deliver_pending_notices()`, `mfakit
notices deliver`, run from a scheduled job) finds it once due and sends it.
Each try first claims the notice by compare-and-set on its attempt count, so
two deliverers never send one notice at the same time; a failed try is due
again later, each delay twice the one before (5 minutes up to 6 hours).
Delivery is at least once: a process that dies after the send and before the
delete sends that notice again.

What a queued notice keeps: its kind, the masked detail (never a code, a
secret or an answer), the locale, when the change happened, and the
destination (the email address or phone number to tell: personal data, the
one thing rendering needs that the user's record may no longer hold, e.g. a
removed phone). Undelivered notices are deleted by
`purge_expired` once older than its `older_than`.

"Was anyone told?" (`REMOVED_WITHOUT_NOTICE`) is decided when the change is
made, from the verified channels the user has and mfakit can send to, never
from whether a delivery succeeded: a notice that fails now is still on its way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from ..core.audit import Action, Outcome
from ..core.contacts import ContactKind
from ..core.messages import render_notice
from ..core.methods import Method
from ..core.records import ContactRecord, NoticeRecord
from ..core.writes import ClaimNotice, DeleteNotice, QueueNotice, Write
from ..errors import DeliveryError, InvalidInput, StorageError
from ..ports.delivery import EmailSender, SmsSender
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call
from .scope import audit
from .work import commit

__all__ = [
    "LEASE",
    "MAX_DELAY",
    "deliver",
    "deliver_pending_notices",
    "notice",
    "notice_target",
    "queue",
]

LEASE = timedelta(minutes=5)
"""How long a notice being delivered is left alone by other deliverers, and
the first delay after a failed try."""
MAX_DELAY = timedelta(hours=6)
"""The longest delay between two tries of one notice."""
_MAX_BATCH = 10_000
_log = logging.getLogger("mfakit")


def _reachable(ctx: Context, channel: ContactKind) -> bool:
    """Whether a sender for `channel` is configured (email, or SMS to a phone)."""
    return (Method.EMAIL if channel is ContactKind.EMAIL else Method.SMS) in ctx.channels


def notice_target(
    ctx: Context, contacts: Iterable[ContactRecord], *, exclude: str | None = None
) -> tuple[ContactKind, str] | None:
    """The verified channel a notice to the user goes to: their email, else
    their phone by SMS, never `exclude` (the destination the event is about,
    so the notice comes by an independent channel); None if there is none.
    Whether notices are on does not matter: this answers whether one *can* be
    told (which decides `REMOVED_WITHOUT_NOTICE`)."""
    verified = {c.kind: c.value for c in contacts if c.verified and c.value != exclude}
    for kind in (ContactKind.EMAIL, ContactKind.PHONE):
        if kind in verified and _reachable(ctx, kind):
            return kind, verified[kind]
    return None


def notice(
    ctx: Context,
    user_id: str,
    kind: str,
    destination: tuple[ContactKind, str] | None,
    now: datetime,
    *,
    detail: str = "",
    locale: str | None = None,
) -> NoticeRecord | None:
    """The outbox row of one notice to `destination` (pure); None when there
    is nothing to send: no destination, notices off, or no sender for it.
    `detail` is shown to the user: masked values only, never a code."""
    if destination is None or not ctx.notify or not _reachable(ctx, destination[0]):
        return None
    channel, to = destination
    return NoticeRecord(
        id=ctx.new_id(),
        user_id=user_id,
        kind=kind,
        channel=channel,
        destination=to,
        detail=detail,
        locale=locale,
        created_at=now,
        attempts=1,  # claimed by the request that queues it
        next_attempt_at=now + LEASE,
    )


def queue(notices: Iterable[NoticeRecord | None]) -> tuple[list[NoticeRecord], list[Write]]:
    """The notices to deliver after the commit, and the writes queueing them."""
    kept = [n for n in notices if n is not None]
    return kept, [QueueNotice(n) for n in kept]


def _send(ctx: Context, rec: NoticeRecord) -> UseCase[bool]:
    """Send one claimed notice and delete it; whether it was delivered. A
    failure is recorded and leaves it queued for a later try."""
    locale = rec.locale
    if locale is None:
        # Queued without one: the user's stored locale (MFA.set_locale), else the default.
        state = yield from call("store", Store.get_user_state, rec.user_id)
        locale = state.locale if state is not None else None
    msg = render_notice(
        ctx.messages,
        rec.kind,
        locale=locale,
        issuer=ctx.issuer,
        when=rec.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        detail=rec.detail,
    )
    if not _reachable(ctx, rec.channel):
        return False  # no sender for it here: left for a deliverer that has one
    try:
        if rec.channel is ContactKind.EMAIL:
            yield from call("email", EmailSender.send_email, rec.destination, msg.subject, msg.text)
        else:
            yield from call("sms", SmsSender.send_sms, rec.destination, msg.text)
    except DeliveryError:
        yield from audit(
            ctx, Action.NOTICE_FAILED, rec.user_id, outcome=Outcome.FAILURE, reason=rec.kind
        )
        return False
    yield from commit(ctx, [DeleteNotice(rec.id)])
    return True


def deliver(ctx: Context, notices: Sequence[NoticeRecord]) -> UseCase[None]:
    """After the commit that queued `notices`: send them now (best effort).
    The change has happened: a failure here is recorded or logged and the
    notice stays queued for `deliver_pending_notices`, never raised."""
    for rec in notices:
        try:
            yield from _send(ctx, rec)
        except StorageError as exc:
            _log.warning(
                "mfakit: notice %s for subject %s stays queued (%s)",
                rec.kind,
                rec.user_id,
                type(exc).__name__,
            )


def _delay(attempts: int) -> timedelta:
    """The wait after try number `attempts` (1, 2, ...) before the next."""
    factor: int = 2 ** min(max(attempts - 1, 0), 12)
    return min(LEASE * factor, MAX_DELAY)


def deliver_pending_notices(ctx: Context, *, limit: object = 100) -> UseCase[int]:
    """Send up to `limit` queued notices that are due; returns how many were
    delivered. Each is claimed first (another deliverer running at the same
    time skips it); one that fails again is due after a longer delay."""
    if type(limit) is not int or not 1 <= limit <= _MAX_BATCH:
        raise InvalidInput("limit", f"must be an int from 1 to {_MAX_BATCH}")
    now = ctx.clock.now()
    due: list[NoticeRecord] = yield from call("store", Store.pending_notices, now=now, limit=limit)
    delivered = 0
    for rec in due:
        claim = ClaimNotice(rec.id, rec.attempts, now + _delay(rec.attempts + 1))
        if (yield from commit(ctx, [claim])) is None:
            continue  # claimed by another deliverer, or delivered meanwhile
        if (yield from _send(ctx, rec)):
            delivered += 1
    return delivered
