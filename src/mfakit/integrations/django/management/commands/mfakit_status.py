"""`manage.py mfakit_status USER`: a user's 2FA at a glance (no secret shown).

Their factors (masked destinations), backup codes left, trusted devices and,
when the store is the audit log, their last events.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....errors import MfaError
from ... import get_mfa

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Show a user's two-factor status: factors, backup codes, devices, recent events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's id, as mfakit knows it (str(user.pk))")
        parser.add_argument("--events", type=int, default=5, metavar="N")

    def handle(self, *args: Any, **options: Any) -> None:
        mfa = get_mfa()
        user = options["user"]
        try:
            factors = mfa.list_factors(user)
            codes = mfa.backup_codes_left(user)
            devices = mfa.list_devices(user)
            events = mfa.list_events(user, limit=options["events"]) if options["events"] else []
        except MfaError as exc:
            raise CommandError(str(exc)) from exc
        on = any(f.verified for f in factors)
        out = self.stdout
        out.write(f"User: {user}")
        out.write(f"Two-factor authentication: {'on' if on else 'off'}")
        out.write(f"Factors: {len(factors)}")
        for f in factors:
            state = "verified" if f.verified else "not verified"
            methods = ", ".join(m.value for m in f.methods)
            out.write(f"  - {f.kind} {f.label!r} ({state}; {methods})")
        out.write(f"Backup codes left: {codes}")
        active = sum(1 for d in devices if d.active)
        out.write(f"Trusted devices: {active} active, {len(devices)} listed")
        if events:
            out.write("Recent events:")
            for e in events:
                out.write(f"  - {e.at:%Y-%m-%d %H:%M:%S} {e.action} {e.outcome}")
