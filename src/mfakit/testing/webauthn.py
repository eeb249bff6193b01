"""A software WebAuthn authenticator, with the browser around it, for tests.

[`SoftwareAuthenticator`][mfakit.testing.webauthn.SoftwareAuthenticator] answers the options JSON a
relying party gives `navigator.credentials.create` and `get` with the JSON a browser's
`PublicKeyCredential.toJSON()` posts back, so a test can drive a passkey flow
without a browser:

```python
authenticator = SoftwareAuthenticator()
credential = authenticator.create(options_json, origin="https://example.com")
assertion = authenticator.get(request_options_json, origin="https://example.com")
```

It makes ES256 (P-256) or EdDSA (Ed25519) keys with `cryptography`, gives
"none" or "packed" self attestation, keeps discoverable (resident) credentials,
verifies its user or not, and counts signatures (or keeps 0, as synced passkeys
do). Every knob that makes a browser or an authenticator misbehave is here so
the relying party's refusals can be tested: another origin, RP id or client data
type, `crossOrigin`, a wrong challenge, no user presence, a counter forced
backwards (a clone).

It is written from the WebAuthn specification, independently of py_webauthn
(its few CBOR values are encoded by hand), so it checks mfakit rather than
mirroring it. It is for tests only: its keys live in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = ["AuthenticatorRefused", "SoftwareAuthenticator", "StoredCredential"]

Algorithm = Literal["ES256", "EdDSA"]
_COSE_ALG = {"ES256": -7, "EdDSA": -8}

_UP, _UV, _BE, _BS, _AT = 0x01, 0x04, 0x08, 0x10, 0x40


class AuthenticatorRefused(Exception):
    """What a browser would reject with: `name` is the DOMException's name
    (`"InvalidStateError"` for an excluded credential, `"NotAllowedError"`
    when no credential fits)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | extra]) + n.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def cbor(value: object) -> bytes:
    """RFC 8949 encoding of the few types WebAuthn needs (ints, bytes, text, lists, maps)."""
    if value is True or value is False:
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _cbor_head(0, value) if value >= 0 else _cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return _cbor_head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _cbor_head(3, len(data)) + data
    if isinstance(value, list):
        return _cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        body = b"".join(cbor(k) + cbor(v) for k, v in value.items())
        return _cbor_head(5, len(value)) + body
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


