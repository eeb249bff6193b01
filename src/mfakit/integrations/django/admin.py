"""The Django admin's view of mfakit: read-only lists, masked, with three actions.

Authenticator apps, phone numbers and email addresses, trusted devices,
users' 2FA state and the audit trail are listed read-only: no secret, hash or
answer is shown, phone numbers and email addresses are masked (`+4•••••01`).
Nobody edits mfakit's rows by hand; three actions change them through mfakit,
so the audit trail records who did what:

* **Unlock the second step** (`mfa.unlock_second_step`),
* **Revoke trusted devices** (`mfa.revoke_all_devices`),
* **Reset two-step verification** (the operator's `disable_two_factor`, for
  a user who lost every factor and every backup code; it asks for a written
  reason, which goes into the audit trail).

Each acts on the users of the selected rows, as the signed-in admin
(`django-admin:<pk>`); like mfakit's other sensitive changes it needs a
password typed in the last few minutes (the re-authentication page asks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...core.actor import Actor
from ...core.contacts import ContactKind, mask
from ...errors import MfaError
from ...service import operator
from . import models as m
from . import web
from .conf import get_mfa

__all__ = [
    "AuditEventAdmin",
    "ContactAdmin",
    "TotpFactorAdmin",
    "TrustedDeviceAdmin",
    "UserStateAdmin",
]


def admin_actor(request: HttpRequest) -> Actor:
    """The signed-in admin as mfakit's actor, with their re-authentication time."""
    return Actor.admin(
        f"django-admin:{request.user.pk}", reauthenticated_at=web.reauthenticated_at(request)
    )


def _users(queryset: QuerySet[Any]) -> list[str]:
    return sorted(set(queryset.values_list("user_id", flat=True)))


def _needs_password(request: HttpRequest) -> HttpResponse | None:
    """Send an admin whose password is not fresh to re-enter it, then back."""
    if web.is_fresh(request):
        return None
    messages.warning(request, _("Re-enter your password, then choose the action again."))
    back = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{reverse('mfakit:reauth')}?{back}")


def _for_each_user(
    request: HttpRequest, users: list[str], act: Callable[[Actor, str], object]
) -> None:
    """`act(admin, user_id)` for each user; says how many went and why others did not."""
    done, failed = 0, []
    for user_id in users:
        try:
            act(admin_actor(request), user_id)
            done += 1
        except MfaError as exc:
            failed.append(f"{user_id}: {exc}")
    if done:
        messages.success(request, _("Done for %(n)d user(s).") % {"n": done})
    for line in failed:
        messages.error(request, line)


@admin.action(description=gettext_lazy("Unlock the second step"))
def unlock_second_step(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    refused = _needs_password(request)
    if refused is None:
        _for_each_user(request, _users(queryset), get_mfa().unlock_second_step)
    return refused


@admin.action(description=gettext_lazy("Revoke trusted devices"))
def revoke_devices(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    refused = _needs_password(request)
    if refused is None:
        _for_each_user(request, _users(queryset), get_mfa().revoke_all_devices)
    return refused


@admin.action(description=gettext_lazy("Reset two-step verification"))
def reset_two_factor(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    """Asks for a reason on a confirmation page, then runs the operator's reset."""
    refused = _needs_password(request)
    if refused is not None:
        return refused
    users = _users(queryset)
    reason = request.POST.get("reason", "").strip()
    if "apply" not in request.POST or not reason:
        if "apply" in request.POST:
            messages.error(request, _("Write why the reset is needed."))
        return TemplateResponse(
            request,
            "mfakit/admin/reset_confirm.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": _("Reset two-step verification"),
                "users": users,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "opts": modeladmin.model._meta,
            },
        )
    mfa = get_mfa()
    _for_each_user(
        request,
        users,
        lambda actor, user_id: mfa._run(operator.disable_two_factor, actor, user_id, reason=reason),
    )
    return None


ACTIONS = [unlock_second_step, revoke_devices, reset_two_factor]


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Listed and viewed, never added, changed or deleted by hand."""

    actions = tuple(ACTIONS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.TotpFactor)
class TotpFactorAdmin(_ReadOnly):
    list_display = ("user_id", "label", "confirmed_at", "last_used_at", "created_at")
    search_fields = ("user_id",)
    fields = ("user_id", "factor_id", "label", "created_at", "confirmed_at", "last_used_at")


@admin.register(m.Contact)
class ContactAdmin(_ReadOnly):
    list_display = ("user_id", "kind", "masked_value", "verified_at")
    search_fields = ("user_id",)
    fields = ("user_id", "kind", "masked_value", "created_at", "verified_at")
    readonly_fields = ("masked_value",)

    @admin.display(description=gettext_lazy("destination"))
    def masked_value(self, obj: m.Contact) -> str:
        return mask(ContactKind(obj.kind), obj.value)


@admin.register(m.TrustedDevice)
class TrustedDeviceAdmin(_ReadOnly):
    list_display = ("user_id", "label", "created_at", "expires_at", "last_used_at", "revoked_at")
    search_fields = ("user_id",)
    fields = list_display


@admin.register(m.UserState)
class UserStateAdmin(_ReadOnly):
    list_display = ("user_id", "preferred_method", "security_version", "updated_at")
    search_fields = ("user_id",)


@admin.register(m.AuditEvent)
class AuditEventAdmin(_ReadOnly):
    list_display = ("at", "action", "subject_id", "actor_id", "method", "outcome", "reason", "ip")
    list_filter = ("action", "outcome")
    search_fields = ("subject_id", "actor_id")
    ordering = ("-seq",)
    actions = ()
