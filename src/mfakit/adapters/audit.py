"""Audit adapters: an in-memory log, and a standard-library ``logging`` sink.

The logging sink writes one record per event on the ``mfakit.audit`` logger
with the event's fields as structured ``extra`` attributes (``mfa_action``,
``mfa_subject``, ...), which JSON formatters pick up as they are.
"""

from __future__ import annotations

import logging
import threading

from ..core.records import AuditRecord

__all__ = ["LoggingAuditSink", "MemoryAuditLog"]


class MemoryAuditLog:
    """Keeps events in memory; implements :class:`~mfakit.ports.audit.AuditLog`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[AuditRecord] = []

    def __repr__(self) -> str:
        return f"MemoryAuditLog(events={len(self._events)})"

    def record(self, event: AuditRecord) -> None:
        with self._lock:
            self._events.append(event)

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: str | None = None
    ) -> list[AuditRecord]:
        with self._lock:
            events = self._events
            end = len(events)
            if before is not None:
                end = next((i for i, e in enumerate(events) if e.id == before), 0)
            out: list[AuditRecord] = []
            for event in reversed(events[:end]):  # newest (last recorded) first
                if event.subject_id == subject_id:
                    out.append(event)
                    if len(out) == limit:
                        break
            return out

    @property
    def events(self) -> list[AuditRecord]:
        """Every event, oldest first (for tests)."""
        with self._lock:
            return list(self._events)


class LoggingAuditSink:
    """Writes each event to a :mod:`logging` logger (default ``mfakit.audit``)."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self._logger = logger if logger is not None else logging.getLogger("mfakit.audit")
        self._level = level

    def __repr__(self) -> str:
        return f"LoggingAuditSink(logger={self._logger.name!r})"

    def enabled(self) -> bool:
        """Whether the logger would emit records now (mfakit skips building
        events nobody listens to, as :mod:`logging` itself does)."""
        return self._logger.isEnabledFor(self._level)

    def record(self, event: AuditRecord) -> None:
        if not self._logger.isEnabledFor(self._level):
            return
        extra = {
            "mfa_id": event.id,
            "mfa_at": event.at.isoformat(),
            "mfa_action": event.action,
            "mfa_subject": event.subject_id,
            "mfa_actor": event.actor_id,
            "mfa_method": event.method,
            "mfa_outcome": event.outcome,
            "mfa_reason": event.reason,
            "mfa_ip": event.ip,
            "mfa_user_agent": event.user_agent,
            "mfa_tenant": event.tenant,
            "mfa_details": dict(event.details),
        }
        self._logger.log(
            self._level,
            "%s %s subject=%s actor=%s",
            event.action,
            event.outcome,
            event.subject_id,
            event.actor_id,
            extra=extra,
        )
