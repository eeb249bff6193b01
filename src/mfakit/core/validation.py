"""Input checks shared by every public call.

Each check raises [`InvalidInput`][mfakit.errors.InvalidInput] naming the field, never
echoing the value (it may be a secret).
"""

from __future__ import annotations

import re
from datetime import datetime

from ..errors import InvalidInput

__all__ = [
    "MAX_ID_LENGTH",
    "check_aware",
    "check_encodable",
    "check_id",
    "check_label",
    "check_role",
    "check_text",
]

MAX_ID_LENGTH = 128
MAX_LABEL_LENGTH = 64


_CONTROL = re.compile("[\x00-\x1f\x7f]").search


def _has_control(value: str) -> bool:
    """A C0 control character or DEL (one pattern search, not a loop per character)."""
    return _CONTROL(value) is not None


def is_encodable(value: str) -> bool:
    """Whether `value` is valid Unicode text: a Python str may hold a lone
    UTF-16 surrogate ("\\ud800", valid in JSON), which no UTF-8 encoder, hash,
    database or mail server accepts (S36)."""
    return value.isascii() or not any("\ud800" <= c <= "\udfff" for c in value)


def check_encodable(field: str, value: str) -> str:
    """Refuse text that is not valid UTF-8 (a lone surrogate) with InvalidInput (S36)."""
    if not is_encodable(value):
        raise InvalidInput(field, "must be valid Unicode text (no lone surrogates)")
    return value


def check_id(field: str, value: object) -> str:
    """A user, factor or challenge id: a non-empty printable string of at most 128 chars."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a str")
    if not value or len(value) > MAX_ID_LENGTH:
        raise InvalidInput(field, f"must be 1 to {MAX_ID_LENGTH} characters")
    check_encodable(field, value)
    if _has_control(value) or value != value.strip():
        raise InvalidInput(field, "must not contain control characters or surrounding spaces")
    return value


def check_text(field: str, value: object, *, max_length: int) -> str:
    """A short display text (label, account name): printable, stripped, non-empty."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a str")
    value = value.strip()
    if not value or len(value) > max_length:
        raise InvalidInput(field, f"must be 1 to {max_length} characters")
    check_encodable(field, value)
    if _has_control(value):
        raise InvalidInput(field, "must not contain control characters")
    return value


def check_label(value: object) -> str:
    """A factor's display name."""
    return check_text("label", value, max_length=MAX_LABEL_LENGTH)


def check_aware(field: str, value: object) -> datetime:
    """A timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InvalidInput(field, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must be timezone-aware")
    return value


def check_role(role: object) -> str | None:
    """A role name (1-64 characters) or None."""
    if role is None:
        return None
    return check_text("role", role, max_length=64)
