"""The URLs of the Django tests' project: mfakit's app, the admin, and a few
pages of the "host" guarded by mfakit's decorators."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View

from mfakit.integrations.django.decorators import (
    MfaRequiredMixin,
    RecentMfaRequiredMixin,
    mfa_required,
    recent_mfa_required,
)


def home(request: HttpRequest) -> HttpResponse:
    """Who is signed in, then the messages waiting for them (one a line)."""
    user = request.user
    who = user.get_username() if user.is_authenticated else "nobody"
    lines = [f"home of {who}", *(str(m) for m in get_messages(request))]
    return HttpResponse("\n".join(lines), content_type="text/plain")


@mfa_required
def records(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the records")


@recent_mfa_required(max_age=60)
def export(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"exported ({request.method})")


class RecordsView(MfaRequiredMixin, View):
    """`/records/` as a class-based view (`MfaRequiredMixin`)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("the records (class)")


class ExportView(RecentMfaRequiredMixin, View):
    """`/export/` as a class-based view (`RecentMfaRequiredMixin`)."""

    mfa_max_age = 60

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("exported (class)")


urlpatterns = [
    path("account/2fa/", include("mfakit.integrations.django.urls")),
    path("admin/", admin.site.urls),
    path("home/", home),
    path("records/", records),
    path("export/", export),
    path("class/records/", RecordsView.as_view()),
    path("class/export/", ExportView.as_view()),
]
