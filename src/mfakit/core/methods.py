"""The second-factor methods mfakit knows."""

from __future__ import annotations

import enum

from ..errors import InvalidInput

__all__ = ["RESTRICTED_METHODS", "Method", "parse_method"]


class Method(str, enum.Enum):
    """A way to prove the second factor."""

    TOTP = "totp"
    """An authenticator app (RFC 6238)."""
    SMS = "sms"
    """A one-time code by text message (restricted, NIST SP 800-63B 5.1.3.3)."""
    VOICE = "voice"
    """A one-time code read out by a phone call (restricted)."""
    EMAIL = "email"
    """A one-time code by email."""
    BACKUP_CODE = "backup_code"
    """One of the single-use recovery codes."""
    WEBAUTHN = "webauthn"
    """A passkey or security key (WebAuthn): phishing-resistant, nothing to type."""

    def __str__(self) -> str:
        return self.value


RESTRICTED_METHODS = frozenset({Method.SMS, Method.VOICE})
"""Methods NIST SP 800-63B 5.2.10 calls *restricted* (S25)."""


def parse_method(value: object, *, field: str = "method") -> Method:
    """`value` as a [`Method`][mfakit.Method] (a member or its string), else InvalidInput."""
    try:
        return Method(value)
    except (ValueError, TypeError):
        raise InvalidInput(field, "is not a known method") from None
