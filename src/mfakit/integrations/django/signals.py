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

The sender is the `DjangoStore`. Only events recorded by the
store are sent (`MFAKIT["AUDIT"]` left at `"store"`, the default). A
receiver that raises is logged and does not break the others (`send_robust`).
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

from ...core.records import AuditRecord

__all__ = ["security_event"]

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
