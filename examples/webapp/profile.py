"""My profile (seed 001's "Settings > My Profile"): personal data with phone and
email changes behind 2FA, the password change, second factors (L5), trusted
devices with revoke (L2) and the user's own activity log (L8)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

import mfakit
from mfakit.passwords import check_new_password

from . import texts
from .changes import start_change
from .security import (
    acting_actor,
    current_user,
    fresh_password_required,
    login_required,
    request_context,
    services,
    users,
)
from .users import User
from .wiring import TENANT

bp = Blueprint("profile", __name__, url_prefix="/profile")

EVENTS_PER_PAGE = 15


def _user() -> User:
    user = current_user()
    assert user is not None
    return user


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    user = _user()
    mfa = services().mfa
    factors = mfa.list_factors(user.id, tenant=TENANT)
    usable = [m for f in factors if f.verified for m in f.methods]
    return render_template(
        "profile.html",
        user=user,
        factors=factors,
        usable=usable,
        codes_left=mfa.backup_codes_left(user.id),
        devices=mfa.list_devices(user.id, tenant=TENANT),
        names=texts.METHOD_NAMES,
    )


@bp.post("/name")
@login_required
def change_name() -> ResponseReturnValue:
    name = request.form.get("name", "").strip()
    if not name or len(name) > 80:
        flash("Enter a name of at most 80 characters.", "error")
    else:
        users().set_name(_user().id, name)
        flash("Your name is saved.")
    return redirect(url_for("profile.index"))


@bp.post("/contact")
@login_required
def change_contact() -> ResponseReturnValue:
    """The phone or email "Update" buttons: 2FA through a verified channel."""
    return start_change(
        _user(),
        request.form.get("kind", ""),
        request.form.get("value", ""),
        acting_actor(),
        url_for("profile.index"),
    )


@bp.post("/password")
@login_required
def change_password() -> ResponseReturnValue:
    """Current / new / confirm (seed 001, L6); then mfakit revokes trusted
    devices, records the event and tells the user."""
    user = _user()
    if session.get("impersonator"):
        flash("An admin logged in as a user cannot change their password.", "error")
        return redirect(url_for("profile.index"))
    form = request.form
    current, new = form.get("current", ""), form.get("new", "")
    if not user.check_password(current):
        flash("Your current password is not right.", "error")
        return redirect(url_for("profile.index"))
    problems = check_new_password(
        current, new, form.get("confirm", ""), identifiers=[user.email, user.name]
    )
    if problems:
        for problem in problems:
            flash(texts.PASSWORD_PROBLEMS[problem], "error")
        return redirect(url_for("profile.index"))
    users().set_password(user.id, new)
    services().mfa.password_changed(acting_actor(), user.id, context=request_context())
    flash("Your password is changed. Trusted devices must enter a code again.")
    return redirect(url_for("profile.index"))


@bp.post("/preferred")
@login_required
def preferred_method() -> ResponseReturnValue:
    method = request.form.get("method") or None
    try:
        services().mfa.set_preferred_method(
            acting_actor(), _user().id, method, tenant=TENANT, context=request_context()
        )
    except (mfakit.InvalidInput, mfakit.ConflictingState, mfakit.NotPermitted) as exc:
        flash(f"{exc}.", "error")
    else:
        flash("Your sign-in method is saved.")
    return redirect(url_for("profile.index"))


@bp.post("/factors/<factor_id>/remove")
@fresh_password_required
def remove_factor(factor_id: str) -> ResponseReturnValue:
    user = _user()
    mfa = services().mfa
    try:
        if factor_id in ("phone", "email"):
            mfa.remove_contact(
                acting_actor(),
                user.id,
                factor_id,
                role=user.role,
                tenant=TENANT,
                context=request_context(),
            )
        else:
            mfa.remove_authenticator(
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
        flash("Removed.")
    return redirect(url_for("profile.index"))


@bp.post("/disable")
@fresh_password_required
def disable() -> ResponseReturnValue:
    user = _user()
    try:
        services().mfa.disable_two_factor(
            acting_actor(), user.id, role=user.role, tenant=TENANT, context=request_context()
        )
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except (mfakit.NotPermitted, mfakit.ConflictingState) as exc:
        flash(f"{exc}.", "error")
    else:
        flash("Two-step verification is off. Set up a factor to turn it on again.")
    return redirect(url_for("profile.index"))


@bp.post("/devices/<device_id>/revoke")
@login_required
def revoke_device(device_id: str) -> ResponseReturnValue:
    try:
        services().mfa.revoke_device(
            acting_actor(), _user().id, device_id, context=request_context()
        )
    except (mfakit.NotPermitted, mfakit.NotFound) as exc:
        flash(f"{exc}.", "error")
    else:
        flash("That device will be asked for a code at its next sign-in.")
    return redirect(url_for("profile.index"))


@bp.post("/devices/revoke-all")
@login_required
def revoke_all_devices() -> ResponseReturnValue:
    try:
        count = services().mfa.revoke_all_devices(
            acting_actor(), _user().id, context=request_context()
        )
    except mfakit.NotPermitted as exc:
        flash(f"{exc}.", "error")
    else:
        flash(f"{count} trusted devices revoked.")
    return redirect(url_for("profile.index"))


@bp.get("/activity")
@login_required
def activity() -> ResponseReturnValue:
    """The user's security events, newest first, a page at a time."""
    user = _user()
    before = request.args.get("before") or None
    try:
        events = services().mfa.list_events(user.id, limit=EVENTS_PER_PAGE, before=before)
    except mfakit.InvalidInput:
        abort(404)
    people = {u.id: u.name for u in users().all()}
    return render_template(
        "activity.html",
        events=events,
        people=people,
        actions=texts.ACTIONS,
        older=events[-1].id if len(events) == EVENTS_PER_PAGE else None,
        first_page=before is None,
    )
