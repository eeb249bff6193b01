"""Keys: one application secret (or several, for rotation) and what mfakit
derives from it (P4, S28).

A [`Keyring`][mfakit.Keyring] holds one or more secrets. The first is *primary*: new data
is encrypted, signed and keyed with it. The others are only used to read what
older keys produced, so a rotation is: put the new secret first, keep the old
one after it until nothing needs it.

Every stored value names the *key id* of the secret that made it. A key made
by `mfakit.generate_secret_key` is a string `mfk1_<id>_<base64url secret>`:
its id is random, chosen when the key was generated, so a stored id says
nothing about the secret (0.2 attack review: an id derived from the secret let
a guessed passphrase be tested offline against a database dump). Any other
secret (the 0.1.0 form) keeps the id 0.1.0 derived from it with HKDF, so what
it sealed stays readable; re-sealing under an `mfk1_` key removes those ids.

Secrets must look random: 32 random bytes, or text that is hex or base64 of at
least 32 random bytes. Passphrase-like text is refused as the primary key; it is
accepted after a primary, only to read what 0.1.0 sealed with it.

Per-purpose subkeys are derived with HKDF-SHA256, so encrypting TOTP secrets,
keying code hashes and signing trust tokens never share a key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Iterable
from hashlib import sha256
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError, InvalidInput

T = TypeVar("T")

__all__ = [
    "KEYED_ANSWER_PREFIX",
    "KEY_ID_LENGTH",
    "KEY_PREFIX",
    "MIN_SECRET_BYTES",
    "Keyring",
    "Sealed",
    "SecretKey",
]

MIN_SECRET_BYTES = 32
"""A secret key must carry at least 256 bits (32 bytes, or 32 characters)."""

NONCE_BYTES = 12
TAG_BYTES = 16

SecretKey = str | bytes
"""An application secret as given by the host: text (UTF-8 encoded) or bytes."""


KEY_PREFIX = "mfk1_"
"""How a key made by `mfakit.generate_secret_key` starts."""

_KEY_ID_BYTES = 8
KEY_ID_LENGTH = 2 * _KEY_ID_BYTES
"""Every key id is 16 hex characters (an `mfk1_` key's own, or the one
derived from a 0.1.0 secret), so a store can cut it out of a stored value."""
_MFK1 = re.compile(r"mfk1_([0-9a-f]{16})_([A-Za-z0-9_-]{43,})")
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# 32 random bytes hold about 30 distinct values; fewer than 16 means a pattern.
_MIN_DISTINCT = 16
_WEAK = (
    "secret_key looks like a passphrase, not a random key: use mfakit.generate_secret_key(),"
    " or 32 random bytes (raw, hex or base64). A 0.1.0 key may stay in the keyring after a"
    " new primary key, to read what it sealed"
)


KEYED_ANSWER_PREFIX = "$mfk-hmac1$"
"""How a keyed security-answer hash starts: `$mfk-hmac1$<key id>$<slow hash>`."""


def answer_key_id(answer_hash: str) -> str | None:
    """The key id a stored security-answer hash names (None: a 0.1.0 unkeyed hash)."""
    if not answer_hash.startswith(KEYED_ANSWER_PREFIX):
        return None
    return answer_hash[len(KEYED_ANSWER_PREFIX) :].partition("$")[0]


def format_key(key_id: bytes, secret: bytes) -> str:
    """`mfk1_<key id, hex>_<secret, base64url>`: the form
    `mfakit.generate_secret_key` gives random values to."""
    if len(key_id) != _KEY_ID_BYTES or len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError("an mfk1_ key has an 8-byte id and a 32-byte secret")
    body = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    return f"{KEY_PREFIX}{key_id.hex()}_{body}"


def _random_enough(raw: bytes) -> bool:
    # 32 random bytes are all printable ASCII once in ~10^14: such bytes are
    # encoded text (a passphrase in hex or base64), not a random key.
    encoded_text = raw.isascii() and raw.decode("ascii").isprintable()
    return len(raw) >= MIN_SECRET_BYTES and len(set(raw)) >= _MIN_DISTINCT and not encoded_text


def _decode_b64(text: str) -> bytes | None:
    try:
        padded = text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _looks_random(text: str) -> bool:
    """Whether `text` is hex or base64 of at least 32 random-looking bytes.

    No test can measure entropy; this refuses what is evidently not random:
    spaces and punctuation, too short, repeated patterns, one letter case.
    """
    if _HEX.fullmatch(text) and len(text) % 2 == 0:
        return _random_enough(bytes.fromhex(text))
    if _BASE64.fullmatch(text):
        decoded = _decode_b64(text)
        has_both_cases = any(c.isupper() for c in text) and any(c.islower() for c in text)
        return decoded is not None and has_both_cases and _random_enough(decoded)
    return False


def _parse(secret: object) -> tuple[str | None, bytes, bool]:
    """`(explicit key id or None, secret bytes, looks random)` of one secret."""
    if isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = None
        if text is None or not text.isprintable():
            if len(raw) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"secret_key must be at least {MIN_SECRET_BYTES} bytes long"
                )
            return None, raw, _random_enough(raw)
        secret = text
    if not isinstance(secret, str):
        raise ConfigurationError("secret_key must be str or bytes")
    match = _MFK1.fullmatch(secret)
    if match is not None:
        decoded = _decode_b64(match.group(2))
        if decoded is None or not _random_enough(decoded):
            raise ConfigurationError("secret_key is a malformed mfk1_ key")
        return match.group(1), decoded, True
    if secret.startswith(KEY_PREFIX):
        raise ConfigurationError("secret_key is a malformed mfk1_ key")
    try:
        raw = secret.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError("secret_key must be valid Unicode text") from None
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"secret_key must be at least {MIN_SECRET_BYTES} bytes long")
    return None, raw, _looks_random(secret)


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

    `Keyring(mfakit.generate_secret_key())` or, during a rotation,
    `Keyring(new_secret, old_secret)`. The primary secret must look random
    (see the module docs); the repr shows only key ids.
    """

    __slots__ = ("_aead", "_cache", "_secrets", "_signers", "primary_id")

    def __init__(self, *secrets: SecretKey) -> None:
        if not secrets:
            raise ConfigurationError("a Keyring needs at least one secret")
        self._secrets: dict[str, bytes] = {}
        for position, secret in enumerate(secrets):
            explicit_id, raw, strong = _parse(secret)
            if position == 0 and not strong:
                raise ConfigurationError(_WEAK)
            # A 0.1.0 key keeps the id 0.1.0 derived from it, so what it sealed
            # stays readable; an mfk1_ key carries its own random id.
            key_id = explicit_id or _hkdf(raw, b"mfakit/v1/key-id", _KEY_ID_BYTES).hex()
            if key_id in self._secrets or raw in self._secrets.values():
                raise ConfigurationError("the same secret appears twice in the keyring")
            self._secrets[key_id] = raw
        self.primary_id = next(iter(self._secrets))
        self._cache: dict[tuple[str, str], bytes] = {}
        self._aead: dict[tuple[str, str], AESGCM] = {}
        self._signers: dict[str, Any] = {}

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

    def unused_keys(self, in_use: Iterable[str]) -> tuple[str, ...]:
        """The older keys (never the primary) that no id in `in_use` names:
        the keys a rotation has finished with, which can leave the keyring.

        `in_use` is what the store still holds, e.g.
        `(u.key_id for u in store.key_usage(now=now))`;
        [MFA.unused_keys][mfakit.MFA.unused_keys] asks the store for you."""
        used = set(in_use)
        return tuple(k for k in self._secrets if k != self.primary_id and k not in used)

    def subkey(self, purpose: str, key_id: str | None = None) -> bytes:
        """The 256-bit key for `purpose` derived from `key_id` (default: primary)."""
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

    def signer(self, purpose: str, build: Callable[[Keyring], T]) -> T:
        """`build(self)` made once per `purpose` and kept with the keyring
        (a signing object over this keyring's subkeys for `purpose`; it lives
        no longer than the keys it holds)."""
        made: T | None = self._signers.get(purpose)
        if made is None:
            made = self._signers[purpose] = build(self)
        return made

    def _cipher(self, purpose: str, key_id: str) -> AESGCM:
        cipher = self._aead.get((purpose, key_id))
        if cipher is None:
            cipher = self._aead[(purpose, key_id)] = AESGCM(self.subkey(purpose, key_id))
        return cipher

    # --- authenticated encryption (S28) -------------------------------
    def seal(self, purpose: str, plaintext: bytes, *, aad: bytes, nonce: bytes) -> Sealed:
        """Encrypt with AES-256-GCM under the primary key's `purpose` subkey.

        `aad` binds the ciphertext to its row (user and factor ids), so a value
        copied to another row fails to open. `nonce` is 12 fresh random bytes.
        """
        if len(nonce) != NONCE_BYTES:
            raise InvalidInput("nonce", f"must be {NONCE_BYTES} bytes")
        cipher = self._cipher(purpose, self.primary_id)
        return Sealed(self.primary_id, nonce + cipher.encrypt(nonce, plaintext, aad))

    def open(self, purpose: str, sealed: Sealed, *, aad: bytes) -> bytes:
        """Decrypt what [`seal`][mfakit.Keyring.seal] produced, with whichever key sealed it."""
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
        """HMAC-SHA256 of `message` under the `purpose` subkey."""
        return hmac.digest(self.subkey(purpose, key_id), message, sha256)
