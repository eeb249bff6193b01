"""Sign-up, sign-in and its second step (L1, L2), re-authentication, sign-out.

The password check is the app's; from there mfakit decides
(:meth:`~mfakit.MFA.begin_sign_in`): signed in at once (no 2FA, or a trusted
device), "set up two-step verification first" (the practice requires it), or
the code page. The code page offers resend with its cooldown, the other
methods, "try another way" behind the security question, backup codes, and
"trust this device". The step-up page (S32) proves a factor again before a
change that removes or binds one.
"""

from __future__ import annotations

import functools
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

import mfakit
from mfakit import Method
from mfakit.core.contacts import normalize_email
from mfakit.passwords import check_new_password, hash_password, verify_password

from . import texts
from .security import (
    acting_actor,
    current_user,
    impersonator,
    log_in,
    request_context,
    safe_next,
    services,
    users,
)
from .users import EmailTaken, User
from .wiring import TENANT

bp = Blueprint("auth", __name__)

TRUST_COOKIE = "trusted_device"
"""Holds mfakit's signed trust token: HttpOnly, SameSite=Lax (L2)."""


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a real password, only for equal timing")


def check_password(email: str, password: str) -> User | None:
    """The app's own password check. An unknown email costs the same time."""
    user = users().by_email(email)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if user.check_password(password) else None


