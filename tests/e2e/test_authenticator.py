"""An authenticator app: set up from the page's key, sign in with it, trust
the device (seed 001's setup, seed 000's "trust this device")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")

from playwright.sync_api import BrowserContext, Page, expect

from .helpers import Authenticator, screenshot, sign_in, sign_out, sign_up, unique_email


def enter_authenticator_code(page: Page, app: Authenticator, *, trust: bool = False) -> None:
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    expect(page.get_by_text("Enter the 6-digit code from your authenticator app.")).to_be_visible()
    page.get_by_label("Verification code").fill(app.code())
    if trust:
        page.get_by_label("Trust this device").check()
    page.get_by_role("button", name="Verify").click()


def test_authenticator_setup_sign_in_and_trusted_device(
    page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    email = unique_email("tina")
    sign_up(page, "Tina Totp", email)

    # Setup: QR code and the key for manual entry, read from the page.
    page.goto("/setup/authenticator")
    page.get_by_label("Name for this app").fill("Tina's phone")
    page.get_by_role("button", name="Show QR code").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.get_by_label("Setup key").inner_text().replace(" ", "")
    assert len(secret) >= 32  # 160 bits in base32
    screenshot(page, "authenticator-setup")
    app = Authenticator(secret)
    page.get_by_label("Code from the app").fill(app.code())
    page.get_by_role("button", name="Verify and turn on").click()

    # The first factor comes with ten backup codes, shown once, to download or print.
    codes = page.get_by_role("list", name="Your backup codes").locator("code")
    expect(codes).to_have_count(10)
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "backup-codes.txt"
    sheet = download.path().read_text()
    assert codes.first.inner_text() in sheet
    screenshot(page, "backup-codes")
    page.get_by_role("button", name="I have saved my codes").click()
    expect(page.get_by_role("cell", name="Tina's phone", exact=True)).to_be_visible()

    # Sign in with the app and trust this browser.
    sign_out(page)
    sign_in(page, email)
    screenshot(page, "sign-in-code")
    enter_authenticator_code(page, app, trust=True)
    expect(page.get_by_role("heading", name="Hello, Tina Totp")).to_be_visible()
    expect(page.get_by_text("This device is trusted for 14 days.")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "trusted_device")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # The same browser: the password alone.
    sign_out(page)
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Hello, Tina Totp")).to_be_visible()
    expect(page.get_by_text("This device is trusted, so no code was needed.")).to_be_visible()
    page.goto("/profile")
    expect(page.get_by_role("cell", name="Active", exact=True)).to_have_count(1)
    screenshot(page, "profile")

    # Another browser: the code again.
    other = new_context().new_page()
    sign_in(other, email)
    enter_authenticator_code(other, app)
    expect(other.get_by_role("heading", name="Hello, Tina Totp")).to_be_visible()


def test_admin_logged_in_as_member_cannot_set_up_their_authenticator(admin_page: Page) -> None:
    page = admin_page
    email = unique_email("ivy")
    page.goto("/team")
    page.get_by_label("Name").fill("Ivy Impersonated")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Add team member").click()
    page.get_by_role("link", name="Ivy Impersonated").click()
    page.get_by_role("button", name="Log in as Ivy Impersonated").click()
    expect(page.get_by_text("you are logged in as Ivy Impersonated")).to_be_visible()

    page.get_by_role("link", name="Two-step verification").click()
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.get_by_role("button", name="Show QR code").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "only the user themselves may set up an authenticator app"
    )
    expect(page.get_by_label("Setup key")).to_have_count(0)
    screenshot(page, "impersonation-refused")

    page.get_by_role("button", name="Stop logging in as Ivy Impersonated").click()
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
