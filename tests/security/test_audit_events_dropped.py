"""Finding 5.8 of the 0.1.0 attack review: audit events silently dropped.

Without ``audit=``, events went to the ``mfakit.audit`` logger at INFO, which
Python's default configuration (root logger at WARNING) drops: replays and
lock-outs vanished. Now refusals, failures and security changes are logged at
WARNING, and a store that is an audit log (``SqlStore``) keeps the events when
``audit=`` is not given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import LoggingAuditSink, MemoryStore
from mfakit.adapters.sql import SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import fresh


@pytest.fixture
def default_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Python's defaults: nothing configured, the root logger at WARNING."""
    root, audit = logging.getLogger(), logging.getLogger("mfakit.audit")
    saved = root.level, audit.level
    root.setLevel(logging.WARNING)
    audit.setLevel(logging.NOTSET)
    caplog.handler.setLevel(logging.NOTSET)
    yield caplog
    root.setLevel(saved[0])
    audit.setLevel(saved[1])


def enrol(mfa: MFA, clock: FakeClock) -> str:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
    clock.advance(seconds=90)
    return setup.uri


def test_replays_and_lockouts_reach_the_default_logging(
    default_logging: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    mfa = MFA(
        store=MemoryStore(),
        secret_key=mfakit.generate_secret_key(),
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
    )
    uri = enrol(mfa, clock)
    code = authenticator_code(uri, clock.now())
    assert mfa.verify_totp("alice", code).ok
    assert not mfa.verify_totp("alice", code).ok  # a replay
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    for _ in range(mfa.policy.max_attempts):
        mfa.verify(start.challenge.id, "000000")
    # A replay is no guess (not counted): two more wrong codes reach the back-off.
    for _ in range(2):
        mfa.verify_totp("alice", "000000")
    audit = [r for r in default_logging.records if r.name == "mfakit.audit"]
    levels = {r.mfa_action: r.levelno for r in audit}  # type: ignore[attr-defined]
    assert levels.get("code.replayed") == logging.WARNING, levels
    assert levels.get("account.backoff") == logging.WARNING, levels  # the lock-out
    assert levels.get("factor.added") == logging.WARNING, levels
    assert levels.get("second_step.failed") == logging.WARNING, levels
    # Routine successes stay at INFO, which the default configuration drops.
    assert "second_step.passed" not in levels


def test_info_still_logs_everything_when_configured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mfakit.audit")
    clock = FakeClock()
    mfa = MFA(
        store=MemoryStore(),
        secret_key=mfakit.generate_secret_key(),
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
        audit=LoggingAuditSink(),
    )
    uri = enrol(mfa, clock)
    assert mfa.verify_totp("alice", authenticator_code(uri, clock.now())).ok
    levels = {r.mfa_action: r.levelno for r in caplog.records if r.name == "mfakit.audit"}  # type: ignore[attr-defined]
    assert levels["second_step.passed"] == logging.INFO


def test_a_sql_store_keeps_the_events_without_audit(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqlStore.from_url(f"sqlite:///{tmp_path}/mfa.db")
    try:
        mfa = MFA(
            store=store,
            secret_key=mfakit.generate_secret_key(),
            issuer="Acme",
            clock=clock,
            hasher=fast_hasher(),
        )
        enrol(mfa, clock)
        mfa.unlock_second_step(Actor.admin("admin-7", reauthenticated_at=clock.now()), "alice")
        actions = [e.action for e in mfa.list_events("alice")]
        assert "account.unlocked" in actions and "factor.added" in actions
        # And an explicit audit= still wins.
        other = MFA(
            store=store,
            secret_key=mfakit.generate_secret_key(),
            issuer="Acme",
            audit=LoggingAuditSink(),
        )
        with pytest.raises(mfakit.ConfigurationError):
            other.list_events("alice")
    finally:
        store.close()
