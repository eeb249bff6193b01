"""The unit of work of a use case: its writes and audit events, committed once.

A use case decides from one read, then calls `commit` with the writes
it decided (see `mfakit.core.writes`) and the audit events that describe
them. When the audit log is the store itself, the events join the batch: the
change and its record commit together or not at all. Otherwise they go to the
audit port right after the commit.

`commit` answers None when another request changed what the decision was
based on; the use case then reads again and decides again, pausing a little
longer each time (`backoff`) so that competing requests spread out
instead of colliding again.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.records import AuditRecord
from ..core.writes import RecordAudit, Write
from ..errors import StorageError
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call, pause
from .scope import record

__all__ = ["RACES", "backoff", "commit", "contended"]

RACES = 100
"""Tries of a unit of work before giving up with a StorageError."""
_MAX_PAUSE = 0.02


def commit(
    ctx: Context, writes: Sequence[Write], events: Sequence[AuditRecord | None] = ()
) -> UseCase[list[object] | None]:
    """Apply `writes` (and the events, when the store is the audit log) as
    one transaction; None if a condition failed and nothing was applied."""
    if ctx.audit_in_store:
        batch = [*writes, *(RecordAudit(e) for e in events if e is not None)]
        if not batch:
            return []
        results = yield from call("store", Store.apply, batch)
        return None if results is None else results[: len(writes)]
    applied: list[object] | None = []
    if writes:
        applied = yield from call("store", Store.apply, writes)
    if applied is not None:
        for e in events:
            if e is not None:
                yield from record(ctx, e)
    return applied


def backoff(ctx: Context, attempt: int) -> UseCase[None]:
    """Before try `attempt` (1, 2, ...): a random pause that doubles with each
    lost race, up to 20 ms, so concurrent requests for one user stop colliding."""
    ceiling = min(0.0005 * 2 ** min(attempt, 8), _MAX_PAUSE)
    jitter = int.from_bytes(ctx.random_bytes(2), "big") / 65536
    yield from pause(ceiling * jitter)


def contended(what: str) -> StorageError:
    """The error after `RACES` lost races in a row."""
    return StorageError(f"{what} is too contended; try again")
