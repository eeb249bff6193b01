"""End to end in a real browser: Debian's Chromium, its DevTools virtual authenticator.

A tiny host runs on ``http://localhost:PORT`` (RP id ``localhost``: browsers
refuse WebAuthn on ``127.0.0.1``). Its page is the docs page's JavaScript
(``docs/passkeys.md``), so the script hosts copy is the one tested; it fetches
options made by mfakit's option builders, calls ``navigator.credentials.create``
and ``get``, and posts the result back, where mfakit's verifiers check it. The
authenticator is Chromium's own (CTAP2, internal transport, resident keys, user
verification), added through ``WebAuthn.addVirtualAuthenticator``; its stored
credentials (sign count included) are read back with ``WebAuthn.getCredentials``.

The facade test (``FacadeHost``) serves the same endpoints from the facade's own
passkey calls, ``MFA`` and ``AsyncMFA`` in turn: register, second step,
passwordless (plain and conditional), replay, removal.

The page's script runs twice: with the browser's JSON helpers
(``parseCreationOptionsFromJSON``, ``toJSON``) and with them removed, to run
the fallbacks older browsers take.

Without Playwright or ``/usr/bin/chromium`` the tests skip with the reason,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mfakit import Policy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, CDPSession, Page

CHROMIUM = os.environ.get("MFAKIT_CHROMIUM", "/usr/bin/chromium")  # Debian's package
CHROMIUM_ARGS = [  # as tests/e2e/conftest.py and ENVIRONMENT.md
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "passkeys.md"


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install playwright"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    return None


MISSING = _missing()
if MISSING is not None and os.environ.get("CI", "").strip().lower() == "true":
    raise RuntimeError(f"the passkey browser tests must run in CI, but {MISSING}")
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"passkey browser tests skipped: {MISSING}"
)

PAGE_SCRIPT = re.search(r"```js\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
assert PAGE_SCRIPT is not None, "docs/passkeys.md lost its JavaScript block"
PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>passkeys</title></head>
<body>
<form><input id="username" name="username" autocomplete="username webauthn"></form>
<script>
{PAGE_SCRIPT.group(1)}
</script>
</body></html>
"""
NO_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


# --- the host ----------------------------------------------------------------------------


