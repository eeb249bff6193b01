"""`manage.py mfakit_unlock USER`: lift a user's second-step back-off or lock-out.

The operator at the shell acts as an admin (`--by`, default `cli`); the
unlock is recorded in the audit trail under that id.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....core.actor import Actor
from .....errors import MfaError
from ... import get_mfa

__all__ = ["Command"]


class Command(BaseCommand):
    help = "Lift a user's second-step back-off or lock-out (USER is the user's id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="the user's id, as mfakit knows it (str(user.pk))")
        parser.add_argument("--by", default="cli", help="the admin id recorded in the audit")

    def handle(self, *args: Any, **options: Any) -> None:
        mfa = get_mfa()
        try:
            admin = Actor.admin(options["by"], reauthenticated_at=mfa.clock.now())
            mfa.unlock_second_step(admin, options["user"])
        except MfaError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Unlocked the second step of {options['user']}.")
