"""Finding 5.12 of the 0.1.0 attack review: a 107-entry common-password list.

``check_new_password`` accepted "Password1!" and "Summer2024!". The bundled list
now holds zxcvbn's ~47,000 most used passwords (MIT, source in the file's
header), and a listed word with digits or symbols around it counts as that
word.
"""

from __future__ import annotations

from importlib import resources

import pytest

from mfakit.passwords import PasswordProblem, check_new_password, common_passwords

CURRENT = "an old passphrase of mine"


def problems(new: str) -> list[PasswordProblem]:
    return check_new_password(CURRENT, new, new)


@pytest.mark.parametrize(
    "password",
    [
        "Password1!",
        "Summer2024!",
        "Winter2025?",
        "P@ssw0rd",
        "qwerty123456",
        "iloveyou2",
        "!!Dragon99",
        "Football#1",
        "baseball",
        "trustno1",
        "letmein!",
        "monkey123",
        "sunshine",
        "michelle",  # names are on the list too
    ],
)
def test_common_passwords_and_their_decorations_are_refused(password: str) -> None:
    assert PasswordProblem.COMMON in problems(password)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr4ff0rd-Quill-Ember",
        "my cat's name is not a password",
        "2024-12-24!",  # digits only: no word to find, and not a listed password
        "zq7#Lm2!pX",
    ],
)
def test_uncommon_passwords_pass(password: str) -> None:
    assert problems(password) == []


def test_the_list_is_large_and_says_where_it_comes_from() -> None:
    assert len(common_passwords()) >= 20_000
    text = resources.files("mfakit").joinpath("data/common-passwords.txt").read_text("utf-8")
    header = "\n".join(line for line in text.splitlines()[:40] if line.startswith("#"))
    assert "https://github.com/dropbox/zxcvbn" in header
    assert "MIT" in header and "Permission is hereby granted" in header
    assert all(w == w.casefold() for w in common_passwords())
