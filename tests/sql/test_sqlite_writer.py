"""SQLite under concurrency (issue 13): the writer queue of AsyncSqlStore and
the group commit of SqlStore.

The operations of AsyncSqlStore on a SQLite file run on one worker thread
with its own sqlite3 connection; those queued while it was busy commit
together, each TX operation in a SAVEPOINT. These tests queue real operations
behind the file's writer lock (held by the test, so the queue is known to fill
up), then let them run, and check on the real database that each operation's
outcome is the one it would have had alone: a race lost inside a group is
undone alone, a failure inside a group leaves the others applied, and the
group really shared its COMMITs (counted with sqlite3's statement trace).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.engine import make_url

from mfakit import StorageError
from mfakit.adapters.sql import AsyncSqlStore
from mfakit.adapters.sql.sqlite import sqlite_writer_lock
from mfakit.core import writes as w
from mfakit.core.records import Counter
from mfakit.testing.contract import T0, audit_event, challenge_record

WORKER = "mfakit-sqlite"


def counter(key: str, count: int, version: int = 0) -> Counter:
    return Counter(key=key, count=count, window_start=T0, updated_at=T0, version=version)


class Traced:
    """An AsyncSqlStore from_url on a file, with every statement its
    connections run recorded (sqlite3's trace callback, installed by a
    `connect` listener on the async engine, which the worker's connections
    go through too)."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite+aiosqlite:///{path}"
        self.store = AsyncSqlStore.from_url(self.url)
        self.trace: list[str] = []
        self.connections: list[Any] = []

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            self.connections.append(type(dbapi_connection))
            dbapi_connection.set_trace_callback(self.trace.append)

        event.listen(self.store.engine.sync_engine, "connect", on_connect)
        self.lock = sqlite_writer_lock(make_url(self.url))

    def count(self, statement: str) -> int:
        return sum(1 for s in self.trace if s.strip().upper() == statement)

    async def queued(self, coroutines: list[Any]) -> list[asyncio.Task[Any]]:
        """Start `coroutines` as tasks while the file's writer lock is held:
        the worker takes the first operation(s) and waits for the lock, the
        others queue behind; return once every one is queued (the lock still
        held, the loop still running: it never waits for the worker)."""
        tasks = [asyncio.create_task(c) for c in coroutines]
        await asyncio.sleep(0)  # each task runs up to awaiting its operation
        worker = self.store._worker
        assert worker is not None
        await asyncio.sleep(0.05)  # the worker takes its first job and blocks
        assert not any(t.done() for t in tasks)
        return tasks


@pytest_asyncio.fixture
async def traced(tmp_path: Path) -> AsyncIterator[Traced]:
    t = Traced(tmp_path / "writer.db")
    await t.store.create_all()
    yield t
    await t.store.close()


@pytest.mark.asyncio
async def test_queued_operations_commit_together_and_a_lost_race_is_undone_alone(
    traced: Traced,
) -> None:
    """20 tasks each count a hit from the same version AND record an audit
    event, as one batch: exactly one wins; the 19 losers leave no event, although
    they ran in the winner's transaction; far fewer COMMITs than batches."""
    store = traced.store
    batches = [[w.PutCounter(counter("hits", 1)), w.RecordAudit(audit_event(n))] for n in range(20)]
    traced.trace.clear()
    with traced.lock:
        tasks = await traced.queued([store.apply(b) for b in batches])
    results = await asyncio.gather(*tasks)
    won = [i for i, r in enumerate(results) if r is not None]
    assert len(won) == 1, results
    got = await store.get_counter("hits")
    assert got is not None and (got.count, got.version) == (1, 1)
    events = await store.list_events("alice", limit=100)
    assert [e.id for e in events] == [audit_event(won[0]).id]
    # The worker took the first batch (or a few) before the lock was free,
    # the others queued meanwhile: at most 2 groups, 2 COMMITs for 20
    # transactions; 19 or 20 savepoints, every loser in a group undone.
    assert traced.count("COMMIT") <= 2
    assert traced.count("SAVEPOINT MFAKIT_OP") >= 19
    assert traced.count("ROLLBACK TO MFAKIT_OP") >= 18
    assert set(traced.connections) == {__import__("sqlite3").Connection}


@pytest.mark.asyncio
async def test_a_failure_in_a_group_fails_that_operation_only(traced: Traced) -> None:
    """A duplicate challenge among other operations of one group: the group is
    rolled back and its operations run again one by one, so the first insert
    and every audit event land, and only the duplicate fails."""
    store = traced.store
    dup = challenge_record("c1")
    work = [
        store.insert_challenge(dup) if n in (2, 4) else store.record(audit_event(n))
        for n in range(6)
    ]
    traced.trace.clear()
    with traced.lock:
        tasks = await traced.queued(work)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType"] * 4 + ["StorageError", "NoneType"]
    failure = results[4]
    assert isinstance(failure, StorageError)
    assert str(failure) == "a challenge with this id already exists"
    assert await store.get_challenge("c1") == challenge_record("c1")
    events = await store.list_events("alice", limit=100)
    assert sorted(e.id for e in events) == [audit_event(n).id for n in (0, 1, 3, 5)]
    assert traced.count("ROLLBACK") >= 1  # the group, before running them one by one


