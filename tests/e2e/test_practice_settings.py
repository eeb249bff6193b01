"""Practice settings: 2FA required for staff at their next sign-in (seed 002)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright pytest-playwright")

from playwright.sync_api import BrowserContext, Page, expect

from .helpers import screenshot, sign_in, sign_up, unique_email


def set_requirement(admin: Page, label: str) -> None:
    admin.get_by_role("link", name="Practice settings").click()
    admin.get_by_label(label, exact=True).check()
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_contain_text("Saved")


def test_two_factor_required_for_staff_at_next_sign_in(
    admin_page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    admin = admin_page
    email = unique_email("stan")
    admin.goto("/team")
    admin.get_by_label("Name").fill("Stan Staff")
    admin.get_by_label("Email").fill(email)
    admin.get_by_label("Role").select_option("staff")
    admin.get_by_label("Temporary password").fill("temporary-Pass-456")
    admin.get_by_role("button", name="Add team member").click()

    set_requirement(admin, "Required for staff")
    screenshot(admin, "practice-settings")
    try:
        staff = new_context().new_page()
        sign_in(staff, email, "temporary-Pass-456")
        expect(staff).to_have_url(f"{staff.url.split('/setup')[0]}/setup")
        expect(staff.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
        expect(staff.get_by_role("alert").first).to_contain_text(
            "Your practice requires two-step verification"
        )
        screenshot(staff, "enrolment-required")
        staff.goto("/profile")  # nothing else opens until a factor is set up
        expect(staff.get_by_role("heading", name="Set up two-step verification")).to_be_visible()

        client = new_context().new_page()  # clients are not concerned
        sign_up(client, "Cleo Client", unique_email("cleo"))
    finally:
        set_requirement(admin, "Not required")
