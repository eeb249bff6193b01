"""Passkeys through the facades, sync and async: every rule of issue 15.

The user's device is :class:`mfakit.testing.webauthn.SoftwareAuthenticator`
(real ES256/EdDSA keys, real signatures); the facade runs on a real
:class:`MemoryStore` (through :class:`AsyncMemoryStore` for ``AsyncMFA``),
with an outbox for the notices and an audit log. Each rule has a test that
fails if the rule breaks: the assertion is on the refusal *and* on what was
(not) stored.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from mfakit import (
    MFA,
    Actor,
    AsyncMFA,
    ConfigurationError,
    ConflictingState,
    InvalidInput,
    Method,
    NotFound,
    NotPermitted,
    Policy,
    Reason,
    RelyingParty,
    SignInStatus,
    StepUpRequired,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.testing import FakeClock, fast_hasher
from tests.helpers import EMAIL, fresh, snapshot

from .helpers import b64, client_data, flip, unb64, with_response

SECRET = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe"
ORIGIN = "https://example.com"


class _Blocking:
    """AsyncMFA's methods, awaited one call at a time (for the shared tests)."""

    def __init__(self, amfa: AsyncMFA) -> None:
        self.amfa = amfa

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.amfa, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(method(*args, **kwargs))

        return call


@dataclass
class Site:
    mfa: Any
    store: MemoryStore
    clock: FakeClock
    outbox: Outbox
    audit: MemoryAuditLog
    authenticators: dict[str, Any] = field(default_factory=dict)

    def actor(self, user: str = "alice", *, step_up: bool = True) -> Actor:
        return fresh(self.clock, user, step_up=step_up, secret=SECRET)

    def device(self, user: str = "alice", **knobs: Any) -> Any:
        from mfakit.testing.webauthn import SoftwareAuthenticator

        return self.authenticators.setdefault(user, SoftwareAuthenticator(**knobs))

    def register(
        self, user: str = "alice", *, name: str = "Laptop", passwordless: bool = True, **knobs: Any
    ) -> Any:
        device = self.device(user, **knobs)
        begun = self.mfa.begin_passkey_registration(
            self.actor(user), user, name=name, passwordless=passwordless
        )
        done = self.mfa.finish_passkey_registration(
            self.actor(user), begun.ceremony_id, device.create(begun.options_json, origin=ORIGIN)
        )
        assert done.ok, done.reason
        return done

    def challenge(self, user: str = "alice") -> Any:
        start = self.mfa.begin_sign_in(user)
        assert start.status is SignInStatus.CHALLENGE
        assert start.challenge.passkey_options is not None
        return start.challenge

    def events(self, user: str = "alice") -> list[Any]:
        return list(self.audit.list_events(user, limit=200))


@pytest.fixture(params=["sync", "async"])
def site(request: pytest.FixtureRequest) -> Site:
    clock, store, outbox, audit = FakeClock(), MemoryStore(), Outbox(), MemoryAuditLog()
    config: dict[str, Any] = {
        "secret_key": SECRET,
        "issuer": "Example",
        "clock": clock,
        "hasher": fast_hasher(),
        "email": outbox,
        "audit": audit,
        "policy": getattr(request, "param_policy", Policy(passkey_passwordless=True)),
        "relying_party": RelyingParty("example.com", "Example", origins=[ORIGIN]),
    }
    mfa: Any
    if request.param == "sync":
        mfa = MFA(store=store, **config)
    else:
        mfa = _Blocking(AsyncMFA(store=AsyncMemoryStore(store), **config))
    s = Site(mfa, store, clock, outbox, audit)
    # Alice has a verified email for the notices (and as her first factor).
    sent = s.mfa.begin_email_enrolment(s.actor(step_up=False), "alice", EMAIL)
    assert s.mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)
    return s


