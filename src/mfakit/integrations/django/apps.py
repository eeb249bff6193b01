"""The Django app config: add `"mfakit.integrations.django"` to `INSTALLED_APPS`."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["MfakitConfig"]


class MfakitConfig(AppConfig):
    """mfakit's models (app label `mfakit`, tables `mfakit_*`) and commands."""

    name = "mfakit.integrations.django"
    label = "mfakit"
    verbose_name = "Two-factor authentication (mfakit)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # get_mfa() forgets its cached MFA when a test changes MFAKIT.
        from . import checks, conf, receivers

        conf.connect_signals()
        receivers.connect()  # a password change ends trusted devices
        del checks  # imported for its system checks (registered on import)
