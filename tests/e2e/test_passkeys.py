"""Passkeys in the example app, end to end in Chromium with its virtual authenticator.

Each test's tab gets a DevTools virtual authenticator (``WebAuthn.enable``,
``WebAuthn.addVirtualAuthenticator``: CTAP2, internal transport, resident keys,
user verification), so ``navigator.credentials.create`` and ``get`` on the app's
pages (``static/passkeys.js``) run for real against mfakit's verification; the app
is served at ``http://localhost:PORT`` with RP id ``localhost`` (conftest.py).

Chromium's virtual authenticator answers a conditional (autofill) request by
itself, so the sign-in page signs in at once when the authenticator holds a
passkey. The tests that need the password form first make the browser report no
autofill support (``isConditionalMediationAvailable`` false), as older browsers do.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .helpers import screenshot, sign_in, sign_out, sign_up, unique_email

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Page

    from .conftest import RunningApp

NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
RECORD_MEDIATION = """
const get = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = (options) => {
  sessionStorage.setItem("mediation", String(options.mediation));
  return get(options);
};
"""


@dataclass
class Authenticator:
    cdp: CDPSession
    id: str

    def credentials(self) -> list[dict[str, Any]]:
        reply = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        found: list[dict[str, Any]] = reply["credentials"]
        return found


@pytest.fixture
def authenticator(page: Page) -> Authenticator:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return Authenticator(cdp, added["authenticatorId"])


def _user_with_passkey(page: Page, prefix: str, name: str = "Laptop") -> tuple[str, str]:
    """A new account that adds a passkey as its first factor; returns (name, email)."""
    from playwright.sync_api import expect

    email = unique_email(prefix)
    person = f"Pat {prefix.title()}"
    sign_up(page, person, email)
    page.goto("/profile/passkeys")
    expect(page.get_by_text("You have no passkey yet.")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    # The first factor: mfakit issues the first backup codes, shown once.
    expect(page.get_by_role("heading", name="Backup codes")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text(f"Your passkey “{name}” is set up")
    page.get_by_role("button", name="I have saved my codes").click()
    return person, email


def test_add_a_passkey_then_use_it_as_the_second_step(
    page: Page, authenticator: Authenticator, webapp: RunningApp
) -> None:
    from playwright.sync_api import expect

    page.add_init_script(NO_AUTOFILL)
    person, email = _user_with_passkey(page, "pk-second")
    (stored,) = authenticator.credentials()
    assert stored["rpId"] == "localhost" and stored["isResidentCredential"] is True
    # The authenticator holds mfakit's random user handle, never the app's user id.
    handle = base64.b64decode(stored["userHandle"] + "==")
    assert len(handle) == 64
    user = webapp.app.extensions["webapp.users"].by_email(email)
    assert user.id.encode() not in handle

    page.goto("/profile/passkeys")
    row = page.get_by_role("row").filter(has_text="Laptop")
    expect(row).to_contain_text("internal")
    sign_out(page)

    sign_in(page, email)
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    screenshot(page, "passkey-second-step")
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("heading", name=f"Hello, {person}")).to_be_visible()
    assert authenticator.credentials()[0]["signCount"] >= 2  # created, then used

    page.goto("/profile/passkeys")
    screenshot(page, "passkey-list")
    last_used = page.get_by_role("row").filter(has_text="Laptop").locator("td").nth(4)
    expect(last_used).not_to_have_text("—")


def test_sign_in_with_a_passkey_button_no_username(
    page: Page, authenticator: Authenticator
) -> None:
    from playwright.sync_api import expect

    page.add_init_script(NO_AUTOFILL)
    person, _ = _user_with_passkey(page, "pk-button")
    sign_out(page)
    expect(page.get_by_label("Email")).to_be_empty()
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name=f"Hello, {person}")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("Signed in with your passkey.")


def test_conditional_ui_signs_in_from_the_username_autofill(
    page: Page, authenticator: Authenticator
) -> None:
    from playwright.sync_api import expect

    page.add_init_script(RECORD_MEDIATION)
    person, _ = _user_with_passkey(page, "pk-autofill")
    page.goto("/login")  # signed in already: the page sends us home
    sign_out(page)  # the sign-in page: its username field offers passkeys
    expect(page.get_by_role("heading", name=f"Hello, {person}")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('mediation')") == "conditional"
    page.goto("/login")
    # Signed in: the sign-in page sends us home. The field is marked for autofill.
    expect(page.get_by_role("heading", name=f"Hello, {person}")).to_be_visible()


def test_the_username_field_is_marked_for_passkey_autofill(page: Page) -> None:
    page.goto("/login")
    assert page.get_by_label("Email").get_attribute("autocomplete") == "username webauthn"


def test_remove_a_passkey_after_step_up(page: Page, authenticator: Authenticator) -> None:
    from playwright.sync_api import expect

    page.add_init_script(NO_AUTOFILL)
    _user_with_passkey(page, "pk-remove", name="Old phone")
    page.goto("/profile/passkeys")
    page.get_by_label("New name for Old phone").fill("Lost phone")
    page.get_by_role("button", name="Rename Old phone").click()
    expect(page.get_by_role("status").first).to_contain_text("Renamed to Lost phone.")

    page.get_by_role("button", name="Remove Lost phone").click()
    # Removing a factor asks to prove one first (S32): here, the passkey itself.
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("status").first).to_contain_text("Verified.")
    page.get_by_role("button", name="Remove Lost phone").click()
    expect(page.get_by_role("status").first).to_contain_text("Passkey removed.")
    expect(page.get_by_text("You have no passkey yet.")).to_be_visible()

    # The browser still holds the key, but the site no longer accepts it.
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).first).to_contain_text(
        "That passkey did not sign you in."
    )
    assert page.get_by_label("Password").is_visible()
