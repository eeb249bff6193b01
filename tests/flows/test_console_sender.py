"""The development console sender prints what would have been sent."""

from __future__ import annotations

import io
import re

import pytest

from mfakit import MFA
from mfakit.adapters import ConsoleSender, MemoryStore
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh


def test_it_prints_each_channel_to_its_stream() -> None:
    out = io.StringIO()
    sender = ConsoleSender(out)
    sender.send_sms("+14155550101", "123456 is your code")
    sender.send_voice("+14155550101", "1, 2, 3")
    sender.send_email("a@example.org", "Your code", "654321\n")
    text = out.getvalue()
    assert "--- SMS to +14155550101\n123456 is your code\n---" in text
    assert "--- voice call to +14155550101\n1, 2, 3\n---" in text
    assert "--- email to a@example.org: Your code\n654321\n---" in text
    assert repr(sender) == "ConsoleSender()"


def test_a_phone_enrolment_code_shows_up_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    console = ConsoleSender()  # standard output at the time of sending
    mfa = MFA(
        store=MemoryStore(),
        secret_key=SECRET,
        issuer="Dev",
        clock=clock,
        hasher=fast_hasher(),
        sms=console,
        voice=console,
        email=console,
    )
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", "+14155550101", method="voice")
    printed = capsys.readouterr().out
    assert "--- voice call to +14155550101" in printed
    match = re.search(r"code is: ((?:\d, )+\d)\.", printed)
    assert match is not None
    assert mfa.verify(sent.challenge.id, match.group(1).replace(", ", "")).ok
