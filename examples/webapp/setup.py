"""Setting up second factors (F1-F6, L3): authenticator app with QR code and
manual key, phone (SMS or voice) and email with a possession proof, the
security question, and backup codes shown once with download and print.

Every setup needs the user personally, with a password typed in the last few
minutes: the pages ask for it again (:func:`fresh_password_required`) and pass
``reauthenticated_at`` to mfakit, which checks it too.
"""

from __future__ import annotations

import threading
import time
from typing import cast

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

import mfakit
from mfakit.core.contacts import normalize_phone

from . import texts
from .security import (
    acting_actor,
    current_user,
    fresh_password_required,
    login_required,
    request_context,
    services,
    users,
)
from .wiring import TENANT

bp = Blueprint("setup", __name__)

ENROL_KEY = "enrol"
"""Session key of a pending phone or email proof: challenge id, kind, value."""


# --- backup codes waiting to be shown ------------------------------------------------


class FreshCodes:
    """Backup codes just issued, kept in this process for a few minutes so the
    page can show them, offer them as a download and print them, then forget
    them. (A deployment with several processes would keep them server-side in
    its session store instead.)"""

    TTL = 600.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[mfakit.BackupCodes, float]] = {}

    def put(self, user_id: str, codes: mfakit.BackupCodes) -> None:
        with self._lock:
            self._codes[user_id] = (codes, time.monotonic() + self.TTL)

    def get(self, user_id: str) -> mfakit.BackupCodes | None:
        with self._lock:
            found = self._codes.get(user_id)
            if found is None or found[1] < time.monotonic():
                self._codes.pop(user_id, None)
                return None
            return found[0]

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._codes.pop(user_id, None)


def fresh_codes() -> FreshCodes:
    return cast(FreshCodes, current_app.extensions["webapp.fresh_codes"])


def _user_id() -> str:
    user = current_user()
    assert user is not None
    return user.id


def enrolled(codes: mfakit.BackupCodes | None, what: str) -> BaseResponse:
    """After a factor is added: show the first backup codes, if it was the first."""
    session.pop("must_enrol", None)
    flash(f"{what} is set up. You will use it at your next sign-in.")
    if codes is not None:
        fresh_codes().put(_user_id(), codes)
        return redirect(url_for("setup.backup_codes"))
    return redirect(url_for("profile.index"))


# --- the hub --------------------------------------------------------------------------


@bp.get("/setup")
@login_required
def index() -> ResponseReturnValue:
    mfa = services().mfa
    uid = _user_id()
    return render_template(
        "setup.html",
        factors=mfa.list_factors(uid, tenant=TENANT),
        codes_left=mfa.backup_codes_left(uid),
        must_enrol=bool(session.get("must_enrol")),
    )


# --- authenticator app (F1) -----------------------------------------------------------


