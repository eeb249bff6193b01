"""``manage.py demo_seed``: the practice's demo accounts (idempotent).

* ``owner`` (groups ``staff``; superuser): the practice owner, who manages
  the team in the admin;
* ``sam`` (group ``staff``): staff must set up two-step verification at
  their next sign-in (the policy's ``require_for_roles``);
* ``casey`` (no group): a client, for whom it is optional.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

PASSWORD = "demo-practice-2fa"
ACCOUNTS = (
    ("owner", "owner@practice.example", True, ("staff",)),
    ("sam", "sam@practice.example", False, ("staff",)),
    ("casey", "casey@practice.example", False, ()),
)


class Command(BaseCommand):
    help = "Create the demo accounts (password demo-practice-2fa)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, email, admin, groups in ACCOUNTS:
            user, made = User.objects.get_or_create(username=name, defaults={"email": email})
            if made:
                user.set_password(PASSWORD)
                user.is_staff = user.is_superuser = admin
                user.save()
            for group in groups:
                user.groups.add(Group.objects.get_or_create(name=group)[0])
            self.stdout.write(f"{name:<6} {email:<24} {'/'.join(groups) or 'client'}")
        self.stdout.write(f"password: {PASSWORD}")
