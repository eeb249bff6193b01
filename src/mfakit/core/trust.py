"""Trusted-device tokens (L2, S30): signing and checking, as pure functions.

A token is an itsdangerous URL-safe signature over `{"u": user, "d": device,
"v": security version}`. The device id carries 128 random bits. The signing key
is derived from the keyring for this purpose only; after a key rotation tokens
signed with an older key still verify while that key stays in the keyring.

The token never decides alone: the server-side device record holds the expiry
and the revocation, and both the token and the record must carry the user's
*current* security version, which grows with every password, factor or contact
change and with disabling 2FA. Time comes from the caller (S6), never from
itsdangerous' own clock.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .keys import Keyring
from .records import DeviceRecord

__all__ = ["TokenClaims", "TrustRefusal", "check_device", "read_token", "sign_token"]

PURPOSE = "trust-token"
SALT = b"mfakit.trusted-device.v1"
MAX_TOKEN_LENGTH = 4096


class TrustRefusal(str, enum.Enum):
    """Why a trust token did not satisfy the second step (recorded, not shown)."""

    MALFORMED = "malformed"
    TAMPERED = "tampered"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    STALE = "stale"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    device_id: str
    security_version: int


def _serializer(keyring: Keyring) -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts all: primary goes last.
    keys = [keyring.subkey(PURPOSE, kid) for kid in reversed(keyring.key_ids)]
    return URLSafeSerializer(keys, salt=SALT)


def sign_token(keyring: Keyring, claims: TokenClaims) -> str:
    payload = {"u": claims.user_id, "d": claims.device_id, "v": claims.security_version}
    return str(keyring.signer(PURPOSE, _serializer).dumps(payload))


def read_token(keyring: Keyring, token: str) -> TokenClaims | TrustRefusal:
    """The claims of a well-signed token, or why it is not one."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return TrustRefusal.MALFORMED
    try:
        data: Any = keyring.signer(PURPOSE, _serializer).loads(token)
        # Base64 lets a last character differ in its unused low bits and still
        # decode to the same bytes; accept only the one canonical spelling.
        head, _, sig = token.rpartition(".")
        canonical = base64_encode(base64_decode(sig)).decode("ascii")
    except BadSignature:
        return TrustRefusal.TAMPERED
    except (ValueError, UnicodeError):
        return TrustRefusal.MALFORMED
    if not head or not hmac.compare_digest(canonical, sig):
        return TrustRefusal.TAMPERED
    if not isinstance(data, dict):
        return TrustRefusal.MALFORMED
    user, device, version = data.get("u"), data.get("d"), data.get("v")
    if not (isinstance(user, str) and isinstance(device, str) and type(version) is int):
        return TrustRefusal.MALFORMED
    return TokenClaims(user, device, version)


def check_device(
    *,
    claims: TokenClaims,
    user_id: str,
    device: DeviceRecord | None,
    current_version: int,
    trust_lifetime: timedelta,
    now: datetime,
) -> TrustRefusal | None:
    """Decide whether a well-signed token still trusts its device.

    `device` is the server-side record the token names (`None` when there
    is none). The policy's current `trust_lifetime` also bounds older devices,
    so shortening it takes effect at once.
    """
    if claims.user_id != user_id:
        return TrustRefusal.FOREIGN
    if device is None or device.user_id != user_id:
        return TrustRefusal.UNKNOWN
    # Stale first: a security change both bumps the version and revokes the
    # devices, and "stale" is the more telling reason to record.
    if not claims.security_version == device.security_version == current_version:
        return TrustRefusal.STALE
    if device.revoked_at is not None:
        return TrustRefusal.REVOKED
    if now >= min(device.expires_at, device.created_at + trust_lifetime):
        return TrustRefusal.EXPIRED
    return None
