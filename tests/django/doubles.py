"""The clock, the text-message outbox and an audit log the view tests plug into
``MFAKIT`` (``"CLOCK": "tests.django.doubles.CLOCK"``, ``"SMS":
"tests.django.doubles.OUTBOX"``, ``"AUDIT": "tests.django.doubles.AUDIT_LOG"``).

The clock starts at the real time, so Django's own expiries (sessions,
cookies) and mfakit's agree; the tests only move it forward.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from mfakit.adapters.audit import MemoryAuditLog
from mfakit.adapters.outbox import Outbox
from mfakit.testing import FakeClock

CLOCK = FakeClock(datetime.now(timezone.utc).replace(microsecond=0))
OUTBOX = Outbox()
AUDIT_LOG = MemoryAuditLog()


COUNTING_BACKEND = "tests.django.doubles.CountingBackend"


class CountingBackend:
    """A Django email backend of the tests' own, built with ``label``: it
    records what it was given, and sends nothing when its label is ``"drop"``
    (as a backend with ``fail_silently`` does when it fails)."""

    sent: ClassVar[list[tuple[str, list[str]]]] = []

    def __init__(self, *, label: str) -> None:
        self.label = label

    def send_messages(self, messages: list[Any]) -> int:
        if self.label == "drop":
            return 0
        for message in messages:
            CountingBackend.sent.append((self.label, list(message.to)))
        return len(messages)