@dataclass(slots=True)
class StoredCredential:
    """A credential the authenticator holds (the private key stays here)."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    algorithm: Algorithm
    private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = field(repr=False)
    resident: bool
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            x = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return cbor({1: 1, 3: -8, -1: 6, -2: x})
        numbers = self.private_key.public_key().public_numbers()
        return cbor(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(data)
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def _options(options_json: str | Mapping[str, Any]) -> Mapping[str, Any]:
    value = json.loads(options_json) if isinstance(options_json, str) else options_json
    if not isinstance(value, Mapping):
        raise TypeError("options must be a JSON object")
    return value


class SoftwareAuthenticator:
    """A platform authenticator and its browser, in memory.

    `algorithm`: `"ES256"` or `"EdDSA"`. `attestation`: `"none"` or
    `"packed"` (self attestation, signed with the credential's own key).
    `resident_keys`: whether it can store discoverable credentials.
    `user_verification`: whether it verifies its user (a PIN or fingerprint
    it always accepts). `counter`: `"increment"` or `"zero"` (synced
    passkeys keep 0). `backup_eligible`/`backed_up` set the BE and BS flags.
    """

    def __init__(
        self,
        *,
        algorithm: Algorithm = "ES256",
        attestation: Literal["none", "packed"] = "none",
        resident_keys: bool = True,
        user_verification: bool = True,
        counter: Literal["increment", "zero"] = "increment",
        backup_eligible: bool = False,
        backed_up: bool = False,
        aaguid: bytes = bytes(16),
    ) -> None:
        if algorithm not in _COSE_ALG:
            raise ValueError("algorithm must be ES256 or EdDSA")
        if attestation not in ("none", "packed") or counter not in ("increment", "zero"):
            raise ValueError("attestation must be none or packed; counter increment or zero")
        if len(aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        self.algorithm: Algorithm = algorithm
        self.attestation = attestation
        self.resident_keys = resident_keys
        self.user_verification = user_verification
        self.counter = counter
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.aaguid = aaguid
        self.credentials: dict[bytes, StoredCredential] = {}

    def __repr__(self) -> str:
        return (
            f"SoftwareAuthenticator({self.algorithm}, {self.attestation}, "
            f"credentials={len(self.credentials)})"
        )

    # --- knobs between ceremonies -------------------------------------------------

    def set_sign_count(self, credential_id: bytes, value: int) -> None:
        """Force a credential's counter (lower it to play a cloned authenticator)."""
        self.credentials[credential_id].sign_count = value

    # --- the two ceremonies ---------------------------------------------------------

    def create(
        self,
        options_json: str | Mapping[str, Any],
        *,
        origin: str,
        rp_id: str | None = None,
        client_data_type: str = "webauthn.create",
        cross_origin: bool = False,
        challenge: bytes | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        credential_type: str = "public-key",
        report_cred_props: bool = True,
    ) -> dict[str, Any]:
        """`navigator.credentials.create({publicKey})` then `credential.toJSON()`.

        `rp_id` signs for another RP id than the options name (to test a
        refusal); `client_data_type`, `cross_origin`, `challenge` and
        `credential_type` forge what the browser would write; `user_verified`
        overrides whether the user is reported verified.
        """
        options = _options(options_json)
        rp = options.get("rp", {})
        real_rp_id = rp.get("id") or urlsplit(origin).hostname or ""
        for excluded in options.get("excludeCredentials", []):
            held = self.credentials.get(_unb64(excluded["id"]))
            if held is not None and held.rp_id == real_rp_id:
                raise AuthenticatorRefused("InvalidStateError", "credential already registered")
        wanted = [p.get("alg") for p in options.get("pubKeyCredParams", [])]
        if wanted and _COSE_ALG[self.algorithm] not in wanted:
            raise AuthenticatorRefused("NotSupportedError", "no supported algorithm offered")
        selection = options.get("authenticatorSelection", {})
        resident_wish = selection.get("residentKey", "discouraged")
        if resident_wish == "required" and not self.resident_keys:
            raise AuthenticatorRefused("NotAllowedError", "cannot store a resident key")
        uv_wish = selection.get("userVerification", "preferred")
        if uv_wish == "required" and not self.user_verification:
            raise AuthenticatorRefused("NotAllowedError", "cannot verify the user")
        resident = self.resident_keys and resident_wish in ("required", "preferred")

        key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        if self.algorithm == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        stored = StoredCredential(
            credential_id=secrets.token_bytes(32),
            rp_id=real_rp_id,
            user_handle=_unb64(options["user"]["id"]),
            algorithm=self.algorithm,
            private_key=key,
            resident=resident,
        )
        if resident:  # one resident credential per RP and user handle: the new one wins
            for cid in [
                c.credential_id
                for c in self.credentials.values()
                if c.resident and c.rp_id == real_rp_id and c.user_handle == stored.user_handle
            ]:
                del self.credentials[cid]
        self.credentials[stored.credential_id] = stored
        self._count(stored)

        client_data = self._client_data(
            client_data_type, challenge or _unb64(options["challenge"]), origin, cross_origin
        )
        uv = self._uv(uv_wish, user_verified)
        attested = (
            self.aaguid
            + struct.pack(">H", len(stored.credential_id))
            + stored.credential_id
            + stored.cose_public_key()
        )
        auth_data = self._auth_data(rp_id or real_rp_id, stored, user_present, uv, _AT) + attested
        statement: dict[str, Any] = {}
        fmt = self.attestation
        if fmt == "packed":
            signature = stored.sign(auth_data + hashlib.sha256(client_data).digest())
            statement = {"alg": _COSE_ALG[self.algorithm], "sig": signature}
        attestation_object = cbor({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        extensions: dict[str, Any] = {}
        if report_cred_props and options.get("extensions", {}).get("credProps"):
            extensions["credProps"] = {"rk": resident}
        return {
            "id": _b64(stored.credential_id),
            "rawId": _b64(stored.credential_id),
            "type": credential_type,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": extensions,
            "response": {
                "clientDataJSON": _b64(client_data),
                "attestationObject": _b64(attestation_object),
                "transports": ["internal", "hybrid"],
                "publicKeyAlgorithm": _COSE_ALG[self.algorithm],
                "authenticatorData": _b64(auth_data),
            },
        }

    def get(
        self,
        options_json: str | Mapping[str, Any],
        *,
        origin: str,
        credential_id: bytes | None = None,
        rp_id: str | None = None,
        client_data_type: str = "webauthn.get",
        cross_origin: bool = False,
        challenge: bytes | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        credential_type: str = "public-key",
        user_handle: bytes | None = None,
        send_user_handle: bool = True,
    ) -> dict[str, Any]:
        """`navigator.credentials.get({publicKey})` then `credential.toJSON()`.

        With `allowCredentials` the first listed credential held is used; with
        none (passwordless), a discoverable credential for the RP, or the one
        named by `credential_id` (which also overrides the list, to present a
        credential the relying party did not ask for). `user_handle` forges
        the returned user handle; `send_user_handle=False` leaves it out.
        """
        options = _options(options_json)
        real_rp_id = options.get("rpId") or urlsplit(origin).hostname or ""
        stored = self._choose(options, real_rp_id, credential_id)
        self._count(stored)
        client_data = self._client_data(
            client_data_type, challenge or _unb64(options["challenge"]), origin, cross_origin
        )
        uv = self._uv(options.get("userVerification", "preferred"), user_verified)
        auth_data = self._auth_data(rp_id or real_rp_id, stored, user_present, uv, 0)
        signature = stored.sign(auth_data + hashlib.sha256(client_data).digest())
        handle = user_handle if user_handle is not None else stored.user_handle
        return {
            "id": _b64(stored.credential_id),
            "rawId": _b64(stored.credential_id),
            "type": credential_type,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": _b64(client_data),
                "authenticatorData": _b64(auth_data),
                "signature": _b64(signature),
                "userHandle": _b64(handle) if send_user_handle else None,
            },
        }

    # --- the parts ------------------------------------------------------------------

    def _choose(
        self, options: Mapping[str, Any], rp_id: str, credential_id: bytes | None
    ) -> StoredCredential:
        if credential_id is not None:
            if credential_id not in self.credentials:
                raise AuthenticatorRefused("NotAllowedError", "no such credential")
            return self.credentials[credential_id]
        allowed = [_unb64(c["id"]) for c in options.get("allowCredentials", [])]
        if allowed:
            for cid in allowed:
                held = self.credentials.get(cid)
                if held is not None and held.rp_id == rp_id:
                    return held
        else:
            for held in self.credentials.values():
                if held.resident and held.rp_id == rp_id:
                    return held
        raise AuthenticatorRefused("NotAllowedError", "no credential for this request")

    def _count(self, stored: StoredCredential) -> None:
        if self.counter == "increment":
            stored.sign_count += 1

    def _uv(self, wish: str, forced: bool | None) -> bool:
        if forced is not None:
            return forced
        return self.user_verification and wish in ("required", "preferred")

    def _auth_data(
        self, rp_id: str, stored: StoredCredential, up: bool, uv: bool, extra: int
    ) -> bytes:
        flags = extra | (_UP if up else 0) | (_UV if uv else 0)
        flags |= (_BE if self.backup_eligible else 0) | (_BS if self.backed_up else 0)
        return (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", stored.sign_count)
        )

    @staticmethod
    def _client_data(kind: str, challenge: bytes, origin: str, cross_origin: bool) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": _b64(challenge),
                "origin": origin,
                "crossOrigin": cross_origin,
            },
            separators=(",", ":"),
        ).encode()
