"""A pytest plugin for applications' own test suites (P6).

Installed with mfakit (entry point `pytest11`), it only adds fixtures, each
named `mfakit_*` so none can shadow yours; a test uses them by asking:

* `mfakit_clock`: a [`FakeClock`][mfakit.testing.FakeClock];
* `mfakit_outbox`: an [`Outbox`][mfakit.adapters.Outbox] wired as the SMS,
  voice and email sender (`mfakit_outbox.last_code("+14155550101")`);
* `mfakit_store`: a fresh [`MemoryStore`][mfakit.adapters.MemoryStore];
* `mfakit_audit`: a [`MemoryAuditLog`][mfakit.adapters.MemoryAuditLog];
* `mfakit_mfa`: an [`MFA`][mfakit.MFA] over all of the above, with the
  cheap test hasher. Override `mfakit_policy` to change its policy.

Disable it with `-p no:mfakit`.
"""

from __future__ import annotations

import pytest

from ..adapters.audit import MemoryAuditLog
from ..adapters.memory import MemoryStore
from ..adapters.outbox import Outbox
from ..core.policy import Policy
from ..mfa import MFA
from . import FakeClock, fast_hasher

SECRET_KEY = "cb4c9ab79531291947d10a763850abc31cfbb6beb9cb4de5d9314547dc956270"


@pytest.fixture
def mfakit_clock() -> FakeClock:
    """Time that moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def mfakit_outbox() -> Outbox:
    """Everything "sent" by SMS, voice and email, readable by the test."""
    return Outbox()


@pytest.fixture
def mfakit_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def mfakit_audit() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def mfakit_policy() -> Policy:
    """The policy of `mfakit_mfa`; override this fixture to change it."""
    return Policy()


@pytest.fixture
def mfakit_mfa(
    mfakit_store: MemoryStore,
    mfakit_clock: FakeClock,
    mfakit_outbox: Outbox,
    mfakit_audit: MemoryAuditLog,
    mfakit_policy: Policy,
) -> MFA:
    """An MFA for tests: in-memory store, fake clock, outbox senders, audit log."""
    return MFA(
        store=mfakit_store,
        secret_key=SECRET_KEY,
        issuer="Test App",
        sms=mfakit_outbox,
        voice=mfakit_outbox,
        email=mfakit_outbox,
        audit=mfakit_audit,
        clock=mfakit_clock,
        hasher=fast_hasher(),
        policy=mfakit_policy,
    )
