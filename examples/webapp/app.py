"""The app factory: configuration, mfakit wiring, blueprints, guards.

``create_app(config)`` builds a complete app; ``config`` overrides
:data:`DEFAULTS`. The tests use it with a temporary database, cheap hashing and
a short resend cooldown.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

import mfakit

from . import auth, changes, hooks, passkeys, profile, setup, team, texts
from .security import (
    check_csrf,
    csrf_field,
    csrf_token,
    current_user,
    impersonator,
    login_required,
    safe_next,
    services,
)
from .users import User, Users
from .wiring import build_mfa

__all__ = ["DEFAULTS", "DEMO_PASSWORD", "create_app"]

DEFAULTS: dict[str, Any] = {
    "DATABASE": "mfakit-demo.db",
    "MFA_SECRET_KEY": None,  # else $MFA_SECRET_KEY, else a development key (see below)
    "SECRET_KEY": None,  # Flask's session key; else $FLASK_SECRET_KEY, else random
    "ISSUER": "Demo Practice",  # the name in authenticator apps and messages
    "ECHO_MESSAGES": True,  # print every SMS, call and email to the console
    "FAST_HASHING": False,  # mfakit.testing.fast_hasher(): for the test suite only
    "RESEND_COOLDOWN": timedelta(seconds=30),
    "SECURE_COOKIES": False,  # True behind HTTPS (always in production)
    "SEED_DEMO": True,  # create the demo practice on an empty database
    "DEV_INBOX": True,  # the /dev/inbox page: every message sent, codes in clear
    "PASSKEY_RP_ID": "localhost",  # your domain in production
    "PASSKEY_ORIGINS": None,  # the pages' exact origins; else http://localhost:8000
}

DEMO_PASSWORD = "demo-practice-2fa"

DEMO_ACCOUNTS = (
    ("Olivia Owner", "owner@clinic.example", "staff", True),
    ("Sam Staff", "sam@clinic.example", "staff", False),
    ("Casey Client", "casey@clinic.example", "client", False),
)

DEV_KEY_SETTING = "dev_mfa_secret_key"


def _mfa_secret_key(config: Mapping[str, Any], store: Users) -> str:
    """``MFA_SECRET_KEY`` from the config or the environment. Without one, a
    development key is generated once and kept in the database file, so
    authenticator apps keep working across restarts; that defeats encryption
    at rest, so never run like this in production."""
    key = config.get("MFA_SECRET_KEY") or os.environ.get("MFA_SECRET_KEY")
    if key:
        return str(key)
    key = store.setting(DEV_KEY_SETTING, "")
    if not key:
        key = mfakit.generate_secret_key()
        store.set_setting(DEV_KEY_SETTING, key)
    print(
        "warning: MFA_SECRET_KEY is not set; using a development key generated and kept"
        f" in {config['DATABASE']}. In production set MFA_SECRET_KEY"
        " (python -c 'import mfakit; print(mfakit.generate_secret_key())').",
        file=sys.stderr,
    )
    return key


def _seed_demo(store: Users) -> list[User]:
    if store.count():
        return []
    return [
        store.add(email=email, name=name, password=DEMO_PASSWORD, role=role, is_admin=admin)
        for name, email, role, admin in DEMO_ACCOUNTS
    ]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = {**DEFAULTS, **(config or {})}
    app = Flask(__name__)
    app.config.update(settings)
    app.config["SECRET_KEY"] = (
        settings["SECRET_KEY"] or os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    )
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings["SECURE_COOKIES"]),
    )

    store = Users(str(settings["DATABASE"]))
    requirement = store.setting(team.REQUIREMENT_SETTING, "off")
    app.extensions["webapp.users"] = store
    app.extensions["webapp"] = build_mfa(
        settings, mfa_secret_key=_mfa_secret_key(settings, store), requirement=requirement
    )
    app.extensions["webapp.fresh_codes"] = setup.FreshCodes()
    app.extensions["webapp.demo"] = _seed_demo(store) if settings["SEED_DEMO"] else []

    for blueprint in (auth.bp, setup.bp, changes.bp, profile.bp, passkeys.bp, team.bp, hooks.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/", "home", home)
    app.add_url_rule("/dev/inbox", "dev_inbox", dev_inbox)
    app.before_request(check_csrf)
    app.before_request(enforce_enrolment)
    app.register_error_handler(mfakit.ReauthenticationRequired, reauthentication_required)
    app.register_error_handler(mfakit.StepUpRequired, step_up_required)
    app.register_error_handler(HTTPException, http_error)
    app.jinja_env.globals.update(
        csrf_field=csrf_field,
        csrf_token=csrf_token,
        current_user=current_user,
        impersonator=impersonator,
        method_names=texts.METHOD_NAMES,
        prompts=texts.PROMPTS,
        other_ways=texts.OTHER_WAYS,
    )
    app.jinja_env.filters["when"] = when
    app.context_processor(lambda: {"passkeys_on": services().passkeys})
    return app


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


# --- guards and errors -------------------------------------------------------------

_OPEN_DURING_ENROLMENT = {
    "auth.logout",
    "auth.reauth",
    "dev_inbox",
    "static",
    "passkeys.index",
    "passkeys.register_begin",
    "passkeys.register_finish",
}


def enforce_enrolment() -> ResponseReturnValue | None:
    """While the policy requires 2FA and the user has none (seed 002: "on their
    next sign-in"), only the setup pages are open."""
    if not session.get("must_enrol"):
        return None
    endpoint = request.endpoint or ""
    if endpoint.startswith("setup.") or endpoint in _OPEN_DURING_ENROLMENT:
        return None
    user = current_user()
    if user is None:
        return None
    if any(f.verified for f in services().mfa.list_factors(user.id)):
        session.pop("must_enrol", None)
        return None
    return redirect(url_for("setup.index"))  # the page says why


def reauthentication_required(exc: mfakit.ReauthenticationRequired) -> ResponseReturnValue:
    """mfakit found the password too old (a backstop for the page decorators)."""
    back = request.full_path if request.method == "GET" else request.referrer
    return redirect(url_for("auth.reauth", next=safe_next(back, "/")))


def step_up_required(exc: mfakit.StepUpRequired) -> ResponseReturnValue:
    """The change removes or binds a factor: prove one first (S32), then come
    back to the page the form was on (its data is not kept: submit it again)."""
    if request.method == "GET":
        back: str | None = request.full_path
    else:
        back = urlsplit(request.referrer or "").path or None
    return redirect(url_for("auth.step_up", next=safe_next(back, "/")))


def http_error(exc: HTTPException) -> ResponseReturnValue:
    if exc.code is not None and 300 <= exc.code < 400:
        return exc  # abort(redirect(...))
    return render_template("error.html", error=exc), exc.code or 500


# --- pages that are not flows ------------------------------------------------------


@login_required
def home() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    mfa = services().mfa
    factors = mfa.list_factors(user.id)
    return render_template(
        "home.html",
        user=user,
        factors=[f for f in factors if f.verified],
        codes_left=mfa.backup_codes_left(user.id),
        low_at=mfa.policy.backup_codes_low_at,
    )


def dev_inbox() -> ResponseReturnValue:
    """Everything the app "sent": a newcomer can try SMS, voice and email flows
    without a provider account. Development only: it shows codes in clear."""
    if not current_app.config["DEV_INBOX"]:
        abort(404)
    messages = list(reversed(services().outbox.messages))
    statuses = list(reversed(services().statuses.statuses))
    return render_template("inbox.html", messages=messages, statuses=statuses)