@dataclass
class Host:
    """What a host application keeps, in memory: ceremonies and credentials."""

    rp: Any
    policy: Policy
    user_id: str = "alice"
    user_handle: bytes = field(default_factory=lambda: secrets.token_bytes(64))
    ceremonies: dict[str, Any] = field(default_factory=dict)
    credentials: dict[bytes, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    facade: Any = None
    """The :class:`FacadeHost` serving ``/mfa/``."""

    def take(self, ceremony_id: object) -> Any:
        """The ceremony, marked used, as a store's atomic take does."""
        with self.lock:
            ceremony = self.ceremonies.get(str(ceremony_id))
            if ceremony is not None and ceremony.used_at is None:
                self.ceremonies[ceremony.id] = ceremony.with_(used_at=datetime.now(timezone.utc))
            return ceremony

    def handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        from mfakit import passkeys

        now = datetime.now(timezone.utc)
        ceremony_id = secrets.token_urlsafe(16)
        if path.endswith("/begin"):
            mine = [c for c in self.credentials.values() if c.user_id == self.user_id]
            if path == "/register/begin":
                pending = passkeys.registration_options(
                    self.rp, self.policy, ceremony_id=ceremony_id,
                    challenge=secrets.token_bytes(32), now=now, user_id=self.user_id,
                    user_handle=self.user_handle, user_name="alice@example.com",
                    display_name="Alice Example", name=body.get("name") or "Passkey",
                    existing=mine, passwordless=True,
                )  # fmt: skip
            elif path == "/second-factor/begin":
                pending = passkeys.authentication_options(
                    self.rp, self.policy, ceremony_id=ceremony_id,
                    challenge=secrets.token_bytes(32), now=now, user_id=self.user_id,
                    credentials=mine,
                )  # fmt: skip
            else:
                pending = passkeys.passwordless_options(
                    self.rp, self.policy, ceremony_id=ceremony_id,
                    challenge=secrets.token_bytes(32), now=now,
                    conditional=bool(body.get("conditional")),
                )  # fmt: skip
            self.ceremonies[ceremony_id] = pending.ceremony
            return {"ceremonyId": ceremony_id, "options": json.loads(pending.options_json)}
        ceremony = self.take(body.get("ceremonyId"))
        if ceremony is None:
            return {"ok": False, "reason": "wrong_challenge"}
        if path == "/register/finish":
            outcome = passkeys.verify_registration(
                self.rp, ceremony, body.get("credential"), factor_id=ceremony_id, now=now
            )
            if outcome.ok:
                if outcome.credential.credential_id in self.credentials:
                    return {"ok": False, "reason": "duplicate_credential"}
                self.credentials[outcome.credential.credential_id] = outcome.credential
        else:
            credential_id = passkeys.assertion_credential_id(body.get("credential"))
            record = self.credentials.get(credential_id) if credential_id else None
            outcome = passkeys.verify_authentication(
                self.rp, self.policy, ceremony, body.get("credential"), credential=record, now=now
            )
            if outcome.ok:
                self.credentials[outcome.credential.credential_id] = outcome.credential
        result = {
            "ok": outcome.ok,
            "reason": outcome.reason and outcome.reason.value,
            "user_id": getattr(outcome, "user_id", None),
        }
        self.results.append(result)
        return result


class _OnOneLoop:
    """An AsyncMFA's methods, each awaited on one event loop running in a thread
    of its own (the test's thread has Playwright's loop; the HTTP server's
    threads call too)."""

    def __init__(self, amfa: Any) -> None:
        self.amfa = amfa
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.amfa, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self.loop)
            return future.result(timeout=30)

        return call

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class FacadeHost:
    """The same endpoints under ``/mfa/``, served by :class:`mfakit.MFA` or
    :class:`mfakit.AsyncMFA` itself (a memory store, the real clock): what a
    host application writes."""

    def __init__(self, rp: Any, policy: Policy) -> None:
        self.rp = rp
        self.policy = policy
        self.lock = threading.Lock()
        self.mfa: Any = None
        self.reset()

    def reset(self, *, asynchronous: bool = False) -> None:
        """A new, empty site (each browser run registers from scratch), served
        by `MFA` or, `asynchronous`, by `AsyncMFA`."""
        from mfakit import MFA, AsyncMFA
        from mfakit.adapters import MemoryStore
        from mfakit.adapters.memory_async import AsyncMemoryStore
        from mfakit.testing import fast_hasher

        self.close()
        self.store = MemoryStore()
        config: dict[str, Any] = {
            "secret_key": secrets.token_hex(32),
            "issuer": "mfakit tests",
            "policy": self.policy,
            "relying_party": self.rp,
            "hasher": fast_hasher(),
        }
        if asynchronous:
            self.mfa = _OnOneLoop(AsyncMFA(store=AsyncMemoryStore(self.store), **config))
        else:
            self.mfa = MFA(store=self.store, **config)
        self.grant: str | None = None

    def close(self) -> None:
        if isinstance(self.mfa, _OnOneLoop):
            self.mfa.close()

    def actor(self) -> Any:
        from mfakit import Actor

        return Actor.user(
            "alice", reauthenticated_at=datetime.now(timezone.utc), step_up=self.grant
        )

    def handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:  # one request at a time, as the test drives them
            return self._handle(path.removeprefix("/mfa"), body)

    def _handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        mfa = self.mfa
        if path == "/register/begin":
            begun = mfa.begin_passkey_registration(
                self.actor(), "alice", name=body.get("name") or "Passkey", passwordless=True
            )
            return {"ceremonyId": begun.ceremony_id, "options": json.loads(begun.options_json)}
        if path == "/register/finish":
            added = mfa.finish_passkey_registration(
                self.actor(), body["ceremonyId"], body["credential"]
            )
            return {"ok": added.ok, "reason": added.reason and added.reason.value}
        if path == "/second-factor/begin":
            start = mfa.begin_sign_in("alice")
            assert start.challenge is not None and start.challenge.passkey_options
            options = json.loads(start.challenge.passkey_options)
            return {"ceremonyId": start.challenge.id, "options": options}
        if path == "/second-factor/finish":
            verified = mfa.verify(body["ceremonyId"], body["credential"])
            if verified.ok:
                self.grant = verified.step_up
            reason = verified.reason and verified.reason.value
            return {"ok": verified.ok, "reason": reason, "user_id": verified.user_id}
        if path == "/passkey/begin":
            pending = mfa.begin_passkey_sign_in(conditional=bool(body.get("conditional")))
            return {"ceremonyId": pending.ceremony_id, "options": json.loads(pending.options_json)}
        if path == "/passkey/finish":
            signed = mfa.finish_passkey_sign_in(body["ceremonyId"], body["credential"])
            reason = signed.reason and signed.reason.value
            return {"ok": signed.ok, "reason": reason, "user_id": signed.user_id}
        raise AssertionError(f"no endpoint {path}")


