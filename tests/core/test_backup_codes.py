"""Backup codes (F5, S26): generation, display format and parsing."""

from __future__ import annotations

import math
import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core import backup_codes
from mfakit.core.backup_codes import (
    ALPHABET,
    CODE_LENGTH,
    LOOKUP_LENGTH,
    SECRET_BITS,
    GeneratedCode,
    format_code,
    generate_codes,
    parse_code,
)
from mfakit.errors import InvalidInput

# Crockford's base32 (https://www.crockford.com/base32.html): no I, L, O, U.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


def test_alphabet_is_crockford_base32() -> None:
    assert ALPHABET == CROCKFORD
    assert len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_secret_part_carries_at_least_50_bits() -> None:
    assert SECRET_BITS >= 50
    # The bits actually present in the characters after the lookup id.
    assert (CODE_LENGTH - LOOKUP_LENGTH) * math.log2(len(ALPHABET)) >= 50


def test_generate_ten_codes() -> None:
    codes = generate_codes(10, secrets.token_bytes)
    assert len(codes) == 10
    for generated in codes:
        assert isinstance(generated, GeneratedCode)
        assert len(generated.code) == 12
        assert set(generated.code) <= set(CROCKFORD)
        assert generated.lookup == generated.code[:2]
    assert len({g.lookup for g in codes}) == 10
    assert len({g.code for g in codes}) == 10


@pytest.mark.parametrize("count", [1, 20, 1024])
def test_lookups_are_distinct_for_any_count(count: int) -> None:
    codes = generate_codes(count, seeded(count))
    assert len(codes) == count
    assert len({g.lookup for g in codes}) == count


@pytest.mark.parametrize("count", [0, -1, 1025])
def test_generate_refuses_impossible_counts(count: int) -> None:
    with pytest.raises(InvalidInput):
        generate_codes(count, secrets.token_bytes)


def test_generate_uses_the_given_source() -> None:
    assert [g.code for g in generate_codes(5, seeded(1))] == [
        g.code for g in generate_codes(5, seeded(1))
    ]
    assert [g.code for g in generate_codes(5, seeded(1))] != [
        g.code for g in generate_codes(5, seeded(2))
    ]


