"""Every passkey flow of issue 15, in order, as one script for any store and either facade.

`run_every_flow` drives an `MFA` (or an `AsyncMFA` through a blocking wrapper
whose calls all run on one event loop) over a real store: registration (the
first factor, with its backup codes), the second step, a passwordless sign-in
with conditional UI and its replay, a step-up, a second key added after the
step-up, list, rename and remove, and the removed passkey refused at once.
The same script runs on SQLite, PostgreSQL (sync and async) and Django's store,
so a flow that works on one store only fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mfakit import Actor, AsyncMFA, Method, Policy, Reason, RelyingParty
from mfakit.testing import FakeClock, fast_hasher
from mfakit.testing.webauthn import SoftwareAuthenticator

SECRET = "0d4f2c8a9b1e7d3c5a6f8e0b2d4c6a8e1f3b5d7c9a0e2f4b6d8c0a1e3f5b7d9c"
ORIGIN = "https://example.com"


def config(clock: FakeClock) -> dict[str, Any]:
    return {
        "secret_key": SECRET,
        "issuer": "Example",
        "clock": clock,
        "hasher": fast_hasher(),
        "policy": Policy(passkey_passwordless=True),
        "relying_party": RelyingParty(
            "example.com", "Example", origins=[ORIGIN, "https://app.example.com"]
        ),
    }


class OnOneLoop:
    """An AsyncMFA's methods, each awaited on the same event loop (async
    drivers tie their connections to the loop that opened them)."""

    def __init__(self, amfa: AsyncMFA, loop: asyncio.AbstractEventLoop) -> None:
        self.amfa = amfa
        self.loop = loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.amfa, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(method(*args, **kwargs))

        return call


def run_every_flow(mfa: Any, clock: FakeClock) -> None:
    """Run every passkey flow through `mfa`; each step asserts what it must."""
    from tests.helpers import fresh

    def actor(step_up: bool = True) -> Actor:
        return fresh(clock, "alice", step_up=step_up, secret=SECRET)

    laptop = SoftwareAuthenticator()
    # Register: the first factor, so the first backup codes come with it.
    begun = mfa.begin_passkey_registration(
        actor(step_up=False), "alice", name="Laptop", passwordless=True
    )
    added = mfa.finish_passkey_registration(
        actor(step_up=False), begun.ceremony_id, laptop.create(begun.options_json, origin=ORIGIN)
    )
    assert added.ok and added.backup_codes is not None and len(added.backup_codes.codes) == 10

    # The second step of a sign-in, from the second allowed origin.
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.methods[0] is Method.WEBAUTHN
    answer = laptop.get(start.challenge.passkey_options, origin="https://app.example.com")
    passed = mfa.verify(start.challenge.id, answer)
    assert passed.ok and passed.method is Method.WEBAUTHN

    # Passwordless with conditional UI: a longer ceremony; a replay is refused.
    pending = mfa.begin_passkey_sign_in(conditional=True)
    assert pending.expires_at - clock.now() == timedelta(minutes=5)
    answer = laptop.get(pending.options_json, origin=ORIGIN)
    signed = mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert signed.ok and signed.user_id == "alice"
    replayed = mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert not replayed.ok and replayed.reason is Reason.REPLAYED

    # A step-up with the passkey.
    stepped = mfa.begin_step_up(actor(step_up=False), "alice")
    assert stepped.challenge is not None and stepped.challenge.passkey_options is not None
    answer = laptop.get(stepped.challenge.passkey_options, origin=ORIGIN)
    assert mfa.verify(stepped.challenge.id, answer).ok

    # A second factor-only security key (EdDSA, packed attestation), after a step-up.
    clock.advance(seconds=1)  # listed oldest first
    key = SoftwareAuthenticator(algorithm="EdDSA", attestation="packed")
    begun = mfa.begin_passkey_registration(actor(), "alice", name="Key")
    options = begun.options_json
    assert '"excludeCredentials":[{' in options.replace(" ", "")  # the laptop's passkey
    added = mfa.finish_passkey_registration(
        actor(), begun.ceremony_id, key.create(options, origin=ORIGIN)
    )
    assert added.ok and added.backup_codes is None

    # List, rename, remove.
    listed = mfa.list_passkeys("alice")
    assert [(p.name, p.passwordless) for p in listed] == [("Laptop", True), ("Key", False)]
    assert listed[0].last_used_at is not None and listed[1].last_used_at is None
    assert mfa.rename_passkey(actor(), "alice", listed[1].id, "Desk key").name == "Desk key"
    mfa.remove_passkey(actor(), "alice", listed[0].id)
    assert [p.name for p in mfa.list_passkeys("alice")] == ["Desk key"]

    # The removed passkey no longer signs in.
    pending = mfa.begin_passkey_sign_in()
    gone = mfa.finish_passkey_sign_in(
        pending.ceremony_id, laptop.get(pending.options_json, origin=ORIGIN)
    )
    assert not gone.ok and gone.reason is Reason.UNKNOWN_CREDENTIAL
