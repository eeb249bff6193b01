"""Phone numbers and email addresses: validation, normalisation and masking.

Phone numbers are normalised to E.164 (`+14155550101`). With the optional
`phonenumbers` package (`pip install mfakit[phone]`) a number must be a
*valid* number for its country; without it a strict built-in check applies: a
leading `+`, a country code not starting with 0, 8 to 15 digits in all, and
exactly ten after `+1` (the North American plan).
Spaces, dots, dashes and parentheses are accepted as separators.

Email addresses are checked for shape (one `@`, a dotted domain of LDH labels,
no spaces or control characters, at most 254 characters); the domain is
lower-cased and IDNA-encoded, the local part kept as typed.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from ..errors import InvalidInput

__all__ = ["ContactKind", "mask", "normalize_email", "normalize_phone"]


class ContactKind(str, enum.Enum):
    PHONE = "phone"
    EMAIL = "email"

    def __str__(self) -> str:
        return self.value


_PHONE_SEPARATORS = str.maketrans("", "", " .-()\u00a0")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_LOCAL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")

_phonenumbers: Any = None


def _phone_library() -> Any:
    """The `phonenumbers` module if installed, else False (looked up once)."""
    global _phonenumbers
    if _phonenumbers is None:
        try:
            import phonenumbers

            _phonenumbers = phonenumbers
        except ImportError:
            _phonenumbers = False
    return _phonenumbers


def normalize_phone(value: object, *, field: str = "phone") -> str:
    """E.164 form of `value` or [`InvalidInput`][mfakit.errors.InvalidInput]."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a str")
    if len(value) > 32:
        raise InvalidInput(field, "is too long for a phone number")
    compact = value.translate(_PHONE_SEPARATORS)
    if not compact.isascii() or not _E164.fullmatch(compact):
        raise InvalidInput(
            field, "must be an international number: +, country code, 8 to 15 digits"
        )
    if compact.startswith("+1") and len(compact) != 12:
        # North American numbers are always +1 and ten digits.
        raise InvalidInput(field, "must have ten digits after +1")
    lib = _phone_library()
    if lib:
        try:
            parsed = lib.parse(compact, None)
        except lib.NumberParseException:
            raise InvalidInput(field, "is not a phone number") from None
        if not lib.is_valid_number(parsed):
            raise InvalidInput(field, "is not a valid phone number for its country")
        return str(lib.format_number(parsed, lib.PhoneNumberFormat.E164))
    return compact


def normalize_email(value: object, *, field: str = "email") -> str:
    """The address with its domain lower-cased, or [`InvalidInput`][mfakit.errors.InvalidInput]."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a str")
    text = value.strip()
    if not text or len(text) > 254:
        raise InvalidInput(field, "must be 1 to 254 characters")
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        raise InvalidInput(field, "must look like name@example.org")
    if not _LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidInput(field, "has an invalid name before the @")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(field, "has an invalid domain") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(field, "has an invalid domain")
    if labels[-1].isdigit():
        raise InvalidInput(field, "has an invalid domain")
    address = f"{local}@{ascii_domain}"
    if len(address) > 254:
        raise InvalidInput(field, "must be 1 to 254 characters")
    return address


def mask(kind: ContactKind, value: str) -> str:
    """A destination shown to users and audit records: `+1•••••01`,
    `a•••@example.org`."""
    if kind is ContactKind.PHONE:
        return f"{value[:2]}•••••{value[-2:]}"
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}•••@{domain}"
