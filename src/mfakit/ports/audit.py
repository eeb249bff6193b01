"""The audit port (L8): record events, and list a user's recent ones."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from ..core.records import AuditRecord

__all__ = ["AsyncAuditLog", "AsyncAuditSink", "AuditLog", "AuditSink"]


@runtime_checkable
class AuditSink(Protocol):
    """Receives every security-relevant event.

    A sink may also have an ``enabled() -> bool`` method, asked before each
    event is built; returning False (like a logger below its level) skips it.
    """

    def record(self, event: AuditRecord) -> None: ...


@runtime_checkable
class AuditLog(AuditSink, Protocol):
    """A sink that can also list a user's events, newest first."""

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> list[AuditRecord]:
        """Events whose subject is ``subject_id``, newest first, older than
        ``before`` when given (for paging)."""
        ...


@runtime_checkable
class AsyncAuditSink(Protocol):
    """The async twin of :class:`AuditSink`."""

    async def record(self, event: AuditRecord) -> None: ...


@runtime_checkable
class AsyncAuditLog(AsyncAuditSink, Protocol):
    """The async twin of :class:`AuditLog`."""

    async def list_events(
        self, subject_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> list[AuditRecord]: ...
