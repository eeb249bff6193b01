"""Audit adapters: an in-memory log, and a standard-library `logging` sink.

The logging sink writes one record per event on the `mfakit.audit` logger
with the event's fields as structured `extra` attributes (`mfa_action`,
`mfa_subject`, ...), which JSON formatters pick up as they are: refusals,
failures and security changes at WARNING (shown by Python's default logging
configuration), routine events at INFO.
"""

from __future__ import annotations

import logging
import threading

from ..core.audit import Action, Outcome
from ..core.records import AuditRecord

__all__ = ["SECURITY_ACTIONS", "LoggingAuditSink", "MemoryAuditLog", "is_warning"]


class MemoryAuditLog:
    """Keeps events in memory; implements [`AuditLog`][mfakit.ports.audit.AuditLog]."""

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


SECURITY_ACTIONS = frozenset(
    {
        Action.CODE_REPLAYED,
        Action.CHALLENGE_LOCKED,
        Action.ACCOUNT_BACKOFF,
        Action.ACCOUNT_LOCKED,
        Action.ACCOUNT_UNLOCKED,
        Action.TRUST_REJECTED,
        Action.FACTOR_ADDED,
        Action.FACTOR_REMOVED,
        Action.BACKUP_CODES_ISSUED,
        Action.BACKUP_CODE_USED,
        Action.QUESTION_SET,
        Action.DEVICE_REVOKED,
        Action.DEVICES_REVOKED,
        Action.CONTACT_CHANGED,
        Action.PASSWORD_CHANGED,
        Action.TWO_FACTOR_DISABLED,
        Action.NOTICE_FAILED,
        Action.ACCOUNT_RECOVERED,
        Action.REMOVED_WITHOUT_NOTICE,
    }
)
"""Events logged at the warning level whatever their outcome: attacks seen
(replays, lock-outs, rejected trust tokens) and changes to a user's security."""


ROUTINE_REFUSALS = frozenset({Action.ENROLLMENT_REQUIRED})
"""Refusals that are a normal step of a flow (a user asked to set up 2FA): INFO."""


_SUCCESS = Outcome.SUCCESS.value


def _warns(action: str, outcome: str) -> bool:
    if action in ROUTINE_REFUSALS:
        return False
    return outcome != _SUCCESS or action in SECURITY_ACTIONS


def is_warning(event: AuditRecord) -> bool:
    """Whether `event` is a refusal, a failure or a security change."""
    return _warns(event.action, event.outcome)


class LoggingAuditSink:
    """Writes each event to a `logging` logger (default `mfakit.audit`).

    Refusals, failures and security changes (`SECURITY_ACTIONS`) go at
    `warning_level` (`WARNING`), which Python's default configuration shows;
    routine events (a second step passed, a code sent) at `level` (`INFO`).
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = logging.INFO,
        *,
        warning_level: int = logging.WARNING,
    ) -> None:
        self._logger = logger if logger is not None else logging.getLogger("mfakit.audit")
        self._level = level
        self._warning_level = warning_level

    def __repr__(self) -> str:
        return f"LoggingAuditSink(logger={self._logger.name!r})"

    def enabled(self) -> bool:
        """Whether the logger would emit some records now (mfakit skips building
        events nobody listens to, as `logging` itself does)."""
        return self._logger.isEnabledFor(self._level) or self._logger.isEnabledFor(
            self._warning_level
        )

    def wants(self, action: str, outcome: str) -> bool:
        """Whether an event of `action` with `outcome` would be logged now
        (so mfakit builds only the events that reach the log)."""
        level = self._warning_level if _warns(action, outcome) else self._level
        return self._logger.isEnabledFor(level)

    def record(self, event: AuditRecord) -> None:
        level = self._warning_level if is_warning(event) else self._level
        if not self._logger.isEnabledFor(level):
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
            level,
            "%s %s subject=%s actor=%s",
            event.action,
            event.outcome,
            event.subject_id,
            event.actor_id,
            extra=extra,
        )
