"""Authentication: second factor, step-up and passwordless, and every refusal.

The rules from the issue each have a test that fails if the rule breaks: the
credential must be the ceremony's user's (GHSA-f66q-9rf6-8795), unknown and
foreign credentials get one answer (S24), a ceremony is used once, the clone
policy decides about counters that go backwards, counters at 0 are fine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mfakit import Policy, Reason
from mfakit.core.webauthn import CeremonyKind, CredentialUsage
from mfakit.passkeys import assertion_credential_id, verify_authentication
from mfakit.testing.webauthn import SoftwareAuthenticator

from .conftest import HANDLES, LATER, ORIGIN, OTHER, USER
from .helpers import b64, flip, with_response

Begin = Callable[..., Any]


@pytest.fixture
def device() -> SoftwareAuthenticator:
    return SoftwareAuthenticator()


@pytest.fixture
def credential(register: Callable[..., Any], device: SoftwareAuthenticator) -> Any:
    return register(device, passwordless=True)


def check(rp: Any, policy: Policy, pending: Any, response: Any, record: Any, now: datetime) -> Any:
    return verify_authentication(rp, policy, pending.ceremony, response, credential=record, now=now)


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_a_second_factor_assertion_updates_the_record(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
    algorithm: str,
) -> None:
    device = SoftwareAuthenticator(algorithm=algorithm, backup_eligible=True)  # type: ignore[arg-type]
    record = register(device)
    device.backed_up = True  # synced since registration
    pending = begin_authentication([record])
    response = device.get(pending.options_json, origin=ORIGIN)
    assert assertion_credential_id(response) == record.credential_id
    outcome = check(rp, policy, pending, response, record, now + timedelta(seconds=5))
    assert outcome.ok and outcome.user_id == USER and outcome.user_verified
    updated = outcome.credential
    assert updated.sign_count == 2 and record.sign_count == 1
    assert updated.backed_up and not record.backed_up
    assert updated.last_used_at == now + timedelta(seconds=5)
    assert not updated.cloned and not outcome.clone_detected
    assert updated.with_(sign_count=1, backed_up=False, last_used_at=None) == record


def test_step_up_is_an_authentication_of_the_signed_in_user(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential], kind=CeremonyKind.STEP_UP, challenge_id="ch-1")
    assert pending.ceremony.kind is CeremonyKind.STEP_UP
    assert pending.ceremony.challenge_id == "ch-1"
    assert check(
        rp, policy, pending, device.get(pending.options_json, origin=ORIGIN), credential, now
    ).ok


def test_passwordless_names_the_user(
    rp: Any, policy: Policy, credential: Any, device: Any, begin_passwordless: Begin, now: datetime
) -> None:
    pending = begin_passwordless()
    response = device.get(pending.options_json, origin=ORIGIN)
    outcome = check(rp, policy, pending, response, credential, now)
    assert outcome.ok and outcome.user_id == USER


# --- whose credential (GHSA-f66q-9rf6-8795, S24) ---------------------------------------


def test_another_users_valid_credential_is_refused_like_an_unknown_one(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    credential: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    """The attacker signs correctly with their own passkey, answering the victim's ceremony."""
    attacker_device = SoftwareAuthenticator()
    attacker_credential = register(attacker_device, user_id=OTHER)
    pending = begin_authentication([credential])  # the victim's sign-in
    response = attacker_device.get(
        pending.options_json, origin=ORIGIN, credential_id=attacker_credential.credential_id
    )
    foreign = check(rp, policy, pending, response, attacker_credential, now)
    unknown = check(rp, policy, pending, response, None, now)
    assert foreign.reason is unknown.reason is Reason.UNKNOWN_CREDENTIAL
    assert foreign == unknown  # nothing else tells them apart
    # The same assertion against its own user's ceremony would pass: only ownership refused it.
    own = begin_authentication([attacker_credential], user_id=OTHER)
    response = attacker_device.get(own.options_json, origin=ORIGIN)
    assert check(rp, policy, own, response, attacker_credential, now).ok


