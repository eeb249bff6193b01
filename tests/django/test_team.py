"""An admin's "manage team member" pages through Django's test client, CSRF
on (seed 001): only staff (or the host's permission check) get in; a phone
change made for a member is approved with a code sent to the MEMBER's verified
phone, never to the admin nor the new number; a wrong code changes nothing;
the audit names the admin; unlock and revoke devices act on the member.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from mfakit import Actor
from mfakit.integrations.django import get_mfa
from mfakit.integrations.django.models import AuditEvent

from .doubles import OUTBOX
from .test_views import (  # noqa: F401  (the fixtures are used by name)
    BASE,
    Browser,
    _forget_secrets,
    mfakit_setting,
    sign_in,
    text,
    user,
)

pytestmark = pytest.mark.django_db

MEMBER_PHONE = "+14155550101"
ADMIN_PHONE = "+14155550199"
NEW_PHONE = "+12015550123"


def verified_phone(who: User, phone: str) -> None:
    """A verified phone number for ``who``, enrolled through mfakit."""
    mfa, uid = get_mfa(), str(who.pk)
    actor = Actor.user(uid, reauthenticated_at=mfa.clock.now())
    sent = mfa.begin_phone_enrolment(actor, uid, phone)
    assert sent.ok and sent.challenge is not None
    assert mfa.verify(sent.challenge.id, OUTBOX.last_code(phone)).ok


def phone_of(who: User) -> Any:
    (phone,) = [f for f in get_mfa().list_factors(str(who.pk)) if f.kind == "phone"]
    return phone


def signed_in_admin(**extra: Any) -> tuple[User, Browser]:
    admin, browser = user("boss", is_staff=True, **extra), Browser()
    verified_phone(admin, ADMIN_PHONE)
    # The admin signs in with their own code (a second step), then manages.
    sign_in(browser, admin)
    browser.post(f"{BASE}/login/code/", {"method": "sms"})
    browser.post(f"{BASE}/login/code/", {"code": OUTBOX.last_code(ADMIN_PHONE)})
    assert browser.signed_in_as() == "home of boss"
    OUTBOX.clear()
    return admin, browser


def test_a_user_who_is_not_staff_is_refused() -> None:
    member, other, browser = user("carol"), user("mallory"), Browser()
    verified_phone(member, MEMBER_PHONE)
    sign_in(browser, other)
    assert browser.get(f"{BASE}/team/{member.pk}/").status_code == 403
    response = browser.post(
        f"{BASE}/team/{member.pk}/change/", {"kind": "phone", "value": NEW_PHONE}
    )
    assert response.status_code == 403
    assert browser.post(f"{BASE}/team/{member.pk}/unlock/").status_code == 403
    assert phone_of(member).destination == "+1•••••01"


def test_the_host_decides_who_manages_whom(settings: Any) -> None:
    member, lead = user("carol"), user("lead")
    _, browser = signed_in_admin()
    settings.MFAKIT = {**settings.MFAKIT, "TEAM_PERMISSION": "tests.django.test_team.leads_only"}
    assert get_mfa().issuer == "Django Test"  # the key is a setting MFAKIT accepts
    assert browser.get(f"{BASE}/team/{member.pk}/").status_code == 403  # staff, not a lead
    lead_browser = Browser()
    sign_in(lead_browser, lead)
    assert lead_browser.get(f"{BASE}/team/{member.pk}/").status_code == 200


def leads_only(admin: Any, member: Any) -> bool:
    return bool(admin.username == "lead")


def test_an_unknown_member_is_not_found() -> None:
    _, browser = signed_in_admin()
    assert browser.get(f"{BASE}/team/999999/").status_code == 404


def test_an_admin_changes_a_members_phone_with_the_code_sent_to_the_member() -> None:
    member = user("carol")
    verified_phone(member, MEMBER_PHONE)
    admin, browser = signed_in_admin()
    page = browser.page(f"{BASE}/team/{member.pk}/")
    assert "Team member carol" in page and "+1•••••01" in page and MEMBER_PHONE not in page
    response = browser.post(
        f"{BASE}/team/{member.pk}/change/", {"kind": "phone", "value": "+1 201 555 0123"}
    )
    assert response["Location"] == f"{BASE}/team/{member.pk}/verify/"
    assert OUTBOX.messages == []  # nothing sent before the admin picks the member's channel
    page = browser.page(f"{BASE}/team/{member.pk}/verify/")
    assert "Enter the code we sent you by text message." in page and "Call me with a code" in page
    browser.post(f"{BASE}/team/{member.pk}/verify/", {"method": "sms"})
    assert [m.to for m in OUTBOX.messages] == [MEMBER_PHONE]
    assert OUTBOX.sent_to(ADMIN_PHONE) == [] and OUTBOX.sent_to(NEW_PHONE) == []
    # A wrong code is refused and changes nothing.
    response = browser.post(f"{BASE}/team/{member.pk}/verify/", {"code": "000000"}, follow=True)
    assert "That code is not correct" in text(response)
    assert phone_of(member).destination == "+1•••••01" and phone_of(member).verified
    # The code the member received applies the change.
    response = browser.post(
        f"{BASE}/team/{member.pk}/verify/",
        {"code": OUTBOX.last_code(MEMBER_PHONE)},
        follow=True,
    )
    assert "Changed. The team member proves the new one" in text(response)
    assert phone_of(member).destination == "+1•••••23" and not phone_of(member).verified
    assert OUTBOX.sent_to(ADMIN_PHONE) == [] and OUTBOX.sent_to(NEW_PHONE) == []
    # The audit names the admin as the actor, the member as the subject.
    started = AuditEvent.objects.get(subject_id=str(member.pk), action="contact_change.started")
    applied = AuditEvent.objects.get(subject_id=str(member.pk), action="contact_change.applied")
    assert started.actor_id == applied.actor_id == str(admin.pk)


def test_the_verify_page_belongs_to_the_member_the_change_was_started_for() -> None:
    member, bystander = user("carol"), user("dave")
    verified_phone(member, MEMBER_PHONE)
    _, browser = signed_in_admin()
    browser.post(f"{BASE}/team/{member.pk}/change/", {"kind": "phone", "value": NEW_PHONE})
    response = browser.get(f"{BASE}/team/{bystander.pk}/verify/")
    assert response["Location"] == f"{BASE}/team/{bystander.pk}/"


def test_an_admin_revokes_a_members_devices_and_unlocks_their_second_step() -> None:
    member = user("carol")
    verified_phone(member, MEMBER_PHONE)
    admin, browser = signed_in_admin()
    response = browser.post(f"{BASE}/team/{member.pk}/revoke-devices/", follow=True)
    assert "The trusted devices are revoked." in text(response)
    response = browser.post(f"{BASE}/team/{member.pk}/unlock/", follow=True)
    assert "The second step is unlocked." in text(response)
    by_admin = AuditEvent.objects.filter(subject_id=str(member.pk), actor_id=str(admin.pk))
    actions = set(by_admin.values_list("action", flat=True))
    assert {"account.unlocked", "device.revoked_all"} <= actions


def test_a_change_posted_without_the_csrf_token_is_refused() -> None:
    member = user("carol")
    verified_phone(member, MEMBER_PHONE)
    _, browser = signed_in_admin()
    response = browser.client.post(
        f"{BASE}/team/{member.pk}/change/", {"kind": "phone", "value": NEW_PHONE}
    )
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="contact_change.started").exists()
