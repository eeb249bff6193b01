"""Time (P3): one injected clock decides every expiry, window and step (S6)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Tells the current time as a timezone-aware UTC `datetime`."""

    def now(self) -> datetime: ...


class SystemClock:
    """The server's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"