@pytest.mark.asyncio
async def test_concurrent_tasks_and_a_sync_store_share_the_file(
    traced: Traced, tmp_path: Path
) -> None:
    """Tasks and threads of one process on one file: a sync SqlStore queues on
    the same writer lock; no increment is lost, none counted twice."""
    from mfakit.adapters.sql import SqlStore

    store = traced.store
    sync = SqlStore.from_url(f"sqlite:///{tmp_path / 'writer.db'}", create=False)

    async def bump_async() -> None:
        while True:
            cur = await store.get_counter("n") or counter("n", 0)
            if await store.put_counter(counter("n", cur.count + 1, cur.version)):
                return

    def bump_sync() -> None:
        while True:
            cur = sync.get_counter("n") or counter("n", 0)
            if sync.put_counter(counter("n", cur.count + 1, cur.version)):
                return

    threads = [threading.Thread(target=lambda: [bump_sync() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    await asyncio.gather(*(bump_async() for _ in range(40)))
    await asyncio.to_thread(lambda: [t.join() for t in threads])
    got = await store.get_counter("n")
    assert got is not None and got.count == 80
    sync.close()


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WORKER]


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.asyncio
async def test_the_worker_ends_on_close_and_with_its_store(tmp_path: Path) -> None:
    before = len(workers())
    store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await store.create_all()
    assert len(workers()) == before + 1
    await store.close()
    wait_for(lambda: len(workers()) == before)
    # Used again after close: a new worker; dropped without close: it ends too.
    assert await store.get_counter("k") is None
    assert len(workers()) == before + 1
    del store
    gc.collect()
    wait_for(lambda: len(workers()) == before)


@pytest.mark.asyncio
async def test_memory_and_observed_engines_keep_aiosqlite(tmp_path: Path) -> None:
    """No worker for an in-memory database (its one connection is aiosqlite's)
    nor while something observes the engine's statements (they must see them)."""
    before = len(workers())
    memory = AsyncSqlStore.from_url("sqlite+aiosqlite://")
    await memory.create_all()
    assert await memory.get_counter("k") is None
    assert len(workers()) == before
    await memory.close()
    observed = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}")
    seen: list[str] = []
    event.listen(observed.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    await observed.create_all()
    assert await observed.put_counter(counter("k", 1))
    assert any(s.startswith("INSERT") for s in seen)
    assert len(workers()) == before
    await observed.close()


# --- SqlStore: threads of one process on one file -----------------------------------


class TracedSync:
    """A SqlStore from_url on a file, every statement recorded (as `Traced`)."""

    def __init__(self, path: Path) -> None:
        from mfakit.adapters.sql import SqlStore

        # Challenges created on the engine's own pool (not the relaxed one), so
        # that an insert_challenge joins the groups like every other operation.
        self.store = SqlStore.from_url(f"sqlite:///{path}", durable_challenges=True)
        self.trace: list[str] = []

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(self.trace.append)

        event.listen(self.store.engine, "connect", on_connect)
        self.store.engine.dispose()
        self.lock = sqlite_writer_lock(self.store.engine.url)

    def count(self, statement: str) -> int:
        return sum(1 for s in self.trace if s.strip().upper() == statement)

    def queued(self, calls: list[Any]) -> list[Any]:
        """Run `calls` in threads of their own while the file's writer lock is
        held: the first thread leads a group of its own operation and waits for
        the lock; then the others start and queue behind it; once all are
        queued, free the lock. Each call's result (or exception), in order."""
        results: list[Any] = [None] * len(calls)

        def run(i: int) -> None:
            try:
                results[i] = calls[i]()
            except Exception as exc:  # reported to the test
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        store = self.store
        with self.lock:
            threads[0].start()
            wait_for(lambda: store._leading and not store._queue)  # it leads, blocked
            for t in threads[1:]:
                t.start()
            wait_for(lambda: len(store._queue) == len(calls) - 1)
        for t in threads:
            t.join()
        return results


@pytest.fixture
def traced_sync(tmp_path: Path) -> Iterator[TracedSync]:
    t = TracedSync(tmp_path / "threads.db")
    yield t
    t.store.close()


def test_threads_commit_together_and_a_lost_race_is_undone_alone(traced_sync: TracedSync) -> None:
    """Behind a leader's unrelated operation, 20 threads each count a hit from
    the same version AND record an audit event, as one batch: they run as one
    group, in one transaction; the first wins, the 19 others are rolled back to
    their savepoints and leave nothing."""
    store = traced_sync.store
    batches = [[w.PutCounter(counter("hits", 1)), w.RecordAudit(audit_event(n))] for n in range(20)]
    traced_sync.trace.clear()
    calls = [lambda: store.record(audit_event(99, subject="bob"))]
    calls += [lambda b=b: store.apply(b) for b in batches]
    results = traced_sync.queued(calls)[1:]
    won = [i for i, r in enumerate(results) if r is not None]
    assert len(won) == 1, results
    got = store.get_counter("hits")
    assert got is not None and (got.count, got.version) == (1, 1)
    assert [e.id for e in store.list_events("alice", limit=100)] == [audit_event(won[0]).id]
    assert len(store.list_events("bob")) == 1
    # The leader's single INSERT alone (it commits by itself), then ONE
    # transaction for the 20 batches queued behind it.
    assert traced_sync.count("BEGIN IMMEDIATE") == traced_sync.count("COMMIT") == 1
    assert traced_sync.count("SAVEPOINT MFAKIT_OP") == 20
    assert traced_sync.count("ROLLBACK TO MFAKIT_OP") == 19


def test_a_failure_in_a_thread_group_fails_that_operation_only(traced_sync: TracedSync) -> None:
    store = traced_sync.store
    dup = challenge_record("c1")
    calls = [
        (lambda: store.insert_challenge(dup))
        if n in (2, 4)
        else (lambda n=n: store.record(audit_event(n)))
        for n in range(8)
    ]
    results = traced_sync.queued(calls)
    failures = [r for r in results if isinstance(r, Exception)]
    assert [str(f) for f in failures] == ["a challenge with this id already exists"]
    assert all(r is None for r in results if not isinstance(r, Exception))
    assert store.get_challenge("c1") == dup
    events = store.list_events("alice", limit=100)
    assert sorted(e.id for e in events) == [audit_event(n).id for n in (0, 1, 3, 5, 6, 7)]


def test_one_thread_runs_its_operations_alone(traced_sync: TracedSync) -> None:
    """No group, no savepoint when nothing else is queued: the statements of
    an operation run alone."""
    store = traced_sync.store
    traced_sync.trace.clear()
    assert store.apply([w.PutCounter(counter("k", 1)), w.RecordAudit(audit_event(1))]) == [
        True,
        None,
    ]
    assert traced_sync.count("SAVEPOINT MFAKIT_OP") == 0
    assert traced_sync.count("COMMIT") == 1


class Interrupted(Exception):
    pass


def test_a_thread_interrupted_while_it_waits_never_stalls_the_queue(
    traced_sync: TracedSync,
) -> None:
    """Ctrl-C reaches the main thread while its operation waits behind a
    group: it raises there, the operation is dropped (it never ran), and the
    lead that would have been handed to it goes on, so later operations run."""
    store = traced_sync.store
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Interrupted()))
    leader = threading.Thread(target=lambda: store.record(audit_event(1)))
    try:
        with traced_sync.lock:
            leader.start()
            wait_for(lambda: store._leading and not store._queue)  # it leads, blocked
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(Interrupted):
                store.record(audit_event(2))  # queued behind the leader, then interrupted
        leader.join(10)
        assert not leader.is_alive()
        done: list[object] = []
        later = threading.Thread(
            target=lambda: done.append(store.record(audit_event(3))), daemon=True
        )
        later.start()
        later.join(10)
        assert done == [None], "the queue stalled"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert [e.id for e in store.list_events("alice", limit=10)] == [
        audit_event(3).id,
        audit_event(1).id,
    ]
    assert not store._leading


