"""The practice's own pages, guarded by mfakit's decorators."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mfakit.integrations.django.decorators import mfa_required, recent_mfa_required

from . import inbox as dev_inbox


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "demo_site/home.html")


@mfa_required
def records(request: HttpRequest) -> HttpResponse:
    """Only for a session that passed two-step verification."""
    return render(request, "demo_site/records.html")


@recent_mfa_required(max_age=300)
def export(request: HttpRequest) -> HttpResponse:
    """Sensitive: a factor proven in the last five minutes."""
    response = HttpResponse("name,visit\nCasey Client,2026-01-05\n", content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="records.csv"'
    return response


def inbox(request: HttpRequest) -> HttpResponse:
    """Every message sent, codes in clear: development only (DEBUG)."""
    return render(request, "demo_site/inbox.html", {"messages_sent": dev_inbox.messages()})
