"""Changing a phone number or email behind a second factor (L4, seed 001).

The same three pages serve a user on their own profile and an admin changing a
team member's phone from the Team page:

1. the new value is submitted: :meth:`~mfakit.MFA.begin_contact_change`
   (at most 5 attempts a day; refused when no verified channel can approve);
2. "Choose how to verify" lists ``challenge.methods`` only: channels verified
   *before* the change, never the new number;
3. the code: sent to the chosen channel (for an admin: the *member's*
   channel), or read from the authenticator app. On success mfakit stores the
   new value, unverified, and tells the old destination; the app updates its
   own copy in the users table.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

import mfakit
from mfakit import Method
from mfakit.core.contacts import normalize_email, normalize_phone

from . import texts
from .security import login_required, request_context, services, users
from .users import EmailTaken, User
from .wiring import TENANT

bp = Blueprint("changes", __name__)

CHANGE_KEY = "change"
KIND_NAMES = {"phone": "phone number", "email": "email address"}


def start_change(subject: User, kind: str, raw: str, actor: mfakit.Actor, back: str) -> Response:
    """Step 1: ask mfakit to start the change; on success go to step 2."""
    try:
        if kind == "phone":
            value = normalize_phone(raw)
        elif kind == "email":
            value = normalize_email(raw)
        else:
            raise mfakit.InvalidInput("kind", "must be phone or email")
    except mfakit.InvalidInput as exc:
        flash(f"Check the {KIND_NAMES.get(kind, kind)}: {exc.problem}.", "error")
        return redirect(back)
    if kind == "email":
        other = users().by_email(value)
        if other is not None and other.id != subject.id:
            flash("Another account already uses this email address.", "error")
            return redirect(back)
    contact = {"phone": value} if kind == "phone" else {"email": value}
    try:
        start = services().mfa.begin_contact_change(
            actor, subject.id, **contact, tenant=TENANT, context=request_context()
        )
    except (mfakit.ConflictingState, mfakit.NotPermitted) as exc:
        flash(f"{exc}.", "error")
        return redirect(back)
    if not start.ok:
        flash(texts.explain(start.reason, start.retry_after), "error")
        return redirect(back)
    assert start.challenge is not None
    session[CHANGE_KEY] = {
        "challenge_id": start.challenge.id,
        "subject": subject.id,
        "kind": kind,
        "value": value,
        "by_admin": actor.kind is mfakit.ActorKind.ADMIN,
        "back": back,
    }
    return redirect(url_for("changes.choose"))


def _pending() -> dict[str, object] | None:
    pending = session.get(CHANGE_KEY)
    return pending if isinstance(pending, dict) else None


def _subject(pending: dict[str, object]) -> User:
    subject = users().get(str(pending["subject"]))
    if subject is None:
        raise mfakit.NotFound("no such user")
    return subject


def _finish(pending: dict[str, object], message: str, category: str = "message") -> Response:
    session.pop(CHANGE_KEY, None)
    flash(message, category)
    return redirect(str(pending.get("back") or "/"))


@bp.route("/verify-change", methods=["GET", "POST"])
@login_required
def choose() -> ResponseReturnValue:
    """Step 2: "Choose how to verify", listing only the eligible channels."""
    pending = _pending()
    if pending is None:
        return redirect(url_for("profile.index"))
    mfa = services().mfa
    cid = str(pending["challenge_id"])
    challenge = mfa.get_challenge(cid)
    if not challenge.is_open:
        return _finish(pending, "This change timed out. Please start again.", "error")
    subject = _subject(pending)
    if request.method == "POST":
        method = request.form.get("method", "")
        try:
            if method == Method.TOTP.value:
                if challenge.method is not Method.TOTP:
                    mfa.switch_method(cid, Method.TOTP, context=request_context())
                return redirect(url_for("changes.code"))
            sent = mfa.send(cid, method, context=request_context())
        except mfakit.InvalidInput:
            flash("Choose one of the options.", "error")
            return redirect(url_for("changes.choose"))
        except mfakit.DeliveryError:
            flash("We could not send the code that way. Try again or choose another.", "error")
            return redirect(url_for("changes.choose"))
        if sent.ok:
            flash(f"We sent a code to {sent.challenge.destination}.")
        elif sent.reason in texts.START_AGAIN:
            return _finish(pending, texts.explain(sent.reason), "error")
        else:
            flash(texts.explain(sent.reason, sent.retry_after), "error")
        return redirect(url_for("changes.code"))
    destinations = {
        m: f.destination
        for f in mfa.list_factors(subject.id, tenant=TENANT)
        if f.verified
        for m in f.methods
    }
    return render_template(
        "choose.html",
        c=challenge,
        subject=subject,
        kind=KIND_NAMES[str(pending["kind"])],
        new_value=pending["value"],
        by_admin=bool(pending["by_admin"]),
        labels=texts.CHOOSE_LABELS,
        destinations=destinations,
    )


@bp.route("/verify-change/code", methods=["GET", "POST"])
@login_required
def code() -> ResponseReturnValue:
    """Step 3: the code; verifying it applies the change."""
    pending = _pending()
    if pending is None:
        return redirect(url_for("profile.index"))
    mfa = services().mfa
    cid = str(pending["challenge_id"])
    subject = _subject(pending)
    if request.method == "POST":
        try:
            result = mfa.verify(cid, request.form.get("code", ""), context=request_context())
        except mfakit.InvalidInput:
            flash("Enter the code as you received it.", "error")
            return redirect(url_for("changes.code"))
        except (mfakit.NotFound, mfakit.ConflictingState):
            return _finish(pending, "This change is over. Please start again.", "error")
        if not result.ok:
            if result.reason in texts.START_AGAIN:
                return _finish(pending, texts.explain(result.reason), "error")
            flash(texts.explain(result.reason, result.retry_after, result.attempts_left), "error")
            return redirect(url_for("changes.code"))
        kind, value = str(pending["kind"]), str(pending["value"])
        try:
            if kind == "phone":
                users().set_phone(subject.id, value)
            else:
                users().set_email(subject.id, value)
        except EmailTaken:
            return _finish(pending, "Another account took this email meanwhile.", "error")
        whose = f"{subject.name}'s" if bool(pending["by_admin"]) else "Your"
        return _finish(
            pending,
            f"{whose} {KIND_NAMES[kind]} is now {value}. It is not verified yet: verify it"
            " from the profile before using it for two-step verification.",
        )
    challenge = mfa.get_challenge(cid)
    if not challenge.is_open:
        return _finish(pending, "This change timed out. Please start again.", "error")
    if challenge.method in (Method.SMS, Method.VOICE, Method.EMAIL) and not challenge.destination:
        return redirect(url_for("changes.choose"))  # nothing sent yet: pick a channel
    return render_template(
        "verify.html",
        c=challenge,
        resend_wait=texts.seconds_until(challenge.resend_at),
        prompt=texts.PROMPTS[challenge.method],
        resend_url=url_for("changes.resend"),
        cancel_url=url_for("changes.cancel"),
        other_url=url_for("changes.choose"),
        heading=f"Verify the {KIND_NAMES[str(pending['kind'])]} change",
        subject=subject if bool(pending["by_admin"]) else None,
    )


@bp.post("/verify-change/resend")
@login_required
def resend() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        return redirect(url_for("profile.index"))
    try:
        sent = services().mfa.resend(str(pending["challenge_id"]), context=request_context())
    except mfakit.DeliveryError:
        flash("We could not send the code. Try again in a moment.", "error")
        return redirect(url_for("changes.code"))
    if sent.ok:
        flash(f"We sent a new code to {sent.challenge.destination}.")
    else:
        flash(texts.explain(sent.reason, sent.retry_after), "error")
    return redirect(url_for("changes.code"))


@bp.post("/verify-change/cancel")
@login_required
def cancel() -> ResponseReturnValue:
    pending = _pending()
    if pending is None:
        return redirect(url_for("profile.index"))
    services().mfa.cancel(str(pending["challenge_id"]), context=request_context())
    return _finish(pending, "The change was cancelled; nothing changed.")