class Scripted:
    """A random source that returns the given byte strings in order."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        chunk = next(self._chunks)
        assert len(chunk) == n
        return chunk


def test_generate_retries_on_the_same_bytes() -> None:
    chunks = [bytes(8), bytes(8)] + [i.to_bytes(8, "big") for i in range(1, 10)]
    source = Scripted(chunks)
    codes = generate_codes(10, source)
    assert source.calls == 11
    assert len({g.lookup for g in codes}) == 10
    assert len({g.code for g in codes}) == 10


def lookup_of(chunk: bytes) -> str:
    return generate_codes(1, Scripted([chunk]))[0].lookup


def test_generate_retries_on_a_duplicate_lookup_with_a_different_secret() -> None:
    # Two random chunks whose codes share the lookup id but differ elsewhere
    # (found by trying: 1024 lookup ids, so a collision comes quickly).
    rng = random.Random(5)
    by_lookup: dict[str, bytes] = {}
    while True:
        chunk = rng.randbytes(8)
        lookup = lookup_of(chunk)
        if lookup in by_lookup and by_lookup[lookup] != chunk:
            first, second = by_lookup[lookup], chunk
            break
        by_lookup[lookup] = chunk
    others = [c for c in by_lookup.values() if lookup_of(c) != lookup][:2]
    source = Scripted([first, second, *others])
    codes = generate_codes(3, source)
    assert source.calls == 4
    assert [g.lookup for g in codes] == [lookup, lookup_of(others[0]), lookup_of(others[1])]
    assert generate_codes(1, Scripted([second]))[0].code not in {g.code for g in codes}


def chi_square(counts: Counter[str], expected: float) -> float:
    return sum((counts[c] - expected) ** 2 / expected for c in CROCKFORD)


def test_characters_are_roughly_uniform() -> None:
    # 6000 codes from a seeded source. With 31 degrees of freedom the
    # statistic is below 80 with probability > 1 - 1e-5; a bias that left
    # one character out or favoured some would push it far above.
    source = seeded(20240601)
    codes = [g.code for _ in range(300) for g in generate_codes(20, source)]
    overall = Counter("".join(codes))
    assert set(overall) == set(CROCKFORD)
    assert chi_square(overall, len(codes) * CODE_LENGTH / 32) < 80
    for position in range(CODE_LENGTH):
        column = Counter(code[position] for code in codes)
        assert chi_square(column, len(codes) / 32) < 100, position


def test_chi_square_check_detects_bias() -> None:
    # The statistic above is able to fail: a source whose bytes only use half
    # the values gives a clearly skewed distribution.
    rng = random.Random(1)

    def biased(n: int) -> bytes:
        return bytes(rng.randrange(128) for _ in range(n))

    codes = [g.code for _ in range(300) for g in generate_codes(20, biased)]
    columns = [Counter(code[p] for code in codes) for p in range(CODE_LENGTH)]
    assert max(chi_square(c, len(codes) / 32) for c in columns) > 100


def test_repr_hides_the_code() -> None:
    generated = generate_codes(1, secrets.token_bytes)[0]
    assert generated.code not in repr(generated)
    assert generated.code[LOOKUP_LENGTH:] not in repr(generated)


# --- format and parse ----------------------------------------------------------------


def test_format_groups_by_four() -> None:
    assert format_code("7K2MQ9XH4TRD") == "7K2M-Q9XH-4TRD"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7K2M-Q9XH-4TRD", "7K2MQ9XH4TRD"),
        ("7k2m-q9xh-4trd", "7K2MQ9XH4TRD"),
        ("7K2MQ9XH4TRD", "7K2MQ9XH4TRD"),
        ("7K2M Q9XH 4TRD", "7K2MQ9XH4TRD"),
        ("  7K2M - Q9XH - 4TRD  ", "7K2MQ9XH4TRD"),
        ("O0O0-IiLl-1111", "000011111111"),
        ("oooo-iiii-llll", "000011111111"),
        ("\t7K2MQ9XH4TRD\t", "7K2MQ9XH4TRD"),
    ],
)
def test_parse_accepts_what_people_type(typed: str, expected: str) -> None:
    assert parse_code(typed) == expected


codes = st.text(alphabet=CROCKFORD, min_size=12, max_size=12)


@given(code=codes)
def test_format_then_parse_round_trip(code: str) -> None:
    shown = format_code(code)
    assert len(shown) == 14
    assert shown[4] == shown[9] == "-"
    assert shown.replace("-", "") == code
    assert parse_code(shown) == code
    assert parse_code(shown.lower()) == code
    assert parse_code(shown.replace("-", " ")) == code


@given(
    code=codes,
    separators=st.lists(st.sampled_from([" ", "-"]), min_size=13, max_size=13),
)
def test_parse_ignores_separators_anywhere(code: str, separators: list[str]) -> None:
    typed = "".join(sep + char for sep, char in zip(separators, code, strict=False))
    typed += separators[-1]
    assert parse_code(typed) == code


@given(code=codes)
def test_parse_maps_confusable_letters(code: str) -> None:
    typed = code.replace("0", "O").replace("1", "I")
    assert parse_code(typed) == code
    assert parse_code(code.replace("1", "l")) == code


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("7K2M-Q9XH-4TR", id="11 chars"),
        pytest.param("7K2M-Q9XH-4TRDD", id="13 chars"),
        pytest.param("", id="empty"),
        pytest.param("7K2M-Q9XH-4TRU", id="U"),
        pytest.param("7K2M-Q9XH-4TR!", id="bang"),
        pytest.param("7K2M-Q9XH-4TR_", id="underscore"),
        pytest.param("7K2M-Q9XH-4TRÉ", id="non-ascii"),
        pytest.param("7K2M-Q9XH-4TR\x00", id="nul"),
        pytest.param("7K2M" * 2500, id="10kB"),
        pytest.param("7K2MQ9XH4TRD" + " " * 60, id="over 64 chars"),
    ],
)
def test_parse_refuses(typed: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_code(typed)
    assert info.value.field == "code"
    assert typed[:8] not in str(info.value) or not typed[:8].strip()


@pytest.mark.parametrize("value", [None, 123456789012, b"7K2MQ9XH4TRD", ["7K2MQ9XH4TRD"]])
def test_parse_refuses_non_str(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_code(value)


def test_parse_names_the_given_field() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_code("x", field="backup_code")
    assert info.value.field == "backup_code"


@given(text=st.text(max_size=70))
def test_parse_returns_a_canonical_code_or_raises(text: str) -> None:
    try:
        parsed = parse_code(text)
    except InvalidInput:
        return
    assert len(parsed) == 12
    assert set(parsed) <= set(CROCKFORD)


def test_module_constants_are_consistent() -> None:
    assert CODE_LENGTH == 12
    assert LOOKUP_LENGTH == 2
    assert backup_codes.SECRET_LENGTH + LOOKUP_LENGTH == CODE_LENGTH
