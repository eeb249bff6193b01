"""Django signals for mfakit's security events, for hosts that already use signals.

`security_event` is sent once for every audit event the store records
(every sign-in step, factor change, lock-out, device trusted or revoked...),
after the transaction that recorded it commits (`transaction.on_commit`):
a receiver never sees an event that was rolled back. The receiver gets
`event`, an [`mfakit.AuditRecord`][mfakit.AuditRecord] (never a secret, code or answer)
and `action`, its action as text:

```python
from django.dispatch import receiver
from mfakit.integrations.django.signals import security_event

@receiver(security_event)
def on_event(sender, event, action, **kwargs):
    if action == "account.locked":
        alert_the_desk(event.subject_id)
```

The sender is the `DjangoStore` when it keeps the audit trail
(`MFAKIT["AUDIT"]` left at `"store"`, the default). With another sink
(`"log"`, or a dotted path) the app wraps it in `SignallingAuditSink`: the
sink records the event, then the signal goes out, after the current
transaction commits (at once outside one); the sender is then the sink. A
receiver that raises is logged and does not break the others (`send_robust`).
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.dispatch import Signal

from ...core.records import AuditRecord
from ...ports.audit import AuditSink

__all__ = ["SignallingAuditSink", "security_event"]

security_event = Signal()
"""Sent after an mfakit security event is committed: `event`, `action`."""

log = logging.getLogger("mfakit.integrations.django")


def send_event(sender: object, event: AuditRecord) -> None:
    """Send `security_event` for `event` (the store calls it on commit)."""
    for receiver, result in security_event.send_robust(
        sender=sender, event=event, action=str(event.action)
    ):
        if isinstance(result, Exception):
            log.error(
                "a security_event receiver failed: %r raised %s",
                receiver,
                type(result).__name__,
            )


class SignallingAuditSink:
    """An audit sink that also sends `security_event` for every event it
    records: how the app keeps its signals when `MFAKIT["AUDIT"]` is not the
    store. It has no `enabled()`: a sink that would skip events (a logger
    below its level) still gets them, so no signal is lost."""

    def __init__(self, sink: AuditSink, *, using: str = "default") -> None:
        self.sink = sink
        self.using = using

    def __repr__(self) -> str:
        return f"SignallingAuditSink({self.sink!r})"

    def record(self, event: AuditRecord) -> None:
        self.sink.record(event)
        transaction.on_commit(functools.partial(send_event, self.sink, event), using=self.using)
