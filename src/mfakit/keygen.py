"""Making an application secret key (`mfakit.generate_secret_key`).

Kept out of `mfakit.core.keys`, which is pure: the randomness is here.
"""

from __future__ import annotations

import secrets

from .core.keys import MIN_SECRET_BYTES, format_key

__all__ = ["generate_secret_key"]


def generate_secret_key() -> str:
    """A new application secret: `mfk1_<random id>_<32 random bytes, base64url>`.

    Keep it in your secret manager and pass it as `MFA(secret_key=...)`. Its
    key id is random, not derived from the secret, so the key id stored with
    every encrypted value reveals nothing about the key.
    """
    return format_key(secrets.token_bytes(8), secrets.token_bytes(MIN_SECRET_BYTES))
