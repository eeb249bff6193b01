"""Step-up grants (S32): proof that a second factor was passed moments ago.

A user with any active factor must prove one again before a call that removes
or binds a factor, or turns 2FA off, on top of the fresh password (S20). When a
challenge of purpose `REAUTHENTICATE` (or `SIGN_IN`) succeeds, mfakit issues
a *grant*: an itsdangerous URL-safe signature over `{"u": user, "a": actor,
"t": issued at, "m": method}`. The host keeps it in the session and passes it
back in [`Actor.step_up`][mfakit.Actor.step_up]; it satisfies the step-up for that user and that
actor for `Policy.step_up_seconds`, and for nobody else.

The signing key is derived from the keyring for this purpose only, so a trust
token or any other signed value never passes for a grant. Time comes from the
caller (S6): the issue time is mfakit's clock, never itsdangerous' own.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .keys import Keyring
from .methods import Method

__all__ = [
    "MAX_GRANT_LENGTH",
    "StepUpClaims",
    "grant_expires_at",
    "grant_holds",
    "read_grant",
    "sign_grant",
]

PURPOSE = "step-up-grant"
SALT = b"mfakit.step-up.v1"
MAX_GRANT_LENGTH = 2048
_SKEW = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class StepUpClaims:
    """What a grant says: `actor_id` proved `method` for `user_id` at `issued_at`."""

    user_id: str
    actor_id: str
    issued_at: datetime
    method: Method


def _serializer(keyring: Keyring) -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts all: primary goes last.
    keys = [keyring.subkey(PURPOSE, kid) for kid in reversed(keyring.key_ids)]
    return URLSafeSerializer(keys, salt=SALT)


def sign_grant(keyring: Keyring, claims: StepUpClaims) -> str:
    payload = {
        "u": claims.user_id,
        "a": claims.actor_id,
        "t": int(claims.issued_at.timestamp()),
        "m": claims.method.value,
    }
    return str(keyring.signer(PURPOSE, _serializer).dumps(payload))


def grant_expires_at(issued_at: datetime, max_age: timedelta) -> datetime:
    """When a grant issued at `issued_at` stops satisfying the step-up."""
    # Signed times are whole seconds: the grant ends max_age after that second.
    return datetime.fromtimestamp(int(issued_at.timestamp()), timezone.utc) + max_age


def read_grant(keyring: Keyring, token: str) -> StepUpClaims | None:
    """The claims of a well-signed grant, or `None` (tampered, malformed,
    signed with a key no longer in the keyring)."""
    if not isinstance(token, str) or not token or len(token) > MAX_GRANT_LENGTH:
        return None
    try:
        data: Any = keyring.signer(PURPOSE, _serializer).loads(token)
        # Accept only the one canonical base64 spelling of the signature.
        head, _, sig = token.rpartition(".")
        canonical = base64_encode(base64_decode(sig)).decode("ascii")
    except (BadSignature, ValueError, UnicodeError):
        return None
    if not head or not hmac.compare_digest(canonical, sig) or not isinstance(data, dict):
        return None
    user, actor, at, method = data.get("u"), data.get("a"), data.get("t"), data.get("m")
    if not (isinstance(user, str) and isinstance(actor, str) and type(at) is int):
        return None
    try:
        parsed = Method(method)
        issued = datetime.fromtimestamp(at, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return StepUpClaims(user, actor, issued, parsed)


def grant_holds(
    claims: StepUpClaims, *, user_id: str, actor_id: str, now: datetime, max_age: timedelta
) -> bool:
    """Whether a well-signed grant satisfies the step-up for `actor_id`
    acting on `user_id` at `now`. A grant from the future (beyond a second
    of skew) cannot have been issued and does not hold."""
    if claims.user_id != user_id or claims.actor_id != actor_id:
        return False
    if claims.issued_at > now + _SKEW:
        return False
    return now < grant_expires_at(claims.issued_at, max_age)
