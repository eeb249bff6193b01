"""The audit port (L8): record events, and list a user's recent ones."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..core.records import AuditRecord

__all__ = ["AsyncAuditLog", "AsyncAuditSink", "AuditLog", "AuditSink"]


@runtime_checkable
class AuditSink(Protocol):
    """Receives every security-relevant event.

    A sink may also have an `enabled() -> bool` method, asked before each
    event is built; returning False (like a logger below its level) skips it.
    """

    def record(self, event: AuditRecord) -> None: ...


@runtime_checkable
class AuditLog(AuditSink, Protocol):
    """A sink that can also list a user's events, newest first."""

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        """Events whose subject is `subject_id`, newest (last recorded) first.
        `before` is the id of an event: only events recorded before it are
        listed (for paging; an unknown id lists nothing)."""
        ...


@runtime_checkable
class AsyncAuditSink(Protocol):
    """The async twin of [`AuditSink`][mfakit.ports.audit.AuditSink]."""

    async def record(self, event: AuditRecord) -> None: ...


@runtime_checkable
class AsyncAuditLog(AsyncAuditSink, Protocol):
    """The async twin of [`AuditLog`][mfakit.ports.audit.AuditLog]."""

    async def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]: ...
