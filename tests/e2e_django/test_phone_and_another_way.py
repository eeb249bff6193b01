"""The example Django project in Chromium: a phone proven by SMS (read from
the dev inbox), sign-in by SMS, a guarded phone change approved on the old
number (then the new one proven), and "try another way" behind the security
question."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .test_example_project import sign_in, sign_out

if TYPE_CHECKING:
    from playwright.sync_api import Page

OLD, NEW = "+14155550101", "+12015550123"


def inbox(page: Page, to: str) -> list[str]:
    """The codes sent to ``to``, newest first, from the dev inbox (another tab)."""
    tab = page.context.new_page()
    try:
        tab.goto("/dev/inbox/")
        items = tab.locator("#inbox li").filter(has_text=f"to {to} at").all_inner_texts()
    finally:
        tab.close()
    return [m.group(1) for m in (re.search(r"\b(\d{6})\b", t) for t in items) if m]


def test_sms_a_guarded_phone_change_and_try_another_way(
    page: Page, make_user: Callable[[str], str]
) -> None:
    name = make_user("dana")
    sign_in(page, name)
    page.get_by_role("heading", name=f"Hello, {name}").wait_for()
    page.goto("/account/2fa/")
    page.get_by_role("link", name="Add or change your phone number").click()
    page.get_by_label("Phone number, with the country code").fill("+1 415 555 0101")
    page.get_by_role("button", name="Send a code").click()
    page.get_by_label("Enter the code we sent you by text message.").fill(inbox(page, OLD)[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Backup codes").wait_for()
    codes = page.locator("#codes li").all_inner_texts()
    page.get_by_role("button", name="I have saved them").click()
    page.get_by_text("Two-step verification is on.").wait_for()
    page.get_by_role("link", name="Choose a security question").click()
    question = page.get_by_label("Question").locator("option").first.inner_text()
    page.get_by_label("Answer").fill("Rex")
    page.get_by_role("button", name="Save").click()
    # Setting it binds a way to sign in: prove the phone again first (S32), then back.
    page.get_by_role("heading", name="Confirm it is you").wait_for()
    page.get_by_label("Enter the code we sent you by text message.").fill(inbox(page, OLD)[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_label("Answer").fill("Rex")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your security question is set.").wait_for()

    # Sign-in by SMS: the code is sent as soon as the password is right.
    sign_out(page)
    sign_in(page, name)
    page.get_by_label("Enter the code we sent you by text message.").fill(inbox(page, OLD)[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name=f"Hello, {name}").wait_for()

    # A new number is approved with a code to the old one, never the new one.
    page.goto("/account/2fa/")
    page.get_by_role("link", name="Add or change your phone number").click()
    page.get_by_label("Phone number, with the country code").fill("+1 201 555 0123")
    page.get_by_role("button", name="Send a code").click()
    sent = len(inbox(page, OLD))
    page.get_by_role("button", name="Send a new code").click()
    assert len(inbox(page, OLD)) == sent + 1 and inbox(page, NEW) == []
    page.get_by_role("textbox").fill(inbox(page, OLD)[0])
    page.get_by_role("button", name="Verify").click()
    # Applied: now the new number proves it is hers, with a code sent to it.
    page.get_by_text("Now enter the code we sent to the new one.").wait_for()
    page.get_by_role("textbox").fill(inbox(page, NEW)[0])
    page.get_by_role("button", name="Verify").click()
    # Her only factor changed, so her backup codes went with it: new ones, shown once.
    page.get_by_role("heading", name="Backup codes").wait_for()
    fresh = page.locator("#codes li").all_inner_texts()
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    page.get_by_role("button", name="I have saved them").click()
    page.get_by_text("+1•••••23").wait_for()
    assert page.get_by_text("not verified").count() == 0

    # Try another way: the security question first, then a backup code.
    sign_out(page)
    sign_in(page, name)
    page.get_by_role("button", name="Try another way").click()
    page.get_by_label(question).fill("Max")
    page.get_by_role("button", name="Continue").click()
    page.get_by_text(re.compile("answer is not correct|not correct", re.I)).wait_for()
    page.get_by_label(question).fill("Rex")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Use a backup code").click()
    page.get_by_label("Enter one of your backup codes.").fill(fresh[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name=f"Hello, {name}").wait_for()