def test_a_credential_that_was_not_offered_is_refused(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
) -> None:
    phone, key = SoftwareAuthenticator(), SoftwareAuthenticator()
    on_phone, on_key = register(phone, name="Phone"), register(key, name="Key")
    pending = begin_authentication([on_phone])  # e.g. the use allows only some credentials
    response = key.get(pending.options_json, origin=ORIGIN, credential_id=on_key.credential_id)
    assert check(rp, policy, pending, response, on_key, now).reason is Reason.UNKNOWN_CREDENTIAL


def test_a_record_for_another_credential_id_is_refused(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
) -> None:
    first, second = SoftwareAuthenticator(), SoftwareAuthenticator()
    one, two = register(first, name="One"), register(second, name="Two")
    pending = begin_authentication([one, two])
    response = first.get(pending.options_json, origin=ORIGIN)
    assert check(rp, policy, pending, response, two, now).reason is Reason.UNKNOWN_CREDENTIAL


def test_a_second_factor_user_handle_must_be_the_users(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    response = device.get(pending.options_json, origin=ORIGIN, user_handle=HANDLES[OTHER])
    assert check(rp, policy, pending, response, credential, now).reason is (
        Reason.UNKNOWN_CREDENTIAL
    )
    response = device.get(pending.options_json, origin=ORIGIN, send_user_handle=False)
    assert check(rp, policy, pending, response, credential, now).ok


@pytest.mark.parametrize(
    "forge",
    [
        {"user_handle": HANDLES[OTHER]},  # someone else's handle
        {"user_handle": b"\x01" * 63},  # almost the user's
        {"send_user_handle": False},  # none at all
    ],
    ids=["another handle", "a prefix of the handle", "no handle"],
)
def test_passwordless_needs_the_credentials_own_user_handle(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_passwordless: Begin,
    now: datetime,
    forge: dict[str, Any],
) -> None:
    pending = begin_passwordless()
    response = device.get(pending.options_json, origin=ORIGIN, **forge)
    assert check(rp, policy, pending, response, credential, now).reason is (
        Reason.UNKNOWN_CREDENTIAL
    )


def test_a_second_factor_only_credential_cannot_sign_in_alone(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    begin_passwordless: Begin,
    now: datetime,
) -> None:
    device = SoftwareAuthenticator()
    record = register(device)  # second factor only (but the device kept no resident key)
    pending = begin_passwordless()
    response = device.get(pending.options_json, origin=ORIGIN, credential_id=record.credential_id)
    assert check(rp, policy, pending, response, record, now).reason is Reason.UNKNOWN_CREDENTIAL
    # The same credential passes once its usage allows it: usage alone refused it.
    allowed = record.with_(usage=record.usage | {CredentialUsage.PASSWORDLESS})
    assert check(rp, policy, pending, response, allowed, now).ok


def test_passwordless_is_refused_once_the_policy_turns_it_off(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_passwordless: Begin,
    now: datetime,
) -> None:
    pending = begin_passwordless()
    response = device.get(pending.options_json, origin=ORIGIN)
    off = policy.replace(passkey_passwordless=False)
    assert check(rp, off, pending, response, credential, now).reason is Reason.UNKNOWN_CREDENTIAL
    assert check(rp, policy, pending, response, credential, now).ok


# --- the browser's and authenticator's data ---------------------------------------------

FORGERIES: list[tuple[str, dict[str, Any], Reason]] = [
    ("another origin", {"origin": "https://example.com.evil.io"}, Reason.WRONG_ORIGIN),
    ("framed by another site", {"cross_origin": True}, Reason.WRONG_ORIGIN),
    ("another RP id", {"rp_id": "evil.io"}, Reason.WRONG_RP_ID),
    ("a registration's client data", {"client_data_type": "webauthn.create"}, Reason.WRONG_TYPE),
    ("not a public-key credential", {"credential_type": "otp"}, Reason.WRONG_TYPE),
    ("another challenge", {"challenge": b"\x07" * 32}, Reason.WRONG_CHALLENGE),
    ("no user presence", {"user_present": False}, Reason.USER_NOT_PRESENT),
]


@pytest.mark.parametrize(
    ("forgery", "reason"), [(f[1], f[2]) for f in FORGERIES], ids=[f[0] for f in FORGERIES]
)
@pytest.mark.parametrize("passwordless", [False, True], ids=["second factor", "passwordless"])
def test_each_forgery_gets_its_reason(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    begin_passwordless: Begin,
    now: datetime,
    forgery: dict[str, Any],
    reason: Reason,
    passwordless: bool,
) -> None:
    pending = begin_passwordless() if passwordless else begin_authentication([credential])
    response = device.get(pending.options_json, **{"origin": ORIGIN, **forgery})
    outcome = check(rp, policy, pending, response, credential, now)
    assert not outcome.ok and outcome.credential is None and outcome.user_id is None
    assert outcome.reason is reason


def test_user_verification_missing_is_refused_when_required(
    rp: Any,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    begin_passwordless: Begin,
    now: datetime,
) -> None:
    required = Policy(webauthn_user_verification="required", passkey_passwordless=True)
    preferred = Policy(passkey_passwordless=True)
    for pending, policy, expected in [
        (
            begin_authentication([credential], policy=required),
            required,
            Reason.USER_VERIFICATION_MISSING,
        ),
        (begin_passwordless(), preferred, Reason.USER_VERIFICATION_MISSING),  # always required
        (begin_authentication([credential], policy=preferred), preferred, None),
    ]:
        response = device.get(pending.options_json, origin=ORIGIN, user_verified=False)
        outcome = check(rp, policy, pending, response, credential, now)
        assert outcome.reason is expected
        assert outcome.ok is (expected is None)


def test_a_bad_signature_is_refused(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    response = device.get(pending.options_json, origin=ORIGIN)
    for forged, reason in (
        (flip(response, "signature", 10), Reason.BAD_SIGNATURE),
        (flip(response, "authenticatorData", 33), Reason.BAD_SIGNATURE),  # counter, high byte
        (flip(response, "authenticatorData", -1), Reason.BAD_SIGNATURE),  # counter, low byte
        (flip(response, "authenticatorData", 0), Reason.WRONG_RP_ID),  # checked before
    ):
        outcome = check(rp, policy, pending, forged, credential, now)
        assert not outcome.ok and outcome.credential is None
        assert outcome.reason is reason
    # A clientDataJSON re-encoded with the same fields no longer matches the signature.
    spaced = with_response(
        response,
        clientDataJSON=b64(
            b'{"type": "webauthn.get", "challenge": "'
            + b64(pending.ceremony.challenge).encode()
            + b'", "origin": "https://example.com"}'
        ),
    )
    assert check(rp, policy, pending, spaced, credential, now).reason is Reason.BAD_SIGNATURE


def test_a_signature_by_another_key_is_refused(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    impostor = SoftwareAuthenticator()
    impostor_record = impostor.create(
        {"rp": {"id": "example.com"}, "user": {"id": b64(HANDLES[USER])}, "challenge": "AAAA"},
        origin=ORIGIN,
    )
    assert impostor_record
    (held,) = impostor.credentials.values()
    # The impostor claims the victim's credential id but signs with its own key.
    impostor.credentials = {credential.credential_id: held}
    held.credential_id = credential.credential_id
    response = impostor.get(pending.options_json, origin=ORIGIN)
    assert check(rp, policy, pending, response, credential, now).reason is Reason.BAD_SIGNATURE


# --- single use and expiry ---------------------------------------------------------------


def test_a_used_ceremony_refuses_the_same_assertion(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    response = device.get(pending.options_json, origin=ORIGIN)
    first = check(rp, policy, pending, response, credential, now)
    assert first.ok
    taken = pending.ceremony.with_(used_at=now)
    replay = verify_authentication(
        rp, policy, taken, response, credential=first.credential, now=now
    )
    assert replay.reason is Reason.REPLAYED


def test_an_assertion_does_not_answer_a_later_ceremony(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    now: datetime,
) -> None:
    old = begin_authentication([credential])
    response = device.get(old.options_json, origin=ORIGIN)
    new = begin_authentication([credential])
    assert check(rp, policy, new, response, credential, now).reason is Reason.WRONG_CHALLENGE


def test_a_registration_ceremony_does_not_finish_a_sign_in(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    begin_registration: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    response = device.get(pending.options_json, origin=ORIGIN)
    registration = begin_registration().ceremony.with_(challenge=pending.ceremony.challenge)
    outcome = verify_authentication(
        rp, policy, registration, response, credential=credential, now=now
    )
    assert outcome.reason is Reason.WRONG_CHALLENGE


def test_ceremonies_expire(
    rp: Any,
    policy: Policy,
    credential: Any,
    device: Any,
    begin_authentication: Begin,
    begin_passwordless: Begin,
    now: datetime,
) -> None:
    pending = begin_authentication([credential])
    response = device.get(pending.options_json, origin=ORIGIN)
    assert check(rp, policy, pending, response, credential, now + LATER).reason is Reason.EXPIRED
    # Conditional UI waits longer: five minutes by default.
    conditional = begin_passwordless(conditional=True)
    assert conditional.ceremony.expires_at == now + timedelta(minutes=5)
    response = device.get(conditional.options_json, origin=ORIGIN)
    assert check(rp, policy, conditional, response, credential, now + LATER).ok
    late = now + timedelta(minutes=5)
    assert check(rp, policy, conditional, response, credential, late).reason is Reason.EXPIRED


# --- signature counters ------------------------------------------------------------------


def test_counters_that_stay_at_zero_are_fine(
    rp: Any,
    policy: Policy,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
) -> None:
    synced = SoftwareAuthenticator(counter="zero")
    record = register(synced)
    assert record.sign_count == 0
    for _ in range(3):
        pending = begin_authentication([record])
        outcome = check(
            rp, policy, pending, synced.get(pending.options_json, origin=ORIGIN), record, now
        )
        assert outcome.ok and not outcome.clone_detected
        record = outcome.credential
        assert record.sign_count == 0 and not record.cloned


@pytest.mark.parametrize(("stored", "received"), [(5, 3), (5, 5), (5, 0)])
def test_a_counter_that_does_not_grow_is_refused_by_default(
    rp: Any,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
    stored: int,
    received: int,
) -> None:
    policy = Policy()
    assert policy.webauthn_clone_policy == "reject"
    device = SoftwareAuthenticator()
    record = register(device).with_(sign_count=stored)
    pending = begin_authentication([record], policy=policy)
    device.set_sign_count(record.credential_id, received - 1)  # get() adds one
    if received == 0:
        device.counter = "zero"
        device.set_sign_count(record.credential_id, 0)
    response = device.get(pending.options_json, origin=ORIGIN)
    outcome = check(rp, policy, pending, response, record, now)
    assert outcome.reason is Reason.CLONED_CREDENTIAL and outcome.credential is None
    # One more than stored passes: the counter alone decided.
    device.counter = "increment"
    device.set_sign_count(record.credential_id, stored)
    pending = begin_authentication([record], policy=policy)
    assert check(
        rp, policy, pending, device.get(pending.options_json, origin=ORIGIN), record, now
    ).ok


def test_the_flag_policy_accepts_and_marks_the_credential(
    rp: Any,
    register: Callable[..., Any],
    begin_authentication: Begin,
    now: datetime,
) -> None:
    policy = Policy(webauthn_clone_policy="flag")
    device = SoftwareAuthenticator()
    record = register(device)
    for _ in range(5):
        pending = begin_authentication([record], policy=policy)
        record = check(
            rp, policy, pending, device.get(pending.options_json, origin=ORIGIN), record, now
        ).credential
    assert record.sign_count == 6
    device.set_sign_count(record.credential_id, 2)  # the clone's counter lags behind
    pending = begin_authentication([record], policy=policy)
    outcome = check(
        rp, policy, pending, device.get(pending.options_json, origin=ORIGIN), record, now
    )
    assert outcome.ok and outcome.clone_detected
    assert outcome.credential.cloned
    assert outcome.credential.sign_count == 6  # never lowered
    # The flag stays; later normal uses do not report a new detection.
    device.set_sign_count(record.credential_id, 6)
    pending = begin_authentication([outcome.credential], policy=policy)
    later = check(
        rp,
        policy,
        pending,
        device.get(pending.options_json, origin=ORIGIN),
        outcome.credential,
        now,
    )
    assert later.ok and later.credential.cloned and not later.clone_detected
    assert later.credential.sign_count == 7
