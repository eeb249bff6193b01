"""Helpers for the end-to-end tests: signing in, reading codes, screenshots."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ADMIN_EMAIL = "owner@clinic.example"
DEMO_PASSWORD = "demo-practice-2fa"
PASSWORD = "e2e-Password-4711"  # for the accounts the tests create


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot of a key page as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def unique_email(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**12}@clinic.example"


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()


def sign_up(page: Page, name: str, email: str, password: str = PASSWORD) -> None:
    page.goto("/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name=f"Hello, {name}").wait_for()


def inbox_code(context: BrowserContext, to: str) -> str:
    """The code of the newest message to ``to`` on the dev inbox page, read in
    another tab of the same browser."""
    tab = context.new_page()
    try:
        tab.goto("/dev/inbox")
        row = tab.get_by_role("row").filter(has=tab.get_by_role("cell", name=to, exact=True))
        code = row.first.locator("code.code").inner_text().strip()
    finally:
        tab.close()
    assert re.fullmatch(r"\d{6,10}", code), f"no code for {to} in the dev inbox"
    return code


def inbox_recipients(context: BrowserContext) -> list[str]:
    tab = context.new_page()
    try:
        tab.goto("/dev/inbox")
        return [
            c.strip() for c in tab.locator("table.inbox tbody td:nth-child(3)").all_inner_texts()
        ]
    finally:
        tab.close()


def enrol_email(page: Page, email: str) -> list[str]:
    """Set up email codes for the signed-in user; returns the backup codes shown."""
    page.goto("/setup/email")
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Verification code").fill(inbox_code(page.context, email))
    page.get_by_role("button", name="Verify").click()
    codes = page.get_by_role("list", name="Your backup codes").locator("code").all_inner_texts()
    page.get_by_role("button", name="I have saved my codes").click()
    return codes


@dataclass
class Authenticator:
    """An authenticator app for the tests: pyotp on the key from the setup page.

    mfakit accepts each time step once, never an older one than the last
    accepted, and one step of clock drift either side (``Policy.totp_window``).
    :meth:`code` gives a code the app has not seen yet: the current step's, or
    the next step's when the current one was used (as a phone whose clock runs
    a little fast would show), and waits for time to move on only when both
    are used up.
    """

    secret: str
    period: int = 30
    used: set[int] = field(default_factory=set)

    def code(self) -> str:
        totp = pyotp.TOTP(self.secret, interval=self.period)
        while True:
            now = time.time()
            step = int(now // self.period)
            last = max(self.used, default=step - 1)
            target = max(step, last + 1)
            if target <= step + 1:
                self.used.add(target)
                return totp.at(target * self.period)
            time.sleep((step + 1) * self.period - now + 0.2)


def step_up(page: Page, code: str) -> None:
    """On the step-up page (S32): enter a code from one of the user's factors."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status").first).to_contain_text("Verified.")
