"""Strict reading of the JSON a browser's `PublicKeyCredential.toJSON()` gives.

Everything a browser sends is untrusted. These functions accept a `str`,
`bytes` or a parsed `dict` of any shape and either return plain values or
raise `Refused` with the [`Reason`][mfakit.Reason] to answer:
never a `KeyError`, `TypeError` or a library's own exception.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.results import Reason

__all__ = [
    "MAX_JSON_BYTES",
    "Assertion",
    "AuthData",
    "ClientData",
    "Refused",
    "Registration",
    "b64url_decode",
    "b64url_encode",
    "parse_assertion",
    "parse_auth_data",
    "parse_client_data",
    "parse_registration",
]

MAX_JSON_BYTES = 64 * 1024
"""A credential larger than this is refused unread (attestation chains are a few KiB)."""
MAX_CREDENTIAL_ID_BYTES = 1023
"""WebAuthn Level 3, 5.1.3 step 23: longer credential ids are refused."""
KNOWN_TRANSPORTS = frozenset({"usb", "nfc", "ble", "smart-card", "hybrid", "internal", "cable"})

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class Refused(Exception):
    """Internal: stop checking and answer `reason`."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _malformed() -> Refused:
    return Refused(Reason.MALFORMED_CREDENTIAL)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: object, *, allow_empty: bool = False) -> bytes:
    """Unpadded base64url text (as `toJSON()` writes it) as bytes, else Refused."""
    if not isinstance(value, str) or len(value) > 2 * MAX_JSON_BYTES:
        raise _malformed()
    if len(value) % 4 == 1 or not _B64URL.fullmatch(value) or (not value and not allow_empty):
        raise _malformed()
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by the pattern above
        raise _malformed() from None


def _object(value: object) -> Mapping[str, Any]:
    """The credential as a JSON object: from text, bytes or an already parsed dict."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) > MAX_JSON_BYTES:
            raise _malformed()
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed() from None
    if isinstance(value, str):
        if len(value) > MAX_JSON_BYTES:
            raise _malformed()
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise _malformed() from None
    if not isinstance(value, Mapping):
        raise _malformed()
    return value


def _credential_common(data: Mapping[str, Any]) -> tuple[bytes, Mapping[str, Any]]:
    """The raw credential id and the `response` object, after the type check."""
    if data.get("type") != "public-key":
        if isinstance(data.get("type"), str):
            raise Refused(Reason.WRONG_TYPE)
        raise _malformed()
    raw_id = b64url_decode(data.get("rawId"))
    if b64url_decode(data.get("id")) != raw_id or len(raw_id) > MAX_CREDENTIAL_ID_BYTES:
        raise _malformed()
    response = data.get("response")
    if not isinstance(response, Mapping):
        raise _malformed()
    return raw_id, response


@dataclass(frozen=True, slots=True)
class Registration:
    credential_id: bytes
    client_data_json: bytes
    attestation_object: bytes
    transports: tuple[str, ...]
    resident_key: bool | None
    """`clientExtensionResults.credProps.rk`, when the browser reported it."""


@dataclass(frozen=True, slots=True)
class Assertion:
    credential_id: bytes
    client_data_json: bytes
    authenticator_data: bytes
    signature: bytes
    user_handle: bytes | None


def parse_registration(value: object) -> Registration:
    data = _object(value)
    credential_id, response = _credential_common(data)
    transports: tuple[str, ...] = ()
    listed = response.get("transports")
    if listed is not None:
        if not isinstance(listed, list) or len(listed) > 16:
            raise _malformed()
        # Unknown transports are skipped, as the specification asks of relying parties.
        transports = tuple(
            dict.fromkeys(t for t in listed if isinstance(t, str) and t in KNOWN_TRANSPORTS)
        )
    resident_key: bool | None = None
    extensions = data.get("clientExtensionResults")
    if isinstance(extensions, Mapping):
        props = extensions.get("credProps")
        if isinstance(props, Mapping) and isinstance(props.get("rk"), bool):
            resident_key = props["rk"]
    return Registration(
        credential_id=credential_id,
        client_data_json=b64url_decode(response.get("clientDataJSON")),
        attestation_object=b64url_decode(response.get("attestationObject")),
        transports=transports,
        resident_key=resident_key,
    )


def parse_assertion(value: object) -> Assertion:
    data = _object(value)
    credential_id, response = _credential_common(data)
    handle = response.get("userHandle")
    # A browser writes a missing user handle as null (some as an empty string).
    user_handle = None if handle is None else b64url_decode(handle, allow_empty=True) or None
    return Assertion(
        credential_id=credential_id,
        client_data_json=b64url_decode(response.get("clientDataJSON")),
        authenticator_data=b64url_decode(response.get("authenticatorData")),
        signature=b64url_decode(response.get("signature")),
        user_handle=user_handle,
    )


@dataclass(frozen=True, slots=True)
class ClientData:
    type: str
    challenge: bytes
    origin: str
    cross_origin: bool


def parse_client_data(raw: bytes) -> ClientData:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _malformed() from None
    if not isinstance(data, dict):
        raise _malformed()
    kind, origin, cross = data.get("type"), data.get("origin"), data.get("crossOrigin", False)
    if not isinstance(kind, str) or not isinstance(origin, str) or not isinstance(cross, bool):
        raise _malformed()
    return ClientData(
        type=kind, challenge=b64url_decode(data.get("challenge")), origin=origin, cross_origin=cross
    )


@dataclass(frozen=True, slots=True)
class AuthData:
    rp_id_hash: bytes
    user_present: bool
    user_verified: bool
    backup_eligible: bool
    backed_up: bool
    attested: bool
    sign_count: int


def parse_auth_data(raw: bytes) -> AuthData:
    """The fixed head of authenticatorData: rpIdHash, flags, signCount (37 bytes)."""
    if len(raw) < 37:
        raise _malformed()
    flags = raw[32]
    backup_eligible, backed_up = bool(flags & 0x08), bool(flags & 0x10)
    if backed_up and not backup_eligible:  # Level 3, 6.1: BS without BE is invalid
        raise _malformed()
    return AuthData(
        rp_id_hash=raw[:32],
        user_present=bool(flags & 0x01),
        user_verified=bool(flags & 0x04),
        backup_eligible=backup_eligible,
        backed_up=backed_up,
        attested=bool(flags & 0x40),
        sign_count=int.from_bytes(raw[33:37], "big"),
    )