@pytest.fixture(scope="module")
def host() -> Iterator[tuple[Host, str]]:
    from mfakit.passkeys import RelyingParty

    server_holder: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output quiet
            pass

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, "text/html; charset=utf-8", PAGE.encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            which = "mfa" if self.path.startswith("/mfa/") else "host"
            reply = server_holder[which].handle(self.path, body)
            self._send(200, "application/json", json.dumps(reply).encode())

    server = ThreadingHTTPServer(("localhost", 0), Handler)
    port = server.server_address[1]
    origin = f"http://localhost:{port}"
    rp = RelyingParty("localhost", "mfakit tests", origins=[origin])
    policy = Policy(passkey_passwordless=True, webauthn_user_verification="required")
    server_holder["host"] = Host(rp=rp, policy=policy)
    server_holder["mfa"] = FacadeHost(rp, policy)
    thread = threading.Thread(target=server.serve_forever, name="passkey-host", daemon=True)
    thread.start()
    try:
        state: Host = server_holder["host"]
        state.facade = server_holder["mfa"]
        yield state, origin
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        server_holder["mfa"].close()


# --- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's own, not pytest-playwright's session fixtures: it stops with this
    # module, so its event loop does not linger into later asyncio tests.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class Tab:
    page: Page
    cdp: CDPSession
    authenticator_id: str

    def stored(self) -> list[dict[str, Any]]:
        reply = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})
        credentials: list[dict[str, Any]] = reply["credentials"]
        return credentials


