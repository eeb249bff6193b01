"""Finding 5.13 of the 0.1.0 attack review: docs/security.md said that an audit
sink that raises makes the call raise; the code logs the failure and keeps the
change. The page now says what the code does, and this test holds both to it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import mfakit
from mfakit import MFA
from mfakit.adapters import MemoryStore
from mfakit.core.records import AuditRecord
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import fresh

PAGE = Path(__file__).resolve().parents[2] / "docs" / "security.md"


class BrokenSink:
    def record(self, event: AuditRecord) -> None:
        raise RuntimeError("the audit database is down")


def test_a_raising_sink_does_not_make_the_call_raise(caplog: pytest.LogCaptureFixture) -> None:
    clock, store = FakeClock(), MemoryStore()
    mfa = MFA(
        store=store,
        secret_key=mfakit.generate_secret_key(),
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
        audit=BrokenSink(),
    )
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    with caplog.at_level(logging.ERROR, logger="mfakit"):
        confirmed = mfa.confirm_totp_setup(
            fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
        )
    assert confirmed.ok  # the change is kept ...
    assert [r.confirmed for r in store.list_totp("alice")] == [True]
    errors = [r for r in caplog.records if r.name == "mfakit" and r.levelno == logging.ERROR]
    assert errors and "factor.added" in errors[0].getMessage()  # ... and the loss is logged
    assert "down" not in errors[0].getMessage()


def test_the_security_page_says_so() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "raises makes the call raise" not in text
    assert "does not make the call raise" in text
    assert "## 0.2 attack review" in text
    for module in (
        "test_unkeyed_answer_hashes.py",
        "test_weak_secret_key.py",
        "test_masked_contact_probe.py",
        "test_duplicate_totp_key.py",
        "test_lone_surrogates.py",
        "test_audit_events_dropped.py",
        "test_world_readable_database.py",
        "test_tenant_from_request.py",
        "test_issuer_line_separator.py",
        "test_common_password_list.py",
        "test_breached_password_check.py",
    ):
        assert module in text, module
        assert (Path(__file__).parent / module).exists(), module
