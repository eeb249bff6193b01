"""The example Django project in Chromium: enrolment required by role, sign-in
with an authenticator app, with a backup code, and a trusted device."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pyotp

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "demo-practice-2fa"


def sign_in(page: Page, username: str) -> None:
    page.goto("/account/2fa/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def enrol_authenticator(page: Page) -> tuple[str, list[str]]:
    """From the 2FA page: set up an app (reading the key as a user would type
    it), then keep the backup codes shown once."""
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("img", name="QR code of your new authenticator key").is_visible()
    secret = page.locator("#secret").inner_text().replace(" ", "")
    page.get_by_label("Enter the 6-digit code your app shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Backup codes").wait_for()
    codes = page.locator("#codes li").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("button", name="I have saved them").click()
    page.get_by_text("Two-step verification is on.").wait_for()
    return secret, codes


def next_totp(secret: str) -> str:
    """The code of the next time step: the one just used is refused as a replay."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_staff_must_enrol_then_sign_in_with_their_authenticator_app(page: Page) -> None:
    sign_in(page, "sam")
    page.get_by_text("Your account requires two-step verification").wait_for()
    page.goto("/records/")  # the middleware keeps them on the setup pages
    assert page.url.endswith("/account/2fa/")
    secret, _ = enrol_authenticator(page)
    page.goto("/records/")
    page.get_by_role("heading", name="Patient records").wait_for()

    sign_out(page)
    sign_in(page, "sam")
    page.get_by_label("Enter the 6-digit code from your authenticator app.").fill(next_totp(secret))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Hello, sam").wait_for()
    page.goto("/records/")
    page.get_by_role("heading", name="Patient records").wait_for()


def test_a_wrong_code_is_refused_and_a_backup_code_signs_in_once(page: Page) -> None:
    sign_in(page, "casey")  # a client: 2FA is optional, so she turns it on herself
    page.get_by_role("heading", name="Hello, casey").wait_for()
    page.goto("/account/2fa/")
    _, codes = enrol_authenticator(page)
    sign_out(page)

    sign_in(page, "casey")
    field = page.get_by_label("Enter the 6-digit code from your authenticator app.")
    field.fill("000000")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text(re.compile(r"That code is not correct.*4 tries left")).wait_for()
    page.get_by_role("textbox").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Hello, casey").wait_for()
    page.get_by_text("9 backup codes left.").wait_for()

    sign_out(page)
    sign_in(page, "casey")
    page.get_by_role("textbox").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_text(re.compile("That code is not correct")).wait_for()
    assert "/account/2fa/login/code/" in page.url


def test_a_trusted_device_skips_the_code_until_it_is_revoked(page: Page) -> None:
    sign_in(page, "owner")  # staff: must enrol first
    page.get_by_text("Your account requires two-step verification").wait_for()
    secret, _ = enrol_authenticator(page)
    sign_out(page)
    sign_in(page, "owner")
    page.get_by_role("textbox").fill(next_totp(secret))
    page.get_by_label(re.compile("Trust this device for 14 days")).check()
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Hello, owner").wait_for()
    cookie = next(c for c in page.context.cookies() if c["name"] == "mfakit_trust")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    sign_out(page)
    sign_in(page, "owner")
    page.get_by_role("heading", name="Hello, owner").wait_for()  # no code asked

    page.goto("/account/2fa/")
    page.get_by_role("button", name="Stop trusting all devices").click()
    page.get_by_text(re.compile("devices are no longer trusted")).wait_for()
    sign_out(page)
    sign_in(page, "owner")
    page.get_by_label("Enter the 6-digit code from your authenticator app.").wait_for()