# --- sign-up and sign-in ------------------------------------------------------------


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("signup.html", form={})
    form = request.form
    name = form.get("name", "").strip()
    errors: list[str] = []
    email = ""
    try:
        email = normalize_email(form.get("email", ""))
    except mfakit.InvalidInput:
        errors.append("Enter an email address like name@example.org.")
    if not name or len(name) > 80:
        errors.append("Enter your name (at most 80 characters).")
    password = form.get("password", "")
    problems = check_new_password("", password, form.get("confirm", ""), identifiers=[email, name])
    errors += [texts.PASSWORD_PROBLEMS[p] for p in problems]
    if not errors:
        try:
            user = users().add(email=email, name=name, password=password, role="client")
        except EmailTaken:
            errors.append("An account with this email already exists. Sign in instead.")
        else:
            flash("Welcome! Your account is ready.")
            return password_checked(user, time.time())
    for error in errors:
        flash(error, "error")
    return render_template("signup.html", form={"name": name, "email": form.get("email", "")})


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_page = safe_next(request.values.get("next"), url_for("home"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_page)
        return render_template("login.html", next=next_page)
    user = check_password(request.form.get("email", ""), request.form.get("password", ""))
    if user is None:
        flash("Wrong email or password.", "error")
        return render_template("login.html", next=next_page, email=request.form.get("email"))
    return password_checked(user, time.time(), next_page)


def password_checked(user: User, password_at: float, next_page: str = "/") -> Response:
    """The password was right: ask mfakit what the second step is (L1)."""
    mfa = services().mfa
    start = mfa.begin_sign_in(
        user.id,
        role=user.role,
        trust_token=request.cookies.get(TRUST_COOKIE),
        tenant=TENANT,
        context=request_context(),
    )
    if start.satisfied:  # no 2FA for this user, or a trusted device
        log_in(user, password_at=password_at)
        if start.trusted_device:
            flash("Signed in. This device is trusted, so no code was needed.")
        return redirect(next_page)
    if start.enrollment_required:  # the practice requires 2FA and the user has none
        log_in(user, password_at=password_at, must_enrol=True)
        return redirect(url_for("setup.index"))  # the page says why
    assert start.challenge is not None
    csrf = session.get("csrf")
    session.clear()
    session.update(
        csrf=csrf,
        pending_uid=user.id,
        challenge_id=start.challenge.id,
        pw_at=password_at,
        next=next_page,
    )
    if start.delivery_failed:
        flash("We could not send your code. Send it again, or choose another way.", "error")
    elif start.delivery is not None and not start.delivery.ok:
        flash(texts.explain(start.delivery.reason, start.delivery.retry_after), "error")
    return redirect(url_for("auth.code_page"))


# --- the second step ----------------------------------------------------------------


def challenge_id() -> str:
    pending = session.get("challenge_id")
    if not isinstance(pending, str):
        abort(redirect(url_for("auth.login")))
    return pending


def start_again(message: str) -> Response:
    csrf = session.get("csrf")
    session.clear()
    session["csrf"] = csrf
    flash(message, "error")
    return redirect(url_for("auth.login"))


@bp.errorhandler(mfakit.NotFound)
@bp.errorhandler(mfakit.ConflictingState)
def challenge_gone(exc: mfakit.MfaError) -> ResponseReturnValue:
    """The challenge is unknown, finished, or not in a state for this request."""
    if "challenge_id" in session:
        return start_again("Please sign in again.")
    flash(str(exc), "error")
    return redirect(url_for("home"))


@bp.get("/login/code")
def code_page() -> ResponseReturnValue:
    challenge = services().mfa.get_challenge(challenge_id())
    if not challenge.is_open:
        return start_again("Your sign-in timed out. Please sign in again.")
    if challenge.method is Method.WEBAUTHN and challenge.state != "awaiting_answer":
        # Fresh request options for the page's passkey button (one ceremony a
        # view: a refused or abandoned one is not reused).
        sent = services().mfa.switch_method(
            challenge.id, Method.WEBAUTHN, context=request_context()
        )
        if sent.ok:
            challenge = sent.challenge
    return render_template(
        "code.html",
        c=challenge,
        resend_wait=texts.seconds_until(challenge.resend_at),
        trust_days=services().mfa.policy.trust_days,
    )


@bp.post("/login/code")
def submit_code() -> ResponseReturnValue:
    mfa = services().mfa
    trust = request.form.get("trust") == "yes"
    try:
        result = mfa.verify(
            challenge_id(),
            request.form.get("code", ""),
            trust_device=trust,
            context=request_context(),
        )
    except mfakit.InvalidInput:
        flash("Enter the code as you received it, or a backup code like 7K2M-Q9XH-4TRD.", "error")
        return redirect(url_for("auth.code_page"))
    if not result.ok:
        if result.reason in texts.START_AGAIN:
            return start_again(texts.explain(result.reason))
        flash(texts.explain(result.reason, result.retry_after, result.attempts_left), "error")
        return redirect(url_for("auth.code_page"))
    user = users().get(str(session.get("pending_uid")))
    if user is None or user.id != result.user_id:
        return start_again("Please sign in again.")
    next_page = safe_next(session.get("next"), url_for("home"))
    log_in(user, password_at=float(session.get("pw_at") or 0))
    # A factor was just proven: changes to the factors need no step-up page
    # for the next few minutes (S32).
    session["step_up"] = result.step_up
    response = redirect(next_page)
    if result.trust_token is not None:
        response.set_cookie(
            TRUST_COOKIE,
            result.trust_token,
            max_age=result.trust_max_age,
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SECURE_COOKIES")),
        )
        flash(f"This device is trusted for {services().mfa.policy.trust_days} days.")
    if result.method is Method.BACKUP_CODE:
        flash(f"You used a backup code. {result.backup_codes_left} left.")
        if result.backup_codes_low:
            flash("You are running out of backup codes: make new ones on your profile.", "error")
    return response


@bp.post("/login/resend")
def resend() -> ResponseReturnValue:
    try:
        sent = services().mfa.resend(challenge_id(), context=request_context())
    except mfakit.DeliveryError:
        flash("We could not send your code. Try again in a moment, or choose another way.")
        return redirect(url_for("auth.code_page"))
    if sent.ok:
        flash(f"We sent a new code to {sent.challenge.destination}.")
    elif sent.reason in texts.START_AGAIN:
        return start_again(texts.explain(sent.reason))
    else:  # cooldown or send limit
        flash(texts.explain(sent.reason, sent.retry_after), "error")
    return redirect(url_for("auth.code_page"))


@bp.post("/login/method")
def other_method() -> ResponseReturnValue:
    try:
        sent = services().mfa.switch_method(
            challenge_id(), request.form.get("method", ""), context=request_context()
        )
    except mfakit.InvalidInput:
        flash("Choose one of the ways offered.", "error")
        return redirect(url_for("auth.code_page"))
    except mfakit.DeliveryError:
        flash("We could not reach you that way. Try again, or choose another way.", "error")
        return redirect(url_for("auth.code_page"))
    if not sent.ok:
        if sent.reason in texts.START_AGAIN:
            return start_again(texts.explain(sent.reason))
        flash(texts.explain(sent.reason, sent.retry_after), "error")
    return redirect(url_for("auth.code_page"))


@bp.post("/login/another-way")
def another_way() -> ResponseReturnValue:
    """Seed 000: "Try another way" asks the security question first."""
    services().mfa.try_another_way(challenge_id(), context=request_context())
    return redirect(url_for("auth.code_page"))


@bp.post("/login/answer")
def answer() -> ResponseReturnValue:
    try:
        result = services().mfa.answer_security_question(
            challenge_id(), request.form.get("answer", ""), context=request_context()
        )
    except mfakit.InvalidInput:
        flash("Enter your answer.", "error")
        return redirect(url_for("auth.code_page"))
    if result.ok:
        flash("Thank you. Choose how to receive your code.")
    elif result.reason in texts.START_AGAIN:
        return start_again(texts.explain(result.reason))
    else:
        flash(
            texts.explain(result.reason, result.retry_after, result.challenge.attempts_left),
            "error",
        )
    return redirect(url_for("auth.code_page"))


@bp.post("/login/cancel")
def cancel() -> ResponseReturnValue:
    pending = session.get("challenge_id")
    if isinstance(pending, str):
        services().mfa.cancel(pending, context=request_context())
    session.clear()
    return redirect(url_for("auth.login"))


# --- re-authentication and sign-out -------------------------------------------------


@bp.route("/reauth", methods=["GET", "POST"])
def reauth() -> ResponseReturnValue:
    """Seed 002: "re-enter your password to confirm this action". While an admin is
    logged in as someone, it is the admin who re-enters their own password."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    next_page = safe_next(request.values.get("next"), url_for("home"))
    who = impersonator() or user
    if request.method == "POST":
        if who.check_password(request.form.get("password", "")):
            session["reauth_at"] = time.time()
            return redirect(next_page)
        flash("That password is not right.", "error")
    return render_template("reauth.html", next=next_page, who=who, acting_as=user)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


# --- step-up (S32) -----------------------------------------------------------------


@bp.route("/step-up", methods=["GET", "POST"])
def step_up() -> ResponseReturnValue:
    """Prove a second factor again before removing or binding one (S32). GET
    starts a step-up challenge (an SMS or email code is sent at once); POST
    checks the code (a backup code works too) and keeps the grant."""
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    next_page = safe_next(request.values.get("next"), url_for("profile.index"))
    mfa = services().mfa
    if request.method == "GET":
        try:
            start = mfa.begin_step_up(
                acting_actor(), user.id, tenant=TENANT, context=request_context()
            )
        except mfakit.NotPermitted as exc:
            flash(f"Not allowed: {exc}.", "error")
            return redirect(url_for("home"))
        if start.status is mfakit.StepUpStatus.NOT_NEEDED:
            return redirect(next_page)
        session["step_up_challenge"] = start.challenge.id
        if start.delivery_failed:
            flash("We could not send the code. Use another way below.", "error")
        return _step_up_page(start.challenge, next_page)
    challenge_id = session.get("step_up_challenge")
    if not isinstance(challenge_id, str):
        return redirect(url_for("auth.step_up", next=next_page))
    method = request.form.get("method")
    if method:
        sent = mfa.switch_method(challenge_id, method, context=request_context())
        if not sent.ok:
            flash(texts.explain(sent.reason, sent.retry_after), "error")
        return _step_up_page(sent.challenge, next_page)
    try:
        result = mfa.verify(challenge_id, request.form.get("code", ""), context=request_context())
    except mfakit.InvalidInput:
        flash("Enter the code as you received it, or a backup code like 7K2M-Q9XH-4TRD.", "error")
        return _step_up_page(mfa.get_challenge(challenge_id), next_page)
    except (mfakit.NotFound, mfakit.ConflictingState):
        return redirect(url_for("auth.step_up", next=next_page))
    if not result.ok or result.step_up is None:
        if result.reason in texts.START_AGAIN:
            flash(texts.explain(result.reason), "error")
            return redirect(url_for("auth.step_up", next=next_page))
        flash(texts.explain(result.reason, result.retry_after, result.attempts_left), "error")
        return _step_up_page(mfa.get_challenge(challenge_id), next_page)
    session.pop("step_up_challenge", None)
    session["step_up"] = result.step_up
    flash("Verified. You can go on with your change.")
    return redirect(next_page)


def _step_up_page(challenge: mfakit.Challenge, next_page: str) -> ResponseReturnValue:
    return render_template("step_up.html", c=challenge, next=next_page)