def with_policy(site: Site, policy: Policy) -> Site:
    """The same site (store, clock, outbox) under another policy."""
    config: dict[str, Any] = {
        "secret_key": SECRET,
        "issuer": "Example",
        "clock": site.clock,
        "hasher": fast_hasher(),
        "email": site.outbox,
        "audit": site.audit,
        "policy": policy,
        "relying_party": RelyingParty("example.com", "Example", origins=[ORIGIN]),
    }
    if isinstance(site.mfa, MFA):
        mfa: Any = MFA(store=site.store, **config)
    else:
        mfa = _Blocking(AsyncMFA(store=AsyncMemoryStore(site.store), **config))
    return Site(mfa, site.store, site.clock, site.outbox, site.audit, site.authenticators)


# --- registration -----------------------------------------------------------------------


def test_register_then_sign_in_with_the_passkey_as_second_factor(site: Site) -> None:
    done = site.register()
    assert done.passkey is not None and done.passkey.name == "Laptop"
    assert done.backup_codes is None  # the email was her first factor
    assert "Laptop" in site.outbox.messages[-1].text  # factor_added notice
    challenge = site.challenge()
    assert challenge.methods[0] is Method.WEBAUTHN
    result = site.mfa.verify(
        challenge.id, site.device().get(challenge.passkey_options, origin=ORIGIN)
    )
    assert result.ok and result.method is Method.WEBAUTHN
    assert result.factor_id == done.passkey.id and result.step_up
    listed = site.mfa.list_passkeys("alice")
    assert listed[0].last_used_at == site.clock.now()


def test_the_first_passkey_issues_backup_codes(site: Site) -> None:
    done = site.register("bob")
    assert done.backup_codes is not None and len(done.backup_codes.codes) == 10
    # A second passkey: no new codes (they would replace the shown ones).
    from mfakit.testing.webauthn import SoftwareAuthenticator

    other = SoftwareAuthenticator()
    begun = site.mfa.begin_passkey_registration(site.actor("bob"), "bob", name="Key 2")
    again = site.mfa.finish_passkey_registration(
        site.actor("bob"), begun.ceremony_id, other.create(begun.options_json, origin=ORIGIN)
    )
    assert again.ok and again.backup_codes is None


def test_registration_needs_a_step_up_when_the_user_has_a_factor(site: Site) -> None:
    with pytest.raises(StepUpRequired):
        site.mfa.begin_passkey_registration(site.actor(step_up=False), "alice", name="Laptop")


def test_a_registration_is_finished_once(site: Site) -> None:
    device = site.device()
    begun = site.mfa.begin_passkey_registration(site.actor(), "alice", name="Laptop")
    answer = device.create(begun.options_json, origin=ORIGIN)
    assert site.mfa.finish_passkey_registration(site.actor(), begun.ceremony_id, answer).ok
    again = site.mfa.finish_passkey_registration(site.actor(), begun.ceremony_id, answer)
    assert not again.ok and again.reason is Reason.REPLAYED
    assert len(site.mfa.list_passkeys("alice")) == 1


def test_another_users_registration_ceremony_is_not_found(site: Site) -> None:
    begun = site.mfa.begin_passkey_registration(site.actor(), "alice", name="Laptop")
    answer = site.device("bob").create(begun.options_json, origin=ORIGIN)
    with pytest.raises(NotFound):
        site.mfa.finish_passkey_registration(site.actor("bob"), begun.ceremony_id, answer)
    assert site.store.get_ceremony(begun.ceremony_id).used_at is None  # not taken


