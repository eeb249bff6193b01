"""The app's pages through Django's test client, with CSRF checks on: sign-in
and its second step (TOTP, backup code, email, try another way, trust this
device), every refusal (wrong code, replay, expired, locked, rate limited,
no CSRF token), enrolment, the account pages, re-authentication and step-up,
the middleware, the decorators, the signals and the admin.

mfakit runs on DjangoStore (SQLite), its clock a FakeClock the tests move,
email through Django's locmem backend and text messages into an Outbox.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.test import Client

import mfakit
from mfakit import Actor, Reason
from mfakit.integrations.django import get_mfa, web
from mfakit.integrations.django.models import (
    AuditEvent,
    Contact,
    TotpFactor,
    TrustedDevice,
    UserState,
)
from mfakit.integrations.django.signals import security_event
from mfakit.testing import authenticator_code

from .doubles import AUDIT_LOG, CLOCK, OUTBOX
from .settings import MFAKIT_KEY

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_SECRETS: dict[int, str] = {}
"""The authenticator keys add_totp made, for helpers that sign in on their own."""
EN = mfakit.texts("en")
BASE = "/account/2fa"


@pytest.fixture(autouse=True)
def mfakit_setting(settings: Any) -> Callable[..., None]:
    """The view tests' MFAKIT: fake clock, cheap hashing, email and SMS."""

    def change(**policy: Any) -> None:
        settings.MFAKIT = {
            "ISSUER": "Django Test",
            "SECRET_KEYS": [MFAKIT_KEY],
            "CLOCK": "tests.django.doubles.CLOCK",
            "HASHER": "mfakit.testing.fast_hasher",
            "EMAIL": "mfakit.integrations.django.mail.DjangoEmailSender",
            "SMS": "tests.django.doubles.OUTBOX",
            "VOICE": "tests.django.doubles.OUTBOX",
            "POLICY": policy,
        }

    change()
    OUTBOX.clear()
    return change


class Browser:
    """Django's test client with CSRF enforced, and its page as text."""

    def __init__(self, **defaults: Any) -> None:
        self.client = Client(enforce_csrf_checks=True, **defaults)

    def token(self) -> str:
        if "csrftoken" not in self.client.cookies:
            self.client.get(f"{BASE}/login/")
        return self.client.cookies["csrftoken"].value

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(
            path, {**(data or {}), "csrfmiddlewaretoken": self.token()}, **kwargs
        )

    def page(self, path: str) -> str:
        return text(self.get(path, follow=True))

    def signed_in_as(self) -> str:
        return text(self.get("/home/")).splitlines()[0]


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def user(name: str = "alice", *, groups: tuple[str, ...] = (), **extra: Any) -> User:
    made: User = User.objects.create_user(name, f"{name}@example.org", PASSWORD, **extra)
    for group in groups:
        made.groups.add(Group.objects.get_or_create(name=group)[0])
    return made


def add_totp(who: User) -> tuple[str, list[str]]:
    """An authenticator app for ``who`` (through mfakit): its key and the backup codes."""
    mfa = get_mfa()
    uid = str(who.pk)
    actor = Actor.user(uid, reauthenticated_at=mfa.clock.now())
    setup = mfa.begin_totp_setup(actor, uid, account_name=who.username)
    done = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.secret, CLOCK.now()))
    assert done.ok and done.backup_codes is not None
    _SECRETS[who.pk] = setup.secret
    return setup.secret, list(done.backup_codes)


def totp(secret: str) -> str:
    """The app's next code (a later time step than any used before)."""
    CLOCK.advance(30)
    return authenticator_code(secret, CLOCK.now())


def sign_in(browser: Browser, who: User, next_page: str = "/home/") -> Any:
    return browser.post(
        f"{BASE}/login/", {"username": who.username, "password": PASSWORD, "next": next_page}
    )


def signed_in_with_totp(browser: Browser, who: User, secret: str, **form: str) -> Any:
    assert sign_in(browser, who)["Location"] == f"{BASE}/login/code/"
    return browser.post(f"{BASE}/login/code/", {"code": totp(secret), **form})


# --- sign-in ----------------------------------------------------------------------------------


def test_a_user_without_2fa_is_signed_in_at_once_but_mfa_pages_send_them_to_set_it_up() -> None:
    alice, browser = user(), Browser()
    response = sign_in(browser, alice)
    assert response.status_code == 302 and response["Location"] == "/home/"
    assert browser.signed_in_as() == "home of alice"
    assert browser.client.session[web.AUTH] == "none"
    refused = browser.get("/records/")
    assert refused.status_code == 302 and refused["Location"] == f"{BASE}/"


