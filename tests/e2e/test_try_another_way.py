"""A phone by text message, and "try another way" behind the security question
(seed 000): the answer is case-sensitive and unlocks the other methods."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")

from playwright.sync_api import Page, expect

from .helpers import (
    enrol_email,
    inbox_code,
    screenshot,
    sign_in,
    sign_out,
    sign_up,
    step_up,
    unique_email,
)

PHONE = "+14155550177"


def test_try_another_way_through_the_security_question(page: Page) -> None:
    email = unique_email("quinn")
    sign_up(page, "Quinn Question", email)
    enrol_email(page, email)

    # A second factor needs a step-up (S32): the email, already verified, proves
    # it is Quinn; then the phone, proven by a text message to it.
    page.goto("/setup/phone")
    page.get_by_label("Phone number").fill("+1 (415) 555-0177")
    page.get_by_label("Text message (SMS)").check()
    page.get_by_role("button", name="Send code").click()
    step_up(page, inbox_code(page.context, email))
    expect(page).to_have_url(re.compile(r"/setup/phone$"))
    page.get_by_label("Phone number").fill("+1 (415) 555-0177")
    page.get_by_label("Text message (SMS)").check()
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Verification code").fill(inbox_code(page.context, PHONE))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status").first).to_contain_text("Your phone is set up.")

    page.goto("/setup/question")
    page.get_by_label("Question").select_option("What was the name of your first pet?")
    page.get_by_label("Answer").fill("Rex")
    page.get_by_role("button", name="Update answer").click()
    expect(page.get_by_role("status").first).to_contain_text("security question is saved")
    sign_out(page)

    # Sign in: the code goes by text message; the other ways wait behind the question.
    sign_in(page, email)
    expect(page.get_by_text("Enter the code we sent you by text message.")).to_be_visible()
    expect(page.get_by_role("button", name="Email me a code")).to_have_count(0)
    page.get_by_role("button", name="Try another way").click()
    answer = page.get_by_label("What was the name of your first pet?")
    answer.fill("rex")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That answer is not correct.")
    page.get_by_label("What was the name of your first pet?").fill("Rex")
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_text("Enter the code we sent you by email.")).to_be_visible()
    screenshot(page, "try-another-way")
    page.get_by_label("Verification code").fill(inbox_code(page.context, email))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Quinn Question")).to_be_visible()