def test_threads_racing_on_many_users_through_mfa(tmp_path: Path) -> None:
    """MFA on one SQLite file, 40 threads at once: 10 users, each sending the
    same right code from 4 threads. Grouped or not, each code is accepted
    exactly once per user, the others are refused as replays (never as
    rate-limited), and each success's audit event committed with it."""
    import pyotp

    from mfakit import MFA, Actor, Reason
    from mfakit.adapters.sql import SqlStore
    from mfakit.testing import FakeClock, authenticator_code, fast_hasher

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    clock = FakeClock()
    mfa = MFA(
        store=store,
        secret_key="31f4a8a1d0bd5c4e1a22b5e3e0f8a4b39d51a7e6c2f0b8d4a9e3c7b1f5d2e8a6",
        issuer="Groups",
        clock=clock,
        hasher=fast_hasher(),
        audit=store,
    )
    users = {f"user-{i}": pyotp.random_base32() for i in range(10)}
    for user, secret in users.items():
        actor = Actor.user(user, reauthenticated_at=clock.now())
        setup = mfa.begin_totp_setup(actor, user, account_name=f"{user}@x.example", secret=secret)
        assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(secret, clock.now())).ok
    clock.advance(seconds=90)
    calls = [(user, authenticator_code(secret, clock.now())) for user, secret in users.items()] * 4
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = mfa.verify_totp(*calls[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for user in users:
        mine = [r for (u, _), r in zip(calls, results, strict=True) if u == user]
        assert sum(r.ok for r in mine) == 1, mine
        assert {r.reason for r in mine if not r.ok} == {Reason.REPLAYED}, mine
        passed = [e for e in store.list_events(user) if e.outcome == "success"]
        assert len([e for e in passed if e.action == "second_step.passed"]) == 1
    store.close()
