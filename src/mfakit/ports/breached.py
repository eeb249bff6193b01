"""The breached-password port: is this password known from a breach?

NIST SP 800-63B 5.1.1.2 asks verifiers to refuse passwords "obtained from
previous breach corpuses".
[`mfakit.passwords.check_new_password`][mfakit.passwords.check_new_password] takes an optional
`BreachedPasswords`; `mfakit.adapters.pwned.PwnedPasswords` implements it with the Pwned Passwords
range API (k-anonymity: only the first five hex digits of the password's SHA-1 leave the process).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..errors import MfaError

__all__ = ["BreachCheckUnavailable", "BreachedPasswords"]


class BreachCheckUnavailable(MfaError):
    """The breached-password service could not answer (network error, timeout,
    bad response). The host decides: refuse the change for now, or accept it
    after the other checks. The message never holds the password."""


@runtime_checkable
class BreachedPasswords(Protocol):
    """Answers whether a password appears in known breaches."""

    def is_breached(self, password: str) -> bool:
        """True when `password` is known from a breach; raises
        `BreachCheckUnavailable` when it cannot tell."""
        ...
