"""What a contact change does once approved (L4): the new value stored
unverified, the old destination told, trusted devices revoked per policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..core.audit import Action
from ..core.contacts import ContactKind, mask
from ..core.records import AuditRecord, ChallengeRecord, ContactRecord, NoticeRecord
from ..core.results import Contact
from .context import Context
from .notices import notice, notice_target
from .scope import event

__all__ = [
    "contact_change_notices",
    "contact_changed_event",
    "contact_for_change",
    "contact_info",
    "is_no_op",
]


def contact_info(rec: ContactRecord) -> Contact:
    """A stored contact as its owner reads it back (full value, masked repr)."""
    return Contact(
        kind=rec.kind,
        value=rec.value,
        verified=rec.verified,
        created_at=rec.created_at,
        verified_at=rec.verified_at,
    )


def is_no_op(rec: ChallengeRecord, old: ContactRecord | None) -> bool:
    """Whether a change asks for the value the user already has: accepted, so
    that the answer never confirms a guess of a masked number, but a no-op."""
    return old is not None and old.value == rec.target_value


def contact_for_change(
    rec: ChallengeRecord, now: datetime, old: ContactRecord | None = None
) -> ContactRecord:
    """The record a successful change stores: the new value, *unverified* until
    its possession is proven (L3); the current record for a no-op change."""
    assert rec.target_kind is not None and rec.target_value is not None
    if old is not None and is_no_op(rec, old):
        return old
    return ContactRecord(
        user_id=rec.user_id, kind=rec.target_kind, value=rec.target_value, created_at=now
    )


def contact_changed_event(
    ctx: Context, rec: ChallengeRecord, old: ContactRecord | None, now: datetime
) -> AuditRecord | None:
    """The audit event of an applied change (masked old and new values)."""
    assert rec.target_kind is not None and rec.target_value is not None
    if is_no_op(rec, old):
        return None  # nothing changed: nothing to record
    kind, new = rec.target_kind, rec.target_value
    details = {"kind": kind.value, "new": mask(kind, new)}
    if old is not None:
        details["old"] = mask(kind, old.value)
    return event(
        ctx, Action.CONTACT_CHANGED, rec.user_id, actor_id=rec.actor_id, details=details, at=now
    )


def contact_change_notices(
    ctx: Context,
    rec: ChallengeRecord,
    old: ContactRecord | None,
    contacts: Sequence[ContactRecord],
    now: datetime,
) -> list[NoticeRecord | None]:
    """The notices of an applied change, queued with it: the old destination
    is told (S21), or, without one, the user's other verified channel
    (`contacts`: the user's contacts before the change)."""
    assert rec.target_kind is not None and rec.target_value is not None
    if is_no_op(rec, old):
        return []  # nothing changed: nothing to tell
    kind, new = rec.target_kind, rec.target_value
    detail = f"{kind} (now {mask(kind, new)})"
    destination: tuple[ContactKind, str] | None
    if old is not None:
        destination = (kind, old.value)
    else:
        destination = notice_target(ctx, contacts, exclude=new)
    return [notice(ctx, rec.user_id, "contact_changed", destination, now, detail=detail)]
