"""Password-change helper (L6) for hosts that want one.

mfakit does not own passwords; this module gives hosts the rules and hashing
that go with the "current / new / confirm" form of seed 001, after NIST SP
800-63B 5.1.1.2: at least 8 and at most 64 characters by default, every
printable character and space allowed, no composition rules, and refusal of
commonly used passwords. Hashing is argon2id (`argon2-cffi`), with a check of
whether an old hash needs upgrading.

"Commonly used" is a bundled list of about 47,000 passwords (zxcvbn's list of
the most frequent passwords of a 10-million-password corpus; MIT, see the header
of `data/common-passwords.txt`), compared without case, plus one rule: a
password that is a listed word with digits and symbols around it
("Password1!", "Summer2024!", "!!dragon99") counts as that word. An optional
breached-password check (`mfakit.ports.breached.BreachedPasswords`, e.g.
the Pwned Passwords range API) catches the rest.

The security consequences of a change (trusted devices revoked, an audit record,
a notice to the user) are [`mfakit.MFA.password_changed`][mfakit.facade.Facade.password_changed]'s
job.
"""

from __future__ import annotations

import enum
import functools
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .core.validation import check_encodable
from .errors import InvalidInput
from .ports.breached import BreachedPasswords

__all__ = [
    "PasswordPolicy",
    "PasswordProblem",
    "check_new_password",
    "common_passwords",
    "hash_password",
    "is_common",
    "needs_rehash",
    "verify_password",
]


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of commonly used passwords (lower case), loaded on first use."""
    text = resources.files("mfakit").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


_DECORATION = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$", re.S)
_MIN_BASE = 4  # shorter cores ("a", "abc") are no dictionary word worth refusing


def is_common(password: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether `password` (compared without case) is on the list, or is a
    listed word with only digits and symbols before or after it."""
    folded = password.casefold()
    common = common_passwords()
    if folded in common or folded in extra:
        return True
    match = _DECORATION.fullmatch(folded)
    core = match.group(1) if match else folded
    return len(core) >= _MIN_BASE and core != folded and (core in common or core in extra)


class PasswordProblem(str, enum.Enum):
    """Why a new password was refused; show the user the matching message."""

    CONFIRMATION_MISMATCH = "confirmation_mismatch"
    SAME_AS_CURRENT = "same_as_current"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    BREACHED = "breached"
    CONTAINS_IDENTIFIER = "contains_identifier"
    CONTROL_CHARACTERS = "control_characters"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicy:
    """Length bounds and the list of refused passwords.

    NIST SP 800-63B asks for at least 8 characters and allows at least 64;
    raise `min_length` for stricter deployments. `extra_common` adds
    context-specific words (the product's name, ...).
    """

    min_length: int = 8
    max_length: int = 64
    extra_common: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name, value in (("min_length", self.min_length), ("max_length", self.max_length)):
            if type(value) is not int or not 1 <= value <= 4096:
                raise InvalidInput(name, "must be an int from 1 to 4096")
        if self.min_length > self.max_length:
            raise InvalidInput("min_length", "must not exceed max_length")
        if isinstance(self.extra_common, str) or not isinstance(self.extra_common, Iterable):
            raise InvalidInput("extra_common", "must be a set of strings")
        object.__setattr__(
            self, "extra_common", frozenset(str(w).casefold() for w in self.extra_common)
        )


def _text(field_name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field_name, "must be a str")
    if len(value) > 4096:
        raise InvalidInput(field_name, "is far too long")
    return unicodedata.normalize("NFKC", check_encodable(field_name, value))


def check_new_password(
    current: object,
    new: object,
    confirm: object,
    *,
    identifiers: Iterable[str] = (),
    policy: PasswordPolicy | None = None,
    breached: BreachedPasswords | None = None,
) -> list[PasswordProblem]:
    """Every problem with a current / new / confirm form, empty when it is fine.

    `identifiers` are strings the password must not contain (the user's
    email, name, the app's name), compared without case. Strings are
    NFKC-normalised first, as 800-63B recommends. The values never appear in
    any message. `breached` (e.g. `mfakit.adapters.pwned.PwnedPasswords`)
    is asked last, and only about a password that passed every other check;
    when it cannot answer it raises
    `BreachCheckUnavailable`.
    """
    rules = policy if policy is not None else PasswordPolicy()
    cur, pw, conf = _text("current", current), _text("new", new), _text("confirm", confirm)
    problems: list[PasswordProblem] = []
    if not hmac.compare_digest(pw.encode(), conf.encode()):
        problems.append(PasswordProblem.CONFIRMATION_MISMATCH)
    if hmac.compare_digest(pw.encode(), cur.encode()):
        problems.append(PasswordProblem.SAME_AS_CURRENT)
    if len(pw) < rules.min_length:
        problems.append(PasswordProblem.TOO_SHORT)
    if len(pw) > rules.max_length:
        problems.append(PasswordProblem.TOO_LONG)
    folded = pw.casefold()
    if is_common(pw, rules.extra_common):
        problems.append(PasswordProblem.COMMON)
    for ident in identifiers:
        if not isinstance(ident, str):
            raise InvalidInput("identifiers", "must be strings")
        if len(ident) >= 3 and ident.casefold() in folded:
            problems.append(PasswordProblem.CONTAINS_IDENTIFIER)
            break
    if any(unicodedata.category(c) == "Cc" for c in pw):
        problems.append(PasswordProblem.CONTROL_CHARACTERS)
    if breached is not None and not problems and breached.is_breached(pw):
        problems.append(PasswordProblem.BREACHED)
    return problems


_HASHER = argon2.PasswordHasher()


def hash_password(password: object) -> str:
    """An argon2id hash (RFC 9106 low-memory parameters) of `password`."""
    return _HASHER.hash(_text("password", password))


def verify_password(hashed: object, password: object) -> bool:
    """Whether `password` matches `hashed`; False for any malformed hash."""
    if not isinstance(hashed, str):
        raise InvalidInput("hashed", "must be a str")
    try:
        return _HASHER.verify(hashed, _text("password", password))
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeError):
        return False


def needs_rehash(hashed: object) -> bool:
    """Whether `hashed` was made with other parameters (or another scheme)
    than the current ones: rehash it after the next successful sign-in."""
    if not isinstance(hashed, str):
        raise InvalidInput("hashed", "must be a str")
    try:
        return _HASHER.check_needs_rehash(hashed)
    except (InvalidHashError, UnicodeError):
        return True
