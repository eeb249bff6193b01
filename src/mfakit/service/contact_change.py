"""What a contact change does once approved (L4): the new value stored
unverified, the old destination told, trusted devices revoked per policy."""

from __future__ import annotations

from datetime import datetime

from ..core.audit import Action
from ..core.contacts import mask
from ..core.records import AuditRecord, ChallengeRecord, ContactRecord
from .context import Context
from .effects import UseCase
from .scope import event, notify, notify_destination

__all__ = ["contact_change_notices", "contact_changed_event", "contact_for_change"]


def contact_for_change(rec: ChallengeRecord, now: datetime) -> ContactRecord:
    """The record a successful change stores: the new value, *unverified* until
    its possession is proven (L3)."""
    assert rec.target_kind is not None and rec.target_value is not None
    return ContactRecord(
        user_id=rec.user_id, kind=rec.target_kind, value=rec.target_value, created_at=now
    )


def contact_changed_event(
    ctx: Context, rec: ChallengeRecord, old: ContactRecord | None, now: datetime
) -> AuditRecord | None:
    """The audit event of an applied change (masked old and new values)."""
    assert rec.target_kind is not None and rec.target_value is not None
    kind, new = rec.target_kind, rec.target_value
    details = {"kind": kind.value, "new": mask(kind, new)}
    if old is not None:
        details["old"] = mask(kind, old.value)
    return event(
        ctx, Action.CONTACT_CHANGED, rec.user_id, actor_id=rec.actor_id, details=details, at=now
    )


def contact_change_notices(
    ctx: Context, rec: ChallengeRecord, old: ContactRecord | None, now: datetime
) -> UseCase[None]:
    """After the change committed: the old destination is told (S21), or,
    without one, the user's other verified channel."""
    assert rec.target_kind is not None and rec.target_value is not None
    kind, new = rec.target_kind, rec.target_value
    detail = f"{kind} (now {mask(kind, new)})"
    if old is not None:
        yield from notify_destination(
            ctx, rec.user_id, "contact_changed", (kind, old.value), detail=detail
        )
    else:
        yield from notify(ctx, rec.user_id, "contact_changed", detail=detail, exclude=new)