def test_a_wrong_password_signs_nobody_in() -> None:
    alice, browser = user(), Browser()
    response = browser.post(f"{BASE}/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200 and "Please enter a correct username" in text(response)
    assert browser.signed_in_as() == "home of nobody"
    assert alice.last_login is None


def test_totp_sign_in_logs_in_only_after_the_second_step() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    response = sign_in(browser, alice, "/records/")
    assert response["Location"] == f"{BASE}/login/code/"
    # Half-way: nobody is logged in, no page accepts the session.
    assert browser.signed_in_as() == "home of nobody"
    assert browser.get("/records/")["Location"].startswith(f"{BASE}/login/")
    assert browser.get(f"{BASE}/")["Location"].startswith(f"{BASE}/login/")
    page = browser.page(f"{BASE}/login/code/")
    assert "Enter the 6-digit code from your authenticator app." in page
    assert "You can also enter one of your backup codes here." in page

    code = totp(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = browser.post(f"{BASE}/login/code/", {"code": wrong}, follow=True)
    assert EN.reason(Reason.INVALID_CODE, attempts_left=4) in text(response)
    assert browser.signed_in_as() == "home of nobody"

    response = browser.post(f"{BASE}/login/code/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/records/"
    assert browser.signed_in_as() == "home of alice"
    assert browser.get("/records/").content == b"the records"
    assert browser.client.session[web.AUTH] == "mfa"

    # The same code again, in a new sign-in: a replay is refused.
    again = Browser()
    sign_in(again, alice)
    response = again.post(f"{BASE}/login/code/", {"code": code}, follow=True)
    assert EN.reason(Reason.REPLAYED) in text(response)
    assert again.signed_in_as() == "home of nobody"


def test_every_form_needs_its_csrf_token() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    response = browser.client.post(f"{BASE}/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    sign_in(browser, alice)
    response = browser.client.post(f"{BASE}/login/code/", {"code": totp(secret)})
    assert response.status_code == 403
    assert browser.signed_in_as() == "home of nobody"


def test_a_backup_code_signs_in_once() -> None:
    alice, browser = user(), Browser()
    _, codes = add_totp(alice)
    sign_in(browser, alice)
    response = browser.post(f"{BASE}/login/code/", {"code": codes[0]}, follow=True)
    assert browser.signed_in_as() == "home of alice"
    assert EN.backup_codes_left(9) in text(response)
    again = Browser()
    sign_in(again, alice)
    response = again.post(f"{BASE}/login/code/", {"code": codes[0]}, follow=True)
    assert again.signed_in_as() == "home of nobody"
    assert EN.reason(Reason.INVALID_CODE, attempts_left=4) in text(response)


def test_a_malformed_code_is_explained_and_costs_nothing() -> None:
    alice, browser = user(), Browser()
    add_totp(alice)
    sign_in(browser, alice)
    response = browser.post(f"{BASE}/login/code/", {"code": "not a code!"}, follow=True)
    challenge_id = browser.client.session[web.PENDING]["challenge"]
    # A typo is a refusal value (Reason.MALFORMED_CODE) saying what the field takes.
    again = get_mfa().verify(challenge_id, "not a code!")
    assert again.reason is Reason.MALFORMED_CODE
    assert mfakit.texts("en").explain(again) in text(response)
    assert get_mfa().get_challenge(challenge_id).attempts_left == get_mfa().policy.max_attempts


def test_refusals_are_in_the_request_language(settings: Any) -> None:
    settings.LANGUAGE_CODE = "de"
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    code = totp(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = browser.post(f"{BASE}/login/code/", {"code": wrong}, follow=True)
    assert mfakit.texts("de").reason(Reason.INVALID_CODE, attempts_left=4) in text(response)


def test_too_many_wrong_codes_end_the_sign_in() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    code = totp(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        browser.post(f"{BASE}/login/code/", {"code": wrong})
    response = browser.post(f"{BASE}/login/code/", {"code": wrong})
    assert response["Location"] == f"{BASE}/login/"
    assert web.PENDING not in browser.client.session
    # The right code no longer helps: the sign-in starts again.
    response = browser.post(f"{BASE}/login/code/", {"code": code})
    assert response["Location"] == f"{BASE}/login/"
    assert browser.signed_in_as() == "home of nobody"


def test_an_expired_sign_in_starts_again() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    CLOCK.advance(minutes=11)
    response = browser.post(f"{BASE}/login/code/", {"code": totp(secret)}, follow=True)
    assert browser.signed_in_as() == "home of nobody"
    assert response.redirect_chain[-1][0] == f"{BASE}/login/"
    assert EN.reason(Reason.EXPIRED) in text(response)


def test_a_locked_account_is_refused_until_an_admin_unlocks_it(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(free_failures=1, lockout_after=3, max_attempts=10)
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    for _ in range(3):
        code = totp(secret)
        browser.post(f"{BASE}/login/code/", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
        CLOCK.advance(hours=2)  # past any back-off
        browser = Browser()
        sign_in(browser, alice)
    response = browser.post(f"{BASE}/login/code/", {"code": totp(secret)}, follow=True)
    assert browser.signed_in_as() == "home of nobody"
    assert EN.reason(Reason.LOCKED_OUT) in text(response)
    get_mfa().unlock_second_step(Actor.admin("desk", reauthenticated_at=CLOCK.now()), str(alice.pk))
    browser = Browser()
    signed_in_with_totp(browser, alice, secret)
    assert browser.signed_in_as() == "home of alice"


def test_email_codes_resend_after_the_cooldown_and_switching_methods() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    enrol_email(alice)
    mail.outbox.clear()
    sign_in(browser, alice)
    response = browser.post(f"{BASE}/login/method/", {"method": "email"}, follow=True)
    assert "Enter the code we sent you by email." in text(response)
    assert len(mail.outbox) == 1
    response = browser.post(f"{BASE}/login/resend/", follow=True)
    assert EN.reason(Reason.COOLDOWN) in text(response)
    assert len(mail.outbox) == 1
    CLOCK.advance(31)
    response = browser.post(f"{BASE}/login/resend/", follow=True)
    assert "We sent a new code." in text(response)
    assert len(mail.outbox) == 2
    old, new = (code_in(m.body) for m in mail.outbox)
    response = browser.post(f"{BASE}/login/code/", {"code": old}, follow=True)
    assert browser.signed_in_as() == "home of nobody"
    browser.post(f"{BASE}/login/code/", {"code": new})
    assert browser.signed_in_as() == "home of alice"
    del secret


def test_switching_to_an_unoffered_method_is_refused() -> None:
    alice, browser = user(), Browser()
    add_totp(alice)
    sign_in(browser, alice)
    response = browser.post(f"{BASE}/login/method/", {"method": "sms"}, follow=True)
    assert "Choose one of the ways offered." in text(response)


def test_try_another_way_asks_the_security_question_first(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(question_guards_alternatives=True)
    alice, browser = user(), Browser()
    add_totp(alice)
    enrol_email(alice)
    mfa = get_mfa()
    question = mfa.security_questions[0]
    mfa.set_security_question(
        Actor.user(str(alice.pk), reauthenticated_at=CLOCK.now(), step_up=grant(alice)),
        str(alice.pk),
        question,
        "Rex",
    )
    mail.outbox.clear()
    sign_in(browser, alice)
    page = browser.page(f"{BASE}/login/code/")
    assert "Try another way" in page and "Email me a code" not in page
    response = browser.post(f"{BASE}/login/another-way/", follow=True)
    assert question in text(response)
    response = browser.post(f"{BASE}/login/answer/", {"answer": "Max"}, follow=True)
    assert EN.reason(Reason.INVALID_ANSWER, attempts_left=4) in text(response)
    response = browser.post(f"{BASE}/login/answer/", {"answer": "Rex"}, follow=True)
    assert "Email me a code" in text(response)
    browser.post(f"{BASE}/login/method/", {"method": "email"})
    browser.post(f"{BASE}/login/code/", {"code": code_in(mail.outbox[-1].body)})
    assert browser.signed_in_as() == "home of alice"


def test_cancel_ends_the_pending_sign_in() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    challenge = browser.client.session[web.PENDING]["challenge"]
    assert browser.post(f"{BASE}/login/cancel/")["Location"] == f"{BASE}/login/"
    assert not get_mfa().get_challenge(challenge).is_open
    assert browser.post(f"{BASE}/login/code/", {"code": totp(secret)})["Location"] == (
        f"{BASE}/login/"
    )
    assert browser.signed_in_as() == "home of nobody"


def test_trusting_a_device_sets_a_safe_cookie_that_skips_the_second_step() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    response = browser.post(
        f"{BASE}/login/code/",
        {"code": totp(secret), "trust": "yes"},
        secure=True,
        HTTP_REFERER=f"https://testserver{BASE}/login/code/",
        HTTP_USER_AGENT=CHROME_ON_LINUX,
    )
    assert [d.label for d in get_mfa().list_devices(str(alice.pk))] == ["Chrome on Linux"]
    cookie = response.cookies[web.TRUST_COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 14 * 86400
    browser.post(f"{BASE}/logout/")
    assert browser.signed_in_as() == "home of nobody"
    response = sign_in(browser, alice)
    assert response["Location"] == "/home/"
    assert browser.client.session[web.AUTH] == "trusted"
    # Another user's sign-in on this device is not skipped.
    bob = user("bob")
    bob_secret, _ = add_totp(bob)
    browser.post(f"{BASE}/logout/")
    assert sign_in(browser, bob)["Location"] == f"{BASE}/login/code/"
    del bob_secret


def test_the_trust_cookie_is_not_secure_over_plain_http_in_development() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    response = signed_in_with_totp(browser, alice, secret, trust="yes")
    cookie = response.cookies[web.TRUST_COOKIE]
    assert cookie["httponly"] and not cookie["secure"]


def test_the_next_page_is_never_another_site() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    assert sign_in(browser, alice, "https://evil.example/")["Location"] == f"{BASE}/login/code/"
    response = browser.post(f"{BASE}/login/code/", {"code": totp(secret)})
    assert response["Location"] == "/home/"


# --- enrolment --------------------------------------------------------------------------------


def test_setting_up_an_authenticator_app_shows_the_qr_code_then_the_backup_codes_once() -> None:
    alice, browser = user(), Browser()
    sign_in(browser, alice)
    assert "Set up an authenticator app" in browser.page(f"{BASE}/authenticator/")
    response = browser.post(f"{BASE}/authenticator/", {"label": "My phone"})
    page = text(response)
    assert "<svg" in page
    key = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page)
    assert key is not None
    secret = key.group(1).replace(" ", "")
    response = browser.post(f"{BASE}/authenticator/confirm/", {"code": "000000"})
    assert response.status_code == 400
    assert TotpFactor.objects.get().confirmed_at is None
    CLOCK.advance(30)
    response = browser.post(
        f"{BASE}/authenticator/confirm/", {"code": authenticator_code(secret, CLOCK.now())}
    )
    assert response["Location"] == f"{BASE}/backup-codes/"
    page = browser.page(f"{BASE}/backup-codes/")
    codes = re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", page)
    assert len(codes) == 10
    download = browser.get(f"{BASE}/backup-codes/download/")
    assert download["Content-Disposition"] == 'attachment; filename="backup-codes.txt"'
    assert all(c in download.content.decode() for c in codes)
    browser.post(f"{BASE}/backup-codes/", {"saved": "1"})
    assert not set(codes) & set(
        re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", browser.page(f"{BASE}/backup-codes/"))
    )
    assert browser.get(f"{BASE}/backup-codes/download/")["Location"] == f"{BASE}/backup-codes/"
    page = browser.page(f"{BASE}/")
    assert "Two-step verification is on." in page and "My phone" in page
    # The new app signs in.
    browser.post(f"{BASE}/logout/")
    signed_in_with_totp(browser, alice, secret)
    assert browser.signed_in_as() == "home of alice"


def test_regenerating_backup_codes_needs_a_recent_factor() -> None:
    alice, browser = user(), Browser()
    secret, old = add_totp(alice)
    browser.post(f"{BASE}/logout/")
    sign_in(browser, alice)
    browser.post(f"{BASE}/login/code/", {"code": old[0]})
    CLOCK.advance(minutes=6)  # the sign-in's grant and password are no longer fresh
    response = browser.post(f"{BASE}/backup-codes/", {"regenerate": "1"})
    assert response["Location"].startswith(f"{BASE}/reauth/")
    response = browser.post(
        response["Location"], {"password": "wrong", "next": f"{BASE}/backup-codes/"}
    )
    assert "That password is not right." in text(response)
    response = browser.post(
        f"{BASE}/reauth/", {"password": PASSWORD, "next": f"{BASE}/backup-codes/"}
    )
    assert response["Location"] == f"{BASE}/backup-codes/"
    response = browser.post(f"{BASE}/backup-codes/", {"regenerate": "1"})
    assert response["Location"].startswith(f"{BASE}/step-up/")
    step_up_with_totp(browser, secret, f"{BASE}/backup-codes/")
    response = browser.post(f"{BASE}/backup-codes/", {"regenerate": "1"}, follow=True)
    fresh = re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", text(response))
    assert len(fresh) == 10 and not set(fresh) & set(old)
    assert get_mfa().verify_backup_code("1", old[1]).ok is False


def test_a_role_that_requires_2fa_must_enrol_before_anything_else(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(require_for_roles=frozenset({"staff"}))
    sam, browser = user("sam", groups=("staff",)), Browser()
    response = sign_in(browser, sam)
    assert response["Location"] == f"{BASE}/"
    assert browser.client.session[web.AUTH] == "enrol"
    # Every page but mfakit's sends them back to set it up.
    assert browser.get("/home/")["Location"] == f"{BASE}/"
    assert "requires two-step verification" in browser.page(f"{BASE}/")
    response = browser.post(f"{BASE}/authenticator/", {"label": "Phone"})
    secret = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', text(response))
    assert secret is not None
    CLOCK.advance(30)
    code = authenticator_code(secret.group(1).replace(" ", ""), CLOCK.now())
    browser.post(f"{BASE}/authenticator/confirm/", {"code": code})
    assert browser.client.session[web.AUTH] == "mfa"
    assert browser.signed_in_as() == "home of sam"
    # Someone outside the role is not asked.
    assert sign_in(Browser(), user("casey"))["Location"] == "/home/"


def test_the_role_can_come_from_a_function(
    mfakit_setting: Callable[..., None], settings: Any
) -> None:
    mfakit_setting(require_for_roles=frozenset({"admin"}))
    settings.MFAKIT = {**settings.MFAKIT, "ROLE": "tests.django.test_views.role_of"}
    response = sign_in(Browser(), user("root", is_superuser=True))
    assert response["Location"] == f"{BASE}/"
    assert sign_in(Browser(), user("casey"))["Location"] == "/home/"


def role_of(who: User) -> str | None:
    return "admin" if who.is_superuser else None


def enrol_email(who: User, browser: Browser | None = None) -> None:
    """Alice proves her email address through the pages."""
    if browser is None:
        browser = Browser()
        sign_in(browser, who)
        if browser.client.session.get(web.PENDING):
            pending = browser.client.session[web.PENDING]
            mfa = get_mfa()
            challenge = mfa.get_challenge(pending["challenge"])
            code = totp_for(who) if challenge.method.value == "totp" else None
            assert code is not None
            browser.post(f"{BASE}/login/code/", {"code": code})
    mail.outbox.clear()
    response = browser.post(f"{BASE}/contact/email/", {"value": who.email})
    assert response["Location"] == f"{BASE}/contact/verify/", text(response)
    assert mail.outbox[-1].to == [who.email]
    browser.post(f"{BASE}/contact/verify/", {"code": code_in(mail.outbox[-1].body)})


def totp_for(who: User) -> str:
    return totp(_SECRETS[who.pk])


def code_in(body: object) -> str:
    found = re.search(r"\b(\d{6})\b", str(body))
    assert found is not None, body
    return found.group(1)


def grant(who: User) -> str:
    """A step-up grant for ``who``, proven with their app."""
    mfa = get_mfa()
    actor = Actor.user(str(who.pk), reauthenticated_at=CLOCK.now())
    start = mfa.begin_step_up(actor, str(who.pk))
    assert start.status is mfakit.StepUpStatus.CHALLENGE
    result = mfa.verify(start.challenge.id, totp_for(who))
    assert result.ok and result.step_up is not None
    return result.step_up


def step_up_with_totp(browser: Browser, secret: str, next_page: str) -> None:
    page = browser.page(f"{BASE}/step-up/?next={next_page}")
    assert "Confirm it is you" in page
    response = browser.post(f"{BASE}/step-up/", {"code": totp(secret), "next": next_page})
    assert response["Location"] == next_page, text(response)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    _SECRETS.clear()


def test_phone_enrolment_and_its_guarded_change() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    response = browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101", "method": "sms"})
    assert response["Location"] == f"{BASE}/contact/verify/"
    page = browser.page(f"{BASE}/contact/verify/")
    assert "Enter the code we sent you by text message." in page
    browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")})
    page = browser.page(f"{BASE}/")
    assert "+1•••••01" in page and "not verified" not in page
    # A new number: approved with a code on a way verified before, never the new number.
    OUTBOX.clear()
    response = browser.post(f"{BASE}/contact/phone/", {"value": "+1 201 555 0123"})
    assert response["Location"] == f"{BASE}/contact/verify/"
    assert OUTBOX.sent_to("+12015550123") == []
    browser.post(f"{BASE}/contact/verify/", {"method": "sms"})
    assert OUTBOX.sent_to("+12015550123") == []
    response = browser.post(
        f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")}, follow=True
    )
    # Applied, unverified: the new number gets a code at once to prove it (step 4).
    assert "Now enter the code we sent to the new one." in text(response)
    (phone,) = [f for f in get_mfa().list_factors(str(alice.pk)) if f.kind == "phone"]
    assert phone.destination == "+1•••••23" and not phone.verified
    browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+12015550123")})
    (phone,) = [f for f in get_mfa().list_factors(str(alice.pk)) if f.kind == "phone"]
    assert phone.destination == "+1•••••23" and phone.verified


def test_an_email_address_is_proven_by_a_code_sent_through_django_mail() -> None:
    alice, browser = user(), Browser()
    sign_in(browser, alice)
    browser.post(f"{BASE}/contact/email/", {"value": "alice@example.org"})
    response = browser.post(f"{BASE}/contact/verify/", {"code": "000000"}, follow=True)
    assert "That code is not correct" in text(response)
    browser.post(f"{BASE}/contact/verify/", {"code": code_in(mail.outbox[-1].body)})
    page = browser.page(f"{BASE}/")
    assert "Two-step verification is on." in page and "a•••@example.org" in page


def test_bad_contact_input_is_refused_with_its_reason() -> None:
    alice, browser = user(), Browser()
    sign_in(browser, alice)
    response = browser.post(f"{BASE}/contact/phone/", {"value": "not a phone"})
    assert response.status_code == 400
    assert browser.get(f"{BASE}/contact/fax/")["Location"] == f"{BASE}/"


# --- the account's pages ----------------------------------------------------------------------


def test_the_account_pages_manage_question_devices_preferred_method_and_activity() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret, trust="yes")
    mfa = get_mfa()
    question = mfa.security_questions[1]
    response = browser.post(
        f"{BASE}/security-question/", {"question": question, "answer": "Paris"}, follow=True
    )
    assert "Your security question is set." in text(response)
    assert mfa.get_security_question(str(alice.pk)) == question
    browser.post(f"{BASE}/preferred-method/", {"method": "backup_code"})
    assert browser.post(f"{BASE}/preferred-method/", {"method": "totp"}, follow=True)
    assert any(f.preferred for f in mfa.list_factors(str(alice.pk)))
    (device,) = mfa.list_devices(str(alice.pk))
    assert device.active
    browser.post(f"{BASE}/devices/{device.id}/revoke/")
    assert not mfa.list_devices(str(alice.pk))[0].active
    page = browser.page(f"{BASE}/activity/")
    assert "device.revoked" in page and "second_step.passed" in page


def test_turning_2fa_off_needs_a_proven_factor_and_is_refused_for_a_required_role(
    mfakit_setting: Callable[..., None],
) -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    assert "Turn off two-step verification" in browser.page(f"{BASE}/disable/")
    response = browser.post(f"{BASE}/disable/", follow=True)
    assert "Two-step verification is off." in text(response)
    assert not get_mfa().list_factors(str(alice.pk))

    mfakit_setting(require_for_roles=frozenset({"staff"}))
    sam, browser = user("sam", groups=("staff",)), Browser()
    sam_secret, _ = add_totp(sam)
    signed_in_with_totp(browser, sam, sam_secret)
    browser.post(f"{BASE}/disable/")
    assert get_mfa().list_factors(str(sam.pk))


def test_removing_the_app_after_a_trusted_device_sign_in_needs_a_step_up() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret, trust="yes")
    browser.post(f"{BASE}/logout/")
    assert sign_in(browser, alice)["Location"] == "/home/"  # trusted: no code, no grant
    (factor,) = get_mfa().list_authenticators(str(alice.pk))
    response = browser.post(f"{BASE}/authenticator/{factor.id}/remove/", HTTP_REFERER="/x/")
    assert response["Location"] == f"{BASE}/step-up/?next=%2Fx%2F"
    assert get_mfa().list_authenticators(str(alice.pk))
    step_up_with_totp(browser, secret, f"{BASE}/")
    browser.post(f"{BASE}/authenticator/{factor.id}/remove/")
    assert not get_mfa().list_authenticators(str(alice.pk))


def test_a_wrong_step_up_code_is_refused() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    browser.get(f"{BASE}/step-up/")
    response = browser.post(f"{BASE}/step-up/", {"code": "000000"})
    assert EN.reason(Reason.INVALID_CODE, attempts_left=4) in text(response)
    assert response.status_code == 200


def test_recent_mfa_required_sends_an_old_session_to_step_up_and_back() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    assert browser.get("/export/").content == b"exported (GET)"
    CLOCK.advance(61)
    response = browser.get("/export/")
    assert response["Location"] == f"{BASE}/step-up/?next=%2Fexport%2F"
    step_up_with_totp(browser, secret, "/export/")
    assert browser.get("/export/").content == b"exported (GET)"


def test_mfa_required_sends_anonymous_users_to_sign_in() -> None:
    response = Browser().get("/records/")
    assert response["Location"] == f"{BASE}/login/?next=/records/"


def test_the_middleware_refuses_a_session_logged_in_without_the_second_step() -> None:
    alice, browser = user(), Browser()
    add_totp(alice)
    browser.client.force_login(alice)  # as the admin's own login form would
    response = browser.get("/home/")
    assert response["Location"] == f"{BASE}/login/?next=%2Fhome%2F"
    assert browser.signed_in_as() == "home of nobody"


# --- signals and admin ------------------------------------------------------------------------


def test_every_security_event_is_sent_as_a_signal_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    seen: list[tuple[str, str]] = []

    def receiver(sender: Any, event: mfakit.AuditRecord, action: str, **kwargs: Any) -> None:
        seen.append((action, event.subject_id))

    security_event.connect(receiver)
    try:
        alice, browser = user(), Browser()
        secret, _ = add_totp(alice)
        before = AuditEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            sign_in(browser, alice)
            code = totp(secret)
            browser.post(f"{BASE}/login/code/", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
            browser.post(f"{BASE}/login/code/", {"code": code})
    finally:
        security_event.disconnect(receiver)
    assert ("second_step.failed", str(alice.pk)) in seen
    assert ("second_step.passed", str(alice.pk)) in seen
    assert len(seen) == AuditEvent.objects.count() - before > 0


def admin_browser() -> Browser:
    root = user("root", is_staff=True, is_superuser=True)
    browser = Browser()
    assert sign_in(browser, root)["Location"] == "/home/"
    return browser


def test_the_admin_lists_factors_masked_and_never_a_secret() -> None:
    alice = user()
    secret, codes = add_totp(alice)
    browser = Browser()
    signed_in_with_totp(browser, alice, secret)
    browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101"})
    browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")})
    admin = admin_browser()
    page = admin.page("/admin/mfakit/contact/")
    assert "+1•••••01" in page and "4155550101" not in page
    factor = TotpFactor.objects.get()
    page = admin.page(f"/admin/mfakit/totpfactor/{factor.pk}/change/")
    assert "Authenticator" in page or factor.label in page
    assert secret not in page and "secret" not in page.lower().replace("secret_key", "")
    assert admin.get("/admin/mfakit/totpfactor/add/").status_code == 403
    page = admin.page("/admin/mfakit/auditevent/")
    assert "second_step.passed" in page
    assert not any(code in page for code in codes)


def test_admin_actions_unlock_revoke_and_reset_through_mfakit() -> None:
    alice = user()
    secret, _ = add_totp(alice)
    signed_in_with_totp(Browser(), alice, secret, trust="yes")
    admin = admin_browser()
    factor = TotpFactor.objects.get()
    changelist = "/admin/mfakit/totpfactor/"
    selected = {"_selected_action": [str(factor.pk)]}
    admin.post(changelist, {**selected, "action": "revoke_devices"})
    assert not any(d.active for d in get_mfa().list_devices(str(alice.pk)))
    response = admin.post(changelist, {**selected, "action": "reset_two_factor"})
    assert "Why (recorded in the audit trail)" in text(response)
    assert get_mfa().list_authenticators(str(alice.pk))
    admin.post(changelist, {**selected, "action": "reset_two_factor", "apply": "1", "reason": ""})
    assert get_mfa().list_authenticators(str(alice.pk))
    admin.post(
        changelist,
        {
            **selected,
            "action": "reset_two_factor",
            "apply": "1",
            "reason": "lost phone, ID checked",
        },
    )
    assert not get_mfa().list_authenticators(str(alice.pk))
    event = get_mfa().list_events(str(alice.pk), limit=1)[0]
    assert event.action == "two_factor.disabled"
    assert event.actor_id == f"django-admin:{User.objects.get(username='root').pk}"
    assert dict(event.details)["note"] == "lost phone, ID checked"


def test_admin_actions_need_a_fresh_password() -> None:
    alice = user()
    add_totp(alice)
    admin = admin_browser()
    CLOCK.advance(minutes=6)
    factor = TotpFactor.objects.get()
    response = admin.post(
        "/admin/mfakit/totpfactor/",
        {"_selected_action": [str(factor.pk)], "action": "unlock_second_step"},
    )
    assert response["Location"].startswith(f"{BASE}/reauth/")


# --- system checks -----------------------------------------------------------------------


def test_the_system_checks_catch_a_misplaced_middleware_and_cookie_sessions(
    settings: Any,
) -> None:
    from django.core.checks import run_checks

    def ids() -> set[str]:
        return {m.id for m in run_checks() if m.id and m.id.startswith("mfakit.")}

    assert ids() == set()
    ours = "mfakit.integrations.django.middleware.MfaMiddleware"
    settings.MIDDLEWARE = [ours, *(m for m in settings.MIDDLEWARE if m != ours)]
    assert ids() == {"mfakit.E001"}
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != ours]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert ids() == {"mfakit.W001"}


def test_an_abandoned_sign_in_does_not_survive_another_users_sign_in() -> None:
    alice, bob, browser = user(), user("bob"), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)  # alice stops at the code page
    assert sign_in(browser, bob)["Location"] == "/home/"  # bob has no 2FA
    assert web.PENDING not in browser.client.session
    response = browser.post(f"{BASE}/login/code/", {"code": totp(secret)})
    assert response["Location"] == f"{BASE}/login/"  # nothing pending any more
    assert browser.signed_in_as() == "home of bob"  # alice's code signs nobody in


# --- refusals: rate limits -------------------------------------------------------------------


def test_wrong_codes_in_a_row_are_rate_limited_then_allowed_again(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(free_failures=1)
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    sign_in(browser, alice)
    code = totp(secret)
    browser.post(f"{BASE}/login/code/", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
    # The free failure is spent: even the right code waits out the back-off (S13).
    response = browser.post(f"{BASE}/login/code/", {"code": code}, follow=True)
    assert "Too many failed attempts. Please wait a moment." in text(response)
    assert response.redirect_chain[-1][0] == f"{BASE}/login/code/"
    assert browser.signed_in_as() == "home of nobody"
    CLOCK.advance(31)  # past the back-off: the sign-in goes on
    browser.post(f"{BASE}/login/code/", {"code": totp(secret)})
    assert browser.signed_in_as() == "home of alice"


def test_codes_to_one_address_are_capped_per_window(mfakit_setting: Callable[..., None]) -> None:
    mfakit_setting(send_quota=2)
    alice, browser = user(), Browser()
    add_totp(alice)
    enrol_email(alice)
    mail.outbox.clear()
    sign_in(browser, alice)
    browser.post(f"{BASE}/login/method/", {"method": "email"})
    CLOCK.advance(31)
    assert "We sent a new code." in text(browser.post(f"{BASE}/login/resend/", follow=True))
    assert len(mail.outbox) == 2
    CLOCK.advance(31)
    response = browser.post(f"{BASE}/login/resend/", follow=True)
    assert "Too many codes were sent to this number or address." in text(response)
    assert len(mail.outbox) == 2
    # The codes already sent still work.
    browser.post(f"{BASE}/login/code/", {"code": code_in(mail.outbox[-1].body)})
    assert browser.signed_in_as() == "home of alice"


# --- the rest of the account pages -----------------------------------------------------------


def test_stop_trusting_all_devices_revokes_them_and_deletes_the_cookie() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret, trust="yes")
    other = Browser()
    signed_in_with_totp(other, alice, secret, trust="yes")
    assert len([d for d in get_mfa().list_devices(str(alice.pk)) if d.active]) == 2
    response = browser.post(f"{BASE}/devices/revoke-all/")
    assert response["Location"] == f"{BASE}/"
    assert response.cookies[web.TRUST_COOKIE].value == ""  # deleted
    assert not any(d.active for d in get_mfa().list_devices(str(alice.pk)))
    assert "2 devices are no longer trusted." in browser.page(f"{BASE}/")
    # The other browser kept its cookie, but the device is no longer trusted.
    other.post(f"{BASE}/logout/")
    assert sign_in(other, alice)["Location"] == f"{BASE}/login/code/"
    assert browser.client.post(f"{BASE}/devices/revoke-all/").status_code == 403  # CSRF


def test_removing_a_phone_number_needs_a_password_and_a_factor_and_leaves_the_rest() -> None:
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101"})
    browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")})
    assert {f.kind for f in get_mfa().list_factors(str(alice.pk))} == {"totp", "phone"}
    CLOCK.advance(minutes=6)  # the sign-in's grant is no longer fresh
    response = browser.post(f"{BASE}/contact/phone/remove/", HTTP_REFERER=f"{BASE}/")
    assert response["Location"] == f"{BASE}/reauth/?next=%2Faccount%2F2fa%2F"
    browser.post(f"{BASE}/reauth/", {"password": PASSWORD, "next": f"{BASE}/"})
    response = browser.post(f"{BASE}/contact/phone/remove/", HTTP_REFERER=f"{BASE}/")
    assert response["Location"] == f"{BASE}/step-up/?next=%2Faccount%2F2fa%2F"
    assert {f.kind for f in get_mfa().list_factors(str(alice.pk))} == {"totp", "phone"}
    step_up_with_totp(browser, secret, f"{BASE}/")
    response = browser.post(f"{BASE}/contact/phone/remove/", follow=True)
    assert "Removed." in text(response)
    assert {f.kind for f in get_mfa().list_factors(str(alice.pk))} == {"totp"}
    response = browser.post(f"{BASE}/contact/phone/remove/", follow=True)
    assert "Nothing to remove." in text(response)
    assert {f.kind for f in get_mfa().list_factors(str(alice.pk))} == {"totp"}


def test_the_class_based_mixins_guard_like_the_decorators() -> None:
    assert Browser().get("/class/records/")["Location"] == f"{BASE}/login/?next=/class/records/"
    casey, browser = user("casey"), Browser()
    sign_in(browser, casey)  # no 2FA: sent to set it up
    assert browser.get("/class/records/")["Location"] == f"{BASE}/"
    assert browser.get("/class/export/")["Location"] == f"{BASE}/"
    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    signed_in_with_totp(browser, alice, secret)
    assert browser.get("/class/records/").content == b"the records (class)"
    assert browser.get("/class/export/").content == b"exported (class)"
    CLOCK.advance(61)
    assert browser.get("/class/records/").content == b"the records (class)"
    response = browser.get("/class/export/")
    assert response["Location"] == f"{BASE}/step-up/?next=%2Fclass%2Fexport%2F"
    step_up_with_totp(browser, secret, "/class/export/")
    assert browser.get("/class/export/").content == b"exported (class)"


def test_a_role_that_must_enrol_cannot_manage_team_members_first(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(require_for_roles=frozenset({"staff"}))
    member = user("casey")
    admin, browser = user("sam", groups=("staff",), is_staff=True), Browser()
    assert sign_in(browser, admin)["Location"] == f"{BASE}/"
    assert browser.client.session[web.AUTH] == "enrol"
    # Only setting up 2FA: not the team pages, though they are mfakit's.
    for page in (f"{BASE}/team/{member.pk}/", f"{BASE}/team/{member.pk}/unlock/"):
        assert browser.get(page)["Location"] == f"{BASE}/", page
    response = browser.post(f"{BASE}/team/{member.pk}/revoke-devices/")
    assert response["Location"] == f"{BASE}/"
    add_totp(admin)
    browser = Browser()
    signed_in_with_totp(browser, admin, _SECRETS[admin.pk])
    assert browser.get(f"{BASE}/team/{member.pk}/").status_code == 200


# --- templates ---------------------------------------------------------------------------------


def test_a_project_overrides_the_base_block_by_block(settings: Any, tmp_path: Any) -> None:
    (tmp_path / "mfakit").mkdir()
    (tmp_path / "mfakit" / "base.html").write_text(
        '{% extends "mfakit/base.html" %}'
        '{% block header %}<p id="brand">Clinic</p>{{ block.super }}{% endblock %}'
        '{% block footer %}<footer id="clinic">Clinic footer</footer>{% endblock %}',
        encoding="utf-8",
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    alice, browser = user(), Browser()
    add_totp(alice)
    page = browser.page(f"{BASE}/login/")
    assert '<p id="brand">Clinic</p>' in page and "<title>Sign in</title>" in page
    assert '<footer id="clinic">Clinic footer</footer>' in page
    assert '<form method="post" action="/account/2fa/login/">' in page  # the page's own block
    sign_in(browser, alice)
    page = browser.page(f"{BASE}/login/code/")
    assert "Clinic footer" in page and "Enter the 6-digit code" in page
    # The rest of the base is the app's: its messages block still shows refusals.
    response = browser.post(f"{BASE}/login/code/", {"code": "000000"}, follow=True)
    assert '<p id="brand">Clinic</p>' in text(response)
    assert EN.reason(Reason.INVALID_CODE, attempts_left=4) in text(response)


class _Accessibility(HTMLParser):
    """What a screen reader needs of a page: its language, a heading, and a
    name for every field and button."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.h1 = 0
        self.label_for: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.in_label = 0
        self.button: list[str] | None = None
        self.nameless_buttons = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea"):
            if a.get("type") not in ("hidden", "submit"):
                self.fields.append({**a, "_in_label": "yes" if self.in_label else None})
        elif tag == "button":
            self.button = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        elif tag == "button" and self.button is not None:
            self.nameless_buttons += not "".join(self.button).strip()
            self.button = None

    def handle_data(self, data: str) -> None:
        if self.button is not None:
            self.button.append(data)

    def unnamed(self) -> list[str]:
        return [
            str(f.get("name"))
            for f in self.fields
            if not (
                f["_in_label"]
                or (f.get("id") and f["id"] in self.label_for)
                or f.get("aria-label")
                or f.get("aria-labelledby")
            )
        ]


def assert_accessible(page: str, where: str) -> None:
    found = _Accessibility()
    found.feed(page)
    assert found.lang, f"{where}: <html> has no lang"
    assert found.h1 == 1, f"{where}: {found.h1} <h1>"
    assert not found.unnamed(), f"{where}: fields without a label: {found.unnamed()}"
    assert not found.nameless_buttons, f"{where}: a button without text"


def test_every_page_names_its_fields_and_buttons_and_needs_no_script() -> None:
    alice, browser = user(), Browser()
    pages: dict[str, str] = {"login": browser.page(f"{BASE}/login/")}
    secret, _ = add_totp(alice)
    enrol_email(alice)
    sign_in(browser, alice)
    pages["second step"] = browser.page(f"{BASE}/login/code/")
    browser.post(f"{BASE}/login/code/", {"code": totp(secret), "trust": "yes"})
    for name in (
        "",
        "authenticator/",
        "backup-codes/",
        "contact/phone/",
        "contact/email/",
        "security-question/",
        "disable/",
        "activity/",
        "reauth/",
        "step-up/",
    ):
        pages[name or "index"] = browser.page(f"{BASE}/{name}")
    pages["totp qr"] = text(browser.post(f"{BASE}/authenticator/", {"label": "Tablet"}))
    pages["totp confirm"] = text(browser.post(f"{BASE}/authenticator/confirm/", {"code": "1"}))
    browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101"})
    pages["contact verify"] = browser.page(f"{BASE}/contact/verify/")
    admin = user("root", is_staff=True, is_superuser=True)
    add_totp(admin)
    boss = Browser()
    signed_in_with_totp(boss, admin, _SECRETS[admin.pk])
    pages["team member"] = boss.page(f"{BASE}/team/{alice.pk}/")
    for where, page in pages.items():
        assert "Two-step verification" in page or "Sign in" in page, where  # a real page
        assert_accessible(page, where)
        assert "<script" not in page.lower(), where


# --- the admin: the unlock action, and nothing edited by hand ---------------------------------


def test_the_admin_unlock_action_lifts_the_back_off_through_mfakit(
    mfakit_setting: Callable[..., None],
) -> None:
    mfakit_setting(free_failures=1)
    alice = user()
    secret, _ = add_totp(alice)
    mfa = get_mfa()
    code = totp(secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert mfa.verify_totp(str(alice.pk), wrong).reason is Reason.INVALID_CODE
    assert mfa.verify_totp(str(alice.pk), code).reason is Reason.RATE_LIMITED
    admin = admin_browser()
    response = admin.post(
        "/admin/mfakit/totpfactor/",
        {"_selected_action": [str(TotpFactor.objects.get().pk)], "action": "unlock_second_step"},
        follow=True,
    )
    assert "Done for 1 user(s)." in text(response)
    assert mfa.verify_totp(str(alice.pk), code).ok
    (unlocked,) = [e for e in mfa.list_events(str(alice.pk)) if e.action == "account.unlocked"]
    assert unlocked.actor_id == f"django-admin:{User.objects.get(username='root').pk}"


def test_the_admin_never_adds_changes_or_deletes_mfakits_rows() -> None:
    alice = user()
    secret, _ = add_totp(alice)
    browser = Browser()
    signed_in_with_totp(browser, alice, secret, trust="yes")
    browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101"})
    browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")})
    admin = admin_browser()
    for model in (TotpFactor, Contact, TrustedDevice, UserState, AuditEvent):
        row = model._default_manager.first()
        assert row is not None, model
        url = f"/admin/mfakit/{model._meta.model_name}/"
        assert admin.get(url).status_code == 200, model  # listed
        page = text(admin.get(f"{url}{row.pk}/change/"))
        assert 'name="_save"' not in page, model  # viewed, not editable
        assert admin.get(f"{url}add/").status_code == 403, model
        assert admin.post(f"{url}{row.pk}/change/", {}).status_code == 403, model
        assert admin.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403, model
        assert model._default_manager.filter(pk=row.pk).exists(), model
        admin.post(url, {"_selected_action": [str(row.pk)], "action": "delete_selected"})
        assert model._default_manager.filter(pk=row.pk).exists(), model


@pytest.mark.parametrize("audit", ["store", "tests.django.doubles.AUDIT_LOG"])
def test_a_signal_for_each_event_of_a_whole_account_life(
    django_capture_on_commit_callbacks: Any,
    mfakit_setting: Callable[..., None],
    settings: Any,
    audit: str,
) -> None:
    """Enrolment, sign-ins (wrong code, back-off, trusted device), a phone, a
    question, devices revoked, an admin's unlock, 2FA off: one signal per
    audit event recorded, with its action, nothing more; whether the store
    keeps the audit trail or another sink does."""
    mfakit_setting(free_failures=2)
    settings.MFAKIT = {**settings.MFAKIT, "AUDIT": audit}
    logged = len(AUDIT_LOG.events)
    seen: list[tuple[str, str, str | None]] = []

    def receiver(sender: Any, event: mfakit.AuditRecord, action: str, **kwargs: Any) -> None:
        assert action == str(event.action)
        seen.append((action, event.subject_id, event.actor_id))

    alice, browser = user(), Browser()
    root = user("root", is_staff=True, is_superuser=True)
    before = AuditEvent.objects.count()
    security_event.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sign_in(browser, alice)
            response = browser.post(f"{BASE}/authenticator/", {"label": "Phone"})
            key = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', text(response))
            assert key is not None
            secret = key.group(1).replace(" ", "")
            browser.post(f"{BASE}/authenticator/confirm/", {"code": totp(secret)})
            browser.post(f"{BASE}/logout/")
            sign_in(browser, alice)
            code = totp(secret)
            for _ in range(3):  # two free failures, then the back-off
                browser.post(f"{BASE}/login/code/", {"code": f"{(int(code) + 1) % 1_000_000:06d}"})
            admin = Browser()
            sign_in(admin, root)
            admin.post(
                "/admin/mfakit/totpfactor/",
                {
                    "_selected_action": [str(TotpFactor.objects.get().pk)],
                    "action": "unlock_second_step",
                },
            )
            browser.post(f"{BASE}/login/code/", {"code": code, "trust": "yes"})
            browser.post(f"{BASE}/contact/phone/", {"value": "+1 415 555 0101"})
            browser.post(f"{BASE}/contact/verify/", {"code": OUTBOX.last_code("+14155550101")})
            browser.post(
                f"{BASE}/security-question/",
                {"question": get_mfa().security_questions[0], "answer": "Rex"},
            )
            browser.post(f"{BASE}/devices/revoke-all/")
            browser.post(f"{BASE}/disable/")
    finally:
        security_event.disconnect(receiver)
    if audit == "store":
        rows = list(AuditEvent.objects.order_by("seq")[before:])
        recorded = [(e.action, e.subject_id, e.actor_id) for e in rows]
    else:
        assert AuditEvent.objects.count() == before
        recorded = [(str(e.action), e.subject_id, e.actor_id) for e in AUDIT_LOG.events[logged:]]
    assert Counter(seen) == Counter(recorded)
    actions = {a for a, _, _ in seen}
    assert {
        "factor.added",
        "second_step.failed",
        "account.backoff",
        "account.unlocked",
        "second_step.passed",
        "device.trusted",
        "code.sent",
        "backup_codes.issued",
        "security_question.set",
        "device.revoked_all",
        "two_factor.disabled",
    } <= actions, actions


# --- trust bound to the password -------------------------------------------------------------


def test_a_password_changed_through_django_ends_every_trusted_device(settings: Any) -> None:
    from django.contrib.auth.forms import SetPasswordForm

    alice, browser = user(), Browser()
    secret, _ = add_totp(alice)
    enrol_email(alice)
    signed_in_with_totp(browser, alice, secret, trust="yes")
    browser.post(f"{BASE}/logout/")
    assert sign_in(browser, alice)["Location"] == "/home/"  # trusted: no code
    browser.post(f"{BASE}/logout/")
    # Saves that do not change the password leave the device trusted ...
    alice.refresh_from_db()
    alice.first_name = "Alice"
    alice.save()
    # ... and so does Django upgrading the password's hash at sign-in.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert sign_in(browser, alice)["Location"] == "/home/"
    alice.refresh_from_db()
    assert alice.password.startswith("scrypt$")  # upgraded, and still trusted
    browser.post(f"{BASE}/logout/")
    assert sign_in(browser, alice)["Location"] == "/home/"
    browser.post(f"{BASE}/logout/")
    assert not [e for e in get_mfa().list_events(str(alice.pk)) if e.action == "password.changed"]

    mail.outbox.clear()
    form = SetPasswordForm(
        alice, {"new_password1": "n3w-Passw0rd!", "new_password2": "n3w-Passw0rd!"}
    )
    assert form.is_valid(), form.errors
    form.save()  # what Django's password change, reset and admin forms do
    assert not any(d.active for d in get_mfa().list_devices(str(alice.pk)))
    (changed,) = [e for e in get_mfa().list_events(str(alice.pk)) if e.action == "password.changed"]
    assert changed.subject_id == str(alice.pk)
    assert [m.to for m in mail.outbox] == [[alice.email]]  # the user is told
    response = browser.post(
        f"{BASE}/login/", {"username": "alice", "password": "n3w-Passw0rd!", "next": "/home/"}
    )
    assert response["Location"] == f"{BASE}/login/code/"  # the device no longer skips it
