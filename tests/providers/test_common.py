"""What the provider adapters share: spelling digits for voice, argument
checks, and the one-retry rule (run against a counting send function)."""

from __future__ import annotations

import pytest

from mfakit.adapters.provider_common import (
    check_locale,
    check_message,
    check_phone,
    send_with_one_retry,
    spell_digits,
)
from mfakit.errors import DeliveryError, DeliveryUncertain, InvalidInput, ProviderRateLimited


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Your code is 482913.", "Your code is 4, 8, 2, 9, 1, 3."),
        ("Code: 482 913, valid 10 minutes", "Code: 4, 8, 2, 9, 1, 3, valid 10 minutes"),
        ("Already 4, 8, 2, 9, 1, 3.", "Already 4, 8, 2, 9, 1, 3."),
        ("Call 2024 back", "Call 2, 0, 2, 4 back"),
        ("No digits", "No digits"),
    ],
)
def test_spell_digits(text: str, spoken: str) -> None:
    assert spell_digits(text) == spoken


def test_checks_name_the_argument_and_never_quote_it() -> None:
    with pytest.raises(InvalidInput, match=r"^to:") as caught:
        check_phone("+33 6 12 34 56 78")
    assert "12 34" not in str(caught.value) and "612" not in str(caught.value)
    with pytest.raises(InvalidInput, match=r"^locale:"):
        check_locale("français")
    with pytest.raises(InvalidInput, match=r"^to:"):
        check_message("alice@example.org\r\nBcc: eve@example.org", "x")
    with pytest.raises(InvalidInput, match=r"^subject:"):
        check_message("alice@example.org", "x", subject="a\nb")
    assert check_locale("pt-BR") == "pt-BR"


def counting(*errors: DeliveryError) -> tuple[list[int], object]:
    calls: list[int] = []

    def send() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "sent"

    return calls, send


def test_one_retry_only_when_nothing_went_out() -> None:
    calls, send = counting(ProviderRateLimited())
    assert send_with_one_retry(send, retry_delay=0) == "sent"  # type: ignore[arg-type]
    assert len(calls) == 2
    calls, send = counting(ProviderRateLimited(), ProviderRateLimited())
    with pytest.raises(ProviderRateLimited):
        send_with_one_retry(send, retry_delay=0)  # type: ignore[arg-type]
    assert len(calls) == 2  # never a third
    calls, send = counting(DeliveryUncertain())
    with pytest.raises(DeliveryUncertain):
        send_with_one_retry(send, retry_delay=0)  # type: ignore[arg-type]
    assert len(calls) == 1
