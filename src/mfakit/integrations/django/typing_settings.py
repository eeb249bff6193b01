"""Minimal Django settings for type-checking this package (django-stubs' mypy
plugin loads them); never used at run time."""

SECRET_KEY = "only-for-type-checking"  # noqa: S105 (not a secret: no app runs on it)
INSTALLED_APPS = ["mfakit.integrations.django"]
USE_TZ = True