def test_a_duplicate_credential_id_is_refused(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from mfakit.testing import webauthn as soft

    fixed = b"\x42" * 32
    monkeypatch.setattr(soft, "secrets", types.SimpleNamespace(token_bytes=lambda n: fixed))
    site.register("alice")
    # Bob's authenticator claims the same credential id (a cloned or malicious key).
    begun = site.mfa.begin_passkey_registration(site.actor("bob"), "bob", name="Key")
    answer = site.device("bob").create(begun.options_json, origin=ORIGIN)
    assert unb64(answer["rawId"]) == fixed
    result = site.mfa.finish_passkey_registration(site.actor("bob"), begun.ceremony_id, answer)
    assert not result.ok and result.reason is Reason.DUPLICATE_CREDENTIAL
    assert site.mfa.list_passkeys("bob") == ()
    owner = site.store.get_credential(fixed)
    assert owner is not None and owner.user_id == "alice"


def test_names_are_unique_per_user(site: Site) -> None:
    site.register(name="Laptop")
    with pytest.raises(ConflictingState):
        site.mfa.begin_passkey_registration(site.actor(), "alice", name="Laptop")


def test_user_handles_are_random_and_map_back(site: Site) -> None:
    site.register("alice")
    site.register("bob")
    alice, bob = site.store.get_user_handle("alice"), site.store.get_user_handle("bob")
    assert alice is not None and bob is not None and len(alice) == len(bob) == 64
    assert alice != bob and b"alice" not in alice
    assert site.store.user_for_handle(alice) == "alice"


def test_without_a_relying_party_passkeys_are_a_configuration_error() -> None:
    mfa = MFA(store=MemoryStore(), secret_key=SECRET, issuer="Example", clock=FakeClock())
    with pytest.raises(ConfigurationError):
        mfa.begin_passkey_sign_in()
    with pytest.raises(ConfigurationError):
        MFA(store=MemoryStore(), secret_key=SECRET, issuer="X", relying_party="example.com")  # type: ignore[arg-type]


# --- the second factor: the credential must be the ceremony's user's -------------------


def test_another_users_credential_and_an_unknown_one_get_the_same_refusal(site: Site) -> None:
    from mfakit.testing.webauthn import SoftwareAuthenticator

    site.register("alice")
    site.register("bob")
    bob = site.store.list_credentials("bob")[0]
    before = site.store.list_credentials("alice")[0]
    refusals = []
    # Bob's real passkey, signing Alice's challenge (GHSA-f66q-9rf6-8795).
    challenge = site.challenge()
    forged = site.device("bob").get(
        challenge.passkey_options, origin=ORIGIN, credential_id=bob.credential_id
    )
    refusals.append(site.mfa.verify(challenge.id, forged))
    # A passkey nobody registered.
    stranger = SoftwareAuthenticator()
    begun = site.mfa.begin_passkey_registration(site.actor("carol"), "carol", name="Key")
    stranger.create(begun.options_json, origin=ORIGIN)  # never finished
    challenge = site.challenge()
    unknown = stranger.get(
        challenge.passkey_options, origin=ORIGIN, credential_id=next(iter(stranger.credentials))
    )
    refusals.append(site.mfa.verify(challenge.id, unknown))
    assert [r.reason for r in refusals] == [Reason.UNKNOWN_CREDENTIAL] * 2
    assert refusals[0].attempts_left == refusals[1].attempts_left
    assert not any(r.ok for r in refusals)
    # Nothing of either passkey changed.
    assert site.store.list_credentials("bob")[0] == bob
    assert site.store.list_credentials("alice")[0] == before


def test_the_sign_count_is_saved_only_on_success(site: Site) -> None:
    site.register()
    stored = site.store.list_credentials("alice")[0]
    challenge = site.challenge()
    wrong = site.device().get(challenge.passkey_options, origin="https://evil.example")
    assert site.mfa.verify(challenge.id, wrong).reason is Reason.WRONG_ORIGIN
    after_failure = site.store.list_credentials("alice")[0]
    assert after_failure.sign_count == stored.sign_count and after_failure.last_used_at is None
    retry = site.mfa.switch_method(challenge.id, Method.WEBAUTHN).challenge
    assert site.mfa.verify(challenge.id, site.device().get(retry.passkey_options, origin=ORIGIN)).ok
    assert site.store.list_credentials("alice")[0].sign_count > stored.sign_count


def test_counters_that_stay_zero_are_fine(site: Site) -> None:
    site.register(counter="zero", backup_eligible=True, backed_up=True)
    for _ in range(3):
        challenge = site.challenge()
        answer = site.device().get(challenge.passkey_options, origin=ORIGIN)
        assert site.mfa.verify(challenge.id, answer).ok
        site.clock.advance(seconds=30)
    info = site.mfa.list_passkeys("alice")[0]
    assert info.backed_up and not info.cloned


def _lower_counter(site: Site) -> None:
    credential = site.store.list_credentials("alice")[0]
    site.device().set_sign_count(credential.credential_id, 0)


def test_a_counter_that_went_backwards_is_refused_audited_and_told(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    assert site.mfa.verify(
        challenge.id, site.device().get(challenge.passkey_options, origin=ORIGIN)
    ).ok
    stored = site.store.list_credentials("alice")[0]
    _lower_counter(site)  # a clone starts from an older counter
    challenge = site.challenge()
    clone = site.device().get(challenge.passkey_options, origin=ORIGIN)
    result = site.mfa.verify(challenge.id, clone)
    assert not result.ok and result.reason is Reason.CLONED_CREDENTIAL
    assert site.store.list_credentials("alice")[0] == stored  # nothing saved
    flagged = [e for e in site.events() if e.action == "passkey.clone_detected"]
    assert flagged and flagged[0].outcome == "refused"
    assert "copied" in site.outbox.messages[-1].subject


def test_the_flag_policy_accepts_a_clone_but_flags_audits_and_tells(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    assert site.mfa.verify(
        challenge.id, site.device().get(challenge.passkey_options, origin=ORIGIN)
    ).ok
    flagging = with_policy(site, Policy(passkey_passwordless=True, webauthn_clone_policy="flag"))
    _lower_counter(site)
    challenge = flagging.challenge()
    result = flagging.mfa.verify(
        challenge.id, site.device().get(challenge.passkey_options, origin=ORIGIN)
    )
    assert result.ok
    assert flagging.mfa.list_passkeys("alice")[0].cloned
    flagged = [e for e in site.events() if e.action == "passkey.clone_detected"]
    assert flagged and flagged[0].outcome == "success"
    assert "copied" in site.outbox.messages[-1].subject


# --- every forged answer: a distinct reason, never a success ---------------------------

FORGERIES: dict[str, tuple[Reason, Callable[[Any, str], dict[str, Any]]]] = {
    "wrong origin": (
        Reason.WRONG_ORIGIN,
        lambda device, options: device.get(options, origin="https://evil.example"),
    ),
    "cross-origin frame": (
        Reason.WRONG_ORIGIN,
        lambda device, options: device.get(options, origin=ORIGIN, cross_origin=True),
    ),
    "wrong RP id": (
        Reason.WRONG_RP_ID,
        lambda device, options: device.get(options, origin=ORIGIN, rp_id="evil.example"),
    ),
    "wrong type": (
        Reason.WRONG_TYPE,
        lambda device, options: device.get(
            options, origin=ORIGIN, client_data_type="webauthn.create"
        ),
    ),
    "wrong challenge": (
        Reason.WRONG_CHALLENGE,
        lambda device, options: device.get(options, origin=ORIGIN, challenge=b"\x07" * 32),
    ),
    "user not present": (
        Reason.USER_NOT_PRESENT,
        lambda device, options: device.get(options, origin=ORIGIN, user_present=False),
    ),
    "bad signature": (
        Reason.BAD_SIGNATURE,
        lambda device, options: flip(device.get(options, origin=ORIGIN), "signature", 10),
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_answer_is_refused_with_its_own_reason(site: Site, forgery: str) -> None:
    reason, forge = FORGERIES[forgery]
    site.register()
    stored = site.store.list_credentials("alice")[0]
    challenge = site.challenge()
    result = site.mfa.verify(challenge.id, forge(site.device(), challenge.passkey_options))
    assert not result.ok and result.reason is reason
    assert result.attempts_left == Policy().max_attempts - 1  # counted as a wrong attempt
    assert site.store.list_credentials("alice")[0] == stored
    failed = [e for e in site.events() if e.action == "second_step.failed"]
    assert failed[0].reason == reason.value


def test_the_reasons_are_distinct() -> None:
    reasons = [reason for reason, _ in FORGERIES.values()]
    assert len(set(reasons)) == len(reasons) - 1  # two ways to a wrong origin
    more = {Reason.EXPIRED, Reason.REPLAYED, Reason.USER_VERIFICATION_MISSING}
    assert not more & set(reasons)


def test_a_replayed_assertion_is_refused(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    answer = site.device().get(challenge.passkey_options, origin="https://evil.example")
    assert site.mfa.verify(challenge.id, answer).reason is Reason.WRONG_ORIGIN
    # The same (or any) answer to a taken ceremony: replayed, not counted again.
    again = site.mfa.verify(challenge.id, answer)
    assert again.reason is Reason.REPLAYED and again.attempts_left == Policy().max_attempts - 1


def test_an_expired_ceremony_is_refused(site: Site) -> None:
    site.register()
    start = site.mfa.begin_sign_in("alice")
    site.clock.advance(seconds=121)  # the ceremony's 120 s, within the challenge's life
    answer = site.device().get(start.challenge.passkey_options, origin=ORIGIN)
    result = site.mfa.verify(start.challenge.id, answer)
    assert not result.ok and result.reason is Reason.EXPIRED


def test_missing_user_verification_is_refused_when_required(site: Site) -> None:
    site.register(passwordless=False)
    strict = with_policy(site, Policy(webauthn_user_verification="required"))
    challenge = strict.challenge()
    answer = site.device().get(challenge.passkey_options, origin=ORIGIN, user_verified=False)
    result = strict.mfa.verify(challenge.id, answer)
    assert not result.ok and result.reason is Reason.USER_VERIFICATION_MISSING


# --- malformed input: a typed error or a refusal, nothing stored ---------------------------

MALFORMED: list[Any] = [
    "{",
    "{}",
    '{"id": 1}',
    {"id": "abc", "response": "no"},
    {"id": "abc", "rawId": "abc", "type": "public-key", "response": {}},
    {"id": "!!", "rawId": "!!", "type": "public-key", "response": {"clientDataJSON": "!!"}},
    "[" * 10_000,
    '{"a": ' * 500 + "1" + "}" * 500,
]


@pytest.mark.parametrize("answer", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_stores_nothing(site: Site, answer: Any) -> None:
    site.register()
    challenge = site.challenge()
    before = snapshot(site.store)
    try:
        result = site.mfa.verify(challenge.id, answer)
    except InvalidInput:
        pass
    else:
        assert not result.ok and result.reason is Reason.MALFORMED_CREDENTIAL
    assert snapshot(site.store) == before
    begun = site.mfa.begin_passkey_registration(site.actor(), "alice", name="Other")
    before = snapshot(site.store)
    try:
        registered = site.mfa.finish_passkey_registration(site.actor(), begun.ceremony_id, answer)
    except InvalidInput:
        pass
    else:
        assert not registered.ok and registered.reason is Reason.MALFORMED_CREDENTIAL
    assert snapshot(site.store) == before
    pending = site.mfa.begin_passkey_sign_in()
    before = snapshot(site.store)
    signed = site.mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert not signed.ok and signed.reason is Reason.MALFORMED_CREDENTIAL
    assert snapshot(site.store) == before


def test_a_code_on_a_passkey_challenge_is_a_typed_error(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    with pytest.raises(InvalidInput):
        site.mfa.verify(challenge.id, "123456")
    with pytest.raises(InvalidInput):
        site.mfa.verify(challenge.id, ["not", "json"])


# --- passwordless ------------------------------------------------------------------------


def test_passwordless_sign_in_names_the_user(site: Site) -> None:
    done = site.register()
    pending = site.mfa.begin_passkey_sign_in(conditional=True)
    assert pending.expires_at == site.clock.now() + Policy().webauthn_conditional_ttl
    answer = site.device().get(pending.options_json, origin=ORIGIN)
    result = site.mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert result.ok and result.user_id == "alice" and result.passkey.id == done.passkey.id
    assert site.events()[0].action == "sign_in.passkey"
    again = site.mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert not again.ok and again.reason is Reason.REPLAYED


def test_a_second_factor_only_passkey_cannot_sign_in_alone(site: Site) -> None:
    site.register(passwordless=False)
    assert not site.mfa.list_passkeys("alice")[0].passwordless
    credential = site.store.list_credentials("alice")[0]
    pending = site.mfa.begin_passkey_sign_in()
    answer = site.device().get(
        pending.options_json, origin=ORIGIN, credential_id=credential.credential_id
    )
    result = site.mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert not result.ok and result.reason is Reason.UNKNOWN_CREDENTIAL


def test_a_user_handle_that_does_not_match_is_refused(site: Site) -> None:
    site.register("alice")
    site.register("bob")
    pending = site.mfa.begin_passkey_sign_in()
    bob_handle = site.store.get_user_handle("bob")
    answer = site.device("alice").get(pending.options_json, origin=ORIGIN, user_handle=bob_handle)
    result = site.mfa.finish_passkey_sign_in(pending.ceremony_id, answer)
    assert not result.ok and result.reason is Reason.UNKNOWN_CREDENTIAL and result.user_id is None


def test_passwordless_needs_the_policy(site: Site) -> None:
    off = with_policy(site, Policy())
    with pytest.raises(NotPermitted):
        off.mfa.begin_passkey_sign_in()
    with pytest.raises(NotPermitted):
        off.mfa.begin_passkey_registration(off.actor(), "alice", name="K", passwordless=True)


def test_a_sign_in_ceremony_is_no_registration_and_the_reverse(site: Site) -> None:
    site.register()
    pending = site.mfa.begin_passkey_sign_in()
    answer = site.device().get(pending.options_json, origin=ORIGIN)
    with pytest.raises(NotFound):
        site.mfa.finish_passkey_registration(site.actor(), pending.ceremony_id, answer)
    begun = site.mfa.begin_passkey_registration(site.actor(), "alice", name="Other")
    result = site.mfa.finish_passkey_sign_in(begun.ceremony_id, answer)
    assert not result.ok and result.reason is Reason.WRONG_CHALLENGE
    assert site.store.get_ceremony(begun.ceremony_id).used_at is None


# --- managing --------------------------------------------------------------------------------


def test_list_rename_and_remove(site: Site) -> None:
    site.register(name="Laptop")
    site.clock.advance(seconds=1)
    from mfakit.testing.webauthn import SoftwareAuthenticator

    key = SoftwareAuthenticator(algorithm="EdDSA", attestation="packed")
    begun = site.mfa.begin_passkey_registration(
        site.actor(), "alice", name="YubiKey", passwordless=False
    )
    assert site.mfa.finish_passkey_registration(
        site.actor(), begun.ceremony_id, key.create(begun.options_json, origin=ORIGIN)
    ).ok
    laptop, yubikey = site.mfa.list_passkeys("alice")
    assert (laptop.name, yubikey.name) == ("Laptop", "YubiKey")
    listed = [(f.kind, f.label) for f in site.mfa.list_factors("alice")]
    assert ("passkey", "Laptop") in listed and ("passkey", "YubiKey") in listed
    assert yubikey.transports and not yubikey.passwordless
    with pytest.raises(ConflictingState):
        site.mfa.rename_passkey(site.actor(), "alice", yubikey.id, "Laptop")
    assert site.mfa.rename_passkey(site.actor(), "alice", yubikey.id, "Desk key").name == "Desk key"
    with pytest.raises(StepUpRequired):
        site.mfa.remove_passkey(site.actor(step_up=False), "alice", laptop.id)
    site.mfa.remove_passkey(site.actor(), "alice", laptop.id)
    assert [p.name for p in site.mfa.list_passkeys("alice")] == ["Desk key"]
    assert "Laptop" in site.outbox.messages[-1].text  # factor_removed notice
    with pytest.raises(NotFound):
        site.mfa.remove_passkey(site.actor(), "alice", laptop.id)
    actions = [e.action for e in site.events()]
    assert {"factor.added", "factor.renamed", "factor.removed"} <= set(actions)


def test_a_removed_passkey_stops_working_at_once(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    answer = site.device().get(challenge.passkey_options, origin=ORIGIN)
    site.mfa.remove_passkey(site.actor(), "alice", site.mfa.list_passkeys("alice")[0].id)
    result = site.mfa.verify(challenge.id, answer)
    assert not result.ok and result.reason is Reason.UNKNOWN_CREDENTIAL
    start = site.mfa.begin_sign_in("alice")
    assert Method.WEBAUTHN not in start.challenge.methods


def test_a_passkey_steps_up(site: Site) -> None:
    site.register()
    started = site.mfa.begin_step_up(site.actor(step_up=False), "alice")
    options = started.challenge.passkey_options
    assert options is not None
    result = site.mfa.verify(started.challenge.id, site.device().get(options, origin=ORIGIN))
    assert result.ok and result.step_up


def test_a_passkey_answer_after_the_challenge_expired(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    site.clock.advance(timedelta(hours=1))
    answer = site.device().get(challenge.passkey_options, origin=ORIGIN)
    assert site.mfa.verify(challenge.id, answer).reason is Reason.EXPIRED


def test_forged_helpers_are_sound() -> None:
    # The forging helpers change what they say (else a forgery test proves nothing).
    credential = {"response": {"clientDataJSON": b64(b'{"type":"x"}'), "signature": b64(b"ab")}}
    assert client_data(credential) == {"type": "x"}
    assert unb64(flip(credential, "signature")["response"]["signature"]) == b"ac"
    assert with_response(credential, signature="z")["response"]["signature"] == "z"


# --- the same limits and trust as every factor ------------------------------------------


def test_forged_passkey_answers_exhaust_the_challenge(site: Site) -> None:
    """Each forged answer is a wrong attempt; after `max_attempts` the challenge is
    spent and even the genuine passkey is refused on it."""
    site.register()
    challenge = site.challenge()
    results = []
    for _ in range(Policy().max_attempts):
        options = site.mfa.switch_method(challenge.id, Method.WEBAUTHN).challenge.passkey_options
        forged = site.device().get(options, origin="https://evil.example")
        results.append(site.mfa.verify(challenge.id, forged))
    n = Policy().max_attempts
    assert [r.reason for r in results] == [Reason.WRONG_ORIGIN] * (n - 1) + [
        Reason.TOO_MANY_ATTEMPTS
    ]
    assert [r.attempts_left for r in results] == list(range(n - 1, -1, -1))
    stored = site.store.list_credentials("alice")[0]
    # The genuine passkey, answering the last options, is refused on the spent challenge.
    late = site.mfa.verify(challenge.id, site.device().get(options, origin=ORIGIN))
    assert not late.ok and late.reason is Reason.TOO_MANY_ATTEMPTS
    assert site.store.list_credentials("alice")[0] == stored  # no counter moved
    failed = [e for e in site.events() if e.action == "second_step.failed"]
    assert len(failed) >= n - 1


def test_a_passkey_second_step_can_trust_the_device(site: Site) -> None:
    site.register()
    challenge = site.challenge()
    answer = site.device().get(challenge.passkey_options, origin=ORIGIN)
    result = site.mfa.verify(challenge.id, answer, trust_device=True, device_label="Laptop")
    assert result.ok and result.trust_token is not None
    again = site.mfa.begin_sign_in("alice", trust_token=result.trust_token)
    assert again.status is SignInStatus.SATISFIED and again.trusted_device
    # Removing the passkey (a security change) revokes the trusted devices.
    site.mfa.remove_passkey(site.actor(), "alice", site.mfa.list_passkeys("alice")[0].id)
    after = site.mfa.begin_sign_in("alice", trust_token=result.trust_token)
    assert not after.trusted_device


# --- a lock-out of the cheap factors never stops a passkey (S34) -----------------------

LOCKING = Policy(passkey_passwordless=True, free_failures=1, lockout_after=2)


def _lock_out(site: Site) -> None:
    """Two forged answers, each a counted failure, lock the account's second step."""
    for _ in range(2):
        challenge = site.challenge()
        forged = site.device().get(challenge.passkey_options, origin="https://evil.example")
        assert site.mfa.verify(challenge.id, forged).reason is Reason.WRONG_ORIGIN
    # The cheap factors are now locked: the email code, even a right one, is refused.
    challenge = site.challenge()
    sent = site.mfa.switch_method(challenge.id, Method.EMAIL)
    assert sent.ok
    refused = site.mfa.verify(challenge.id, site.outbox.last_code(EMAIL))
    assert not refused.ok and refused.reason is Reason.LOCKED_OUT


def test_a_passkey_signs_in_through_a_lock_out_and_the_user_is_told(site: Site) -> None:
    site.register()
    site = with_policy(site, LOCKING)
    _lock_out(site)
    challenge = site.challenge()
    answer = site.device().get(challenge.passkey_options, origin=ORIGIN)
    result = site.mfa.verify(challenge.id, answer)
    assert result.ok, result.reason
    recovered = [e for e in site.events() if e.action == "account.recovered"]
    assert len(recovered) == 1 and recovered[0].method == "webauthn"
    notice = site.outbox.messages[-1]
    assert "tried many codes" in notice.subject and "Laptop" in notice.text
    # The lock-out is lifted: the email code works again.
    challenge = site.challenge()
    assert site.mfa.switch_method(challenge.id, Method.EMAIL).ok
    assert site.mfa.verify(challenge.id, site.outbox.last_code(EMAIL)).ok


def test_passwordless_through_a_lock_out_lifts_it_and_tells_the_user(site: Site) -> None:
    site.register()
    site = with_policy(site, LOCKING)
    _lock_out(site)
    begun = site.mfa.begin_passkey_sign_in()
    signed = site.mfa.finish_passkey_sign_in(
        begun.ceremony_id, site.device().get(begun.options_json, origin=ORIGIN)
    )
    assert signed.ok and signed.user_id == "alice"
    assert [e.method for e in site.events() if e.action == "account.recovered"] == ["webauthn"]
    assert "tried many codes" in site.outbox.messages[-1].subject
    challenge = site.challenge()
    assert site.mfa.switch_method(challenge.id, Method.EMAIL).ok
    assert site.mfa.verify(challenge.id, site.outbox.last_code(EMAIL)).ok


def test_a_passkey_without_a_lock_out_tells_nobody(site: Site) -> None:
    site.register()
    before = len(site.outbox.messages)
    challenge = site.challenge()
    assert site.mfa.verify(
        challenge.id, site.device().get(challenge.passkey_options, origin=ORIGIN)
    ).ok
    begun = site.mfa.begin_passkey_sign_in()
    assert site.mfa.finish_passkey_sign_in(
        begun.ceremony_id, site.device().get(begun.options_json, origin=ORIGIN)
    ).ok
    assert len(site.outbox.messages) == before
    assert not [e for e in site.events() if e.action == "account.recovered"]
