"""Settings of the example project. Only the lines marked "mfakit" are
about two-step verification; the rest is a stock Django project on SQLite.

Environment: ``DJANGO_DB`` (the SQLite file, default ``db.sqlite3`` here),
``MFA_SECRET_KEY`` (mfakit's own key: ``python -c "import mfakit;
print(mfakit.generate_secret_key())"``; without it a development key is made
once and kept next to the database, which defeats encryption at rest: never
do that in production), ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = Path(os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-insecure-example-only-" + "x" * 20
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


def _mfa_secret_key() -> str:
    key = os.environ.get("MFA_SECRET_KEY")
    if key:
        return key
    path = DATABASE.with_name(DATABASE.name + ".mfa-dev-key")
    if not path.exists():
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mfakit.integrations.django",  # mfakit
    "demo_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mfakit.integrations.django.middleware.MfaMiddleware",  # mfakit
]

ROOT_URLCONF = "demo_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

WSGI_APPLICATION = "demo_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATABASE),
        "OPTIONS": {"timeout": 30},
    }
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True  # mfakit stores timezone-aware datetimes
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "mfakit:login"  # mfakit: @login_required pages sign in with the second step
LOGIN_REDIRECT_URL = "/"

# Every email (codes, security notices) is printed and kept for the dev inbox page:
# the default mailer of MAILERS on Django 6.1 and later, EMAIL_BACKEND before.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "demo_site.inbox.EmailBackend"}}
else:
    EMAIL_BACKEND = "demo_site.inbox.EmailBackend"
DEFAULT_FROM_EMAIL = "Demo Practice <security@practice.example>"

MFAKIT = {  # mfakit
    "ISSUER": "Demo Practice",
    "SECRET_KEYS": [_mfa_secret_key()],
    "POLICY": {
        "require_for_roles": frozenset({"staff"}),  # seed 002
        "trust_days": 14,
        "question_guards_alternatives": True,  # seed 000: "try another way" asks it first
    },
    "EMAIL": "mfakit.integrations.django.mail.DjangoEmailSender",
    "SMS": "demo_site.inbox.SMS",
    "VOICE": "demo_site.inbox.SMS",
}
if os.environ.get("MFAKIT_FAST_HASHING") == "1":  # the end-to-end tests only
    MFAKIT["HASHER"] = "mfakit.testing.fast_hasher"