@pytest.fixture(params=["native JSON", "fallback JSON"])
def tab(request: pytest.FixtureRequest, browser: Browser, host: tuple[Host, str]) -> Iterator[Tab]:
    _, origin = host
    context = browser.new_context()
    context.set_default_timeout(15_000)
    if request.param == "fallback JSON":
        context.add_init_script(NO_JSON_HELPERS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
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
    page.goto(origin + "/")
    native = page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON")
    assert native == ("function" if request.param == "native JSON" else "undefined")
    yield Tab(page, cdp, added["authenticatorId"])
    context.close()


def _b64(text: str) -> bytes:
    """CDP's credential ids are standard base64."""
    return base64.b64decode(text + "=" * (-len(text) % 4))


def test_register_then_sign_in_three_ways(tab: Tab, host: tuple[Host, str]) -> None:
    state, _ = host
    state.credentials.clear()
    page = tab.page

    registered = page.evaluate("addPasskey('/register/begin', '/register/finish', 'Laptop')")
    assert registered == {"ok": True, "reason": None, "user_id": None}
    (record,) = state.credentials.values()
    (stored,) = tab.stored()
    assert _b64(stored["credentialId"]) == record.credential_id
    assert stored["isResidentCredential"] is True
    assert stored["rpId"] == "localhost"
    assert _b64(stored["userHandle"]) == state.user_handle  # the random handle, not "alice"
    assert record.name == "Laptop" and record.passwordless and record.user_verified
    assert record.discoverable.value == "yes"
    assert "internal" in record.transports
    assert record.sign_count == stored["signCount"]

    # Registering the same authenticator again: excluded by the browser.
    again = page.evaluate(
        "addPasskey('/register/begin', '/register/finish', 'Twice').catch((e) => e.name)"
    )
    assert again == "InvalidStateError"
    assert len(tab.stored()) == 1

    # The second step after a password.
    second = page.evaluate("usePasskey('/second-factor/begin', '/second-factor/finish')")
    assert second == {"ok": True, "reason": None, "user_id": "alice"}
    (stored,) = tab.stored()
    assert state.credentials[record.credential_id].sign_count == stored["signCount"]

    # No username: the discoverable passkey names the user.
    alone = page.evaluate("usePasskey('/passkey/begin', '/passkey/finish')")
    assert alone == {"ok": True, "reason": None, "user_id": "alice"}
    (stored,) = tab.stored()
    updated = state.credentials[record.credential_id]
    assert updated.sign_count == stored["signCount"]
    assert updated.last_used_at is not None and not updated.cloned


def test_a_ceremony_posted_twice_is_refused_the_second_time(
    tab: Tab, host: tuple[Host, str]
) -> None:
    state, _ = host
    state.credentials.clear()
    page = tab.page
    assert page.evaluate("addPasskey('/register/begin', '/register/finish', 'Key')")["ok"]
    replies = page.evaluate(
        """async () => {
          const { ceremonyId, options } = await postJSON('/passkey/begin', {});
          const publicKey = requestOptions(options);
          const credential = await navigator.credentials.get({ publicKey });
          const body = { ceremonyId, credential: credentialJSON(credential) };
          const first = await postJSON('/passkey/finish', body);
          const second = await postJSON('/passkey/finish', body);
          return [first, second];
        }"""
    )
    assert replies[0]["ok"] is True
    assert replies[1] == {"ok": False, "reason": "replayed", "user_id": None}


def test_conditional_ui_signs_in_without_a_username(tab: Tab, host: tuple[Host, str]) -> None:
    """The autofill path: ``mediation: "conditional"`` and the longer-lived ceremony.

    Chromium's virtual authenticator answers a conditional request by itself, so
    this runs the conditional ceremony end to end but not the autofill dropdown.
    """
    state, _ = host
    state.credentials.clear()
    page = tab.page
    assert page.evaluate("addPasskey('/register/begin', '/register/finish', 'Phone')")["ok"]
    assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()") is True
    page.evaluate(
        """() => {
          const get = navigator.credentials.get.bind(navigator.credentials);
          navigator.credentials.get = (options) => {
            window.mediation = options.mediation;
            return get(options);
          };
        }"""
    )
    result = page.evaluate("usePasskey('/passkey/begin', '/passkey/finish', {conditional: true})")
    assert result == {"ok": True, "reason": None, "user_id": "alice"}
    assert page.evaluate("window.mediation") == "conditional"
    ceremony = max(state.ceremonies.values(), key=lambda c: c.created_at)
    assert ceremony.conditional
    assert ceremony.expires_at - ceremony.created_at == state.policy.webauthn_conditional_ttl


@pytest.mark.parametrize("facade_kind", ["MFA", "AsyncMFA"])
def test_the_facade_registers_signs_in_three_ways_and_removes(
    tab: Tab, host: tuple[Host, str], facade_kind: str
) -> None:
    """The same page against the facade's own calls (MFA and AsyncMFA): register,
    second step, passwordless (plain and conditional), a replay, then removal
    stops the passkey at once."""
    facade: FacadeHost = host[0].facade
    facade.reset(asynchronous=facade_kind == "AsyncMFA")
    assert type(facade.mfa).__name__ == ("MFA" if facade_kind == "MFA" else "_OnOneLoop")
    page = tab.page
    added = page.evaluate("addPasskey('/mfa/register/begin', '/mfa/register/finish', 'Laptop')")
    assert added == {"ok": True, "reason": None}
    (passkey,) = facade.mfa.list_passkeys("alice")
    (stored,) = tab.stored()
    record = facade.store.list_credentials("alice")[0]
    assert _b64(stored["credentialId"]) == record.credential_id
    assert _b64(stored["userHandle"]) == facade.store.get_user_handle("alice")
    assert passkey.name == "Laptop" and passkey.passwordless and passkey.discoverable == "yes"

    second = page.evaluate("usePasskey('/mfa/second-factor/begin', '/mfa/second-factor/finish')")
    assert second == {"ok": True, "reason": None, "user_id": "alice"}
    alone = page.evaluate("usePasskey('/mfa/passkey/begin', '/mfa/passkey/finish')")
    assert alone == {"ok": True, "reason": None, "user_id": "alice"}
    conditional = page.evaluate(
        "usePasskey('/mfa/passkey/begin', '/mfa/passkey/finish', {conditional: true})"
    )
    assert conditional == {"ok": True, "reason": None, "user_id": "alice"}
    (stored,) = tab.stored()
    assert facade.store.list_credentials("alice")[0].sign_count == stored["signCount"]

    replies = page.evaluate(
        """async () => {
          const { ceremonyId, options } = await postJSON('/mfa/passkey/begin', {});
          const publicKey = requestOptions(options);
          const credential = await navigator.credentials.get({ publicKey });
          const body = { ceremonyId, credential: credentialJSON(credential) };
          return [await postJSON('/mfa/passkey/finish', body),
                  await postJSON('/mfa/passkey/finish', body)];
        }"""
    )
    assert replies[0]["ok"] is True
    assert replies[1] == {"ok": False, "reason": "replayed", "user_id": None}

    # Removed (with the step-up the second step gave): the browser still holds
    # the key, and it no longer signs anyone in.
    facade.mfa.remove_passkey(facade.actor(), "alice", passkey.id)
    assert facade.mfa.list_passkeys("alice") == ()
    refused = page.evaluate("usePasskey('/mfa/passkey/begin', '/mfa/passkey/finish')")
    assert refused == {"ok": False, "reason": "unknown_credential", "user_id": None}
