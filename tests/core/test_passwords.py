"""The password-change helper (L6): validation table, argon2 round trip, rehash."""

from __future__ import annotations

from typing import Any

import argon2
import pytest

from mfakit.errors import InvalidInput
from mfakit.passwords import (
    PasswordPolicy,
    PasswordProblem,
    check_new_password,
    common_passwords,
    hash_password,
    needs_rehash,
    verify_password,
)

P = PasswordProblem


@pytest.mark.parametrize(
    ("current", "new", "confirm", "kwargs", "expected"),
    [
        ("old-secret-1", "a fine long passphrase", "a fine long passphrase", {}, []),
        (
            "old-secret-1",
            "a fine long passphrase",
            "a fine long passphrasE",
            {},
            [P.CONFIRMATION_MISMATCH],
        ),
        ("same-secret-9", "same-secret-9", "same-secret-9", {}, [P.SAME_AS_CURRENT]),
        # "short" is a listed word: with digits and symbols around it, still common.
        ("old-secret-1", "short7!", "short7!", {}, [P.TOO_SHORT, P.COMMON]),
        ("old-secret-1", "x" * 65, "x" * 65, {}, [P.TOO_LONG]),
        ("old-secret-1", "x" * 64, "x" * 64, {}, []),
        ("old-secret-1", "12345678", "12345678", {}, [P.COMMON]),
        ("old-secret-1", "PassWord123", "PassWord123", {}, [P.COMMON]),
        (
            "old-secret-1",
            "alice-in-2026!",
            "alice-in-2026!",
            {"identifiers": ["Alice"]},
            [P.CONTAINS_IDENTIFIER],
        ),
        ("old-secret-1", "tab\there-long", "tab\there-long", {}, [P.CONTROL_CHARACTERS]),
        (
            "old-secret-1",
            "aesthetix!",
            "aesthetix!",
            {"policy": PasswordPolicy(extra_common={"Aesthetix!"})},
            [P.COMMON],
        ),
        (
            "old-secret-1",
            "twelve chars",
            "twelve chars",
            {"policy": PasswordPolicy(min_length=15)},
            [P.TOO_SHORT],
        ),
        ("old", "abc", "abd", {}, [P.CONFIRMATION_MISMATCH, P.TOO_SHORT]),
        ("old", "ｐａｓｓｗｏｒｄ", "password", {}, [P.COMMON]),  # NFKC: fullwidth folds to ASCII
    ],
)
def test_validation_table(
    current: str, new: str, confirm: str, kwargs: dict[str, Any], expected: list[PasswordProblem]
) -> None:
    assert check_new_password(current, new, confirm, **kwargs) == expected


@pytest.mark.parametrize("bad", [None, 12345678, b"password", ["x"]], ids=repr)
def test_non_strings_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        check_new_password("current", bad, bad)


def test_messages_never_hold_the_password() -> None:
    secret = "z" * 5000
    with pytest.raises(InvalidInput) as info:
        check_new_password("current", secret, secret)
    assert secret[:20] not in str(info.value)


def test_list_is_large_and_lower_case() -> None:
    words = common_passwords()
    assert 20_000 <= len(words) <= 100_000
    assert all(p == p.casefold() and " " not in p for p in words)
    assert "password" in words


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_length": 0},
        {"max_length": 5000},
        {"min_length": 10, "max_length": 9},
        {"min_length": 8.0},
        {"extra_common": "word"},
    ],
)
def test_bad_password_policies(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        PasswordPolicy(**kwargs)


def test_argon2_round_trip_and_rehash() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery staple")
    assert not verify_password(hashed, "correct horse battery stapler")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(hashed)
    weaker = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    assert needs_rehash(weaker)
    assert verify_password(weaker, "pw")  # old hashes still verify, then get upgraded
    assert needs_rehash("$pbkdf2-sha256$1000$abc$def")
    with pytest.raises(InvalidInput):
        verify_password(None, "x")
