"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), pure functions.

The arithmetic is a dozen lines on `hmac.digest`, the fastest correct
route in CPython; it is checked against the RFC test vectors and, in the test
suite, against pyotp as an independent implementation.

Verification (`match_totp`) compares the submitted code with every
candidate step of the window in constant time (S11) and reports which step
matched, so the caller can refuse a step that is not newer than the last one
accepted (S4).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from .validation import check_encodable

__all__ = [
    "MAX_CODE_INPUT",
    "MAX_TYPED_INPUT",
    "MIN_IMPORTED_SECRET_BYTES",
    "SECRET_BYTES",
    "TotpMatch",
    "decode_secret",
    "encode_secret",
    "hotp",
    "match_totp",
    "normalize_code",
    "read_digits",
    "squeeze",
    "totp",
    "totp_step",
    "typed_input",
]

SECRET_BYTES = 20
"""Generated TOTP secrets: 160 bits (S1, RFC 4226 R6)."""
MIN_IMPORTED_SECRET_BYTES = 16
"""Imported secrets below 128 bits are refused (S1)."""
MAX_CODE_INPUT = 64
"""Longest code input considered before normalising; anything longer is refused."""

_DIGESTS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_POWERS = {n: 10**n for n in range(6, 11)}
_COUNTER = struct.Struct(">Q").pack  # the 8-byte big-endian moving factor
_WORD = struct.Struct(">I").unpack_from  # the 4 bytes at the dynamic offset
_FORMATS = {n: f"%0{n}d".encode("ascii") for n in _POWERS}


def _openssl() -> tuple[Callable[[bytes, bytes, str], bytes], Callable[..., Any]]:
    """OpenSSL's one-shot HMAC and keyed HMAC objects, called directly: the
    `hmac` module reaches the same functions through Python-level checks on
    every call. `hmac`'s own where they are missing or refuse a digest (a FIPS
    build without SHA-1)."""
    try:
        from _hashlib import hmac_digest, hmac_new
    except ImportError:  # pragma: no cover - CPython without OpenSSL
        return hmac.digest, hmac.new
    try:
        for name in _DIGESTS.values():
            hmac_digest(b"key", b"message", name)
            hmac_new(b"key", digestmod=name).copy().digest()
    except ValueError:  # pragma: no cover - UnsupportedDigestmodError
        return hmac.digest, hmac.new
    return hmac_digest, hmac_new


_hmac_digest, _hmac_new = _openssl()
_SEPARATORS = str.maketrans("", "", " -\t")
MAX_TYPED_INPUT = 256
"""Longest text a code field takes (`typed_input`): anything longer was
not typed by a person, so it is misuse (InvalidInput), not a typo."""
# The dashes a keyboard, a phone or a word processor may put in a typed code.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d")
# What `squeeze` drops, as one pattern: `\s` matches exactly the characters
# for which `str.isspace()` is true (a test checks every code point).
_SQUEEZE = re.compile("[\\s" + "".join(sorted(_DASHES)).replace("-", "\\-") + "]").sub


def hotp(key: bytes, counter: int, *, digits: int = 6, algorithm: str = "SHA1") -> str:
    """The RFC 4226 code for `counter`, zero-padded to `digits`."""
    mac = _hmac_digest(key, _COUNTER(counter), _DIGESTS[algorithm])
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % _POWERS[digits]).zfill(digits)


