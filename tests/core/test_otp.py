"""HOTP/TOTP arithmetic, verification windows and input parsing (S1, S3, S4, S11).

The expected codes come from the RFCs (RFC 4226 App. D, RFC 6238 App. B) and,
for random inputs, from pyotp as an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfakit.core import otp
from mfakit.core.otp import (
    TotpMatch,
    decode_secret,
    encode_secret,
    hotp,
    match_totp,
    normalize_code,
    totp,
    totp_step,
)
from mfakit.errors import InvalidInput

RFC4226_KEY = b"12345678901234567890"
RFC4226_CODES = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]

RFC6238_KEYS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_TABLE = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
RFC6238_VECTORS = [
    pytest.param(t, algorithm, code, id=f"{algorithm}-{t}")
    for t, *codes in RFC6238_TABLE
    for algorithm, code in zip(("SHA1", "SHA256", "SHA512"), codes, strict=True)
]

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
KEY = bytes(range(20))


# --- RFC vectors -------------------------------------------------------------


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_CODES)))
def test_hotp_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp(RFC4226_KEY, counter) == expected


@pytest.mark.parametrize(("timestamp", "algorithm", "expected"), RFC6238_VECTORS)
def test_totp_rfc6238_appendix_b_8_digits(timestamp: int, algorithm: str, expected: str) -> None:
    key = RFC6238_KEYS[algorithm]
    assert totp(key, timestamp, digits=8, algorithm=algorithm) == expected
    assert totp(key, timestamp, period=30, digits=8, algorithm=algorithm) == expected


@pytest.mark.parametrize(("timestamp", "algorithm", "expected"), RFC6238_VECTORS)
def test_totp_rfc6238_appendix_b_6_digits(timestamp: int, algorithm: str, expected: str) -> None:
    # A d-digit code is the dynamic binary code mod 10**d, so the 6-digit code
    # is the 8-digit code mod 10**6: its last six digits, zero padding kept.
    six = f"{int(expected) % 10**6:06d}"
    assert six == expected[-6:]
    assert totp(RFC6238_KEYS[algorithm], timestamp, digits=6, algorithm=algorithm) == six


@pytest.mark.parametrize(("timestamp", "algorithm", "expected"), RFC6238_VECTORS)
def test_totp_is_hotp_of_the_time_step(timestamp: int, algorithm: str, expected: str) -> None:
    key = RFC6238_KEYS[algorithm]
    assert totp_step(timestamp) == timestamp // 30
    assert hotp(key, timestamp // 30, digits=8, algorithm=algorithm) == expected


def test_codes_are_zero_padded() -> None:
    # RFC 6238 SHA1 at 1111111109 is 07081804: the leading zero must survive.
    assert totp(RFC6238_KEYS["SHA1"], 1111111109, digits=8) == "07081804"
    codes = [hotp(KEY, c) for c in range(3000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)


@pytest.mark.parametrize(
    ("timestamp", "period", "step"),
    [(0, 30, 0), (29.999, 30, 0), (30, 30, 1), (59, 30, 1), (60, 30, 2), (119, 60, 1)],
)
def test_totp_step_boundaries(timestamp: float, period: int, step: int) -> None:
    assert totp_step(timestamp, period) == step


# --- against pyotp -------------------------------------------------------------

keys = st.integers(min_value=20, max_value=64).flatmap(lambda n: st.binary(min_size=n, max_size=n))
algorithms = st.sampled_from(["SHA1", "SHA256", "SHA512"])
digit_counts = st.sampled_from([6, 8])


@settings(max_examples=150, deadline=None)
@given(key=keys, counter=st.integers(0, 2**63 - 1), digits=digit_counts, algorithm=algorithms)
def test_hotp_matches_pyotp(key: bytes, counter: int, digits: int, algorithm: str) -> None:
    reference = pyotp.HOTP(base64.b32encode(key).decode(), digits=digits, digest=DIGESTS[algorithm])
    assert hotp(key, counter, digits=digits, algorithm=algorithm) == reference.at(counter)


@settings(max_examples=150, deadline=None)
@given(
    key=keys,
    timestamp=st.integers(0, 253_402_300_799),  # pyotp refuses times after year 9999
    period=st.sampled_from([15, 30, 60, 90, 120]),
    digits=digit_counts,
    algorithm=algorithms,
)
def test_totp_matches_pyotp(
    key: bytes, timestamp: int, period: int, digits: int, algorithm: str
) -> None:
    reference = pyotp.TOTP(
        base64.b32encode(key).decode(), digits=digits, digest=DIGESTS[algorithm], interval=period
    )
    ours = totp(key, timestamp, period=period, digits=digits, algorithm=algorithm)
    assert ours == reference.at(timestamp)


@settings(max_examples=50, deadline=None)
@given(key=keys)
def test_pyotp_accepts_our_encoded_secret(key: bytes) -> None:
    # The unpadded base32 we hand to authenticator apps is what pyotp reads.
    reference = pyotp.TOTP(encode_secret(key))
    assert reference.byte_secret() == key
    assert totp(key, 1_700_000_000) == reference.at(1_700_000_000)


# --- match_totp: window and replay (S3, S4) --------------------------------------

NOW = 1_700_000_015  # the middle of a step
NOW_STEP = NOW // 30


def code_at(step: int, *, key: bytes = KEY, digits: int = 6, algorithm: str = "SHA1") -> str:
    return hotp(key, step, digits=digits, algorithm=algorithm)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_window_one_accepts_adjacent_steps(offset: int) -> None:
    result = match_totp(KEY, code_at(NOW_STEP + offset), timestamp=NOW, last_step=None)
    assert result == TotpMatch(step=NOW_STEP + offset, replay=False)


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_window_one_refuses_steps_further_away(offset: int) -> None:
    code = code_at(NOW_STEP + offset)
    # Make sure the code does not collide with an accepted one by chance.
    assert code not in {code_at(NOW_STEP + d) for d in (-1, 0, 1)}
    result = match_totp(KEY, code, timestamp=NOW, last_step=None)
    assert result == TotpMatch(step=None, replay=False)


@pytest.mark.parametrize(("offset", "accepted"), [(-1, False), (0, True), (1, False)])
def test_window_zero_accepts_only_now(offset: int, accepted: bool) -> None:
    result = match_totp(KEY, code_at(NOW_STEP + offset), timestamp=NOW, last_step=None, window=0)
    assert result.step == (NOW_STEP + offset if accepted else None)
    assert result.replay is False


def test_window_follows_the_step_boundaries() -> None:
    start = NOW_STEP * 30
    # At the first and the last second of the step the window is the same.
    for timestamp in (start, start + 29.999):
        result = match_totp(KEY, code_at(NOW_STEP + 1), timestamp=timestamp, last_step=None)
        assert result.step == NOW_STEP + 1
    # One second later the "previous" step is now two steps back.
    result = match_totp(KEY, code_at(NOW_STEP - 1), timestamp=start + 30, last_step=None)
    assert result.step is None


@pytest.mark.parametrize("offset", [0, -1])
def test_code_of_last_accepted_step_or_older_is_a_replay(offset: int) -> None:
    last = NOW_STEP
    result = match_totp(KEY, code_at(last + offset), timestamp=NOW, last_step=last)
    assert result == TotpMatch(step=None, replay=True)


def test_code_of_a_step_newer_than_the_last_is_accepted() -> None:
    last = NOW_STEP
    result = match_totp(KEY, code_at(last + 1), timestamp=NOW, last_step=last)
    assert result == TotpMatch(step=last + 1, replay=False)


def test_replay_after_acceptance_of_the_same_code() -> None:
    code = code_at(NOW_STEP)
    first = match_totp(KEY, code, timestamp=NOW, last_step=None)
    assert first.step == NOW_STEP
    second = match_totp(KEY, code, timestamp=NOW + 5, last_step=first.step)
    assert second == TotpMatch(step=None, replay=True)


def test_last_step_far_behind_does_not_block() -> None:
    result = match_totp(KEY, code_at(NOW_STEP - 1), timestamp=NOW, last_step=NOW_STEP - 2)
    assert result.step == NOW_STEP - 1


def test_wrong_code_is_neither_accepted_nor_replay() -> None:
    window_codes = {code_at(NOW_STEP + d) for d in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in window_codes)
    assert match_totp(KEY, wrong, timestamp=NOW, last_step=None) == TotpMatch(None, False)
    assert match_totp(KEY, wrong, timestamp=NOW, last_step=NOW_STEP) == TotpMatch(None, False)


# A 20-byte key whose 6-digit codes for steps NOW_STEP and NOW_STEP + 1 are the
# same (found by a brute-force search; checked against pyotp below).
COLLIDING_KEY = b"mfakit-collision" + (540731).to_bytes(4, "big")


def test_colliding_key_really_collides() -> None:
    reference = pyotp.HOTP(base64.b32encode(COLLIDING_KEY).decode())
    assert reference.at(NOW_STEP) == reference.at(NOW_STEP + 1)
    assert reference.at(NOW_STEP - 1) != reference.at(NOW_STEP)


def test_the_newest_matching_step_is_reported() -> None:
    code = code_at(NOW_STEP, key=COLLIDING_KEY)
    result = match_totp(COLLIDING_KEY, code, timestamp=NOW, last_step=None)
    assert result == TotpMatch(step=NOW_STEP + 1, replay=False)


def test_a_code_that_also_matches_a_new_step_is_not_a_replay() -> None:
    # The code matches the used step NOW_STEP and the unused NOW_STEP + 1:
    # it is accepted for the new step, and is not reported as a replay.
    code = code_at(NOW_STEP, key=COLLIDING_KEY)
    result = match_totp(COLLIDING_KEY, code, timestamp=NOW, last_step=NOW_STEP)
    assert result == TotpMatch(step=NOW_STEP + 1, replay=False)
    # Once NOW_STEP + 1 is used too, it is a replay.
    result = match_totp(COLLIDING_KEY, code, timestamp=NOW, last_step=NOW_STEP + 1)
    assert result == TotpMatch(step=None, replay=True)


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("digits", [6, 8])
@pytest.mark.parametrize("period", [15, 30, 60, 120])
def test_match_uses_the_factor_parameters(algorithm: str, digits: int, period: int) -> None:
    key = RFC6238_KEYS[algorithm]
    step = NOW // period
    code = hotp(key, step, digits=digits, algorithm=algorithm)
    result = match_totp(
        key, code, timestamp=NOW, last_step=None, period=period, digits=digits, algorithm=algorithm
    )
    assert result.step == step


@pytest.mark.parametrize("window", [0, 1])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_every_window_step_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, window: int, offset: int
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(otp.hmac, "compare_digest", recording)
    code = code_at(NOW_STEP + offset)
    match_totp(KEY, code, timestamp=NOW, last_step=None, window=window)
    # One comparison per candidate step, even when an early step matched.
    assert len(calls) == 2 * window + 1
    assert all(b == code.encode() for _, b in calls)
    assert {a for a, _ in calls} == {
        code_at(NOW_STEP + d).encode() for d in range(-window, window + 1)
    }


def test_match_near_the_epoch_does_not_crash() -> None:
    # Step 0 with window 1 has no previous step; it must simply not be a candidate.
    result = match_totp(KEY, code_at(0), timestamp=10, last_step=None)
    assert result.step == 0


# --- normalize_code ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digits", "expected"),
    [
        ("123456", 6, "123456"),
        ("123 456", 6, "123456"),
        ("123-456", 6, "123456"),
        (" 12 34 56 ", 6, "123456"),
        ("1234-5678", 8, "12345678"),
        ("000000", 6, "000000"),
        ("\t012345", 6, "012345"),
    ],
)
def test_normalize_code_strips_separators(raw: str, digits: int, expected: str) -> None:
    assert normalize_code(raw, digits) == expected


SECRET_LOOKING = "918273"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("12345a", id="letter"),
        pytest.param("ABCDEF", id="letters"),
        pytest.param("12345", id="short"),
        pytest.param("1234567", id="long"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("１２３４５６", id="fullwidth-digits"),
        pytest.param("١٢٣٤٥٦", id="arabic-indic-digits"),
        pytest.param("12345²", id="superscript"),
        pytest.param("123.456", id="dot"),
        pytest.param("+12345", id="sign"),
        pytest.param(SECRET_LOOKING + "0" * 10_000, id="10kB"),
        pytest.param(SECRET_LOOKING + " " * 100, id="65+ chars of padding"),
        pytest.param(None, id="None"),
        pytest.param(123456, id="int"),
        pytest.param(SECRET_LOOKING.encode(), id="bytes"),
        pytest.param([SECRET_LOOKING], id="list"),
    ],
)
def test_normalize_code_refuses(raw: object) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_code(raw, 6)
    assert info.value.field == "code"
    message = str(info.value)
    if isinstance(raw, str) and raw.strip():
        assert raw.strip() not in message
    assert SECRET_LOOKING not in message
    assert "12345" not in message


def test_normalize_code_names_the_given_field() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize_code("x", 6, field="totp_code")
    assert info.value.field == "totp_code"


def _problem(raw: object) -> str:
    with pytest.raises(InvalidInput) as info:
        normalize_code(raw, 6)
    return info.value.problem


@given(code=st.text(max_size=80))
def test_normalize_code_returns_digits_or_raises_a_fixed_message(code: str) -> None:
    # Every refusal is one of the messages below, whatever the input: the
    # message cannot carry the input.
    fixed = {_problem(None), _problem("0" * 100), _problem("x"), _problem("1")}
    try:
        cleaned = normalize_code(code, 6)
    except InvalidInput as exc:
        assert exc.problem in fixed
        assert str(exc) == f"code: {exc.problem}"
    else:
        assert len(cleaned) == 6
        assert set(cleaned) <= set("0123456789")
        assert cleaned == "".join(c for c in code if c not in " -\t")


# --- squeeze and read_digits (typed codes) ---------------------------------------

# The definition: drop every character for which str.isspace() is true, and the
# dashes a keyboard, a phone or a word processor may type.
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"


def squeezed_by_definition(code: str) -> str:
    return "".join(c for c in code if not (c.isspace() or c in DASHES))


def test_squeeze_drops_exactly_the_defined_characters_of_every_code_point() -> None:
    # squeeze is one pattern, not a per-character loop: check it against the
    # definition on all of Unicode (surrogates included: squeeze sees any str).
    every = "".join(map(chr, range(0x110000)))
    assert otp.squeeze(every) == squeezed_by_definition(every)


@given(code=st.text(max_size=40))
def test_squeeze_matches_the_definition(code: str) -> None:
    assert otp.squeeze(code) == squeezed_by_definition(code)


@given(code=st.text(alphabet=st.sampled_from("0123456789 -\t\n\u2013\u00a0x\u0661"), max_size=12))
def test_read_digits_is_the_squeezed_ascii_digits_of_an_accepted_length(code: str) -> None:
    cleaned = squeezed_by_definition(code)
    ok = cleaned.isascii() and cleaned.isdigit() and len(cleaned) in (6, 8)
    assert otp.read_digits(code, (6, 8)) == (cleaned if ok else None)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        ("12345678", "12345678"),
        (" 123 456\n", "123456"),
        ("123\u2013456", "123456"),
        ("1234567", None),
        ("\u0661\u0662\u0663\u0664\u0665\u0666", None),  # digits, not ASCII
        ("\uff11\uff12\uff13\uff14\uff15\uff16", None),  # fullwidth digits
        ("12345\u00b2", None),  # isdigit() but not a decimal digit
    ],
)
def test_read_digits_examples(typed: str, expected: str | None) -> None:
    assert otp.read_digits(typed, (6, 8)) == expected


# --- secrets ---------------------------------------------------------------------


@given(key=st.binary(min_size=16, max_size=100))
def test_secret_round_trip(key: bytes) -> None:
    text = encode_secret(key)
    assert "=" not in text
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert decode_secret(text) == key
    assert decode_secret(text.lower()) == key
    spaced = " ".join(text[i : i + 4] for i in range(0, len(text), 4))
    assert decode_secret(spaced) == key
    assert decode_secret(spaced.lower()) == key


def test_encode_secret_is_standard_base32() -> None:
    # RFC 4648 section 10 test vector, padding removed.
    assert encode_secret(b"foobar") == "MZXW6YTBOI"
    assert encode_secret(b"12345678901234567890") == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_decode_secret_accepts_padding() -> None:
    key = b"sixteen byte key"
    assert decode_secret(base64.b32encode(key).decode()) == key


@pytest.mark.parametrize("size", [0, 1, 10, 15])
def test_decode_secret_refuses_short_secrets(size: int) -> None:
    # S1: imported secrets below 128 bits are refused.
    with pytest.raises(InvalidInput) as info:
        decode_secret(base64.b32encode(b"k" * size).decode())
    assert info.value.field == "secret"


def test_decode_secret_minimum_is_128_bits() -> None:
    assert otp.MIN_IMPORTED_SECRET_BYTES * 8 >= 128
    assert otp.SECRET_BYTES * 8 >= 160
    assert decode_secret(encode_secret(b"k" * 16)) == b"k" * 16


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", id="digit-1"),
        pytest.param("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ8", id="digit-8"),
        pytest.param("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!", id="punctuation"),
        pytest.param("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJÉ", id="non-ascii"),
        pytest.param("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG", id="impossible-length"),
        pytest.param("GEZDGNBVGY3=TQOJQGEZDGNBVGY3TQOJQ", id="inner-padding"),
        pytest.param("A" * 10_000, id="10kB"),
        pytest.param(None, id="None"),
        pytest.param(b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", id="bytes"),
        pytest.param(12345, id="int"),
    ],
)
def test_decode_secret_refuses_invalid(text: object) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_secret(text)
    assert info.value.field == "secret"
    if isinstance(text, str):
        assert text[:16] not in str(info.value)
