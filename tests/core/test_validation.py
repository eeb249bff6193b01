"""The input checks every public call shares (core/validation.py).

`check_id` and `check_text` look for control characters with one pattern
search instead of a loop per character; these tests hold the pattern to the
definition (a C0 control character or DEL, anywhere in the text).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core.validation import MAX_ID_LENGTH, check_id, check_text
from mfakit.errors import InvalidInput

CONTROLS = [chr(c) for c in range(32)] + ["\x7f"]


def has_control_by_definition(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_check_id_refuses_every_control_character_anywhere(char: str, where: str) -> None:
    value = {"start": char + "alice", "middle": "al" + char + "ice", "end": "alice" + char}[where]
    with pytest.raises(InvalidInput) as info:
        check_id("user_id", value)
    assert info.value.field == "user_id"
    assert "alice" not in str(info.value) and "ice" not in str(info.value)  # no echo


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_check_text_refuses_every_control_character_inside(char: str) -> None:
    with pytest.raises(InvalidInput):
        check_text("label", "my" + char + "phone", max_length=64)


@given(value=st.text(min_size=1, max_size=MAX_ID_LENGTH))
def test_check_id_accepts_exactly_what_the_rules_allow(value: str) -> None:
    allowed = (
        not has_control_by_definition(value)
        and value == value.strip()
        and not any("\ud800" <= c <= "\udfff" for c in value)
    )
    try:
        assert check_id("user_id", value) == value
    except InvalidInput:
        assert not allowed
    else:
        assert allowed


@pytest.mark.parametrize(
    "value",
    ["u", "user-1", "ünïcode", "a b", "x" * MAX_ID_LENGTH, "tab\u00a0inside", "\u0080c1"],
)
def test_check_id_accepts_printable_ids(value: str) -> None:
    assert check_id("user_id", value) == value


@pytest.mark.parametrize(
    "value", ["", " u", "u ", "x" * (MAX_ID_LENGTH + 1), "\u00a0u", None, 1, b"u"]
)
def test_check_id_refuses_bad_shapes(value: object) -> None:
    with pytest.raises(InvalidInput):
        check_id("user_id", value)
