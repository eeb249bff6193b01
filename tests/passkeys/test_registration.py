"""Registration: every key type and attestation format, and every refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import cbor2
import pytest

from mfakit import Policy, Reason
from mfakit.core.webauthn import CeremonyKind, CredentialUsage, Discoverable
from mfakit.passkeys import verify_registration
from mfakit.testing.webauthn import SoftwareAuthenticator, cbor

from .conftest import HANDLES, LATER, ORIGIN, USER
from .helpers import b64, unb64, with_response

Begin = Callable[..., Any]


def finish(rp: Any, pending: Any, response: Any, now: datetime) -> Any:
    return verify_registration(rp, pending.ceremony, response, factor_id="f-1", now=now)


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
@pytest.mark.parametrize("attestation", ["none", "packed"])
def test_a_registration_gives_a_complete_record(
    rp: Any, begin_registration: Begin, now: datetime, algorithm: str, attestation: str
) -> None:
    authenticator = SoftwareAuthenticator(
        algorithm=algorithm,  # type: ignore[arg-type]
        attestation=attestation,  # type: ignore[arg-type]
        backup_eligible=True,
        backed_up=True,
    )
    pending = begin_registration(name="  Work laptop ", passwordless=True)
    outcome = finish(rp, pending, authenticator.create(pending.options_json, origin=ORIGIN), now)
    assert outcome.ok and outcome.reason is None
    record = outcome.credential
    (held,) = authenticator.credentials.values()
    assert record.credential_id == held.credential_id
    assert record.id == "f-1" and record.user_id == USER
    assert record.user_handle == HANDLES[USER]
    assert record.name == "Work laptop"
    assert record.sign_count == 1
    assert record.attestation_format == attestation
    assert record.transports == ("internal", "hybrid")
    assert record.backup_eligible and record.backed_up
    assert record.discoverable is Discoverable.YES
    assert record.usage == {CredentialUsage.SECOND_FACTOR, CredentialUsage.PASSWORDLESS}
    assert record.user_verified and not record.cloned
    assert record.created_at == now and record.last_used_at is None
    # The stored key is the authenticator's public key, in COSE form.
    assert cbor2.loads(record.public_key)[3] == {"ES256": -7, "EdDSA": -8}[algorithm]


def test_a_second_factor_key_is_not_discoverable_and_not_passwordless(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    record = finish(rp, pending, response, now).credential
    assert record.discoverable is Discoverable.NO  # residentKey "discouraged"
    assert record.usage == {CredentialUsage.SECOND_FACTOR}


def test_without_cred_props_discoverability_is_unknown(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration(passwordless=True)
    response = SoftwareAuthenticator().create(
        pending.options_json, origin=ORIGIN, report_cred_props=False
    )
    record = finish(rp, pending, response, now).credential
    assert record.discoverable is Discoverable.UNKNOWN
    assert record.passwordless


def test_a_key_that_is_not_discoverable_cannot_become_passwordless(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration(passwordless=True)
    authenticator = SoftwareAuthenticator(resident_keys=True)
    response = authenticator.create(pending.options_json, origin=ORIGIN)
    response["clientExtensionResults"] = {"credProps": {"rk": False}}
    record = finish(rp, pending, response, now).credential
    assert record.discoverable is Discoverable.NO
    assert record.usage == {CredentialUsage.SECOND_FACTOR}


def test_another_allowed_origin_is_accepted(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(
        pending.options_json, origin="https://app.example.com"
    )
    assert finish(rp, pending, response, now).ok


# --- refusals -----------------------------------------------------------------------------

FORGERIES: list[tuple[str, dict[str, Any], Reason]] = [
    ("another origin", {"origin": "https://examp1e.com"}, Reason.WRONG_ORIGIN),
    ("http origin", {"origin": "http://example.com"}, Reason.WRONG_ORIGIN),
    ("framed by another site", {"cross_origin": True}, Reason.WRONG_ORIGIN),
    ("another RP id", {"rp_id": "examp1e.com"}, Reason.WRONG_RP_ID),
    ("an assertion's client data", {"client_data_type": "webauthn.get"}, Reason.WRONG_TYPE),
    ("not a public-key credential", {"credential_type": "password"}, Reason.WRONG_TYPE),
    ("another challenge", {"challenge": b"\x00" * 32}, Reason.WRONG_CHALLENGE),
    ("no user presence", {"user_present": False}, Reason.USER_NOT_PRESENT),
]


@pytest.mark.parametrize(
    ("forgery", "reason"), [(f[1], f[2]) for f in FORGERIES], ids=[f[0] for f in FORGERIES]
)
def test_each_forgery_gets_its_reason(
    rp: Any, begin_registration: Begin, now: datetime, forgery: dict[str, Any], reason: Reason
) -> None:
    pending = begin_registration()
    kwargs = {"origin": ORIGIN, **forgery}
    response = SoftwareAuthenticator().create(pending.options_json, **kwargs)
    outcome = finish(rp, pending, response, now)
    assert not outcome.ok and outcome.credential is None
    assert outcome.reason is reason


def test_user_verification_missing_is_refused_when_required(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    required = Policy(webauthn_user_verification="required")
    pending = begin_registration(policy=required)
    response = SoftwareAuthenticator().create(
        pending.options_json, origin=ORIGIN, user_verified=False
    )
    assert finish(rp, pending, response, now).reason is Reason.USER_VERIFICATION_MISSING
    # ... and accepted when only preferred.
    pending = begin_registration()
    response = SoftwareAuthenticator().create(
        pending.options_json, origin=ORIGIN, user_verified=False
    )
    outcome = finish(rp, pending, response, now)
    assert outcome.ok and not outcome.credential.user_verified


def test_a_passwordless_registration_always_requires_user_verification(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration(passwordless=True)  # the policy only prefers UV
    response = SoftwareAuthenticator().create(
        pending.options_json, origin=ORIGIN, user_verified=False
    )
    assert finish(rp, pending, response, now).reason is Reason.USER_VERIFICATION_MISSING


def test_an_expired_ceremony_is_refused(rp: Any, begin_registration: Begin, now: datetime) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    assert finish(rp, pending, response, now + timedelta(seconds=119)).ok
    assert finish(rp, pending, response, now + timedelta(seconds=120)).reason is Reason.EXPIRED
    assert finish(rp, pending, response, now + LATER).reason is Reason.EXPIRED


def test_a_used_ceremony_is_refused_as_replayed(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    taken = pending.ceremony.with_(used_at=now)
    outcome = verify_registration(rp, taken, response, factor_id="f-1", now=now)
    assert outcome.reason is Reason.REPLAYED


def test_an_authentication_ceremony_does_not_finish_a_registration(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    other_kind = pending.ceremony.with_(kind=CeremonyKind.AUTHENTICATE)
    outcome = verify_registration(rp, other_kind, response, factor_id="f-1", now=now)
    assert outcome.reason is Reason.WRONG_CHALLENGE


def test_a_ceremony_begun_under_another_rp_id_is_refused(
    begin_registration: Begin, now: datetime
) -> None:
    from mfakit.passkeys import RelyingParty

    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    moved = RelyingParty("app.example.com", "Example", origins=["https://app.example.com"])
    response_there = SoftwareAuthenticator().create(
        pending.options_json, origin="https://app.example.com", rp_id="app.example.com"
    )
    assert finish(moved, pending, response_there, now).reason is Reason.WRONG_RP_ID
    assert finish(moved, pending, response, now).reason is Reason.WRONG_ORIGIN


def _attestation(response: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = cbor2.loads(unb64(response["response"]["attestationObject"]))
    return decoded


def _with_attestation(response: dict[str, Any], attestation: dict[str, Any]) -> dict[str, Any]:
    return with_response(response, attestationObject=b64(cbor(attestation)))


def test_a_packed_attestation_with_a_bad_signature_is_refused(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator(attestation="packed").create(
        pending.options_json, origin=ORIGIN
    )
    attestation = _attestation(response)
    signature = bytearray(attestation["attStmt"]["sig"])
    signature[-1] ^= 1
    attestation["attStmt"]["sig"] = bytes(signature)
    forged = _with_attestation(response, attestation)
    assert finish(rp, pending, forged, now).reason is Reason.BAD_SIGNATURE


def test_a_none_attestation_with_a_statement_is_refused(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    attestation = _attestation(response)
    attestation["attStmt"] = {"sig": b"\x00" * 8}
    forged = _with_attestation(response, attestation)
    assert finish(rp, pending, forged, now).reason is Reason.BAD_SIGNATURE


def test_an_unknown_attestation_format_is_refused(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    attestation = _attestation(response)
    attestation["fmt"] = "homemade"
    forged = _with_attestation(response, attestation)
    outcome = finish(rp, pending, forged, now)
    assert not outcome.ok and outcome.reason is Reason.BAD_SIGNATURE


def test_the_json_credential_id_must_be_the_attested_one(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    response["id"] = response["rawId"] = b64(b"someone else's credential id")
    assert finish(rp, pending, response, now).reason is Reason.MALFORMED_CREDENTIAL


def test_backed_up_without_backup_eligibility_is_malformed(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    authenticator = SoftwareAuthenticator(backup_eligible=False, backed_up=True)
    response = authenticator.create(pending.options_json, origin=ORIGIN)
    assert finish(rp, pending, response, now).reason is Reason.MALFORMED_CREDENTIAL


def test_an_algorithm_that_was_not_offered_is_refused(
    rp: Any, begin_registration: Begin, now: datetime
) -> None:
    pending = begin_registration()
    response = SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
    attestation = _attestation(response)
    auth_data = bytearray(attestation["authData"])
    # The COSE key's "alg" (key 3) follows "kty" (1: 2) in the hand-encoded map: -7 -> -36 (ES512).
    at = auth_data.index(bytes.fromhex("a501020326"))
    auth_data[at + 4] = 0x38
    auth_data[at + 5 : at + 5] = b"\x23"
    attestation["authData"] = bytes(auth_data)
    outcome = finish(rp, pending, _with_attestation(response, attestation), now)
    assert outcome.reason is Reason.MALFORMED_CREDENTIAL


def test_an_excluded_authenticator_refuses_to_register_again(
    begin_registration: Begin, register: Callable[..., Any]
) -> None:
    from mfakit.testing.webauthn import AuthenticatorRefused

    authenticator = SoftwareAuthenticator()
    first = register(authenticator)
    pending = begin_registration(existing=[first])
    with pytest.raises(AuthenticatorRefused) as refused:
        authenticator.create(pending.options_json, origin=ORIGIN)
    assert refused.value.name == "InvalidStateError"
    # Another authenticator may still be added.
    SoftwareAuthenticator().create(pending.options_json, origin=ORIGIN)
