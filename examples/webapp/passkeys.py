"""Passkeys: "Add a passkey", "Sign in with a passkey" (button and autofill),
and the list with rename and remove.

The browser side is ``static/passkeys.js``. Each ceremony has two halves: the
script asks a ``.../begin`` endpoint for the WebAuthn options (JSON, the CSRF
token in ``X-CSRF-Token``), runs ``navigator.credentials.create`` or ``get``,
and then submits an ordinary form carrying the answer, so the finish is a normal
POST with a redirect and flashed messages, like every other page of the app.

The registration's ceremony id stays in the session (it is this user's); the
passwordless one travels in the form: it names no user, and mfakit takes each
ceremony once and checks the answer against its challenge. As the second step
of a password sign-in, the passkey is one more answer to the sign-in challenge
(``Challenge.passkey_options``, checked by ``verify`` in :mod:`.auth`).
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

import mfakit

from . import texts
from .security import (
    acting_actor,
    current_user,
    fresh_password_required,
    log_in,
    login_required,
    request_context,
    safe_next,
    services,
    users,
)
from .setup import enrolled
from .users import User
from .wiring import TENANT

bp = Blueprint("passkeys", __name__)

REGISTRATION = "passkey_registration"
"""The session key of this user's registration ceremony."""


def _enabled() -> None:
    if not services().passkeys:
        abort(404, "Passkeys are off: install mfakit[webauthn].")


def _user() -> User:
    user = current_user()
    assert user is not None
    return user


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _options(pending: mfakit.PasskeyOptions) -> dict[str, Any]:
    return {"ceremonyId": pending.ceremony_id, "options": json.loads(pending.options_json)}


# --- the list ---------------------------------------------------------------------------


@bp.get("/profile/passkeys")
@login_required
def index() -> ResponseReturnValue:
    _enabled()
    return render_template("passkeys.html", passkeys=services().mfa.list_passkeys(_user().id))


@bp.post("/profile/passkeys/<factor_id>/rename")
@login_required
def rename(factor_id: str) -> ResponseReturnValue:
    _enabled()
    try:
        renamed = services().mfa.rename_passkey(
            acting_actor(),
            _user().id,
            factor_id,
            request.form.get("name", ""),
            context=request_context(),
        )
    except mfakit.MfaError as exc:  # a bad or taken name, a passkey gone
        flash(f"{exc}.", "error")
    else:
        flash(f"Renamed to {renamed.name}.")
    return redirect(url_for("passkeys.index"))


@bp.post("/profile/passkeys/<factor_id>/remove")
@fresh_password_required
def remove(factor_id: str) -> ResponseReturnValue:
    """Removing a passkey needs the password again and a step-up (S32)."""
    _enabled()
    user = _user()
    try:
        services().mfa.remove_passkey(
            acting_actor(),
            user.id,
            factor_id,
            role=user.role,
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except (mfakit.NotPermitted, mfakit.NotFound, mfakit.ConflictingState) as exc:
        flash(f"{exc}.", "error")
    else:
        flash("Passkey removed.")
    return redirect(url_for("passkeys.index"))


# --- "Add a passkey" --------------------------------------------------------------------


@bp.post("/profile/passkeys/begin")
def register_begin() -> ResponseReturnValue:
    """The creation options, or where to go first (password, step-up)."""
    _enabled()
    user = current_user()
    if user is None:
        return jsonify(redirect=url_for("auth.login"))
    back = url_for("passkeys.index")
    body = _json_body()
    try:
        pending = services().mfa.begin_passkey_registration(
            acting_actor(),
            user.id,
            name=str(body.get("name") or "").strip() or "Passkey",
            account_name=user.email,
            display_name=user.name,
            passwordless=body.get("passwordless") is not False,
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.ReauthenticationRequired:
        return jsonify(redirect=url_for("auth.reauth", next=back))
    except mfakit.StepUpRequired:
        return jsonify(redirect=url_for("auth.step_up", next=back))
    except (mfakit.InvalidInput, mfakit.NotPermitted, mfakit.ConflictingState) as exc:
        return jsonify(error=f"{exc}.")
    session[REGISTRATION] = pending.ceremony_id
    return jsonify(_options(pending))


@bp.post("/profile/passkeys/finish")
@login_required
def register_finish() -> ResponseReturnValue:
    _enabled()
    ceremony_id = session.pop(REGISTRATION, None)
    if not isinstance(ceremony_id, str):
        flash("Start again: add the passkey once more.", "error")
        return redirect(url_for("passkeys.index"))
    try:
        added = services().mfa.finish_passkey_registration(
            acting_actor(),
            ceremony_id,
            request.form.get("credential", ""),
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.MfaError as exc:  # malformed input, step-up gone, ceremony gone
        flash(f"The passkey was not added: {exc}.", "error")
        return redirect(url_for("passkeys.index"))
    if not added.ok or added.passkey is None:
        flash(f"The passkey was not added: {texts.explain(added.reason)}", "error")
        return redirect(url_for("passkeys.index"))
    return enrolled(added.backup_codes, f"Your passkey “{added.passkey.name}”")


# --- "Sign in with a passkey" -----------------------------------------------------------


@bp.post("/login/passkey/begin")
def sign_in_begin() -> ResponseReturnValue:
    """Options for a sign-in with no username (``conditional``: the autofill)."""
    _enabled()
    pending = services().mfa.begin_passkey_sign_in(
        conditional=_json_body().get("conditional") is True,
        tenant=TENANT,
        context=request_context(),
    )
    return jsonify(_options(pending))


@bp.post("/login/passkey")
def sign_in_finish() -> ResponseReturnValue:
    _enabled()
    next_page = safe_next(request.form.get("next"), url_for("home"))
    try:
        signed = services().mfa.finish_passkey_sign_in(
            request.form.get("ceremony_id", ""),
            request.form.get("credential", ""),
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.MfaError:
        signed = mfakit.PasskeySignIn(ok=False)
    user = users().get(signed.user_id) if signed.ok and signed.user_id else None
    if user is None:
        flash("That passkey did not sign you in. Use your email and password.", "error")
        return redirect(url_for("auth.login", next=next_page, passkey="failed"))
    # No password was typed: sensitive changes ask for it first (reauth_at 0).
    log_in(user, password_at=0.0)
    flash("Signed in with your passkey.")
    return redirect(next_page)
