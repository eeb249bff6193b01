"""The app's pages: sign-in with its second step, the account's 2FA pages,
re-authentication and step-up (include `urls`).

Sign-in (`LoginView`, a drop-in for Django's own) checks the password
with Django's authentication form, then asks mfakit what the second step is
([`begin_sign_in`][mfakit.facade.Facade.begin_sign_in]). Nobody is logged in until that step
passes: the session only holds the pending user's id and the challenge's id
(`mfakit.pending`), which no other view accepts. The code page offers
resend with its cooldown, the other methods, "try another way" behind the
security question, backup codes and "trust this device" (a Secure, HttpOnly,
SameSite=Lax cookie).

The account pages set up an authenticator app (QR code drawn by mfakit with
segno), phone and email (a code proves them; a verified one is changed
through mfakit's guarded change), the security question, backup codes (shown
once, downloadable, regenerated), trusted devices, the preferred method, and
turn 2FA off. mfakit decides who may do what: a change that needs a fresh
password sends the user to `reauth`, one that needs a proven factor
(S32) to `step_up`, and back afterwards.

Texts: labels through Django's translation machinery, refusals through
mfakit's own catalogs in the request's language (`web.texts`).
Templates are `mfakit/<page>.html`, all extending `mfakit/base.html`:
override any of them in your project's templates.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ...core.challenge import State
from ...core.contacts import ContactKind
from ...core.methods import Method
from ...core.results import Challenge, Reason, SendResult, StepUpStatus
from ...errors import (
    ConflictingState,
    DeliveryError,
    InvalidInput,
    NotFound,
    NotPermitted,
    ReauthenticationRequired,
    StepUpRequired,
)
from . import web
from .conf import get_mfa

__all__ = ["LoginView"]

V = TypeVar("V", bound=Callable[..., HttpResponseBase])

START_AGAIN = frozenset({Reason.EXPIRED, Reason.TOO_MANY_ATTEMPTS, Reason.LOCKED_OUT})
"""Refusals after which a challenge is over."""

CODES_TTL = 600
"""Seconds fresh backup codes stay in the session for their page and download."""


def _method_labels() -> dict[str, str]:
    return {
        Method.TOTP.value: _("Use my authenticator app"),
        Method.SMS.value: _("Text me a code"),
        Method.VOICE.value: _("Call me with a code"),
        Method.EMAIL.value: _("Email me a code"),
        Method.BACKUP_CODE.value: _("Use a backup code"),
    }


def _prompts() -> dict[str, str]:
    return {
        Method.TOTP.value: _("Enter the 6-digit code from your authenticator app."),
        Method.SMS.value: _("Enter the code we sent you by text message."),
        Method.VOICE.value: _("Enter the code we read to you on the phone."),
        Method.EMAIL.value: _("Enter the code we sent you by email."),
        Method.BACKUP_CODE.value: _("Enter one of your backup codes."),
    }


def _challenge_page(
    request: HttpRequest, challenge: Challenge, template: str, **extra: Any
) -> HttpResponse:
    resend_at = challenge.resend_at
    wait = 0
    if resend_at is not None:
        wait = max(int((resend_at - get_mfa().clock.now()).total_seconds() + 0.999), 0)
    return render(
        request,
        template,
        {
            "challenge": challenge,
            "awaiting_answer": challenge.state is State.AWAITING_ANSWER,
            "prompt": _prompts().get(challenge.method.value, ""),
            "other_methods": [
                (m.value, _method_labels()[m.value])
                for m in challenge.methods
                if m is not challenge.method
            ],
            "can_resend": challenge.method in (Method.SMS, Method.VOICE, Method.EMAIL),
            "resend_wait": wait,
            "backup_allowed": Method.BACKUP_CODE in challenge.methods,
            **extra,
        },
    )


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """A trusted device's name from its User-Agent: "Chrome on Linux"."""
    browser = next((name for key, name in _BROWSERS if key in user_agent), _("Browser"))
    system = next((name for key, name in _SYSTEMS if key in user_agent), None)
    return (
        browser
        if system is None
        else _("%(browser)s on %(system)s")
        % {
            "browser": browser,
            "system": system,
        }
    )


def _refusal(request: HttpRequest, result: Any) -> None:
    messages.error(request, web.texts(request).explain(result))


