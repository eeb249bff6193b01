"""Changing the phone number behind 2FA through a verified channel, at most five
attempts a day; an admin changing a team member's phone (seed 001)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")

from playwright.sync_api import BrowserContext, Page, expect

from .helpers import (
    enrol_email,
    inbox_code,
    inbox_recipients,
    screenshot,
    sign_in,
    sign_up,
    unique_email,
)


def ask_phone_change(page: Page, number: str) -> None:
    page.goto("/profile")
    page.get_by_label("Phone number").fill(number)
    page.get_by_role("button", name="Update phone number").click()


def test_change_phone_with_email_code(page: Page) -> None:
    email = unique_email("pia")
    sign_up(page, "Pia Phone", email)
    enrol_email(page, email)

    ask_phone_change(page, "+1 415 555 0142")
    dialog = page.get_by_role("dialog", name="Choose how to verify")
    expect(dialog).to_be_visible()
    # Only channels verified before the change: her email, not the new number.
    expect(dialog.get_by_role("radio")).to_have_count(1)
    expect(dialog.get_by_role("radio", name="Email (p•••@clinic.example)")).to_be_checked()
    screenshot(page, "choose-how-to-verify")
    dialog.get_by_role("button", name="Continue").click()

    page.get_by_label("Verification code").fill(inbox_code(page.context, email))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Your phone number is now +14155550142"
    )
    expect(page.get_by_label("Phone number")).to_have_value("+14155550142")
    assert "+14155550142" not in inbox_recipients(page.context)  # never to the new number
    page.get_by_role("link", name="Dev inbox").click()
    expect(page.get_by_role("cell", name=email, exact=True).first).to_be_visible()
    screenshot(page, "dev-inbox")

    page.goto("/profile")
    page.get_by_role("link", name="Activity log").click()
    expect(page.get_by_role("cell", name="Phone or email changed")).to_be_visible()
    screenshot(page, "activity-log")


def test_sixth_change_of_the_day_is_refused(page: Page) -> None:
    email = unique_email("lou")
    sign_up(page, "Lou Limit", email)
    enrol_email(page, email)
    for attempt in range(5):
        ask_phone_change(page, f"+1 415 555 01{50 + attempt}")
        dialog = page.get_by_role("dialog", name="Choose how to verify")
        dialog.get_by_role("button", name="Cancel").click()
        expect(page.get_by_text("The change was cancelled; nothing changed.")).to_be_visible()

    ask_phone_change(page, "+1 415 555 0160")
    expect(page.get_by_role("alert")).to_contain_text(
        "You have reached today's limit for changing your phone number or email address."
    )
    expect(page.get_by_role("dialog")).to_have_count(0)
    screenshot(page, "daily-limit")


def test_admin_changes_a_team_members_phone(
    admin_page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    admin = admin_page
    email = unique_email("max")
    admin.goto("/team")
    admin.get_by_label("Name").fill("Max Member")
    admin.get_by_label("Email").fill(email)
    admin.get_by_label("Temporary password").fill("temporary-Pass-123")
    admin.get_by_role("button", name="Add team member").click()
    expect(admin.get_by_role("status")).to_contain_text("Max Member can now sign in")

    # The member verifies their email from their own browser.
    member = new_context().new_page()
    sign_in(member, email, "temporary-Pass-123")
    expect(member.get_by_role("heading", name="Hello, Max Member")).to_be_visible()
    enrol_email(member, email)

    # The admin changes the member's phone; the code goes to the member.
    admin.get_by_role("link", name="Team").click()
    admin.get_by_role("link", name="Max Member").click()
    admin.get_by_label("Phone number").fill("+1 201 555 0123")
    admin.get_by_role("button", name="Update phone number").click()
    dialog = admin.get_by_role("dialog", name="Choose how to verify")
    expect(dialog).to_contain_text("The code goes to Max Member, not to you.")
    dialog.get_by_role("button", name="Continue").click()
    expect(admin.get_by_text("The code went to Max Member: ask them for it.")).to_be_visible()
    screenshot(admin, "admin-verify-member-change")

    code = inbox_code(admin.context, email)  # the member's inbox entry
    admin.get_by_label("Verification code").fill(code)
    admin.get_by_role("button", name="Verify").click()
    expect(admin.get_by_role("status").first).to_contain_text(
        "Max Member's phone number is now +12015550123"
    )
    assert "+12015550123" not in inbox_recipients(admin.context)
