"""The app's URLs: `path("account/2fa/", include("mfakit.integrations.django.urls"))`.

The names live in the `mfakit` namespace (`reverse("mfakit:login")`).
Point `LOGIN_URL` at `"mfakit:login"` so that `@login_required` pages
sign in with the second step.
"""

from __future__ import annotations

from django.urls import path

from . import team, views

app_name = "mfakit"

urlpatterns = [
    # sign-in and its second step
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.second_step, name="second_step"),
    path("login/resend/", views.resend, name="resend"),
    path("login/method/", views.switch_method, name="switch_method"),
    path("login/another-way/", views.another_way, name="another_way"),
    path("login/answer/", views.answer, name="answer"),
    path("login/cancel/", views.cancel, name="cancel"),
    path("logout/", views.sign_out, name="logout"),
    # proving it is you again
    path("reauth/", views.reauth, name="reauth"),
    path("step-up/", views.step_up, name="step_up"),
    # the account's 2FA
    path("", views.index, name="index"),
    path("authenticator/", views.totp_setup, name="totp_setup"),
    path("authenticator/confirm/", views.totp_confirm, name="totp_confirm"),
    path("authenticator/<str:factor_id>/remove/", views.totp_remove, name="totp_remove"),
    path("backup-codes/", views.backup_codes, name="backup_codes"),
    path("backup-codes/download/", views.backup_codes_download, name="backup_codes_download"),
    path("contact/verify/", views.contact_verify, name="contact_verify"),
    path("contact/<str:kind>/", views.contact, name="contact"),
    path("contact/<str:kind>/remove/", views.contact_remove, name="contact_remove"),
    path("security-question/", views.security_question, name="security_question"),
    path("preferred-method/", views.preferred_method, name="preferred_method"),
    path("devices/<str:device_id>/revoke/", views.revoke_device, name="revoke_device"),
    path("devices/revoke-all/", views.revoke_all_devices, name="revoke_all_devices"),
    path("disable/", views.disable, name="disable"),
    path("activity/", views.activity, name="activity"),
    # an admin managing a team member (seed 001: codes go to the member)
    path("team/<str:member_id>/", team.team_member, name="team_member"),
    path("team/<str:member_id>/change/", team.team_change, name="team_change"),
    path("team/<str:member_id>/verify/", team.team_verify, name="team_verify"),
    path("team/<str:member_id>/unlock/", team.team_unlock, name="team_unlock"),
    path(
        "team/<str:member_id>/revoke-devices/",
        team.team_revoke_devices,
        name="team_revoke_devices",
    ),
]
