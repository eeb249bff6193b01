"""A verification is one read and one commit on SQL stores (issue 13), and its
audit event commits with the change it describes, or neither does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from mfakit import MFA, Actor, StorageError
from mfakit.adapters.sql import SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET = "7dd86454518488504cf95c13ae2f3ffa36cc63731467cc8af92bc959bdcc694a"


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def reset(self) -> None:
        self.statements.clear()
        self.commits = 0

    @property
    def writes(self) -> int:
        return sum(1 for s in self.statements if s.split()[0] in ("INSERT", "UPDATE", "DELETE"))

    @property
    def queries(self) -> int:
        return sum(1 for s in self.statements if not s.upper().startswith("BEGIN"))


@dataclass
class Setup:
    mfa: MFA
    store: SqlStore
    clock: FakeClock
    uri: str
    tally: Tally


@pytest.fixture
def setup(any_store: SqlStore) -> Iterator[Setup]:
    store = any_store
    clock = FakeClock()
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="UoW",
        clock=clock,
        hasher=fast_hasher(),
        audit=store,
    )
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    started = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    assert mfa.confirm_totp_setup(actor, started.id, authenticator_code(started.uri, clock.now()))
    tally = Tally()

    def on_statement(*args: Any) -> None:
        tally.statements.append(str(args[2]))

    def on_commit(_conn: Any) -> None:
        tally.commits += 1

    event.listen(store.engine, "before_cursor_execute", on_statement)
    event.listen(store.engine, "commit", on_commit)
    yield Setup(mfa, store, clock, started.uri, tally)
    event.remove(store.engine, "before_cursor_execute", on_statement)
    event.remove(store.engine, "commit", on_commit)


def _next_code(s: Setup) -> str:
    s.clock.advance(timedelta(seconds=30))
    return authenticator_code(s.uri, s.clock.now())


def test_verify_totp_commits_once_audit_included(setup: Setup) -> None:
    for _ in range(3):
        code = _next_code(setup)
        setup.tally.reset()
        assert setup.mfa.verify_totp("alice", code).ok
        assert setup.tally.commits == 1, setup.tally.statements
        # The read, the step (which also checks the failure counter is still
        # at zero: no statement of its own) and the audit event.
        assert setup.tally.queries <= 3, setup.tally.statements
    assert any(e.action == "second_step.passed" for e in setup.mfa.list_events("alice"))


def test_a_wrong_code_commits_once(setup: Setup) -> None:
    _next_code(setup)
    setup.tally.reset()
    assert not setup.mfa.verify_totp("alice", "000000").ok
    assert setup.tally.commits == 1, setup.tally.statements


def test_sign_in_commits_twice_in_six_statements(setup: Setup) -> None:
    for _ in range(3):
        code = _next_code(setup)
        setup.tally.reset()
        start = setup.mfa.begin_sign_in("alice")
        assert start.challenge is not None
        assert setup.mfa.verify(start.challenge.id, code).ok
        assert setup.tally.commits == 2, setup.tally.statements
        assert setup.tally.queries <= 6, setup.tally.statements


def test_a_success_after_a_failure_resets_the_counter(setup: Setup) -> None:
    _next_code(setup)
    assert not setup.mfa.verify_totp("alice", "000000").ok
    key = "failures:alice"
    counted = setup.store.get_counter(key)
    assert counted is not None and counted.count == 1
    assert setup.mfa.verify_totp("alice", _next_code(setup)).ok
    cleared = setup.store.get_counter(key)
    assert cleared is not None and cleared.count == 0 and cleared.version == counted.version + 1


def test_the_audit_event_and_the_change_commit_together(setup: Setup) -> None:
    """The audit table refuses the insert: the step is not recorded either, so
    the same code still works once the audit log works again."""
    code = _next_code(setup)
    table = setup.store.metadata.tables[setup.store.table_prefix + "audit_events"]
    renamed = table.name + "_away"
    with setup.store.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table.name} RENAME TO {renamed}"))
    try:
        with pytest.raises(StorageError):
            setup.mfa.verify_totp("alice", code)
    finally:
        with setup.store.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {renamed} RENAME TO {table.name}"))
    assert setup.mfa.verify_totp("alice", code).ok
    assert not setup.mfa.verify_totp("alice", code).ok  # and now it is spent
