"""Django system checks (`manage.py check`) for a project using the app.

* `mfakit.E001`: `MfaMiddleware` stands before Django's
  `AuthenticationMiddleware` or `MessageMiddleware`: it needs both.
* `mfakit.W001`: the session engine keeps sessions in the browser's cookie
  (`signed_cookies`): signed, not encrypted, so the backup codes the pages
  show once would travel in it. Use a server-side engine (Django's default).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

__all__ = ["check_middleware", "check_sessions"]

OURS = "mfakit.integrations.django.middleware.MfaMiddleware"
NEEDED = (
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)


@register()
def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if OURS not in middleware:
        return []
    ours = middleware.index(OURS)
    return [
        Error(
            f"MfaMiddleware must come after {needed}",
            hint=f"Move {OURS!r} below {needed!r} in MIDDLEWARE.",
            id="mfakit.E001",
        )
        for needed in NEEDED
        if needed not in middleware[:ours]
    ]


@register()
def check_sessions(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    engine = getattr(settings, "SESSION_ENGINE", "")
    if engine != "django.contrib.sessions.backends.signed_cookies":
        return []
    return [
        Warning(
            "mfakit's pages keep fresh backup codes in the session for a few minutes, "
            "and signed-cookie sessions are readable by the browser",
            hint="Use a server-side SESSION_ENGINE (the database, cache or files).",
            id="mfakit.W001",
        )
    ]
