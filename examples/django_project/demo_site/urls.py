"""The example's URLs: mfakit's pages under ``account/2fa/``, the admin, the
practice's own pages and, while ``DEBUG``, the development inbox."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("account/2fa/", include("mfakit.integrations.django.urls")),  # mfakit
    # The admin signs in through mfakit too (its own form has no second step).
    path("admin/login/", RedirectView.as_view(pattern_name="mfakit:login", query_string=True)),
    path("admin/", admin.site.urls),
    path("", views.home, name="home"),
    path("records/", views.records, name="records"),
    path("records/export/", views.export, name="export"),
]
if settings.DEBUG:
    urlpatterns.append(path("dev/inbox/", views.inbox, name="inbox"))
