"""What the provider adapters share: spelling digits for voice, argument
checks, the one-retry rule (run against a counting send function), and the
extras: no vendor SDK loaded by the core, a clear error naming a missing one."""

from __future__ import annotations

import json
import subprocess
import sys

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


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )


def test_the_core_and_the_status_handlers_load_no_vendor_sdk() -> None:
    """Each provider is behind its own extra: using mfakit (the facades, the
    delivery-status module) imports none of the vendors' libraries."""
    code = (
        "import json, sys, mfakit, mfakit.delivery_status, mfakit.adapters\n"
        "mfakit.MFA, mfakit.AsyncMFA, mfakit.adapters.MemoryStore\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    vendors = {"twilio", "boto3", "botocore", "aiobotocore", "vonage", "aiohttp", "requests"}
    assert loaded & vendors == set()


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("mfakit.adapters.twilio", "twilio", "twilio"),
        ("mfakit.adapters.aws", "boto3", "aws"),
        ("mfakit.adapters.vonage", "vonage", "vonage"),
    ],
)
def test_a_missing_extra_names_it(module: str, blocked: str, extra: str) -> None:
    code = f"import sys; sys.modules[{blocked!r}] = None\nimport {module}"
    done = _run(code)
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert f"pip install 'mfakit[{extra}]'" in done.stderr
