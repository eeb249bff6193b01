"""An admin's "manage team member" pages (seed 001): a member's factors
(masked), a guarded phone or email change made for the member, and the
admin actions "unlock the second step" and "revoke trusted devices".

Who may manage whom is the host's decision (`MFAKIT["TEAM_PERMISSION"]`, a
dotted path of a function `(admin, member) -> bool`; default: the admin is
`is_staff`). mfakit sees the admin as an `Actor.admin` acting for the
member, so the audit names the admin, and a change's code goes to the
MEMBER's verified channels, never the admin's nor the new value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from ...core.actor import Actor
from ...core.contacts import ContactKind
from ...errors import (
    ConfigurationError,
    ConflictingState,
    DeliveryError,
    InvalidInput,
    NotFound,
    NotPermitted,
    ReauthenticationRequired,
)
from . import web
from .conf import get_mfa
from .views import START_AGAIN, _challenge_page, _refusal, _to

__all__ = ["TEAM", "admin_actor", "may_manage"]

TEAM = "mfakit.team"
"""Session key of the admin's pending change: the member's id and the challenge id."""

V = TypeVar("V", bound=Callable[..., HttpResponseBase])


def _default_permission(admin: Any, member: Any) -> bool:
    return bool(getattr(admin, "is_staff", False))


def may_manage(admin: Any, member: Any) -> bool:
    """Whether `admin` may manage `member`'s 2FA: `MFAKIT["TEAM_PERMISSION"]`
    if set, else whether `admin.is_staff`."""
    path = getattr(settings, "MFAKIT", {}).get("TEAM_PERMISSION")
    check: Callable[[Any, Any], object] = (
        _default_permission if path is None else import_string(path)
    )
    allowed = check(admin, member)
    if not isinstance(allowed, bool):
        raise ConfigurationError("MFAKIT['TEAM_PERMISSION'] must return a bool")
    return allowed


def admin_actor(request: HttpRequest) -> Actor:
    """The signed-in admin acting for a team member, with this session's
    re-authentication time and step-up grant."""
    grant = request.session.get(web.STEP_UP)
    return Actor.admin(
        web.user_id(request.user),
        reauthenticated_at=web.reauthenticated_at(request),
        step_up=grant if isinstance(grant, str) else None,
    )


def _team_view(view: V) -> V:
    """A team page: a signed-in admin allowed to manage the member named by
    `member_id` (else 403; 404 for no such user); the member is passed on."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, member_id: str) -> HttpResponseBase:
        model = get_user_model()
        try:
            member = model._default_manager.get(pk=member_id)
        except (model.DoesNotExist, ValueError, TypeError) as exc:
            raise Http404 from exc
        if not may_manage(request.user, member):
            raise PermissionDenied
        back = reverse("mfakit:team_member", args=[member_id])
        try:
            return view(request, member)
        except ReauthenticationRequired:
            return _to("mfakit:reauth", back)
        except NotPermitted as exc:
            messages.error(request, _("Not allowed: %(why)s.") % {"why": exc})
            return redirect(back)

    return cast(V, login_required(wrapper))


@_team_view
@require_http_methods(["GET"])
def team_member(request: HttpRequest, member: Any) -> HttpResponse:
    """The member's factors, masked, and what the admin can do for them."""
    uid = web.user_id(member)
    return render(
        request,
        "mfakit/team_member.html",
        {
            "member": member,
            "member_id": uid,
            "factors": get_mfa().list_factors(uid),
            "devices": get_mfa().list_devices(uid),
        },
    )


@_team_view
@require_POST
def team_change(request: HttpRequest, member: Any) -> HttpResponse:
    """Start changing the member's phone or email: mfakit offers only the
    member's channels verified before the change."""
    uid = web.user_id(member)
    kind = request.POST.get("kind")
    back = redirect("mfakit:team_member", uid)
    if kind not in (ContactKind.PHONE.value, ContactKind.EMAIL.value):
        return back
    try:
        change = get_mfa().begin_contact_change(
            admin_actor(request),
            uid,
            **{kind: request.POST.get("value", "").strip()},
            context=web.request_context(request),
        )
    except InvalidInput as exc:
        messages.error(request, str(exc))
        return back
    if not change.ok or change.challenge is None:
        _refusal(request, change)
        return back
    request.session[TEAM] = {"member": uid, "challenge": change.challenge.id}
    return redirect("mfakit:team_verify", uid)


@_team_view
@require_http_methods(["GET", "POST"])
def team_verify(request: HttpRequest, member: Any) -> HttpResponse:
    """Choose the member's channel, then enter the code the member received."""
    mfa, uid = get_mfa(), web.user_id(member)
    here = redirect("mfakit:team_verify", uid)
    pending = request.session.get(TEAM)
    if not isinstance(pending, dict) or pending.get("member") != uid:
        return redirect("mfakit:team_member", uid)
    challenge_id = str(pending["challenge"])
    try:
        if request.method == "GET":
            challenge = mfa.get_challenge(challenge_id)
            if not challenge.is_open:
                raise ConflictingState("over")
            url = reverse("mfakit:team_verify", args=[uid])
            return _challenge_page(
                request, challenge, "mfakit/team_verify.html", member=member, url=url
            )
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
            return here
        result = mfa.verify(
            challenge_id, request.POST.get("code", ""), context=web.request_context(request)
        )
    except InvalidInput:
        messages.error(request, _("Enter the code as you received it."))
        return here
    except DeliveryError:
        messages.error(request, _("We could not send a code there. Try again."))
        return here
    except (NotFound, ConflictingState):
        request.session.pop(TEAM, None)
        messages.error(request, _("This code expired. Start again."))
        return redirect("mfakit:team_member", uid)
    if not result.ok:
        _refusal(request, result)
        if result.reason in START_AGAIN:
            request.session.pop(TEAM, None)
            return redirect("mfakit:team_member", uid)
        return here
    del request.session[TEAM]
    messages.success(
        request, _("Changed. The team member proves the new one from their own account.")
    )
    return redirect("mfakit:team_member", uid)


@_team_view
@require_POST
def team_unlock(request: HttpRequest, member: Any) -> HttpResponse:
    uid = web.user_id(member)
    get_mfa().unlock_second_step(admin_actor(request), uid, context=web.request_context(request))
    messages.success(request, _("The second step is unlocked."))
    return redirect("mfakit:team_member", uid)


@_team_view
@require_POST
def team_revoke_devices(request: HttpRequest, member: Any) -> HttpResponse:
    uid = web.user_id(member)
    get_mfa().revoke_all_devices(admin_actor(request), uid, context=web.request_context(request))
    messages.success(request, _("The trusted devices are revoked."))
    return redirect("mfakit:team_member", uid)
