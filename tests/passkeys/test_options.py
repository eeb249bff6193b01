"""The options the browser gets, and the checks on what the service passes in."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mfakit import InvalidInput, Policy
from mfakit.core.webauthn import CeremonyKind, CredentialUsage, UserVerification
from mfakit.passkeys import authentication_options, passwordless_options, registration_options
from mfakit.testing.webauthn import SoftwareAuthenticator

from .conftest import HANDLES, OTHER, USER
from .helpers import b64

Begin = Callable[..., Any]


def test_registration_options(
    begin_registration: Begin, register: Callable[..., Any], now: datetime
) -> None:
    existing = register(SoftwareAuthenticator())
    pending = begin_registration(existing=[existing], display_name="Ann Example")
    options = json.loads(pending.options_json)
    assert options["rp"] == {"id": "example.com", "name": "Example"}
    assert options["user"] == {
        "id": b64(HANDLES[USER]),  # the random handle, never the host's user id
        "name": f"{USER}@example.com",
        "displayName": "Ann Example",
    }
    assert USER not in json.dumps(options["user"]["id"])
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["excludeCredentials"] == [
        {
            "id": b64(existing.credential_id),
            "type": "public-key",
            "transports": ["internal", "hybrid"],
        }
    ]
    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["extensions"] == {"credProps": True}
    assert options["timeout"] == 120_000
    assert options["challenge"] == b64(pending.ceremony.challenge)
    ceremony = pending.ceremony
    assert ceremony.kind is CeremonyKind.REGISTER and ceremony.user_id == USER
    assert ceremony.expires_at == now + timedelta(seconds=120)
    assert ceremony.usage == {CredentialUsage.SECOND_FACTOR}
    assert ceremony.user_handle == HANDLES[USER] and ceremony.name == "Laptop"


def test_registration_options_follow_the_policy(begin_registration: Begin) -> None:
    policy = Policy(
        webauthn_user_verification="required",
        webauthn_attestation="direct",
        passkey_passwordless=True,
        webauthn_ceremony_ttl=timedelta(seconds=60),
    )
    options = json.loads(begin_registration(policy=policy).options_json)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "direct"
    assert options["timeout"] == 60_000
    passwordless = begin_registration(policy=policy, passwordless=True)
    selection = json.loads(passwordless.options_json)["authenticatorSelection"]
    assert selection["residentKey"] == "required" and selection["requireResidentKey"] is True
    assert passwordless.ceremony.usage == {
        CredentialUsage.SECOND_FACTOR,
        CredentialUsage.PASSWORDLESS,
    }


def test_passwordless_registration_needs_the_policy(begin_registration: Begin) -> None:
    with pytest.raises(InvalidInput, match="passwordless"):
        begin_registration(policy=Policy(), passwordless=True)


def test_authentication_options(
    begin_authentication: Begin, register: Callable[..., Any], now: datetime
) -> None:
    one, two = register(SoftwareAuthenticator()), register(SoftwareAuthenticator())
    pending = begin_authentication([one, two])
    options = json.loads(pending.options_json)
    assert options["rpId"] == "example.com"
    assert [c["id"] for c in options["allowCredentials"]] == [
        b64(one.credential_id),
        b64(two.credential_id),
    ]
    assert options["userVerification"] == "preferred"
    assert pending.ceremony.allowed_credential_ids == (one.credential_id, two.credential_id)
    assert pending.ceremony.kind is CeremonyKind.AUTHENTICATE
    assert pending.ceremony.user_verification is UserVerification.PREFERRED


def test_passwordless_options(begin_passwordless: Begin, now: datetime) -> None:
    pending = begin_passwordless()
    options = json.loads(pending.options_json)
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert pending.ceremony.user_id is None
    assert pending.ceremony.expires_at == now + timedelta(seconds=120)
    with pytest.raises(InvalidInput):
        begin_passwordless(policy=Policy())


def test_bad_arguments_are_refused(
    rp: Any, policy: Policy, now: datetime, register: Callable[..., Any]
) -> None:
    good: dict[str, Any] = {
        "ceremony_id": "c-1",
        "challenge": b"\x01" * 32,
        "now": now,
        "user_id": USER,
        "user_handle": HANDLES[USER],
        "user_name": "ann",
        "name": "Key",
    }
    registration_options(rp, policy, **good)
    for field, value in [
        ("user_handle", b"short"),
        ("user_handle", "x" * 64),
        ("challenge", b"\x01" * 8),
        ("now", datetime(2026, 1, 1)),
        ("user_id", ""),
        ("name", " "),
        ("name", "x" * 65),
        ("user_name", ""),
        ("ceremony_id", "a\nb"),
    ]:
        with pytest.raises(InvalidInput):
            registration_options(rp, policy, **{**good, field: value})
    mine = register(SoftwareAuthenticator())
    theirs = register(SoftwareAuthenticator(), user_id=OTHER)
    auth = {"ceremony_id": "c-2", "challenge": b"\x01" * 32, "now": now, "user_id": USER}
    authentication_options(rp, policy, credentials=[mine], **auth)
    for credentials in ([], [mine, theirs]):
        with pytest.raises(InvalidInput):
            authentication_options(rp, policy, credentials=credentials, **auth)
    with pytest.raises(InvalidInput):
        authentication_options(
            rp, policy, credentials=[mine], kind=CeremonyKind.PASSWORDLESS, **auth
        )
    with pytest.raises(InvalidInput):
        passwordless_options(rp, policy, ceremony_id="c-3", challenge=b"", now=now)


def test_records_keep_keys_and_challenges_out_of_repr(
    begin_registration: Begin, register: Callable[..., Any]
) -> None:
    pending = begin_registration()
    record = register(SoftwareAuthenticator())
    for value in (repr(pending), repr(pending.ceremony), repr(record)):
        for secret in (
            pending.ceremony.challenge,
            record.credential_id,
            record.public_key,
            HANDLES[USER],
        ):
            assert repr(secret) not in value and b64(secret) not in value
    assert pending.options_json not in repr(pending)


def test_a_passkey_is_listed_without_key_material(register: Callable[..., Any]) -> None:
    from mfakit.core.results import PasskeyInfo

    device = SoftwareAuthenticator(backup_eligible=True, backed_up=True)
    record = register(device, passwordless=True, name="Phone")
    info = PasskeyInfo.from_record(record)
    assert (info.id, info.name, info.created_at, info.last_used_at) == (
        record.id, "Phone", record.created_at, None
    )  # fmt: skip
    assert info.backed_up and info.backup_eligible and info.passwordless
    assert info.discoverable == "yes" and info.transports == ("internal", "hybrid")
    assert not info.cloned
    assert not {"credential_id", "public_key", "user_handle", "sign_count"} & set(
        PasskeyInfo.__dataclass_fields__
    )
