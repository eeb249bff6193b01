"""The hot statements run on the DB-API cursor (adapters/sql/fast.py), but
nothing is hidden: SQLite's own statement trace sees the same statements with
and without a listener, a ``before_cursor_execute`` listener sees all of them,
and ``echo`` logs them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mfakit import MFA, Actor
from mfakit.adapters.sql import SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET = "7dd86454518488504cf95c13ae2f3ffa36cc63731467cc8af92bc959bdcc694a"


class Flow:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.clock = FakeClock()
        self.mfa = MFA(
            store=store,
            secret_key=SECRET,
            issuer="Fast",
            clock=self.clock,
            hasher=fast_hasher(),
            audit=store,
        )
        actor = Actor.user("alice", reauthenticated_at=self.clock.now())
        started = self.mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
        code = authenticator_code(started.uri, self.clock.now())
        assert self.mfa.confirm_totp_setup(actor, started.id, code).ok
        self.uri = started.uri

    def sign_in(self) -> None:
        self.clock.advance(timedelta(seconds=30))
        start = self.mfa.begin_sign_in("alice")
        assert start.challenge is not None
        code = authenticator_code(self.uri, self.clock.now())
        assert self.mfa.verify(start.challenge.id, code).ok
        self.clock.advance(timedelta(seconds=30))
        assert self.mfa.verify_totp("alice", authenticator_code(self.uri, self.clock.now())).ok


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Flow, list[str]]]:
    """A flow on a SQLite file whose every connection reports each statement
    SQLite runs (``sqlite3``'s trace callback, below SQLAlchemy)."""
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    seen: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(seen.append)

    event.listen(store.engine, "connect", on_connect)
    store.engine.dispose()
    yield Flow(store), seen
    store.close()


def _data(statements: list[str]) -> list[str]:
    """The statements that read or write rows (no transaction control or pragmas)."""
    keep = ("SELECT", "INSERT", "UPDATE", "DELETE")
    return [s.split()[0] for s in statements if s.lstrip().upper().startswith(keep)]


def test_a_listener_sees_every_statement_sqlite_runs(traced: tuple[Flow, list[str]]) -> None:
    flow, seen = traced
    flow.sign_in()  # warm: statements compiled, connections open
    seen.clear()
    flow.sign_in()
    unobserved = _data(seen)

    heard: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        heard.append(statement)

    event.listen(flow.store.engine, "before_cursor_execute", on_statement)
    try:
        seen.clear()
        flow.sign_in()
    finally:
        event.remove(flow.store.engine, "before_cursor_execute", on_statement)
    observed = _data(seen)

    # The same work with and without the listener, and the listener heard all of it.
    assert unobserved == observed
    assert len(observed) >= 9  # sign-in (6) and verify_totp (3 or more)
    assert _data(heard) == observed
    assert any("totp_factors" in s for s in heard if s.startswith("UPDATE"))
    assert any("audit_events" in s for s in heard if s.startswith("INSERT"))


def test_echo_logs_the_hot_statements(
    traced: tuple[Flow, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    flow, _seen = traced
    flow.sign_in()
    flow.store.engine.echo = True
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            flow.sign_in()
    finally:
        flow.store.engine.echo = False
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("UPDATE") and "totp_factors" in m for m in logged)
    assert any(m.startswith("INSERT") and "audit_events" in m for m in logged)


def test_transaction_listeners_see_every_commit(traced: tuple[Flow, list[str]]) -> None:
    """Without listeners the store skips SQLAlchemy's Connection; a ``commit``
    listener puts it back, so it hears the one commit of a verification."""
    flow, seen = traced
    flow.sign_in()
    commits: list[object] = []

    def on_commit(conn: Any) -> None:
        commits.append(conn)

    event.listen(flow.store.engine, "commit", on_commit)
    try:
        flow.clock.advance(timedelta(seconds=30))
        code = authenticator_code(flow.uri, flow.clock.now())
        seen.clear()
        assert flow.mfa.verify_totp("alice", code).ok
    finally:
        event.remove(flow.store.engine, "commit", on_commit)
    assert len(commits) == 1
    assert [s for s in _data(seen) if s != "SELECT"] == ["UPDATE", "INSERT"]


# --- psycopg: the statements sent as PostgreSQL's own $n placeholders ------------------
def test_pyformat_placeholders_become_numbered_ones() -> None:
    from mfakit.adapters.sql.fast import _to_numeric

    sql = "SELECT %(a)s, %(b)s WHERE x = %(a)s AND y LIKE 'p%%'"
    assert _to_numeric(sql) == ("SELECT $1, $2 WHERE x = $1 AND y LIKE 'p%'", ["a", "b"])
    # A % this does not understand: no translation (the statement runs as it is).
    assert _to_numeric("SELECT %s") is None
    assert _to_numeric("SELECT 5 % 3") is None


def test_psycopg_runs_a_statement_natively_with_the_same_answers(pg_engine: Any) -> None:
    from sqlalchemy import String, bindparam, literal_column, select

    from mfakit.adapters.sql.fast import Hot, RawConnection

    # One parameter used twice, one processed by its type, a literal percent sign.
    name = bindparam("p_name", type_=String())
    stmt = select(
        name.label("a"),
        (name + literal_column("'%'")).label("b"),
        bindparam("p_n", type_=String()).label("c"),
    )
    hot = Hot(stmt)
    params = {"p_name": "ab'c%", "p_n": "x"}
    with pg_engine.connect() as conn:
        expected = [tuple(r) for r in conn.execute(stmt, params)]
        assert hot._for(conn).native is not None  # the native form exists ...
        assert hot.rows(conn, params) == expected
    fairy = pg_engine.raw_connection()
    try:
        # ... and the raw path (no SQLAlchemy Connection) gives the same rows.
        assert hot.rows(RawConnection(pg_engine, fairy), params) == expected
    finally:
        fairy.close()
    assert expected == [("ab'c%", "ab'c%%", "x")]


def test_every_hot_statement_of_the_store_has_a_native_form(pg_store: SqlStore) -> None:
    from mfakit.adapters.sql.fast import Hot

    flow = Flow(pg_store)
    flow.sign_in()
    hot = [h for h in vars(pg_store._sql.s).values() if isinstance(h, Hot)]
    hot += list(pg_store._sql._user_snapshot.values())
    hot += list(pg_store._sql._challenge_snapshot.values())
    with pg_store.engine.connect() as conn:
        assert len(hot) > 10
        assert all(h._for(conn).native is not None for h in hot)
