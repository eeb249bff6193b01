"""Fixtures shared by the flow tests: an MFA on the memory store with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import mfakit
from mfakit import MFA
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET = "b4b08f193de3090fbf13b99d12e2f2bd0e5b1cb54bfab12ebb13ac673dc6320f"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def policy() -> mfakit.Policy:
    return mfakit.Policy()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def audit_log() -> MemoryAuditLog:
    """The audit log of the ``mfa`` fixture, readable by the tests."""
    return MemoryAuditLog()


@pytest.fixture
def mfa(
    store: MemoryStore,
    clock: FakeClock,
    policy: mfakit.Policy,
    outbox: Outbox,
    audit_log: MemoryAuditLog,
) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        policy=policy,
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=audit_log,
    )


@dataclass
class Enrolled:
    user_id: str
    factor_id: str
    uri: str
    backup_codes: list[str]
    code_at: Callable[[], str]


@pytest.fixture
def enrol(mfa: MFA, clock: FakeClock) -> Callable[..., Enrolled]:
    """Enrol an authenticator for a user; returns its URI and first backup codes."""

    def _enrol(user_id: str = "alice", label: str | None = None) -> Enrolled:
        from tests.helpers import fresh

        actor = fresh(clock, user_id)
        setup = mfa.begin_totp_setup(
            actor, user_id, account_name=f"{user_id}@example.org", label=label
        )
        result = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
        assert result.ok, result
        assert result.authenticator is not None
        codes = list(result.backup_codes) if result.backup_codes else []
        # The confirmation used the current step; move on so that the steps
        # around "now" (window ±1) are all unused, as they are for a real user later.
        clock.advance(seconds=90)
        return Enrolled(
            user_id,
            result.authenticator.id,
            setup.uri,
            codes,
            lambda: authenticator_code(setup.uri, clock.now()),
        )

    return _enrol