@bp.route("/setup/authenticator", methods=["GET", "POST"])
@fresh_password_required
def authenticator() -> ResponseReturnValue:
    """GET: the intro. POST: a new pending setup, its QR code and manual key."""
    user = current_user()
    assert user is not None
    if request.method == "GET":
        return render_template("authenticator_start.html")
    label = request.form.get("label", "").strip() or "Authenticator app"
    try:
        setup = services().mfa.begin_totp_setup(
            acting_actor(),
            user.id,
            account_name=user.email,  # what the user sees in their app
            label=label,
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except mfakit.NotPermitted as exc:
        # Seed 001: an admin "logged in as" the user may not do this.
        flash(f"Not allowed: {exc}.", "error")
        return render_template("authenticator_start.html"), 403
    except (mfakit.InvalidInput, mfakit.ConflictingState) as exc:
        flash(str(exc), "error")
        return render_template("authenticator_start.html"), 400
    session["totp_setup"] = setup.id
    return render_template(
        "authenticator.html",
        setup=setup,
        # mfakit draws the SVG (segno) from the otpauth URI: paths only, no user text.
        qr=Markup(setup.qr_svg(scale=5)),  # noqa: S704
    )


@bp.post("/setup/authenticator/confirm")
@login_required
def confirm_authenticator() -> ResponseReturnValue:
    setup_id = session.get("totp_setup")
    if not isinstance(setup_id, str):
        return redirect(url_for("setup.authenticator"))
    try:
        result = services().mfa.confirm_totp_setup(
            acting_actor(),
            setup_id,
            request.form.get("code", ""),
            tenant=TENANT,
            context=request_context(),
        )
    except mfakit.InvalidInput:
        flash("Enter the 6-digit code your app shows.", "error")
        return render_template("authenticator_confirm.html"), 400
    except (mfakit.NotFound, mfakit.ConflictingState):
        session.pop("totp_setup", None)
        flash("This setup expired. Please start again.", "error")
        return redirect(url_for("setup.authenticator"))
    if not result.ok:
        if result.reason in texts.START_AGAIN:
            session.pop("totp_setup", None)
            flash(texts.explain(result.reason), "error")
            return redirect(url_for("setup.authenticator"))
        flash(texts.explain(result.reason, attempts_left=result.attempts_left), "error")
        return render_template("authenticator_confirm.html"), 400
    session.pop("totp_setup", None)
    return enrolled(result.backup_codes, "Your authenticator app")


# --- phone and email with a possession proof (F2-F4, L3) ---------------------------------


@bp.route("/setup/phone", methods=["GET", "POST"])
@fresh_password_required
def phone() -> ResponseReturnValue:
    """Seed 002's wizard: the number, then text message or voice call."""
    user = current_user()
    assert user is not None
    if request.method == "GET":
        return render_template("phone_setup.html", phone=user.phone or "", method="sms")
    number = request.form.get("phone", "")
    method = request.form.get("method", "sms")
    try:
        sent = services().mfa.begin_phone_enrolment(
            acting_actor(),
            user.id,
            number,
            method=method,
            tenant=TENANT,
            context=request_context(),
        )
        value = normalize_phone(number)
    except mfakit.InvalidInput as exc:
        flash(f"Check the phone number ({exc.problem}).", "error")
        return render_template("phone_setup.html", phone=number, method=method), 400
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except (mfakit.NotPermitted, mfakit.ConflictingState) as exc:
        flash(f"{exc}.", "error")
        return render_template("phone_setup.html", phone=number, method=method), 400
    except mfakit.DeliveryError:
        flash("We could not send the code. Try again in a moment.", "error")
        return render_template("phone_setup.html", phone=number, method=method), 502
    session[ENROL_KEY] = {"challenge_id": sent.challenge.id, "kind": "phone", "value": value}
    return redirect(url_for("setup.verify"))


@bp.route("/setup/email", methods=["GET", "POST"])
@fresh_password_required
def email() -> ResponseReturnValue:
    """Codes by email go to the account's address, once it is proven."""
    user = current_user()
    assert user is not None
    if request.method == "GET":
        return render_template("email_setup.html", email=user.email)
    try:
        sent = services().mfa.begin_email_enrolment(
            acting_actor(), user.id, user.email, tenant=TENANT, context=request_context()
        )
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except (mfakit.InvalidInput, mfakit.NotPermitted, mfakit.ConflictingState) as exc:
        flash(f"{exc}.", "error")
        return render_template("email_setup.html", email=user.email), 400
    except mfakit.DeliveryError:
        flash("We could not send the code. Try again in a moment.", "error")
        return render_template("email_setup.html", email=user.email), 502
    session[ENROL_KEY] = {"challenge_id": sent.challenge.id, "kind": "email", "value": user.email}
    return redirect(url_for("setup.verify"))


def _pending_enrolment() -> dict[str, str] | None:
    pending = session.get(ENROL_KEY)
    return pending if isinstance(pending, dict) else None


@bp.route("/setup/verify", methods=["GET", "POST"])
@login_required
def verify() -> ResponseReturnValue:
    """Enter the code sent to the phone or email being added."""
    pending = _pending_enrolment()
    if pending is None:
        return redirect(url_for("setup.index"))
    mfa = services().mfa
    cid = pending["challenge_id"]
    if request.method == "POST":
        try:
            result = mfa.verify(cid, request.form.get("code", ""), context=request_context())
        except mfakit.InvalidInput:
            flash("Enter the code as you received it.", "error")
            return redirect(url_for("setup.verify"))
        except (mfakit.NotFound, mfakit.ConflictingState) as exc:
            session.pop(ENROL_KEY, None)
            flash(f"{exc}. Please start again.", "error")
            return redirect(url_for("setup.index"))
        if result.ok:
            session.pop(ENROL_KEY, None)
            if pending["kind"] == "phone":
                users().set_phone(_user_id(), pending["value"])
                return enrolled(result.backup_codes, "Your phone")
            return enrolled(result.backup_codes, "Your email")
        if result.reason in texts.START_AGAIN:
            session.pop(ENROL_KEY, None)
            flash(texts.explain(result.reason), "error")
            return redirect(url_for("setup.index"))
        flash(texts.explain(result.reason, result.retry_after, result.attempts_left), "error")
        return redirect(url_for("setup.verify"))
    challenge = mfa.get_challenge(cid)
    return render_template(
        "verify.html",
        c=challenge,
        resend_wait=texts.seconds_until(challenge.resend_at),
        prompt=texts.PROMPTS[challenge.method],
        resend_url=url_for("setup.resend"),
        cancel_url=url_for("setup.index"),
        heading="Enter the code we sent",
    )


@bp.post("/setup/verify/resend")
@login_required
def resend() -> ResponseReturnValue:
    pending = _pending_enrolment()
    if pending is None:
        return redirect(url_for("setup.index"))
    try:
        sent = services().mfa.resend(pending["challenge_id"], context=request_context())
    except mfakit.DeliveryError:
        flash("We could not send the code. Try again in a moment.", "error")
        return redirect(url_for("setup.verify"))
    if sent.ok:
        flash(f"We sent a new code to {sent.challenge.destination}.")
    else:
        flash(texts.explain(sent.reason, sent.retry_after), "error")
    return redirect(url_for("setup.verify"))


# --- security question (F6) ------------------------------------------------------------


@bp.route("/setup/question", methods=["GET", "POST"])
@fresh_password_required
def question() -> ResponseReturnValue:
    mfa = services().mfa
    if request.method == "POST":
        try:
            mfa.set_security_question(
                acting_actor(),
                _user_id(),
                request.form.get("question", ""),
                request.form.get("answer", ""),
                tenant=TENANT,
                context=request_context(),
            )
        except mfakit.InvalidInput as exc:
            flash(f"Check the {exc.field}: {exc.problem}.", "error")
        except mfakit.StepUpRequired:
            raise  # the app's handler sends the user to the step-up page
        except mfakit.NotPermitted as exc:
            flash(f"Not allowed: {exc}.", "error")
        else:
            flash("Your security question is saved. Remember: the answer is case-sensitive.")
            return redirect(url_for("profile.index"))
    return render_template("question.html", questions=mfa.security_questions)


# --- backup codes (F5) -------------------------------------------------------------------


@bp.get("/backup-codes")
@login_required
def backup_codes() -> ResponseReturnValue:
    """Fresh codes are shown once; afterwards only how many are left."""
    uid = _user_id()
    return render_template(
        "backup_codes.html",
        codes=fresh_codes().get(uid),
        left=services().mfa.backup_codes_left(uid),
    )


@bp.get("/backup-codes/download")
@login_required
def download_backup_codes() -> ResponseReturnValue:
    codes = fresh_codes().get(_user_id())
    if codes is None:
        flash("These codes were already put away. Make new ones if you lost them.", "error")
        return redirect(url_for("setup.backup_codes"))
    return Response(
        codes.as_text(services().mfa.issuer),
        mimetype="text/plain",
        headers={
            "Content-Disposition": 'attachment; filename="backup-codes.txt"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/backup-codes/done")
@login_required
def backup_codes_done() -> ResponseReturnValue:
    fresh_codes().forget(_user_id())
    flash("Keep your backup codes somewhere safe.")
    return redirect(url_for("profile.index"))


@bp.post("/backup-codes/regenerate")
@fresh_password_required
def regenerate_backup_codes() -> ResponseReturnValue:
    try:
        codes = services().mfa.regenerate_backup_codes(
            acting_actor(), _user_id(), tenant=TENANT, context=request_context()
        )
    except mfakit.StepUpRequired:
        raise  # the app's handler sends the user to the step-up page
    except (mfakit.NotPermitted, mfakit.ConflictingState) as exc:
        flash(f"{exc}.", "error")
        return redirect(url_for("profile.index"))
    fresh_codes().put(_user_id(), codes)
    flash("New backup codes: the old ones no longer work.")
    return redirect(url_for("setup.backup_codes"))
