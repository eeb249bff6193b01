"""Backup codes (F5, S26): their format, generation and parsing.

A code is twelve characters of Crockford's base32 shown in three groups,
`7K2M-Q9XH-4TRD`. The first two characters are the code's *lookup id*: unique
within the user's set and stored in clear, they find the one record to verify,
so checking a code costs one slow hash whatever the number of codes left. The
other ten characters carry 50 random bits and are only ever stored as an argon2id
hash of the whole code.

Crockford's alphabet has no I, L, O or U; on input `O` reads as `0` and
`I`/`L` as `1`, lower case is accepted and spaces and dashes are ignored,
so a code read aloud or copied by hand still works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidInput
from .otp import squeeze

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "LOOKUP_LENGTH",
    "SECRET_BITS",
    "GeneratedCode",
    "format_code",
    "generate_codes",
    "parse_code",
    "read_code",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LOOKUP_LENGTH = 2
SECRET_LENGTH = 10
CODE_LENGTH = LOOKUP_LENGTH + SECRET_LENGTH
SECRET_BITS = SECRET_LENGTH * 5
"""Random bits in the hashed part of each code (≥ 50, S26)."""

_INPUT_MAP = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None, "\t": None})
_VALID = frozenset(ALPHABET)


@dataclass(frozen=True, slots=True)
class GeneratedCode:
    """A fresh code: `lookup` is stored in clear, `code` is shown once and hashed."""

    lookup: str
    code: str

    def __repr__(self) -> str:
        return f"GeneratedCode(lookup={self.lookup!r}, code=<hidden>)"


def _chars(random_bytes: bytes, n: int) -> str:
    # 5 bits per character taken from a big integer: uniform over the alphabet.
    value = int.from_bytes(random_bytes, "big")
    out = []
    for _ in range(n):
        out.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(out)


def generate_codes(count: int, random_bytes: Callable[[int], bytes]) -> list[GeneratedCode]:
    """`count` codes with distinct lookup ids, from a CSPRNG source (S2)."""
    if not 1 <= count <= 32 * 32:
        raise InvalidInput("count", "out of range")
    seen: set[str] = set()
    codes: list[GeneratedCode] = []
    while len(codes) < count:
        raw = _chars(random_bytes(8), CODE_LENGTH)  # 64 random bits, 60 used
        lookup = raw[:LOOKUP_LENGTH]
        if lookup in seen:
            continue
        seen.add(lookup)
        codes.append(GeneratedCode(lookup=lookup, code=raw))
    return codes


def format_code(code: str) -> str:
    """`7K2MQ9XH4TRD` → `7K2M-Q9XH-4TRD`, the way codes are shown."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def parse_code(text: object, *, field: str = "code") -> str:
    """Normalise what a user typed to the canonical 12 characters.

    Raises [`InvalidInput`][mfakit.errors.InvalidInput] for anything that cannot be a backup code.
    """
    if not isinstance(text, str):
        raise InvalidInput(field, "must be a str")
    if len(text) > 64:
        raise InvalidInput(field, "is far too long")
    if not text.isascii():
        raise InvalidInput(field, "contains characters a backup code never has")
    cleaned = text.upper().translate(_INPUT_MAP)
    if len(cleaned) != CODE_LENGTH:
        raise InvalidInput(field, f"must have {CODE_LENGTH} characters")
    if not _VALID.issuperset(cleaned):
        raise InvalidInput(field, "contains characters a backup code never has")
    return cleaned


def read_code(text: str) -> str | None:
    """The canonical 12 characters of what a user typed, or `None` when it
    cannot be a backup code (a typo: the caller answers `MALFORMED_CODE`).

    Lenient like `parse_code` (lower case, `O`/`I`/`L`), and spaces,
    line breaks and dashes of any kind are ignored.
    """
    cleaned = squeeze(text).upper().translate(_INPUT_MAP)
    if len(cleaned) != CODE_LENGTH or not _VALID.issuperset(cleaned):
        return None
    return cleaned
