"""The clock, the text-message outbox and an audit log the view tests plug into
``MFAKIT`` (``"CLOCK": "tests.django.doubles.CLOCK"``, ``"SMS":
"tests.django.doubles.OUTBOX"``, ``"AUDIT": "tests.django.doubles.AUDIT_LOG"``).

The clock starts at the real time, so Django's own expiries (sessions,
cookies) and mfakit's agree; the tests only move it forward.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mfakit.adapters.audit import MemoryAuditLog
from mfakit.adapters.outbox import Outbox
from mfakit.testing import FakeClock

CLOCK = FakeClock(datetime.now(timezone.utc).replace(microsecond=0))
OUTBOX = Outbox()
AUDIT_LOG = MemoryAuditLog()
