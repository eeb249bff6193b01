"""PostgreSQL: a unit of work made of one-row writes on different tables runs
as ONE statement (`OneStatement`), atomic by itself: one round trip and no
BEGIN/COMMIT for a verification's batch. The contract suite checks the
all-or-nothing rule on every store; these check what is particular to the
joined statement: when it is used, its errors, its races."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

from mfakit import MFA, Actor, StorageError
from mfakit.adapters.sql import SqlStore
from mfakit.adapters.sql.fast import Hot, OneStatement
from mfakit.adapters.sql.operations import SqlOperations
from mfakit.core import writes as w
from mfakit.core.challenge import State
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.contract import (
    T0,
    audit_event,
    backup_codes,
    challenge_record,
    race,
    totp_record,
)
from tests.sql.conftest import unique_prefix

SECRET = "9a0c5e1f7b3d4c2a8e6f0b1d3c5a7e9f1b3d5c7a9e0f2b4d6c8a0e2f4b6d8c0a"


@pytest.fixture(params=["raw", "instrumented"])
def store(
    request: pytest.FixtureRequest, postgres_url: str
) -> Iterator[tuple[SqlStore, list[str]]]:
    """A PostgreSQL store and the statements it sends. `instrumented`: a
    statement listener puts the store on SQLAlchemy's path (the joined text in
    `pyformat`); `raw`: nothing listens, statements go on psycopg's RawCursor
    (`$n`), and the list stays empty."""
    engine = create_engine(postgres_url, hide_parameters=True)
    seen: list[str] = []
    if request.param == "instrumented":

        def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listen)
    made = SqlStore(engine, table_prefix=unique_prefix())
    made.create_all()
    seen.clear()
    yield made, seen
    made.metadata.drop_all(engine)
    engine.dispose()


def _seed(store: SqlStore) -> None:
    store.add_totp(totp_record(), limit=5, now=T0)
    store.confirm_totp("alice", "f1", step=5, now=T0, backup_codes=backup_codes(n=3))
    store.insert_challenge(challenge_record())


def _joined(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().startswith("WITH m0 AS (")]


def test_a_verification_batch_is_one_statement(store: tuple[SqlStore, list[str]]) -> None:
    sql, seen = store
    _seed(sql)
    seen.clear()
    batch: list[w.Write] = [
        w.UpdateChallenge(replace(challenge_record(), state=State.SUCCEEDED)),
        w.AdvanceTotp("alice", "f1", 6, T0),
        w.RecordAudit(audit_event(1)),
    ]
    assert sql.apply(batch) == [True, True, None]
    if seen:  # instrumented: the only statement sent is the joined one
        assert len(seen) == 1 and len(_joined(seen)) == 1, seen
    got = sql.get_challenge("c1")
    assert got is not None and got.state is State.SUCCEEDED
    assert sql.load_user("alice").totps[0].last_step == 6
    assert [e.id for e in sql.list_events("alice")] == ["ev0001"]


@pytest.mark.parametrize("failing", ["challenge", "step"])
def test_a_false_condition_leaves_no_audit_event(
    store: tuple[SqlStore, list[str]], failing: str
) -> None:
    sql, seen = store
    _seed(sql)
    seen.clear()
    challenge = replace(challenge_record(), state=State.SUCCEEDED)
    batch: list[w.Write] = [
        w.UpdateChallenge(replace(challenge, version=9) if failing == "challenge" else challenge),
        w.AdvanceTotp("alice", "f1", 5 if failing == "step" else 6, T0),
        w.RecordAudit(audit_event(1)),
    ]
    assert sql.apply(batch) is None
    if seen:
        assert len(_joined(seen)) == 1, seen
    got = sql.get_challenge("c1")
    assert got is not None and got.state is challenge_record().state
    assert sql.load_user("alice").totps[0].last_step == 5
    assert sql.list_events("alice") == []


def test_a_duplicate_event_fails_the_whole_statement(store: tuple[SqlStore, list[str]]) -> None:
    sql, seen = store
    _seed(sql)
    sql.record(audit_event(1))
    seen.clear()
    batch: list[w.Write] = [w.AdvanceTotp("alice", "f1", 6, T0), w.RecordAudit(audit_event(1))]
    with pytest.raises(StorageError) as caught:
        sql.apply(batch)
    assert "IntegrityError" in str(caught.value)
    assert "ev0001" not in str(caught.value)  # parameters are never quoted
    if seen:
        assert len(_joined(seen)) == 1, seen
    assert sql.load_user("alice").totps[0].last_step == 5


def test_a_value_the_column_refuses_fails_before_anything_is_sent(
    store: tuple[SqlStore, list[str]],
) -> None:
    sql, seen = store
    _seed(sql)
    seen.clear()
    naive = datetime(2030, 1, 1, 12, 0)  # UtcDateTime refuses naive datetimes
    batch: list[w.Write] = [
        w.AdvanceTotp("alice", "f1", 6, naive),
        w.UpdateChallenge(replace(challenge_record(), attempts=1)),
    ]
    with pytest.raises(StorageError):
        sql.apply(batch)
    assert seen == []
    assert sql.load_user("alice").totps[0].last_step == 5


def test_racing_batches_on_one_challenge_apply_once(postgres_url: str) -> None:
    """16 threads send the same joined statement for one challenge: the row
    lock and the re-checked condition let exactly one through, and exactly
    one audit event is written."""
    engine = create_engine(postgres_url, pool_size=16, hide_parameters=True)
    sql = SqlStore(engine, table_prefix=unique_prefix())
    sql.create_all()
    try:
        _seed(sql)
        counter = iter(range(1000))

        def attempt() -> bool:
            n = next(counter)
            batch: list[w.Write] = [
                w.UpdateChallenge(replace(challenge_record(), state=State.SUCCEEDED)),
                w.RecordAudit(audit_event(100 + n)),
            ]
            return sql.apply(batch) is not None

        wins = race(16, attempt)
        assert wins.count(True) == 1
        assert len(sql.list_events("alice")) == 1
    finally:
        sql.metadata.drop_all(engine)
        engine.dispose()


def _ops() -> SqlOperations:
    return SqlOperations("x_", postgresql.psycopg.dialect())


def test_writes_that_see_each_others_tables_are_not_joined() -> None:
    ops = _ops()
    s = ops.s
    pg = ops.sa_dialect
    assert OneStatement.combinable(pg, [s.hot_update_challenge, s.hot_advance_totp])
    assert OneStatement.combinable(pg, [s.hot_advance_totp, s.hot_insert_audit])
    # The guarded update reads the counters another write changes.
    assert not OneStatement.combinable(pg, [s.hot_update_counter, s.hot_update_challenge_guarded])
    # Two writes of one table.
    assert not OneStatement.combinable(pg, [s.hot_advance_totp, s.hot_advance_totp])
    # A query, or a write that returns rows already, is not a one-row write.
    assert not OneStatement.combinable(pg, [s.hot_advance_totp, s.hot_counter_version])
    returning = Hot(s.hot_advance_totp._stmt.returning(ops.t.totp.c.id))  # type: ignore[attr-defined]
    assert not OneStatement.combinable(pg, [returning, s.hot_insert_audit])
    # Only PostgreSQL with named parameters.
    assert not OneStatement.combinable(
        sqlite.pysqlite.dialect(), [s.hot_update_challenge, s.hot_advance_totp]
    )


def test_a_batch_the_statement_cannot_join_runs_in_a_transaction(
    store: tuple[SqlStore, list[str]],
) -> None:
    """A failure counter and a challenge guarded by that counter's version:
    the guard must see the counter as it was before the batch, so the writes
    run one after another in one transaction, all or nothing as ever."""
    sql, seen = store
    _seed(sql)
    from mfakit.core.records import Counter

    sql.put_counter(Counter(key="hits", count=1, window_start=T0, updated_at=T0))
    seen.clear()
    batch: list[w.Write] = [
        w.ExpectCounter("hits", 1),
        w.UpdateChallenge(replace(challenge_record(), attempts=1)),
        w.PutCounter(Counter(key="hits", count=2, window_start=T0, updated_at=T0, version=1)),
    ]
    assert sql.apply(batch) == [True, True, True]
    if seen:
        assert _joined(seen) == [] and len(seen) == 2, seen


def test_a_sign_in_is_four_statements_on_postgresql(
    store: tuple[SqlStore, list[str]],
) -> None:
    sql, seen = store
    clock = FakeClock()
    mfa = MFA(
        store=sql, secret_key=SECRET, issuer="One", clock=clock, hasher=fast_hasher(), audit=sql
    )
    actor = Actor.user("bob", reauthenticated_at=clock.now())
    started = mfa.begin_totp_setup(actor, "bob", account_name="bob@example.org")
    assert mfa.confirm_totp_setup(actor, started.id, authenticator_code(started.uri, clock.now()))
    for _ in range(2):
        clock.advance(timedelta(seconds=30))
        code = authenticator_code(started.uri, clock.now())
        seen.clear()
        start = mfa.begin_sign_in("bob")
        assert start.challenge is not None
        assert mfa.verify(start.challenge.id, code).ok
        if seen:
            # The snapshot, the challenge, the challenge with the user, and the
            # outcome (challenge, step and audit event) in one statement.
            assert len(seen) == 4 and len(_joined(seen)) == 1, seen
    assert [e.action for e in mfa.list_events("bob")].count("second_step.passed") == 2
