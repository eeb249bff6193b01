"""What the views, the middleware and the decorators share: the session's
keys, who is acting, the request facts, the texts in the request's language.

The session holds ids and timestamps, never a code or a secret (the fresh
backup codes excepted, for the few minutes their page is open; use a
server-side session engine, Django's default):

===========================  ===============================================
`mfakit.pending`           between the password and the second step: the
                             user's id, the challenge id, when the password
                             was checked, where to go next. Nobody is logged
                             in yet (no half-authenticated session).
`mfakit.auth`              how this session passed sign-in: `"mfa"` (a
                             second step), `"trusted"` (a trusted device),
                             `"none"` (no 2FA), `"enrol"` (the policy
                             requires 2FA and the user must set it up first)
`mfakit.verified_at`       when a factor was last proven in this session
`mfakit.reauth_at`         when the password was last typed
`mfakit.step_up`           the step-up grant (S32) of the last proof
`mfakit.step_up_challenge` the step-up challenge of this browser
`mfakit.enrol`             a pending phone or email proof
`mfakit.setup`             a pending authenticator setup's id
`mfakit.codes`             backup codes just issued, until shown and saved
===========================  ===============================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.translation import get_language

from ...core.actor import Actor
from ...core.audit import RequestContext
from ...core.messages import Texts
from ...errors import ConfigurationError
from .conf import get_mfa

__all__ = [
    "AUTH",
    "CODES",
    "ENROL",
    "PENDING",
    "REAUTH_AT",
    "SETUP",
    "STEP_UP",
    "STEP_UP_CHALLENGE",
    "TRUST_COOKIE",
    "VERIFIED_AT",
    "actor",
    "is_fresh",
    "mark_verified",
    "now",
    "request_context",
    "role_of",
    "safe_next",
    "texts",
    "user_id",
]

PENDING = "mfakit.pending"
AUTH = "mfakit.auth"
VERIFIED_AT = "mfakit.verified_at"
REAUTH_AT = "mfakit.reauth_at"
STEP_UP = "mfakit.step_up"
STEP_UP_CHALLENGE = "mfakit.step_up_challenge"
ENROL = "mfakit.enrol"
SETUP = "mfakit.setup"
CODES = "mfakit.codes"

TRUST_COOKIE = "mfakit_trust"
"""Holds mfakit's signed trust token: HttpOnly, SameSite=Lax, Secure over HTTPS."""

FRESHNESS_MARGIN = 30
"""Seconds before mfakit's re-authentication limit at which the pages already
ask again, so a form filled in slowly does not fail on submit."""


def user_id(user: Any) -> str:
    """mfakit's id for a Django user: its primary key as text."""
    return str(user.pk)


def texts(request: HttpRequest) -> Texts:
    """mfakit's sentences (refusals, tries left) in the request's language."""
    return get_mfa().messages.texts(get_language())


def request_context(request: HttpRequest) -> RequestContext:
    """The request facts mfakit records with every event (L8)."""
    agent = request.META.get("HTTP_USER_AGENT") or None
    return RequestContext(
        ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=agent[:512] if agent else None,
    )


def now() -> float:
    """mfakit's clock as a POSIX timestamp, for the session's times (so the
    session and mfakit agree, and a test's fake clock moves both)."""
    return get_mfa().clock.now().timestamp()


def _stamp(request: HttpRequest, key: str) -> datetime | None:
    value = request.session.get(key)
    if not isinstance(value, (int, float)):
        return None
    return datetime.fromtimestamp(value, timezone.utc)


def reauthenticated_at(request: HttpRequest) -> datetime | None:
    return _stamp(request, REAUTH_AT)


def verified_at(request: HttpRequest) -> datetime | None:
    return _stamp(request, VERIFIED_AT)


def is_fresh(request: HttpRequest) -> bool:
    """Whether the password was typed recently enough for a sensitive change."""
    at = reauthenticated_at(request)
    if at is None:
        return False
    limit = get_mfa().policy.reauth_max_age.total_seconds() - FRESHNESS_MARGIN
    return (get_mfa().clock.now() - at).total_seconds() < limit


def actor(request: HttpRequest) -> Actor:
    """The signed-in user acting on their own account, with this session's
    re-authentication time and step-up grant."""
    grant = request.session.get(STEP_UP)
    return Actor.user(
        user_id(request.user),
        reauthenticated_at=reauthenticated_at(request),
        step_up=grant if isinstance(grant, str) else None,
    )


def mark_verified(request: HttpRequest, grant: str | None) -> None:
    """A factor was just proven in this session: remember when, and the grant."""
    request.session[VERIFIED_AT] = now()
    if grant is not None:
        request.session[STEP_UP] = grant


def safe_next(request: HttpRequest, target: object, default: str | None = None) -> str:
    """A URL of this site to go on to, never another site."""
    fallback = default if default is not None else str(settings.LOGIN_REDIRECT_URL)
    if not isinstance(target, str) or not target:
        return fallback
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _default_role(user: Any) -> str | None:
    """The user's role for mfakit's `require_for_roles`: the first of their
    Django groups the policy requires 2FA for, else their first group."""
    groups = getattr(user, "groups", None)
    if groups is None:
        return None
    names: list[str] = sorted(str(n) for n in groups.values_list("name", flat=True))
    required = get_mfa().policy.require_for_roles
    for name in names:
        if name in required:
            return name
    return names[0] if names else None


def role_of(user: Any) -> str | None:
    """The user's role: `MFAKIT["ROLE"]` (a dotted path of a function of the
    user) if set, else their Django groups (see `_default_role`)."""
    path = getattr(settings, "MFAKIT", {}).get("ROLE")
    if path is None:
        return _default_role(user)
    function: Callable[[Any], object] = import_string(path)
    role: object = function(user)
    if role is None or isinstance(role, str):
        return role
    raise ConfigurationError("MFAKIT['ROLE'] must return a str or None")
