"""The keyring: key ids, rotation, AES-GCM sealing and per-purpose subkeys (P4, S28)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfakit.core.keys import Keyring, Sealed
from mfakit.errors import ConfigurationError, InvalidInput

OLD = "b52deb8f6b9add49e83dff97fcb5494340877e9cbb8c2b2436f0723043c6dfed"
NEW = "qD0EL2Qscs9k7PanZU83Q33yO93UotlPawL6CXzL6aI"
THIRD = bytes(range(7, 39))  # 32 distinct bytes: random-looking
NONCE = bytes(range(12))
AAD = b"user-1/factor-1"
PLAINTEXT = b"totp-secret-bytes-20"


# --- construction ----------------------------------------------------------------


@pytest.mark.parametrize(
    "secrets",
    [
        pytest.param((), id="none"),
        pytest.param(("",), id="empty str"),
        pytest.param((b"",), id="empty bytes"),
        pytest.param(("x" * 31,), id="31 chars"),
        pytest.param((b"x" * 31,), id="31 bytes"),
        pytest.param(("é" * 15,), id="30 utf-8 bytes"),
        pytest.param((NEW, "short"), id="short second"),
        pytest.param((None,), id="None"),
        pytest.param((12345678901234567890123456789012345,), id="int"),
        pytest.param(([NEW],), id="list inside"),
        pytest.param((NEW, NEW), id="duplicate"),
        pytest.param((NEW, NEW.encode()), id="duplicate str and bytes"),
        pytest.param((NEW, OLD, NEW), id="duplicate later"),
    ],
)
def test_keyring_refuses(secrets: tuple[object, ...]) -> None:
    with pytest.raises(ConfigurationError):
        Keyring(*secrets)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secret",
    [OLD, NEW, OLD.encode(), bytearray(THIRD), THIRD * 2, "mfk1_0123456789abcdef_" + NEW],
)
def test_keyring_accepts_32_bytes(secret: str | bytes) -> None:
    ring = Keyring(secret)
    assert len(ring.key_ids) == 1
    assert ring.primary_id == ring.key_ids[0]


def test_error_does_not_contain_the_secret() -> None:
    short = "s3cr3t-but-too-short"
    with pytest.raises(ConfigurationError) as info:
        Keyring(short)
    assert short not in str(info.value)


def test_key_ids_are_stable_across_keyrings() -> None:
    alone = Keyring(OLD)
    rotated = Keyring(NEW, OLD)
    three = Keyring(THIRD, NEW, OLD)
    assert rotated.key_ids[1] == alone.primary_id
    assert three.key_ids == (Keyring(THIRD).primary_id, Keyring(NEW).primary_id, alone.primary_id)
    assert rotated.primary_id == Keyring(NEW).primary_id
    # The text and its UTF-8 bytes are the same secret.
    assert Keyring(OLD.encode()).primary_id == alone.primary_id


def test_key_ids_differ_between_secrets_and_reveal_nothing() -> None:
    ids = {Keyring(s).primary_id for s in (OLD, NEW, THIRD, OLD + "00", NEW + "A")}
    assert len(ids) == 5
    for kid in ids:
        assert isinstance(kid, str)
        assert kid not in OLD + NEW
        assert kid not in THIRD.hex()


def test_coerce() -> None:
    ring = Keyring(NEW, OLD)
    assert Keyring.coerce(ring) is ring
    assert Keyring.coerce(NEW).key_ids == Keyring(NEW).key_ids
    assert Keyring.coerce([NEW, OLD]).key_ids == ring.key_ids
    assert Keyring.coerce((NEW, OLD)).key_ids == ring.key_ids
    with pytest.raises(ConfigurationError):
        Keyring.coerce(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Keyring.coerce([])


# --- seal / open -------------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    assert sealed.key_id == ring.primary_id
    assert PLAINTEXT not in sealed.blob
    assert sealed.blob.startswith(NONCE)
    assert ring.open("totp", sealed, aad=AAD) == PLAINTEXT
    # Another keyring object made from the same secret opens it too.
    assert Keyring(NEW).open("totp", Sealed(sealed.key_id, sealed.blob), aad=AAD) == PLAINTEXT


@settings(max_examples=50)
@given(
    plaintext=st.binary(max_size=200),
    aad=st.binary(max_size=64),
    nonce=st.binary(min_size=12, max_size=12),
)
def test_seal_open_round_trip_property(plaintext: bytes, aad: bytes, nonce: bytes) -> None:
    ring = Keyring(NEW)
    assert ring.open("p", ring.seal("p", plaintext, aad=aad, nonce=nonce), aad=aad) == plaintext


def test_open_with_wrong_aad_fails() -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    for aad in (b"user-1/factor-2", b"user-2/factor-1", b"", AAD + b"\x00"):
        with pytest.raises(ConfigurationError) as info:
            ring.open("totp", sealed, aad=aad)
        assert PLAINTEXT.decode() not in str(info.value)


def test_open_under_another_purpose_fails() -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    with pytest.raises(ConfigurationError):
        ring.open("codes", sealed, aad=AAD)


def test_rotation_reads_old_blobs_and_writes_new_ones() -> None:
    old_ring = Keyring(OLD)
    sealed_old = old_ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)

    rotated = Keyring(NEW, OLD)
    assert rotated.open("totp", sealed_old, aad=AAD) == PLAINTEXT
    sealed_new = rotated.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    assert sealed_new.key_id == Keyring(NEW).primary_id != sealed_old.key_id
    assert sealed_new.blob != sealed_old.blob

    after = Keyring(NEW)
    assert after.open("totp", sealed_new, aad=AAD) == PLAINTEXT
    with pytest.raises(ConfigurationError):
        after.open("totp", sealed_old, aad=AAD)


def test_blob_relabelled_with_another_key_id_fails() -> None:
    ring = Keyring(NEW, OLD)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    relabelled = Sealed(ring.key_ids[1], sealed.blob)
    with pytest.raises(ConfigurationError):
        ring.open("totp", relabelled, aad=AAD)


def test_flipping_any_byte_of_the_blob_fails() -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    for i in range(len(sealed.blob)):
        for mask in (0x01, 0x80, 0xFF):
            blob = bytearray(sealed.blob)
            blob[i] ^= mask
            with pytest.raises(ConfigurationError):
                ring.open("totp", Sealed(sealed.key_id, bytes(blob)), aad=AAD)


@pytest.mark.parametrize("keep", [12, 20, 27])
def test_truncated_blob_fails(keep: int) -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    with pytest.raises(ConfigurationError):
        ring.open("totp", Sealed(sealed.key_id, sealed.blob[:keep]), aad=AAD)
    with pytest.raises(ConfigurationError):
        ring.open("totp", Sealed(sealed.key_id, sealed.blob + b"\x00"), aad=AAD)


@pytest.mark.parametrize("keep", [0, 7])
def test_blob_shorter_than_a_nonce_fails_like_any_altered_blob(keep: int) -> None:
    ring = Keyring(NEW)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    with pytest.raises(ConfigurationError):
        ring.open("totp", Sealed(sealed.key_id, sealed.blob[:keep]), aad=AAD)


@pytest.mark.parametrize("nonce", [b"", bytes(11), bytes(13), bytes(16)])
def test_seal_refuses_a_nonce_of_the_wrong_size(nonce: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        Keyring(NEW).seal("totp", PLAINTEXT, aad=AAD, nonce=nonce)
    assert info.value.field == "nonce"


def test_different_nonces_give_different_blobs() -> None:
    ring = Keyring(NEW)
    a = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=bytes(12))
    b = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=b"\x01" + bytes(11))
    assert a.blob[12:] != b.blob[12:]


# --- subkeys and MACs ---------------------------------------------------------------


def test_subkeys_differ_per_purpose_and_secret() -> None:
    ring = Keyring(NEW, OLD)
    purposes = ["totp-secrets", "code-hashes", "trust-tokens", "a", "b"]
    keys = {ring.subkey(p) for p in purposes}
    assert len(keys) == len(purposes)
    assert all(len(k) == 32 for k in keys)
    assert ring.subkey("totp-secrets") != ring.subkey("totp-secrets", ring.key_ids[1])
    assert ring.subkey("totp-secrets", ring.key_ids[1]) == Keyring(OLD).subkey("totp-secrets")
    # Derived, not the secret itself.
    assert NEW.encode()[:32] not in keys
    assert OLD.encode()[:32] not in keys


def test_subkey_is_deterministic() -> None:
    assert Keyring(NEW).subkey("x") == Keyring(NEW).subkey("x")


def test_subkey_for_unknown_key_id_fails() -> None:
    with pytest.raises(ConfigurationError):
        Keyring(NEW).subkey("totp", Keyring(OLD).primary_id)


def test_mac_is_keyed_per_purpose_and_key() -> None:
    ring = Keyring(NEW, OLD)
    message = b"123456"
    tags = {
        ring.mac("codes", message),
        ring.mac("other", message),
        ring.mac("codes", message, ring.key_ids[1]),
        Keyring(THIRD).mac("codes", message),
        ring.mac("codes", b"123457"),
    }
    assert len(tags) == 5
    assert ring.mac("codes", message) == Keyring(NEW).mac("codes", message)
    assert all(len(t) == 32 for t in tags)


# --- no secrets in reprs ------------------------------------------------------------


def test_reprs_do_not_show_secrets() -> None:
    ring = Keyring(NEW, OLD)
    sealed = ring.seal("totp", PLAINTEXT, aad=AAD, nonce=NONCE)
    ring.subkey("totp")  # fill the cache: it must not show either
    texts = [repr(ring), str(ring), repr(sealed), str(sealed)]
    forbidden = [
        NEW,
        OLD,
        NEW[:12],
        OLD[:12],
        NEW.encode().hex()[:16],
        repr(NEW.encode())[2:14],
        ring.subkey("totp").hex()[:16],
        repr(ring.subkey("totp"))[2:10],
        sealed.blob.hex()[:16],
        repr(sealed.blob)[2:10],
        PLAINTEXT.decode(),
    ]
    for text in texts:
        for secret in forbidden:
            assert secret not in text, (text, secret)
    assert ring.primary_id in repr(ring)


def test_unused_keys_are_the_older_keys_nothing_names() -> None:
    from mfakit import generate_secret_key

    secrets = [generate_secret_key() for _ in range(3)]
    new, mid, old = (Keyring(s).primary_id for s in secrets)
    ring = Keyring(*secrets)
    assert ring.unused_keys([new, mid]) == (old,)
    assert ring.unused_keys([]) == (mid, old)  # never the primary
    assert ring.unused_keys(iter([mid, old, "unknown"])) == ()
