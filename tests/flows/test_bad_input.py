"""Bad input gets a typed error and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock
from tests.conftest import SECRET
from tests.helpers import snapshot

TYPOS: list[str] = [
    "12a456",
    "12345",
    "1234567",
    "",
    "   ",
    "١٢٣٤٥٦",  # Arabic-Indic digits
    "１２３４５６",  # full-width digits
    "123\x00456",
    "7K2M-Q9XH-4TRD",  # a backup code where an app's code is asked for
    "x" * 256,
]
"""What a person can type: a ``MALFORMED_CODE`` result, not an exception."""
MISUSE: list[Any] = ["x" * 257, "1" * 10_000, None, 123456, b"123456", ["123456"]]
"""What no person types: InvalidInput."""
BAD_IDS: list[Any] = ["", " alice", "a" * 10_000, "al\x00ice", "al\nice", None, 42, b"alice"]


def assert_secret_free(exc: BaseException, secret: object) -> None:
    if isinstance(secret, str) and len(secret) >= 4:
        assert secret not in str(exc)


@pytest.mark.parametrize("code", TYPOS, ids=repr)
def test_mistyped_totp_codes_are_malformed(mfa: MFA, store: MemoryStore, enrol, code: str) -> None:
    enrol()
    before = snapshot(store)
    result = mfa.verify_totp("alice", code)
    assert not result.ok
    assert result.reason is mfakit.Reason.MALFORMED_CODE
    assert result.expected == mfakit.ExpectedCode(method=mfakit.Method.TOTP, lengths=(6, 8))
    assert snapshot(store) == before  # no failure counted, no audit record


@pytest.mark.parametrize("code", MISUSE, ids=repr)
def test_misused_totp_codes_raise(mfa: MFA, store: MemoryStore, enrol, code: Any) -> None:
    enrol()
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput) as info:
        mfa.verify_totp("alice", code)
    assert info.value.field == "code"
    assert_secret_free(info.value, code)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "code",
    ["", "12", "ZZZZ-ZZZZ-ZZZ", "UUUU-UUUU-UUUU", "ÀÀÀÀ-ÀÀÀÀ-ÀÀÀÀ", "123456", "x" * 256],
    ids=repr,
)
def test_mistyped_backup_codes_are_malformed(
    mfa: MFA, store: MemoryStore, enrol, code: str
) -> None:
    enrol()
    before = snapshot(store)
    result = mfa.verify_backup_code("alice", code)
    assert result.reason is mfakit.Reason.MALFORMED_CODE and not result
    assert result.expected == mfakit.ExpectedCode(method=mfakit.Method.BACKUP_CODE, lengths=(12,))
    assert snapshot(store) == before


@pytest.mark.parametrize("code", ["x" * 10_000, None, 7, b"7K2MQ9XH4TRD"], ids=repr)
def test_misused_backup_codes_raise(mfa: MFA, store: MemoryStore, enrol, code: Any) -> None:
    enrol()
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.verify_backup_code("alice", code)
    assert snapshot(store) == before


def test_codes_with_spaces_and_dashes_are_accepted(mfa: MFA, enrol) -> None:
    user = enrol()
    code = user.code_at()
    assert mfa.verify_totp("alice", f" {code[:3]}-{code[3:]} ").ok


@pytest.mark.parametrize("user_id", BAD_IDS, ids=repr)
def test_malformed_user_ids(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol, user_id: Any
) -> None:
    enrol()
    before = snapshot(store)
    calls = [
        lambda: mfa.verify_totp(user_id, "123456"),
        lambda: mfa.verify_backup_code(user_id, "0000-0000-0000"),
        lambda: mfa.list_authenticators(user_id),
        lambda: mfa.backup_codes_left(user_id),
        lambda: mfa.begin_totp_setup(
            Actor.user("alice", reauthenticated_at=clock.now()), user_id, account_name="a"
        ),
        lambda: mfa.regenerate_backup_codes(
            Actor.user("alice", reauthenticated_at=clock.now()), user_id
        ),
    ]
    for call in calls:
        with pytest.raises(mfakit.InvalidInput):
            call()
    with pytest.raises(mfakit.InvalidInput):
        Actor.user(user_id)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"account_name": "a:b"},
        {"account_name": ""},
        {"account_name": "x" * 500},
        {"account_name": None},
        {"account_name": "ok", "label": ""},
        {"account_name": "ok", "label": "x" * 65},
        {"account_name": "ok", "label": "bad\x07"},
        {"account_name": "ok", "secret": "not base32!"},
        {"account_name": "ok", "secret": 12345},
    ],
    ids=repr,
)
def test_malformed_setup_arguments(
    mfa: MFA, store: MemoryStore, clock: FakeClock, kwargs: dict[str, Any]
) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_totp_setup(Actor.user("alice", reauthenticated_at=clock.now()), "alice", **kwargs)
    assert snapshot(store) == before


@pytest.mark.parametrize("actor", [None, "alice", {"id": "alice"}], ids=repr)
def test_actor_must_be_an_actor(mfa: MFA, actor: Any) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_totp_setup(actor, "alice", account_name="a")
    with pytest.raises(mfakit.InvalidInput):
        mfa.regenerate_backup_codes(actor, "alice")


def test_unknown_ids_are_not_found(mfa: MFA, store: MemoryStore, clock: FakeClock) -> None:
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    before = snapshot(store)
    with pytest.raises(mfakit.NotFound):
        mfa.confirm_totp_setup(actor, "no-such-setup", "123456")
    with pytest.raises(mfakit.NotFound):
        mfa.remove_authenticator(actor, "alice", "no-such-factor")
    assert snapshot(store) == before
    assert mfa.list_authenticators("nobody") == ()
    assert mfa.backup_codes_left("nobody") == 0


@pytest.mark.parametrize(
    "secret_key",
    ["short", b"\x00" * 31, "", None, 12345, [], ["x" * 40, "x" * 40]],
    ids=["short", "31-bytes", "empty", "none", "int", "empty-list", "duplicate"],
)
def test_malformed_keys(secret_key: Any) -> None:
    with pytest.raises(mfakit.ConfigurationError) as info:
        MFA(store=MemoryStore(), secret_key=secret_key, issuer="X")
    if isinstance(secret_key, str) and secret_key:
        assert secret_key not in str(info.value)


@pytest.mark.parametrize("issuer", ["", "A:B", None, "x" * 500, "bad\nname"], ids=repr)
def test_malformed_issuer(issuer: Any) -> None:
    with pytest.raises(mfakit.ConfigurationError):
        MFA(store=MemoryStore(), secret_key=SECRET, issuer=issuer)


def test_store_must_implement_the_port() -> None:
    with pytest.raises(mfakit.ConfigurationError, match="add_totp"):
        MFA(store=object(), secret_key=SECRET, issuer="X")  # type: ignore[arg-type]
