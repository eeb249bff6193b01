"""A backup code works once; resend shows its cooldown (seeds 000 and 001)."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")

from playwright.sync_api import Page, expect

from .helpers import enrol_email, inbox_code, screenshot, sign_in, sign_out, sign_up, unique_email


def test_backup_code_works_once(page: Page) -> None:
    email = unique_email("bea")
    sign_up(page, "Bea Backup", email)
    codes = enrol_email(page, email)
    assert len(codes) == 10
    sign_out(page)

    sign_in(page, email)  # the email code goes out at once
    expect(page.get_by_text("Enter the code we sent you by email.")).to_be_visible()
    page.get_by_role("button", name="Use a backup code").click()
    expect(page.get_by_text("Enter one of your backup codes.")).to_be_visible()
    page.get_by_label("Verification code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Bea Backup")).to_be_visible()
    expect(page.get_by_text("You used a backup code. 9 left.")).to_be_visible()
    sign_out(page)

    sign_in(page, email)
    page.get_by_role("button", name="Use a backup code").click()
    page.get_by_label("Verification code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not correct.")
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    screenshot(page, "backup-code-refused")

    # A second unused code still works.
    page.get_by_label("Verification code").fill(codes[1])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Bea Backup")).to_be_visible()


def test_email_code_with_visible_resend_cooldown(page: Page) -> None:
    email = unique_email("ed")
    sign_up(page, "Ed Email", email)
    enrol_email(page, email)
    sign_out(page)

    sign_in(page, email)
    resend = page.get_by_role("button", name="Resend code")
    expect(resend).to_be_disabled()
    expect(page.get_by_text("You can ask for a new code in")).to_be_visible()
    first = inbox_code(page.context, email)
    expect(resend).to_be_enabled(timeout=8_000)  # the test app's cooldown is 3 s
    resend.click()
    expect(page.get_by_role("status")).to_contain_text("We sent a new code to e•••@clinic.example")
    second = inbox_code(page.context, email)
    if first != second:  # the new code replaces the old one
        page.get_by_label("Verification code").fill(first)
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not correct.")
    page.get_by_label("Verification code").fill(second)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Ed Email")).to_be_visible()
