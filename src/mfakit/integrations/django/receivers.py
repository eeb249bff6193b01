"""What the app hears from Django: a user's password changed.

A password change (Django's password change and reset views, the admin's
form, `manage.py changepassword`, or your own `user.set_password(...)`
then `user.save()`) calls [`MFA.password_changed`][mfakit.MFA.password_changed]:
every trusted device of the user is revoked, older trust tokens go stale,
the change is recorded (`password.changed`) and the user is told through a
verified channel (S30, S21). 2FA itself stays on (S23). Do not call
`password_changed` yourself for these changes as well.

Django has no signal of its own for it. `AbstractBaseUser.set_password`
keeps the new password in `user._password` until the save after it, where
Django hands it to the password validators' `password_changed` hooks; the
app's `post_save` receiver looks at the same attribute, so it sees exactly
the saves Django's validators see: not a hash upgraded at sign-in (Django
clears it for those), nor a save of other fields.

mfakit's writes run in the saving code's transaction when there is one (a
savepoint: the password and the devices change together or not at all).
The event names the user as its actor: a receiver cannot know who changed
the password.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save

from ...core.actor import Actor
from .conf import get_mfa

__all__ = ["connect", "password_saved"]

DISPATCH_UID = "mfakit.integrations.django.receivers.password_saved"


def password_saved(
    sender: type[Any],
    instance: Any,
    created: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """`post_save` of the user model: a saved new password tells mfakit."""
    if created or getattr(instance, "_password", None) is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    user_id = str(instance.pk)
    get_mfa().password_changed(Actor.user(user_id), user_id)


def connect() -> None:
    """Listen to saves of `AUTH_USER_MODEL` (the app's `ready` calls it)."""
    post_save.connect(password_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid=DISPATCH_UID)
