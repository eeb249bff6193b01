"""Finding 5.2 of the 0.1.0 attack review: weak application secrets.

``secret_key`` was checked for length only, and every sealed value stores the
key id, which 0.1.0 derived from the secret with HKDF: a database dump let an
attacker test guessed passphrases offline (~290k guesses/s) without touching
any ciphertext. Now passphrase-like keys are refused, ``generate_secret_key()``
makes a proper one, and its key id is random, so the dump holds no oracle.
0.1.0 records (HKDF ids) stay readable.
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import mfakit
from mfakit import MFA, Actor, ConfigurationError, Keyring
from mfakit.adapters import MemoryStore
from mfakit.core.keys import Sealed
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

PASSPHRASES = [
    "test-secret-key-that-is-long-enough-0123456789",  # the 0.1.0 test suite's key
    "my company passphrase, long enough 2024!",
    "correct horse battery staple is my secret key",
    "x" * 32,
    "0123456789abcdef" * 4,  # hex, but a pattern
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo",  # base64 of the alphabet: too short
    "a" * 64,
    "é" * 16,
    b"\x00" * 64,
    b"\x01" * 32,
    b"this passphrase is long enough 32",
    # A passphrase in hex or base64 is still a passphrase.
    b"my company passphrase, long enough 2024!".hex(),
    base64.b64encode(b"my company passphrase, long enough 2024!").decode(),
]


def hkdf_key_id(secret: bytes) -> str:
    """What 0.1.0 stored as the key id: the attacker's offline test of a guess."""
    return HKDF(hashes.SHA256(), 8, None, b"mfakit/v1/key-id").derive(secret).hex()


@pytest.mark.parametrize("secret", PASSPHRASES, ids=range(len(PASSPHRASES)))
def test_passphrase_like_keys_are_refused(secret: str | bytes) -> None:
    with pytest.raises(ConfigurationError) as info:
        Keyring(secret)
    assert "generate_secret_key" in str(info.value) or "at least 32" in str(info.value)
    text = secret if isinstance(secret, str) else secret.decode("latin-1")
    assert text not in str(info.value)
    with pytest.raises(ConfigurationError):
        MFA(store=MemoryStore(), secret_key=secret, issuer="Acme")


def test_random_keys_are_accepted() -> None:
    import os
    import secrets

    for key in (
        mfakit.generate_secret_key(),
        secrets.token_hex(32),
        secrets.token_urlsafe(32),
        base64.b64encode(os.urandom(32)).decode(),
        os.urandom(32),
    ):
        assert len(Keyring(key).key_ids) == 1
    assert mfakit.generate_secret_key() != mfakit.generate_secret_key()
    assert re.fullmatch(r"mfk1_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", mfakit.generate_secret_key())
    # Keyring.coerce still takes str, bytes and a list.
    key = mfakit.generate_secret_key()
    assert Keyring.coerce(key).key_ids == Keyring(key).key_ids
    assert Keyring.coerce(key.encode()).key_ids == Keyring(key).key_ids
    assert len(Keyring.coerce([key, secrets.token_hex(32)]).key_ids) == 2


def test_the_stored_key_id_is_no_oracle() -> None:
    """The key id in a dump is the random id of the key, unrelated to the secret."""
    key = mfakit.generate_secret_key()
    _, kid, body = key.split("_", 2)
    clock, store = FakeClock(), MemoryStore()
    mfa = MFA(store=store, secret_key=key, issuer="Acme", clock=clock, hasher=fast_hasher())
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok
    (record,) = store.list_totp("alice")
    assert record.secret_key_id == kid
    # Even the right guess does not reproduce the stored id.
    secret = base64.urlsafe_b64decode(body + "=")
    for guess in (secret, key.encode(), body.encode()):
        assert hkdf_key_id(guess) != record.secret_key_id


# A value 0.1.0 sealed under a passphrase key (made with 0.1.0's Keyring).
LEGACY_SECRET = "my company passphrase, long enough 2024!"
LEGACY_ID = "9cf395ccf2d20aea"
LEGACY_BLOB = bytes.fromhex(
    "000102030405060708090a0b8c67d831ff9e6a5db19ee06030ba3c3b0573e53d027d2720714fe107"
    "2768e6628544933f"
)
LEGACY_MAC = "aa959991bea8c54cd35af71d4015ca255cb5bfe4cc66c3086a3aefcf51c6b1e0"


def test_legacy_records_stay_readable_behind_a_new_primary() -> None:
    ring = Keyring(mfakit.generate_secret_key(), LEGACY_SECRET)
    assert ring.key_ids[1] == LEGACY_ID == hkdf_key_id(LEGACY_SECRET.encode())
    sealed = Sealed(LEGACY_ID, LEGACY_BLOB)
    assert ring.open("totp-secret", sealed, aad=b"alice\x00f1") == b"12345678901234567890"
    assert ring.mac("code", b"123456", LEGACY_ID).hex() == LEGACY_MAC
    # New values are sealed under the new, random-id key.
    fresh = ring.seal("totp-secret", b"x", aad=b"a", nonce=bytes(12))
    assert fresh.key_id == ring.primary_id != LEGACY_ID