# --- sign-in ------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """Django's `LoginView` with mfakit's second step: a valid password
    starts it instead of logging the user in. Use it as is (`mfakit:login`)
    or in place of `django.contrib.auth.views.LoginView` in your URLs."""

    template_name = "mfakit/login.html"
    form_class = AuthenticationForm

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        return password_checked(self.request, user, self.get_success_url())


def password_checked(request: HttpRequest, user: Any, next_page: str) -> HttpResponse:
    """The password was right: mfakit decides the second step (L1)."""
    mfa = get_mfa()
    start = mfa.begin_sign_in(
        web.user_id(user),
        role=web.role_of(user),
        trust_token=request.COOKIES.get(web.TRUST_COOKIE),
        locale=get_language(),
        context=web.request_context(request),
    )
    password_at = web.now()
    if start.satisfied:  # no 2FA for this user, or a trusted device
        _log_in(request, user, "trusted" if start.trusted_device else "none", password_at)
        return HttpResponseRedirect(next_page)
    if start.enrollment_required:  # the policy requires 2FA and the user has none
        _log_in(request, user, "enrol", password_at)
        messages.warning(request, _("Set up two-step verification to continue."))
        return redirect("mfakit:index")
    assert start.challenge is not None
    if request.user.is_authenticated:
        logout(request)  # another user's session ends here
    request.session.cycle_key()
    request.session[web.PENDING] = {
        "user": web.user_id(user),
        "backend": getattr(user, "backend", None),
        "challenge": start.challenge.id,
        "password_at": password_at,
        "next": next_page,
    }
    if start.delivery_failed:
        messages.error(
            request, _("We could not send your code. Send it again, or try another way.")
        )
    elif start.delivery is not None and not start.delivery.ok:
        _refusal(request, start.delivery)
    return redirect("mfakit:second_step")


def _log_in(request: HttpRequest, user: Any, how: str, password_at: float) -> None:
    backend = getattr(user, "backend", None)
    login(request, user, backend=backend)
    # Nothing of an earlier, unfinished sign-in or step-up carries over.
    for key in (web.PENDING, web.STEP_UP, web.STEP_UP_CHALLENGE, web.VERIFIED_AT, web.CODES):
        request.session.pop(key, None)
    request.session[web.AUTH] = how
    request.session[web.REAUTH_AT] = password_at


def _pending(request: HttpRequest) -> dict[str, Any] | None:
    pending = request.session.get(web.PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("challenge"), str):
        return None
    return pending


def _start_again(request: HttpRequest, message: str) -> HttpResponse:
    request.session.pop(web.PENDING, None)
    messages.error(request, message)
    return redirect("mfakit:login")


def _second_step_view(view: V) -> V:
    """A view of the sign-in's second step: needs a pending sign-in; a
    challenge that is gone or finished starts the sign-in again."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        pending = _pending(request)
        if pending is None:
            return redirect("mfakit:login")
        try:
            return view(request, pending, *args, **kwargs)
        except (NotFound, ConflictingState):
            return _start_again(request, _("Please sign in again."))

    return cast(V, wrapper)