def totp_step(timestamp: float, period: int = 30) -> int:
    """The RFC 6238 time step (T0 = 0) that `timestamp` falls in."""
    return int(timestamp // period)


def totp(
    key: bytes, timestamp: float, *, period: int = 30, digits: int = 6, algorithm: str = "SHA1"
) -> str:
    """The RFC 6238 code at `timestamp` (seconds since the epoch)."""
    return hotp(key, totp_step(timestamp, period), digits=digits, algorithm=algorithm)


@dataclass(frozen=True, slots=True)
class TotpMatch:
    """What `match_totp` found.

    `step` is the newest matching step newer than `last_step` (accept it);
    `replay` is true when the code matched only steps already used (S4/S5).
    """

    step: int | None
    replay: bool


def match_totp(
    key: bytes,
    code: str,
    *,
    timestamp: float,
    last_step: int | None,
    period: int = 30,
    digits: int = 6,
    algorithm: str = "SHA1",
    window: int = 1,
) -> TotpMatch:
    """Compare `code` (already normalised) with the steps around `timestamp`.

    Every candidate is computed and compared, whether or not an earlier one
    matched, so the time taken does not depend on which step matched.
    """
    now_step = int(timestamp // period)
    encoded = code.encode("ascii")
    form = _FORMATS[digits]
    power = _POWERS[digits]
    # The key schedule once for the window, then one copy per step: `hotp`
    # inlined, as this loop is most of a verification's own work.
    keyed = _hmac_new(key, digestmod=_DIGESTS[algorithm])
    accepted: int | None = None
    replay = False
    for step in range(max(now_step - window, 0), now_step + window + 1):
        mac = keyed.copy()
        mac.update(_COUNTER(step))
        digest = mac.digest()
        candidate = form % ((_WORD(digest, digest[-1] & 0x0F)[0] & 0x7FFFFFFF) % power)
        if hmac.compare_digest(candidate, encoded):
            if last_step is None or step > last_step:
                accepted = step
            else:
                replay = True
    if accepted is not None:
        return TotpMatch(step=accepted, replay=False)
    return _REPLAYED if replay else _NO_MATCH


_NO_MATCH = TotpMatch(step=None, replay=False)
_REPLAYED = TotpMatch(step=None, replay=True)


def normalize_code(code: object, digits: int, *, field: str = "code") -> str:
    """Strip spaces and dashes from a numeric code and check its shape.

    Raises [`InvalidInput`][mfakit.errors.InvalidInput] for non-strings, oversize input, non-digits
    and a wrong length; the message never repeats the input.
    """
    if not isinstance(code, str):
        raise InvalidInput(field, "must be a str")
    if len(code) > MAX_CODE_INPUT:
        raise InvalidInput(field, "is far too long")
    cleaned = code.translate(_SEPARATORS)
    if not (cleaned.isascii() and cleaned.isdigit()):
        raise InvalidInput(field, "must contain only digits")
    if len(cleaned) != digits:
        raise InvalidInput(field, f"must have {digits} digits")
    return cleaned


def typed_input(code: object, *, field: str = "code") -> str:
    """What a person typed into a code field, as a str of sane size.

    Only what no person types is refused (`InvalidInput`): a non-str, more
    than `MAX_TYPED_INPUT` characters, or text that is not valid Unicode (a
    lone surrogate, S36). Anything else, however wrong, is a typo for the
    caller to answer with `Reason.MALFORMED_CODE`.
    """
    if not isinstance(code, str):
        raise InvalidInput(field, "must be a str")
    if len(code) > MAX_TYPED_INPUT:
        raise InvalidInput(field, "is far too long")
    return check_encodable(field, code)


def squeeze(code: str) -> str:
    """`code` without the spaces, line breaks, tabs and dashes people put in
    or paste with a code: `" 123-456\\n"` gives `"123456"`."""
    return _SQUEEZE("", code)


def read_digits(code: str, lengths: Iterable[int]) -> str | None:
    """The ASCII digits of a typed code, if it has one of `lengths` of them
    once squeezed (`squeeze`); else `None`: it cannot be such a code.

    The answer depends on the input's shape only, never on a right code.
    """
    # A code typed as bare digits has nothing to squeeze: skip the pattern.
    cleaned = code if code.isdigit() else _SQUEEZE("", code)
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) in tuple(lengths):
        return cleaned
    return None


def encode_secret(key: bytes) -> str:
    """Base32 without padding, as authenticator apps expect."""
    return base64.b32encode(key).decode("ascii").rstrip("=")


def decode_secret(text: object, *, field: str = "secret") -> bytes:
    """Parse an imported base32 secret (spaces and lower case tolerated) and
    refuse one shorter than 128 bits (S1)."""
    if not isinstance(text, str):
        raise InvalidInput(field, "must be a base32 str")
    if len(text) > 256:
        raise InvalidInput(field, "is too long")
    cleaned = text.replace(" ", "").upper().rstrip("=")
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise InvalidInput(field, "is not valid base32") from None
    if len(key) < MIN_IMPORTED_SECRET_BYTES:
        raise InvalidInput(field, "must carry at least 128 bits")
    return key
