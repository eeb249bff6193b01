"""Keys: one application secret (or several, for rotation) and what mfakit
derives from it (P4, S28).

A :class:`Keyring` holds one or more secrets. The first is *primary*: new data
is encrypted, signed and keyed with it. The others are only used to read what
older keys produced, so a rotation is: put the new secret first, keep the old
one after it until nothing needs it. Each secret's *key id* is a fingerprint
derived from the secret itself, so it stays the same whichever position the
secret takes in a later keyring.

Per-purpose subkeys are derived with HKDF-SHA256, so encrypting TOTP secrets,
keying code hashes and signing trust tokens never share a key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError, InvalidInput

__all__ = ["MIN_SECRET_BYTES", "Keyring", "Sealed", "SecretKey"]

MIN_SECRET_BYTES = 32
"""A secret key must carry at least 256 bits (32 bytes, or 32 characters)."""

NONCE_BYTES = 12
TAG_BYTES = 16

SecretKey = str | bytes
"""An application secret as given by the host: text (UTF-8 encoded) or bytes."""


def _as_bytes(secret: object) -> bytes:
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
    elif isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
    else:
        raise ConfigurationError("secret_key must be str or bytes")
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"secret_key must be at least {MIN_SECRET_BYTES} bytes long")
    return raw


def _hkdf(secret: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


class Sealed:
    """Ciphertext with the id of the key that sealed it."""

    __slots__ = ("blob", "key_id")

    def __init__(self, key_id: str, blob: bytes) -> None:
        self.key_id = key_id
        self.blob = blob

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, blob=<{len(self.blob)} bytes>)"


class Keyring:
    """The application's secrets, primary first.

    ``Keyring("a long random secret ...")`` or, during a rotation,
    ``Keyring(new_secret, old_secret)``. Secrets must be at least 32 bytes.
    The repr shows only key ids.
    """

    __slots__ = ("_aead", "_cache", "_secrets", "primary_id")

    def __init__(self, *secrets: SecretKey) -> None:
        if not secrets:
            raise ConfigurationError("a Keyring needs at least one secret")
        self._secrets: dict[str, bytes] = {}
        for secret in secrets:
            raw = _as_bytes(secret)
            key_id = _hkdf(raw, b"mfakit/v1/key-id", 8).hex()
            if key_id in self._secrets:
                raise ConfigurationError("the same secret appears twice in the keyring")
            self._secrets[key_id] = raw
        self.primary_id = next(iter(self._secrets))
        self._cache: dict[tuple[str, str], bytes] = {}
        self._aead: dict[tuple[str, str], AESGCM] = {}

    @classmethod
    def coerce(cls, value: Keyring | SecretKey | Iterable[SecretKey]) -> Keyring:
        """Accept a Keyring, one secret, or a sequence of secrets (primary first)."""
        if isinstance(value, Keyring):
            return value
        if isinstance(value, (str, bytes, bytearray)):
            return cls(value)
        if isinstance(value, Iterable):
            return cls(*value)
        raise ConfigurationError("secret_key must be a str, bytes, a list of them or a Keyring")

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary_id!r}, keys={len(self._secrets)})"

    def subkey(self, purpose: str, key_id: str | None = None) -> bytes:
        """The 256-bit key for ``purpose`` derived from ``key_id`` (default: primary)."""
        kid = self.primary_id if key_id is None else key_id
        cached = self._cache.get((purpose, kid))
        if cached is not None:
            return cached
        secret = self._secrets.get(kid)
        if secret is None:
            raise ConfigurationError(f"no key with id {kid!r} in the keyring (was it rotated out?)")
        key = _hkdf(secret, b"mfakit/v1/" + purpose.encode("ascii"))
        self._cache[(purpose, kid)] = key
        return key

    def _cipher(self, purpose: str, key_id: str) -> AESGCM:
        cipher = self._aead.get((purpose, key_id))
        if cipher is None:
            cipher = self._aead[(purpose, key_id)] = AESGCM(self.subkey(purpose, key_id))
        return cipher

    # --- authenticated encryption (S28) -------------------------------
    def seal(self, purpose: str, plaintext: bytes, *, aad: bytes, nonce: bytes) -> Sealed:
        """Encrypt with AES-256-GCM under the primary key's ``purpose`` subkey.

        ``aad`` binds the ciphertext to its row (user and factor ids), so a value
        copied to another row fails to open. ``nonce`` is 12 fresh random bytes.
        """
        if len(nonce) != NONCE_BYTES:
            raise InvalidInput("nonce", f"must be {NONCE_BYTES} bytes")
        cipher = self._cipher(purpose, self.primary_id)
        return Sealed(self.primary_id, nonce + cipher.encrypt(nonce, plaintext, aad))

    def open(self, purpose: str, sealed: Sealed, *, aad: bytes) -> bytes:
        """Decrypt what :meth:`seal` produced, with whichever key sealed it."""
        cipher = self._cipher(purpose, sealed.key_id)
        blob = sealed.blob
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise ConfigurationError("a stored secret is truncated")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise ConfigurationError(
                "a stored secret failed to decrypt: wrong key or altered data"
            ) from None

    # --- keyed hashes (S10) ---------------------------------------------
    def mac(self, purpose: str, message: bytes, key_id: str | None = None) -> bytes:
        """HMAC-SHA256 of ``message`` under the ``purpose`` subkey."""
        return hmac.digest(self.subkey(purpose, key_id), message, sha256)