@require_http_methods(["GET", "POST"])
@_second_step_view
def second_step(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    """GET: the code page. POST: check the code (or a backup code)."""
    mfa = get_mfa()
    if request.method == "GET":
        challenge = mfa.get_challenge(pending["challenge"])
        if not challenge.is_open:
            return _start_again(request, _("Your sign-in timed out. Please sign in again."))
        return _challenge_page(
            request, challenge, "mfakit/second_step.html", trust_days=mfa.policy.trust_days
        )
    trust = request.POST.get("trust") == "yes"
    try:
        result = mfa.verify(
            pending["challenge"],
            request.POST.get("code", ""),
            trust_device=trust,
            device_label=device_label(request.META.get("HTTP_USER_AGENT", "")) if trust else None,
            context=web.request_context(request),
        )
    except InvalidInput:
        messages.error(
            request, _("Enter the code as you received it, or a backup code like 7K2M-Q9XH-4TRD.")
        )
        return redirect("mfakit:second_step")
    if not result.ok:
        if result.reason in START_AGAIN:
            return _start_again(request, web.texts(request).explain(result))
        _refusal(request, result)
        return redirect("mfakit:second_step")
    user = get_user_model()._default_manager.filter(pk=pending["user"]).first()
    if user is None or result.user_id != pending["user"]:
        return _start_again(request, _("Please sign in again."))
    next_page = web.safe_next(request, pending.get("next"))
    del request.session[web.PENDING]
    backend = pending.get("backend")
    user.backend = backend
    _log_in(request, user, "mfa", float(pending.get("password_at") or 0))
    web.mark_verified(request, result.step_up)
    response = HttpResponseRedirect(next_page)
    if result.trust_token is not None:
        response.set_cookie(
            web.TRUST_COOKIE,
            result.trust_token,
            max_age=result.trust_max_age,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure() or bool(settings.SESSION_COOKIE_SECURE),
        )
        messages.info(
            request,
            _("This device is trusted for %(days)d days.") % {"days": mfa.policy.trust_days},
        )
    if result.method is Method.BACKUP_CODE:
        messages.info(request, web.texts(request).backup_codes_left(result.backup_codes_left or 0))
        if result.backup_codes_low:
            messages.warning(request, _("You are running out of backup codes: make new ones."))
    return response


@require_POST
@_second_step_view
def resend(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    try:
        sent = get_mfa().resend(
            pending["challenge"], locale=get_language(), context=web.request_context(request)
        )
    except DeliveryError:
        messages.error(request, _("We could not send your code. Try again, or try another way."))
        return redirect("mfakit:second_step")
    if sent.ok:
        messages.info(request, _("We sent a new code."))
    elif sent.reason in START_AGAIN:
        return _start_again(request, web.texts(request).explain(sent))
    else:
        _refusal(request, sent)
    return redirect("mfakit:second_step")


@require_POST
@_second_step_view
def switch_method(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    try:
        sent = get_mfa().switch_method(
            pending["challenge"],
            request.POST.get("method", ""),
            locale=get_language(),
            context=web.request_context(request),
        )
    except InvalidInput:
        messages.error(request, _("Choose one of the ways offered."))
        return redirect("mfakit:second_step")
    except DeliveryError:
        messages.error(request, _("We could not reach you that way. Try another way."))
        return redirect("mfakit:second_step")
    if not sent.ok:
        if sent.reason in START_AGAIN:
            return _start_again(request, web.texts(request).explain(sent))
        _refusal(request, sent)
    return redirect("mfakit:second_step")


@require_POST
@_second_step_view
def another_way(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    """Seed 000: "try another way" may ask the security question first."""
    get_mfa().try_another_way(pending["challenge"], context=web.request_context(request))
    return redirect("mfakit:second_step")


@require_POST
@_second_step_view
def answer(request: HttpRequest, pending: dict[str, Any]) -> HttpResponse:
    try:
        result = get_mfa().answer_security_question(
            pending["challenge"],
            request.POST.get("answer", ""),
            context=web.request_context(request),
        )
    except InvalidInput:
        messages.error(request, _("Enter your answer."))
        return redirect("mfakit:second_step")
    if result.ok:
        messages.info(request, _("Thank you. Choose another way to sign in."))
    elif result.reason in START_AGAIN:
        return _start_again(request, web.texts(request).explain(result))
    else:
        messages.error(
            request,
            web.texts(request).reason(
                result.reason,
                retry_after=result.retry_after,
                attempts_left=result.challenge.attempts_left
                if result.reason is Reason.INVALID_ANSWER
                else None,
            ),
        )
    return redirect("mfakit:second_step")


@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    pending = _pending(request)
    if pending is not None:
        with contextlib.suppress(NotFound, ConflictingState):  # already over
            get_mfa().cancel(pending["challenge"], context=web.request_context(request))
    request.session.pop(web.PENDING, None)
    return redirect("mfakit:login")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("mfakit:login")


# --- re-authentication and step-up ----------------------------------------------------


def _back(request: HttpRequest) -> str:
    """Where to return after re-authenticating or stepping up: this page for a
    GET, the page the form was on for a POST."""
    if request.method == "GET":
        return request.get_full_path()
    return web.safe_next(request, request.META.get("HTTP_REFERER"), reverse("mfakit:index"))


def _to(name: str, next_page: str) -> HttpResponse:
    from django.utils.http import urlencode

    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': next_page})}")


@login_required
@require_http_methods(["GET", "POST"])
def reauth(request: HttpRequest) -> HttpResponse:
    """Re-enter the password to confirm a sensitive change."""
    next_page = web.safe_next(request, request.GET.get("next") or request.POST.get("next"))
    if request.method == "POST":
        if request.user.check_password(request.POST.get("password", "")):
            request.session[web.REAUTH_AT] = web.now()
            return HttpResponseRedirect(next_page)
        messages.error(request, _("That password is not right."))
    return render(request, "mfakit/reauth.html", {"next": next_page})


@login_required
@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """Prove a second factor again (S32). GET starts a step-up challenge (SMS
    and email codes are sent at once); POST checks a code or switches method."""
    mfa = get_mfa()
    next_page = web.safe_next(request, request.GET.get("next") or request.POST.get("next"))
    uid = web.user_id(request.user)
    if request.method == "GET":
        start = mfa.begin_step_up(
            web.actor(request), uid, locale=get_language(), context=web.request_context(request)
        )
        if start.status is StepUpStatus.NOT_NEEDED:
            messages.info(request, _("Set up two-step verification first."))
            return redirect("mfakit:index")
        request.session[web.STEP_UP_CHALLENGE] = start.challenge.id
        if start.delivery_failed:
            messages.error(request, _("We could not send the code. Use another way below."))
        return _challenge_page(request, start.challenge, "mfakit/step_up.html", next=next_page)
    challenge_id = request.session.get(web.STEP_UP_CHALLENGE)
    if not isinstance(challenge_id, str):
        return _to("mfakit:step_up", next_page)
    try:
        method = request.POST.get("method")
        if method:
            sent = mfa.switch_method(
                challenge_id, method, locale=get_language(), context=web.request_context(request)
            )
            if not sent.ok:
                _refusal(request, sent)
            return _challenge_page(request, sent.challenge, "mfakit/step_up.html", next=next_page)
        result = mfa.verify(
            challenge_id, request.POST.get("code", ""), context=web.request_context(request)
        )
    except InvalidInput:
        messages.error(request, _("Enter the code as you received it."))
        return _challenge_page(
            request, mfa.get_challenge(challenge_id), "mfakit/step_up.html", next=next_page
        )
    except (NotFound, ConflictingState, DeliveryError):
        return _to("mfakit:step_up", next_page)
    if not result.ok or result.step_up is None:
        _refusal(request, result)
        if result.reason in START_AGAIN:
            return _to("mfakit:step_up", next_page)
        return _challenge_page(
            request, mfa.get_challenge(challenge_id), "mfakit/step_up.html", next=next_page
        )
    del request.session[web.STEP_UP_CHALLENGE]
    web.mark_verified(request, result.step_up)
    messages.info(request, _("Verified. You can go on."))
    return HttpResponseRedirect(next_page)


def _account_view(view: V) -> V:
    """An account page: a signed-in user; mfakit's "re-enter your password"
    and "prove a factor first" refusals send them there and back."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except ReauthenticationRequired:
            return _to("mfakit:reauth", _back(request))
        except StepUpRequired:
            return _to("mfakit:step_up", _back(request))
        except NotPermitted as exc:
            messages.error(request, _("Not allowed: %(why)s.") % {"why": exc})
            return redirect("mfakit:index")

    return cast(V, login_required(wrapper))


def _enrolled(request: HttpRequest, codes: Any) -> HttpResponse:
    """A factor was added: the session has passed 2FA now; show the first
    backup codes if mfakit issued them."""
    if request.session.get(web.AUTH) == "enrol":
        request.session[web.AUTH] = "mfa"
    if codes is not None:
        _keep_codes(request, codes)
        return redirect("mfakit:backup_codes")
    return redirect("mfakit:index")


# --- the account's overview -------------------------------------------------------------


@_account_view
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    mfa = get_mfa()
    uid = web.user_id(request.user)
    factors = mfa.list_factors(uid)
    methods = sorted({m for f in factors if f.verified for m in f.methods}, key=list(Method).index)
    return render(
        request,
        "mfakit/index.html",
        {
            "factors": factors,
            "two_factor_on": any(f.verified for f in factors),
            "must_enrol": request.session.get(web.AUTH) == "enrol",
            "backup_codes_left": mfa.backup_codes_left(uid),
            "devices": [d for d in mfa.list_devices(uid) if d.active],
            "question": mfa.get_security_question(uid),
            "methods": [(m.value, _method_labels()[m.value]) for m in methods],
        },
    )


# --- authenticator app ----------------------------------------------------------------------


@_account_view
@require_http_methods(["GET", "POST"])
def totp_setup(request: HttpRequest) -> HttpResponse:
    """GET: the intro. POST: a new pending setup with its QR code and key."""
    if request.method == "GET":
        return render(request, "mfakit/totp_start.html")
    user = request.user
    label = request.POST.get("label", "").strip() or _("Authenticator app")
    account = getattr(user, "email", "") or user.get_username()
    try:
        setup = get_mfa().begin_totp_setup(
            web.actor(request),
            web.user_id(user),
            account_name=account,
            label=label,
            context=web.request_context(request),
        )
    except (InvalidInput, ConflictingState) as exc:
        messages.error(request, str(exc))
        return render(request, "mfakit/totp_start.html", status=400)
    request.session[web.SETUP] = setup.id
    # mfakit draws the SVG (segno) from the otpauth URI: paths only, no user text.
    qr = mark_safe(setup.qr_svg(scale=5))  # noqa: S308
    return render(request, "mfakit/totp_qr.html", {"setup": setup, "qr": qr})


@_account_view
@require_POST
def totp_confirm(request: HttpRequest) -> HttpResponse:
    setup_id = request.session.get(web.SETUP)
    if not isinstance(setup_id, str):
        return redirect("mfakit:totp_setup")
    try:
        done = get_mfa().confirm_totp_setup(
            web.actor(request),
            setup_id,
            request.POST.get("code", ""),
            context=web.request_context(request),
        )
    except InvalidInput:
        messages.error(request, _("Enter the 6-digit code your app shows."))
        return render(request, "mfakit/totp_confirm.html", status=400)
    except (NotFound, ConflictingState):
        request.session.pop(web.SETUP, None)
        messages.error(request, _("This setup expired. Start again."))
        return redirect("mfakit:totp_setup")
    if not done.ok:
        _refusal(request, done)
        if done.reason in START_AGAIN:
            request.session.pop(web.SETUP, None)
            return redirect("mfakit:totp_setup")
        return render(request, "mfakit/totp_confirm.html", status=400)
    del request.session[web.SETUP]
    messages.success(request, _("Your authenticator app is set up."))
    return _enrolled(request, done.backup_codes)


def _change(
    request: HttpRequest, change: Callable[[], object], *, missing: str | None, done: str
) -> HttpResponse:
    """Run one of mfakit's changes to the account and say how it went: `missing`
    for what is not there (None: mfakit's words), mfakit's words for a refusal."""
    try:
        change()
    except (NotFound, InvalidInput) as exc:
        messages.error(request, str(exc) if missing is None else missing)
    except ConflictingState as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("mfakit:index")


@_account_view
@require_POST
def totp_remove(request: HttpRequest, factor_id: str) -> HttpResponse:
    return _change(
        request,
        lambda: get_mfa().remove_authenticator(
            web.actor(request),
            web.user_id(request.user),
            factor_id,
            role=web.role_of(request.user),
            context=web.request_context(request),
        ),
        missing=_("No such authenticator app."),
        done=_("The authenticator app was removed."),
    )


# --- backup codes -------------------------------------------------------------------------------


def _keep_codes(request: HttpRequest, codes: Any) -> None:
    request.session[web.CODES] = {"codes": list(codes), "until": web.now() + CODES_TTL}


def _fresh_codes(request: HttpRequest) -> list[str] | None:
    kept = request.session.get(web.CODES)
    if not isinstance(kept, dict) or kept.get("until", 0) < web.now():
        request.session.pop(web.CODES, None)
        return None
    return [str(c) for c in kept["codes"]]


@_account_view
@require_http_methods(["GET", "POST"])
def backup_codes(request: HttpRequest) -> HttpResponse:
    """GET: the codes just issued (once), or how many are left. POST:
    `regenerate` issues a new set; `saved` forgets the shown ones."""
    mfa = get_mfa()
    uid = web.user_id(request.user)
    if request.method == "POST":
        if "saved" in request.POST:
            request.session.pop(web.CODES, None)
            return redirect("mfakit:index")
        codes = mfa.regenerate_backup_codes(
            web.actor(request), uid, context=web.request_context(request)
        )
        _keep_codes(request, codes)
        messages.success(request, _("New backup codes: the old ones no longer work."))
        return redirect("mfakit:backup_codes")
    return render(
        request,
        "mfakit/backup_codes.html",
        {"codes": _fresh_codes(request), "left": mfa.backup_codes_left(uid)},
    )


@_account_view
@require_GET
def backup_codes_download(request: HttpRequest) -> HttpResponse:
    codes = _fresh_codes(request)
    if codes is None:
        return redirect("mfakit:backup_codes")
    mfa = get_mfa()
    text = web.texts(request).backup_codes_sheet(codes, mfa.issuer)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="backup-codes.txt"'
    response["Cache-Control"] = "no-store"
    return response


# --- phone and email ----------------------------------------------------------------------------


def _verified_contact(uid: str, kind: str) -> bool:
    return any(f.kind == kind and f.verified for f in get_mfa().list_factors(uid))


@_account_view
@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, kind: str) -> HttpResponse:
    """Add (or change) the phone number or email address. A new one gets a
    code to prove it; changing a verified one needs a code on a channel that
    was verified before (seed 001, S19)."""
    if kind not in (ContactKind.PHONE.value, ContactKind.EMAIL.value):
        return redirect("mfakit:index")
    mfa = get_mfa()
    uid = web.user_id(request.user)
    context = {"kind": kind}
    if request.method == "GET":
        return render(request, "mfakit/contact.html", context)
    value = request.POST.get("value", "").strip()
    try:
        if _verified_contact(uid, kind):
            change = mfa.begin_contact_change(
                web.actor(request),
                uid,
                **{kind: value},
                context=web.request_context(request),
            )
            if not change.ok or change.challenge is None:
                _refusal(request, change)
                return render(request, "mfakit/contact.html", context, status=400)
            challenge = change.challenge
            # Once the change is applied, the new value is proven as a new one is.
            then = {"kind": kind, "value": value, "method": request.POST.get("method")}
        else:
            sent = _begin_enrolment(request, kind, value, request.POST.get("method"))
            if not sent.ok:
                _refusal(request, sent)
                return render(request, "mfakit/contact.html", context, status=400)
            challenge, then = sent.challenge, None
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return render(request, "mfakit/contact.html", context, status=400)
    except DeliveryError:
        messages.error(request, _("We could not send a code there. Check it and try again."))
        return render(request, "mfakit/contact.html", context, status=400)
    request.session[web.ENROL] = {"challenge": challenge.id, "then": then}
    return redirect("mfakit:contact_verify")


def _begin_enrolment(request: HttpRequest, kind: str, value: str, method: object) -> SendResult:
    """Send a code to a new phone number (by SMS, or voice) or email address."""
    mfa, uid = get_mfa(), web.user_id(request.user)
    if kind == ContactKind.PHONE.value:
        return mfa.begin_phone_enrolment(
            web.actor(request),
            uid,
            value,
            method=method if isinstance(method, str) and method else Method.SMS,
            locale=get_language(),
            context=web.request_context(request),
        )
    return mfa.begin_email_enrolment(
        web.actor(request), uid, value, locale=get_language(), context=web.request_context(request)
    )


@_account_view
@require_http_methods(["GET", "POST"])
def contact_verify(request: HttpRequest) -> HttpResponse:
    """The code that proves a new phone or email, or approves a change."""
    mfa = get_mfa()
    pending = request.session.get(web.ENROL)
    if not isinstance(pending, dict) or not isinstance(pending.get("challenge"), str):
        return redirect("mfakit:index")
    challenge_id = pending["challenge"]
    try:
        if request.method == "GET":
            challenge = mfa.get_challenge(challenge_id)
            if not challenge.is_open:
                raise ConflictingState("over")
            return _challenge_page(request, challenge, "mfakit/contact_verify.html")
        method = request.POST.get("method")
        if method or "resend" in request.POST:
            sent = mfa.send(
                challenge_id,
                method or None,
                locale=get_language(),
                context=web.request_context(request),
            )
            if not sent.ok:
                _refusal(request, sent)
            return redirect("mfakit:contact_verify")
        result = mfa.verify(
            challenge_id, request.POST.get("code", ""), context=web.request_context(request)
        )
    except InvalidInput:
        messages.error(request, _("Enter the code as you received it."))
        return redirect("mfakit:contact_verify")
    except DeliveryError:
        messages.error(request, _("We could not send a code there. Try again."))
        return redirect("mfakit:contact_verify")
    except (NotFound, ConflictingState):
        request.session.pop(web.ENROL, None)
        messages.error(request, _("This code expired. Start again."))
        return redirect("mfakit:index")
    if not result.ok:
        _refusal(request, result)
        if result.reason in START_AGAIN:
            request.session.pop(web.ENROL, None)
            return redirect("mfakit:index")
        return redirect("mfakit:contact_verify")
    del request.session[web.ENROL]
    then = pending.get("then")
    if isinstance(then, dict):
        return _prove_new_value(request, then)
    messages.success(request, _("Verified."))
    return _enrolled(request, result.backup_codes)


def _prove_new_value(request: HttpRequest, then: dict[str, Any]) -> HttpResponse:
    """The change is applied and the new value is unverified: send it a code
    at once, so that it becomes a way to sign in (step 4 of a guarded change)."""
    try:
        sent = _begin_enrolment(request, then["kind"], then["value"], then.get("method"))
    except (InvalidInput, DeliveryError, ConflictingState, NotPermitted):
        sent = None
    if sent is None or not sent.ok:
        messages.warning(request, _("Changed. Add it again to prove it is yours."))
        return redirect("mfakit:index")
    messages.success(request, _("Changed. Now enter the code we sent to the new one."))
    request.session[web.ENROL] = {"challenge": sent.challenge.id, "then": None}
    return redirect("mfakit:contact_verify")


@_account_view
@require_POST
def contact_remove(request: HttpRequest, kind: str) -> HttpResponse:
    return _change(
        request,
        lambda: get_mfa().remove_contact(
            web.actor(request),
            web.user_id(request.user),
            kind,
            role=web.role_of(request.user),
            context=web.request_context(request),
        ),
        missing=_("Nothing to remove."),
        done=_("Removed."),
    )


# --- security question, preferred method, devices, turning 2FA off --------------------------------


@_account_view
@require_http_methods(["GET", "POST"])
def security_question(request: HttpRequest) -> HttpResponse:
    mfa = get_mfa()
    context = {"questions": mfa.security_questions}
    if request.method == "POST":
        try:
            mfa.set_security_question(
                web.actor(request),
                web.user_id(request.user),
                request.POST.get("question", ""),
                request.POST.get("answer", ""),
                context=web.request_context(request),
            )
        except InvalidInput as exc:
            messages.error(request, str(exc))
            return render(request, "mfakit/question.html", context, status=400)
        messages.success(request, _("Your security question is set."))
        return redirect("mfakit:index")
    return render(request, "mfakit/question.html", context)


@_account_view
@require_POST
def preferred_method(request: HttpRequest) -> HttpResponse:
    return _change(
        request,
        lambda: get_mfa().set_preferred_method(
            web.actor(request),
            web.user_id(request.user),
            request.POST.get("method") or None,
            context=web.request_context(request),
        ),
        missing=None,
        done=_("Your preferred method is saved."),
    )


@_account_view
@require_POST
def revoke_device(request: HttpRequest, device_id: str) -> HttpResponse:
    return _change(
        request,
        lambda: get_mfa().revoke_device(
            web.actor(request),
            web.user_id(request.user),
            device_id,
            context=web.request_context(request),
        ),
        missing=_("No such device."),
        done=_("The device is no longer trusted."),
    )


@_account_view
@require_POST
def revoke_all_devices(request: HttpRequest) -> HttpResponse:
    gone = get_mfa().revoke_all_devices(
        web.actor(request), web.user_id(request.user), context=web.request_context(request)
    )
    messages.success(request, _("%(n)d devices are no longer trusted.") % {"n": gone})
    response = redirect("mfakit:index")
    response.delete_cookie(web.TRUST_COOKIE, samesite="Lax")
    return response


@_account_view
@require_http_methods(["GET", "POST"])
def disable(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "mfakit/disable.html")
    try:
        get_mfa().disable_two_factor(
            web.actor(request),
            web.user_id(request.user),
            role=web.role_of(request.user),
            context=web.request_context(request),
        )
    except ConflictingState as exc:
        messages.error(request, str(exc))
        return redirect("mfakit:index")
    messages.success(request, _("Two-step verification is off."))
    return redirect("mfakit:index")


@_account_view
@require_GET
def activity(request: HttpRequest) -> HttpResponse:
    """The account's security events, newest first, 50 a page."""
    before = request.GET.get("before") or None
    try:
        events = get_mfa().list_events(web.user_id(request.user), limit=50, before=before)
    except InvalidInput:
        events = []
    return render(
        request,
        "mfakit/activity.html",
        {"events": events, "more": events[-1].id if len(events) == 50 else None},
    )
