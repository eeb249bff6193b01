"""Sessions, CSRF, re-authentication and "who is acting": the host's side.

The session is Flask's signed cookie. It holds ids and timestamps, never a
code or a secret:

========================  ==================================================
``uid``                   the signed-in user (the member, while impersonating)
``impersonator``          the admin's id while they are "logged in as" ``uid``
``reauth_at``             when the acting person last typed their password
                          (a POSIX timestamp), for ``Actor(reauthenticated_at=)``
``step_up``               the step-up grant (S32) from the last sign-in or step-up
                          of this user, for ``Actor(step_up=)``; mfakit checks
                          its user, actor and age (Flask's cookie is signed,
                          not encrypted: a production app keeps it server-side)
``step_up_challenge``     the step-up challenge of this browser
``must_enrol``            the policy requires 2FA and the user has none yet
``pending_uid``           between the password and the second step
``challenge_id``          the sign-in challenge of this browser
``csrf``                  the per-session CSRF token
========================  ==================================================
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from markupsafe import Markup, escape

import mfakit

from .users import User, Users
from .wiring import Services

__all__ = [
    "acting_actor",
    "admin_required",
    "check_csrf",
    "csrf_field",
    "csrf_token",
    "current_user",
    "fresh_password_required",
    "impersonator",
    "is_fresh",
    "log_in",
    "login_required",
    "now",
    "request_context",
    "safe_next",
    "services",
    "step_up_grant",
    "users",
]

F = TypeVar("F", bound=Callable[..., Any])

FRESHNESS_MARGIN = 30
"""Seconds before mfakit's limit at which the app already asks again, so a
form filled in slowly does not fail on submit."""


def services() -> Services:
    return cast(Services, current_app.extensions["webapp"])


def users() -> Users:
    return cast(Users, current_app.extensions["webapp.users"])


def now() -> datetime:
    return datetime.now(timezone.utc)


def request_context() -> mfakit.RequestContext:
    """The request facts mfakit records with every event (L8)."""
    agent = request.user_agent.string or None
    return mfakit.RequestContext(ip=request.remote_addr, user_agent=agent[:512] if agent else None)


# --- CSRF ------------------------------------------------------------------------


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_field() -> Markup:
    """The hidden input every form carries (``{{ csrf_field() }}``)."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(csrf_token()))


def check_csrf() -> None:
    """Refuse a POST whose token does not match the session's (before every request).
    Provider callbacks (``/hooks/...``) carry the provider's signature instead;
    the passkey script's JSON requests send the token in ``X-CSRF-Token``."""
    if request.method != "POST" or (request.endpoint or "").startswith("hooks."):
        return
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
        abort(400, "The form expired. Go back, reload the page and try again.")


# --- who is signed in, who is acting ---------------------------------------------


def current_user() -> User | None:
    """The signed-in user (the member, while an admin is logged in as them)."""
    if "user" not in g:
        uid = session.get("uid")
        g.user = users().get(uid) if isinstance(uid, str) else None
        if uid is not None and g.user is None:
            session.clear()  # the account is gone
    return cast("User | None", g.user)


def impersonator() -> User | None:
    """The admin behind an impersonation, if any."""
    admin_id = session.get("impersonator")
    return users().get(admin_id) if isinstance(admin_id, str) else None


def reauthenticated_at() -> datetime | None:
    stamp = session.get("reauth_at")
    if not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(stamp, timezone.utc)


def is_fresh() -> bool:
    """Whether the password was typed recently enough for a sensitive change."""
    at = reauthenticated_at()
    if at is None:
        return False
    limit = services().mfa.policy.reauth_max_age.total_seconds() - FRESHNESS_MARGIN
    return (now() - at).total_seconds() < limit


def acting_actor() -> mfakit.Actor:
    """The mfakit ``Actor`` for the signed-in session: the user themselves, or
    an admin "logged in as" them (seed 001: such an admin may not set up the
    user's authenticator app)."""
    user = current_user()
    assert user is not None
    admin_id = session.get("impersonator")
    if isinstance(admin_id, str):
        return mfakit.Actor.impersonating(
            admin_id, user.id, reauthenticated_at=reauthenticated_at()
        )
    return mfakit.Actor.user(
        user.id, reauthenticated_at=reauthenticated_at(), step_up=step_up_grant()
    )


def step_up_grant() -> str | None:
    """The step-up grant this session holds (S32), if any."""
    grant = session.get("step_up")
    return grant if isinstance(grant, str) else None


def admin_actor() -> mfakit.Actor:
    """The signed-in admin acting for a team member from their own session."""
    user = current_user()
    assert user is not None and user.is_admin
    return mfakit.Actor.admin(user.id, reauthenticated_at=reauthenticated_at())


def log_in(user: User, *, password_at: float, must_enrol: bool = False) -> None:
    """Mark the session signed in. ``password_at`` is when the password was
    checked: it counts as a re-authentication for the next few minutes."""
    csrf = session.get("csrf")
    session.clear()  # a new session for a new identity
    if isinstance(csrf, str):
        session["csrf"] = csrf
    session["uid"] = user.id
    session["reauth_at"] = password_at
    if must_enrol:
        session["must_enrol"] = True


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to, never another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# --- decorators ------------------------------------------------------------------


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            flash("Please sign in.")
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def admin_required(view: F) -> F:
    """Team pages: a signed-in admin, acting from their own session."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        if not user.is_admin or session.get("impersonator"):
            abort(403, "Only a practice admin, signed in as themselves, may open this page.")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def fresh_password_required(view: F) -> F:
    """Sensitive pages ask for the password again (seed 002: "re-enter your
    password to confirm this action"); mfakit then gets ``reauthenticated_at``."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        if not is_fresh():
            if request.method == "GET":
                back = request.full_path
            else:
                back = safe_next(urlsplit(request.referrer or "").path or None, "/")
            return redirect(url_for("auth.reauth", next=back))
        return view(*args, **kwargs)

    return cast(F, wrapper)
