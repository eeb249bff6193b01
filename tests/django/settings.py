"""Django settings for the integration's tests (also used by the racing processes).

``build()`` returns the settings as keyword arguments for
``settings.configure``: a SQLite file as the ``default`` database and, when
``MFAKIT_TEST_POSTGRES_URL`` is set, PostgreSQL as the ``pg`` database. The
tests' databases are made (and dropped) by pytest-django.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

PG_ENV = "MFAKIT_TEST_POSTGRES_URL"
MFAKIT_ONLY = ["mfakit.integrations.django"]
"""``available_apps`` of the tests that need only mfakit's tables: flushing
the other apps' tables (and re-creating permissions) after each test with real
transactions would multiply their run time."""
MFAKIT_KEY = "9604bf27daa4958067152b47976f27237fe9b5af660a03beae4e3645f59a3f65"


def postgres_database(url: str) -> dict[str, Any]:
    """A Django ``DATABASES`` entry for a ``postgresql[+driver]://`` URL."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


def _mail_settings() -> dict[str, Any]:
    """The test outbox as the default mailer: ``MAILERS`` on Django 6.1 and
    later (where ``EMAIL_BACKEND`` is deprecated), ``EMAIL_BACKEND`` before.
    A second mailer, ``"alerts"``, is for the tests of ``mailer=``."""
    import django

    if django.VERSION >= (6, 1):
        return {"MAILERS": {"default": {"BACKEND": LOCMEM}, "alerts": {"BACKEND": LOCMEM}}}
    return {"EMAIL_BACKEND": LOCMEM}


def build(databases: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings; ``databases`` replaces the default ones (the racers pass
    the test databases the parent made)."""
    return {
        "DEBUG": False,
        "SECRET_KEY": "django-test-secret-key-not-for-mfakit",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DATABASES": databases if databases is not None else _databases(),
        "INSTALLED_APPS": [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "mfakit.integrations.django",
        ],
        "MIDDLEWARE": [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "mfakit.integrations.django.middleware.MfaMiddleware",
        ],
        "ROOT_URLCONF": "tests.django.urls",
        "TEMPLATES": [
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
        ],
        "LOGIN_URL": "mfakit:login",
        "LOGIN_REDIRECT_URL": "/home/",
        # Cheap password hashing: the tests check mfakit, not Django's hasher.
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        **_mail_settings(),
        "DEFAULT_FROM_EMAIL": "security@example.org",
        "MFAKIT": {"ISSUER": "Django Test", "SECRET_KEYS": [MFAKIT_KEY]},
    }


def _databases() -> dict[str, Any]:
    sqlite_dir = Path(tempfile.mkdtemp(prefix="mfakit-django-"))
    databases: dict[str, Any] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_dir / "app.db"),
            # A file, not the shared-cache memory database Django tests use by
            # default: that one answers concurrent writers with "table is
            # locked" at once instead of waiting, so threads could not race.
            "TEST": {"NAME": str(sqlite_dir / "test.db")},
            "OPTIONS": {"timeout": 30},
        }
    }
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        databases["pg"] = postgres_database(url)
        # A test database of this run's own: test runs sharing one server (several
        # checkouts at once) would otherwise create and drop the same one.
        databases["pg"]["TEST"] = {"NAME": f"test_{databases['pg']['NAME']}_{os.getpid()}"}
    return databases
