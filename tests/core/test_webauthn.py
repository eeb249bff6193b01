"""The pure WebAuthn decisions and configuration (no py_webauthn needed)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from mfakit import InvalidInput, Policy, Reason
from mfakit.core.webauthn import (
    CeremonyKind,
    CredentialUsage,
    RelyingParty,
    SignCountCheck,
    ceremony_refusal,
    check_sign_count,
    check_user_handle,
    credential_answers,
)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("stored", "received", "expected"),
    [
        (0, 0, SignCountCheck.OK),  # synced passkeys never count
        (0, 1, SignCountCheck.OK),
        (5, 6, SignCountCheck.OK),
        (5, 500, SignCountCheck.OK),
        (5, 5, SignCountCheck.WENT_BACKWARDS),
        (5, 4, SignCountCheck.WENT_BACKWARDS),
        (5, 0, SignCountCheck.WENT_BACKWARDS),
    ],
)
def test_sign_counts(stored: int, received: int, expected: SignCountCheck) -> None:
    assert check_sign_count(stored, received) is expected


def test_ceremony_refusals() -> None:
    kinds = frozenset({CeremonyKind.AUTHENTICATE})
    later = NOW + timedelta(seconds=120)

    def refusal(**kw: object) -> Reason | None:
        args: dict[str, object] = {
            "kind": CeremonyKind.AUTHENTICATE,
            "expected": kinds,
            "expires_at": later,
            "used_at": None,
            "now": NOW,
            **kw,
        }
        return ceremony_refusal(**args)  # type: ignore[arg-type]

    assert refusal() is None
    assert refusal(kind=CeremonyKind.REGISTER) is Reason.WRONG_CHALLENGE
    assert refusal(used_at=NOW) is Reason.REPLAYED
    assert refusal(now=later) is Reason.EXPIRED
    # A used ceremony is a replay even after it expired.
    assert refusal(used_at=NOW, now=later) is Reason.REPLAYED


MINE, THEIRS = b"\x01" * 64, b"\x02" * 64


def answers(**kw: object) -> bool:
    args: dict[str, object] = {
        "kind": CeremonyKind.AUTHENTICATE,
        "ceremony_user_id": "u1",
        "allowed_credential_ids": (b"c1",),
        "credential_id": b"c1",
        "credential_user_id": "u1",
        "usage": frozenset({CredentialUsage.SECOND_FACTOR}),
        "credential_user_handle": MINE,
        "response_user_handle": None,
        **kw,
    }
    return credential_answers(**args)  # type: ignore[arg-type]


def test_a_credential_answers_only_its_users_ceremony() -> None:
    assert answers()
    assert answers(kind=CeremonyKind.STEP_UP)
    assert answers(allowed_credential_ids=())
    assert answers(response_user_handle=MINE)
    assert not answers(credential_user_id=None)  # unknown
    assert not answers(credential_user_id="u2")  # someone else's: the same answer
    assert not answers(ceremony_user_id=None)
    assert not answers(credential_id=b"c2")  # not offered
    assert not answers(response_user_handle=THEIRS)


def test_passwordless_needs_usage_and_the_user_handle() -> None:
    both = frozenset(CredentialUsage)
    pw = {"kind": CeremonyKind.PASSWORDLESS, "ceremony_user_id": None, "allowed_credential_ids": ()}
    assert answers(**pw, usage=both, response_user_handle=MINE)
    assert not answers(**pw, response_user_handle=MINE)  # second factor only
    assert not answers(**pw, usage=both, response_user_handle=None)
    assert not answers(**pw, usage=both, response_user_handle=THEIRS)
    assert not answers(**pw, usage=both, response_user_handle=MINE[:32])
    assert not answers(**pw, usage=both, response_user_handle=MINE, credential_user_id=None)


def test_user_handles_are_64_bytes() -> None:
    assert check_user_handle(MINE) == MINE
    for bad in (b"", MINE[:63], MINE + b"\x00", "x" * 64, None):
        with pytest.raises(InvalidInput):
            check_user_handle(bad)


def test_relying_party_configuration() -> None:
    rp = RelyingParty(
        "example.com",
        " Example ",
        origins=["https://example.com", "https://App.Example.com:443/", "https://example.com"],
    )
    assert rp.origins == ("https://example.com", "https://app.example.com")
    assert rp.rp_name == "Example"
    dev = RelyingParty("localhost", "Dev", origins=["http://localhost:8000"])
    assert dev.origins == ("http://localhost:8000",)
    assert RelyingParty("example.com", "E", origins=["https://example.com:8443"]).origins == (
        "https://example.com:8443",
    )


@pytest.mark.parametrize(
    ("rp_id", "origins"),
    [
        ("127.0.0.1", ["http://127.0.0.1:8000"]),  # browsers refuse IP addresses
        ("Example.com", ["https://example.com"]),
        ("https://example.com", ["https://example.com"]),
        ("example.com", []),
        ("example.com", "https://example.com"),  # a string, not a list
        ("example.com", ["http://example.com"]),  # http only for localhost
        ("example.com", ["ftp://example.com"]),
        ("example.com", ["https://evil.com"]),
        ("example.com", ["https://notexample.com"]),  # a suffix, not a subdomain
        ("app.example.com", ["https://example.com"]),  # the parent of the RP id
        ("example.com", ["https://example.com/login"]),
        ("example.com", ["https://example.com?x=1"]),
        ("example.com", ["https://user@example.com"]),
        ("example.com", ["https://example.com:99999"]),
        ("example.com", [""]),
        ("example.com", [None]),
    ],
)
def test_bad_relying_party_configuration_is_refused(rp_id: str, origins: object) -> None:
    with pytest.raises(InvalidInput):
        RelyingParty(rp_id, "Example", origins=origins)  # type: ignore[arg-type]


def test_policy_passkey_fields() -> None:
    policy = Policy()
    assert policy.webauthn_user_verification == "preferred"
    assert policy.webauthn_attestation == "none"
    assert policy.passkey_passwordless is False
    assert policy.webauthn_clone_policy == "reject"
    assert policy.webauthn_ceremony_ttl == timedelta(seconds=120)
    assert policy.webauthn_conditional_ttl == timedelta(minutes=5)
    assert policy.max_passkeys == 10
    assert Policy(webauthn_clone_policy="flag").webauthn_clone_policy == "flag"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("webauthn_user_verification", "discouraged"),
        ("webauthn_user_verification", None),
        ("webauthn_attestation", "indirect"),
        ("webauthn_attestation", "enterprise"),
        ("webauthn_clone_policy", "warn"),
        ("passkey_passwordless", "yes"),
        ("webauthn_ceremony_ttl", timedelta(0)),
        ("webauthn_ceremony_ttl", timedelta(minutes=11)),
        ("webauthn_ceremony_ttl", 120),
        ("webauthn_conditional_ttl", timedelta(hours=2)),
        ("max_passkeys", 0),
        ("max_passkeys", 51),
    ],
)
def test_bad_passkey_policy_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as error:
        Policy(**{field: value})
    assert error.value.field == field


def test_importing_mfakit_does_not_import_py_webauthn() -> None:
    code = "import sys, mfakit, mfakit.core.webauthn; print('webauthn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_the_extra_the_error_names_it() -> None:
    code = (
        "import sys; sys.modules['webauthn'] = None\n"
        "try:\n    import mfakit.passkeys\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'mfakit[webauthn]'" in out.stdout
