"""Retention: purging what no longer matters (S13 kept, storage kept small).

Challenges expire after minutes, send windows after at most a day, revoked
devices and used backup codes are history. Without a purge they pile up
forever (4,000 challenge rows after 400 days for one user). `purge_expired`
deletes them in bounded batches; a failure counter that is not zero is never
purged, so no retention lifts a lock-out (only an admin or the user's recovery
path does). Audit events kept in the store go after
`Policy.audit_retention_days` (the default policy's), if set.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import InvalidInput
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call
from .limits import BACKUP_FAILURES, FAILURES

__all__ = ["KEEP_NONZERO", "MIN_AGE", "audit_cutoff", "purge_expired"]

MIN_AGE = timedelta(days=1)
"""The longest window a counter can still matter in (sends, contact changes)."""
KEEP_NONZERO = (FAILURES, BACKUP_FAILURES)
"""Counters kept while not zero: consecutive failures, of the cheap factors and
of backup codes (a back-off or lock-out)."""


def audit_cutoff(ctx: Context) -> datetime | None:
    """Audit events recorded before this go (None: the policy keeps them forever)."""
    days = ctx.policy.audit_retention_days
    return None if days is None else ctx.clock.now() - timedelta(days=days)


def purge_expired(
    ctx: Context, *, older_than: object = MIN_AGE, batch: object = 1000
) -> UseCase[int]:
    """Delete what expired, was revoked or was used more than `older_than`
    ago, and audit events older than `Policy.audit_retention_days`, `batch`
    rows of each kind per transaction, until nothing is left; returns how many
    rows went."""
    if not isinstance(older_than, timedelta) or older_than < MIN_AGE:
        raise InvalidInput("older_than", "must be a timedelta of at least one day")
    if type(batch) is not int or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", "must be an int from 1 to 100000")
    before = ctx.clock.now() - older_than
    audit_before = audit_cutoff(ctx)
    total = 0
    while True:
        gone: int = yield from call(
            "store",
            Store.purge,
            before=before,
            keep_nonzero=KEEP_NONZERO,
            limit=batch,
            audit_before=audit_before,
        )
        total += gone
        if not gone:
            return total
