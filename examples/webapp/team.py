"""Team and Practice settings, for the practice's admins.

* Team (seed 001): an admin changes a team member's phone or email. mfakit gets
  ``Actor.admin(...)`` and sends the code to the *member's* verified channel;
  both are recorded. An admin may also "log in as" a member
  (``Actor.impersonating``): mfakit then refuses what only the member may do,
  such as setting up their authenticator app.
* Practice settings (seed 002): require two-step verification for staff, or
  staff and clients; enforced at each user's next sign-in.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

import mfakit
from mfakit.core.contacts import normalize_email

from .changes import start_change
from .security import (
    admin_actor,
    current_user,
    fresh_password_required,
    login_required,
    request_context,
    services,
    users,
)
from .users import ROLES, EmailTaken, User
from .wiring import REQUIREMENTS, TENANT, apply_requirement

bp = Blueprint("team", __name__)

REQUIREMENT_SETTING = "require_two_factor"


def _admin() -> User:
    user = current_user()
    if user is None or not user.is_admin or session.get("impersonator"):
        abort(403, "Only a practice admin, signed in as themselves, may open this page.")
    return user


def _member(user_id: str) -> User:
    member = users().get(user_id)
    if member is None:
        abort(404)
    return member


@bp.get("/team")
@login_required
def index() -> ResponseReturnValue:
    _admin()
    mfa = services().mfa
    members = users().all()
    two_factor = {
        m.id: any(f.verified for f in mfa.list_factors(m.id, tenant=TENANT)) for m in members
    }
    return render_template("team.html", members=members, two_factor=two_factor, roles=ROLES)


@bp.post("/team/add")
@login_required
def add_member() -> ResponseReturnValue:
    """Add a team member with a temporary password (shown once to the admin)."""
    _admin()
    form = request.form
    name = form.get("name", "").strip()
    role = form.get("role", "staff")
    try:
        email = normalize_email(form.get("email", ""))
    except mfakit.InvalidInput:
        flash("Enter an email address like name@example.org.", "error")
        return redirect(url_for("team.index"))
    if not name or role not in ROLES:
        flash("Enter a name and choose a role.", "error")
        return redirect(url_for("team.index"))
    password = form.get("password", "") or secrets.token_urlsafe(9)
    try:
        member = users().add(email=email, name=name, password=password, role=role)
    except EmailTaken:
        flash("An account with this email already exists.", "error")
        return redirect(url_for("team.index"))
    flash(f"{member.name} can now sign in as {member.email} with the password {password}.")
    return redirect(url_for("team.index"))


@bp.get("/team/<user_id>")
@login_required
def member(user_id: str) -> ResponseReturnValue:
    _admin()
    subject = _member(user_id)
    factors = services().mfa.list_factors(subject.id, tenant=TENANT)
    return render_template("member.html", member=subject, factors=factors)


@bp.post("/team/<user_id>/contact")
@fresh_password_required
def change_contact(user_id: str) -> ResponseReturnValue:
    """The admin starts the change; the code goes to the member's channels."""
    _admin()
    subject = _member(user_id)
    return start_change(
        subject,
        request.form.get("kind", ""),
        request.form.get("value", ""),
        admin_actor(),
        url_for("team.member", user_id=subject.id),
    )


@bp.post("/team/<user_id>/unlock")
@fresh_password_required
def unlock(user_id: str) -> ResponseReturnValue:
    _admin()
    subject = _member(user_id)
    try:
        services().mfa.unlock_second_step(
            admin_actor(), subject.id, tenant=TENANT, context=request_context()
        )
    except mfakit.NotPermitted as exc:
        flash(f"Not allowed: {exc}.", "error")
    else:
        flash(f"{subject.name} may try two-step verification again.")
    return redirect(url_for("team.member", user_id=subject.id))


@bp.post("/team/<user_id>/impersonate")
@fresh_password_required
def impersonate(user_id: str) -> ResponseReturnValue:
    """Seed 001: "log in as" the member. The session keeps the admin's id and the time
    the admin last typed their password."""
    admin = _admin()
    subject = _member(user_id)
    if subject.id == admin.id:
        flash("You are already signed in as yourself.", "error")
        return redirect(url_for("team.index"))
    reauth_at = session.get("reauth_at")
    csrf = session.get("csrf")
    session.clear()
    session.update(uid=subject.id, impersonator=admin.id, reauth_at=reauth_at, csrf=csrf)
    flash(f"You are now logged in as {subject.name}.")
    return redirect(url_for("home"))


@bp.post("/team/stop-impersonating")
@login_required
def stop_impersonating() -> ResponseReturnValue:
    admin_id = session.get("impersonator")
    if not isinstance(admin_id, str):
        return redirect(url_for("home"))
    reauth_at = session.get("reauth_at")
    csrf = session.get("csrf")
    session.clear()
    session.update(uid=admin_id, reauth_at=reauth_at, csrf=csrf)
    flash("You are back in your own account.")
    return redirect(url_for("team.index"))


@bp.route("/practice", methods=["GET", "POST"])
@login_required
def practice() -> ResponseReturnValue:
    """Practice settings > Security settings > Require Two-Factor Authentication."""
    _admin()
    if request.method == "POST":
        choice = request.form.get("requirement", "")
        if choice not in REQUIREMENTS:
            flash("Choose one of the options.", "error")
        else:
            users().set_setting(REQUIREMENT_SETTING, choice)
            apply_requirement(services(), choice)
            flash(
                f"Saved: {REQUIREMENTS[choice][0].lower()}. It applies at each user's next sign-in."
            )
        return redirect(url_for("team.practice"))
    current = users().setting(REQUIREMENT_SETTING, "off")
    return render_template("practice.html", requirements=REQUIREMENTS, current=current)
