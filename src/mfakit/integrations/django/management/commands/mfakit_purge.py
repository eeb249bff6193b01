"""`manage.py mfakit_purge`: delete what no longer matters (run it daily).

Expired challenges, stale counters, revoked or expired trusted devices, used
backup codes and abandoned authenticator setups older than `--older-than-days`
(default 1), in batches; a lock-out is never lifted by it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....errors import MfaError
from ... import get_mfa

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Delete mfakit's expired challenges, stale counters, old devices and used codes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-days", type=int, default=1, metavar="DAYS")
        parser.add_argument("--batch", type=int, default=1000, metavar="ROWS")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            gone = get_mfa().purge_expired(
                older_than=timedelta(days=options["older_than_days"]), batch=options["batch"]
            )
        except MfaError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Purged {gone} rows.")
