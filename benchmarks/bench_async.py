"""AsyncMFA versus MFA in a thread pool: TOTP verifications per second, 50 at a time.

Run from the repository root::

    python benchmarks/bench_async.py           # full run
    python benchmarks/bench_async.py --quick   # smoke run

A report, not a test: it prints a table and always exits 0.

Four sides, each with 50 users enrolled on its own store and clock:

* ``AsyncMFA`` on ``AsyncMemoryStore``, 50 concurrent tasks (``asyncio.gather``);
* ``MFA`` on ``MemoryStore``, 50 calls at once in a ``ThreadPoolExecutor(50)``;
* ``AsyncMFA`` on ``AsyncSqlStore.from_url("sqlite+aiosqlite:///...")`` (file, WAL:
  its operations run on the store's worker thread), 50 concurrent tasks;
* ``MFA`` on ``SqlStore`` (sqlite3, file, WAL), 50 threads;
* and, when ``MFAKIT_TEST_POSTGRES_URL`` is set (``scripts/postgres``), both
  APIs on PostgreSQL (psycopg 3: async connections for ``AsyncSqlStore``).

Every SQL store gets a pool of 50 connections, one per task or thread. SQLite
keeps its default ``synchronous=FULL``: each commit waits for the disk.

A batch is one ``verify_totp`` per user, all 50 started together; a round is
several batches, the shared clock moved one 30 s step before each (a code is
accepted once per step). Codes are computed before the timed region; every
result is checked. Rounds are interleaved, the order rotated every round;
the table shows the median of per-round throughputs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from bench_sql import print_table  # benchmarks/ is on sys.path when run as a script

import mfakit
from mfakit import MFA, Actor, AsyncMFA
from mfakit.adapters import MemoryStore
from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.adapters.sql import AsyncSqlStore, SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET_KEY = "54bd8523bcb781bfcdbe925d931614a4392587860c695743ba73f3bb3bf631bf"
ISSUER = "Bench"
STEP = timedelta(seconds=30)
START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
CONCURRENCY = 50


@dataclass(frozen=True)
class Config:
    rounds: int
    batches: int  # per round; each batch is CONCURRENCY verifications


FULL = Config(rounds=11, batches=4)
QUICK = Config(rounds=5, batches=2)
PG_ENV = "MFAKIT_TEST_POSTGRES_URL"


class BenchmarkError(RuntimeError):
    """A verification that should have succeeded did not."""


Batch = Callable[[list[tuple[str, str]]], list[bool]]


@dataclass
class Side:
    """One store and API: a batch runner, its clock, its enrolled users."""

    store: str
    api: str
    clock: FakeClock
    batch: Batch
    uris: dict[str, str] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.store}, {self.api}"


def sync_side(store_name: str, store: Any, pool: ThreadPoolExecutor) -> Side:
    clock = FakeClock(START)
    mfa = MFA(store=store, secret_key=SECRET_KEY, issuer=ISSUER, clock=clock, hasher=fast_hasher())

    def batch(pairs: list[tuple[str, str]]) -> list[bool]:
        return list(pool.map(lambda p: mfa.verify_totp(*p).ok, pairs))

    side = Side(store_name, f"MFA, ThreadPoolExecutor({CONCURRENCY})", clock, batch)
    for i in range(CONCURRENCY):
        user = f"user-{i:02d}"
        actor = Actor.user(user, reauthenticated_at=clock.now())
        setup = mfa.begin_totp_setup(actor, user, account_name=f"{user}@bench.example")
        done = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now()))
        if not done.ok:
            raise BenchmarkError(f"{side.name}: enrolment failed: {done}")
        side.uris[user] = setup.uri
    return side


def async_side(store_name: str, store: Any, loop: asyncio.AbstractEventLoop) -> Side:
    clock = FakeClock(START)
    amfa = AsyncMFA(
        store=store, secret_key=SECRET_KEY, issuer=ISSUER, clock=clock, hasher=fast_hasher()
    )

    async def verify_all(pairs: list[tuple[str, str]]) -> list[bool]:
        results = await asyncio.gather(*(amfa.verify_totp(user, code) for user, code in pairs))
        return [r.ok for r in results]

    def batch(pairs: list[tuple[str, str]]) -> list[bool]:
        return loop.run_until_complete(verify_all(pairs))

    async def enrol(side: Side) -> None:
        for i in range(CONCURRENCY):
            user = f"user-{i:02d}"
            actor = Actor.user(user, reauthenticated_at=clock.now())
            setup = await amfa.begin_totp_setup(actor, user, account_name=f"{user}@bench.example")
            code = authenticator_code(setup.uri, clock.now())
            done = await amfa.confirm_totp_setup(actor, setup.id, code)
            if not done.ok:
                raise BenchmarkError(f"{side.name}: enrolment failed: {done}")
            side.uris[user] = setup.uri

    side = Side(store_name, f"AsyncMFA, {CONCURRENCY} tasks", clock, batch)
    loop.run_until_complete(enrol(side))
    return side


def run_round(side: Side, batches: int) -> float:
    """Verifications per second over ``batches`` batches of CONCURRENCY."""
    now = side.clock.now()
    plan = [
        [(user, authenticator_code(uri, now + STEP * (k + 1))) for user, uri in side.uris.items()]
        for k in range(batches)
    ]
    total = 0
    gc.disable()
    try:
        for pairs in plan:
            side.clock.advance(STEP)
            t0 = perf_counter_ns()
            oks = side.batch(pairs)
            total += perf_counter_ns() - t0
            if not all(oks):
                raise BenchmarkError(f"{side.name}: {oks.count(False)} valid codes refused")
    finally:
        gc.enable()
    return batches * CONCURRENCY / (total / 1e9)


def report(sides: list[Side]) -> None:
    rows: list[tuple[str, ...]] = []
    for side in sides:
        med = statistics.median(side.rates)
        twin = next(s for s in sides if s.store == side.store and s is not side)
        rows.append(
            (
                side.store,
                side.api,
                f"{med:,.0f}/s",
                f"{min(side.rates):,.0f} / {max(side.rates):,.0f}",
                f"{med / statistics.median(twin.rates):.2f}x",
            )
        )
    print_table(("store", "driven by", "median", "round min / max", "vs the other API"), rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    print(f"mfakit {mfakit.__version__} async benchmark ({'quick' if args.quick else 'full'})")
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}, "
        f"{os.cpu_count()} CPUs; SQLAlchemy {version('SQLAlchemy')}, "
        f"aiosqlite {version('aiosqlite')}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"verify_totp, {CONCURRENCY} users at once; {cfg.rounds} rounds x {cfg.batches} "
        f"batches x {CONCURRENCY}; medians of per-round throughput"
    )
    print(flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="mfakit-bench-async-"))
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(CONCURRENCY)
    # Enough connections for every task or thread at once, on every SQL side.
    pool_args: dict[str, Any] = {"pool_size": CONCURRENCY, "max_overflow": 0}
    sql_stores: list[tuple[str, SqlStore, AsyncSqlStore]] = [
        (
            "sqlite file (WAL)",
            SqlStore.from_url(f"sqlite:///{workdir / 'sync.db'}", **pool_args),
            AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{workdir / 'async.db'}", **pool_args),
        )
    ]
    pg_url = os.environ.get(PG_ENV, "").strip()
    if pg_url:
        prefix = f"bench{uuid.uuid4().hex[:8]}_"
        sync_pg = SqlStore.from_url(pg_url, table_prefix=prefix + "s_", **pool_args)
        async_pg = AsyncSqlStore.from_url(pg_url, table_prefix=prefix + "a_", **pool_args)
        sql_stores.append(("postgresql", sync_pg, async_pg))
    else:
        print(f"(PostgreSQL skipped: set {PG_ENV} to include it)\n")
    try:
        sides = [
            async_side("memory", AsyncMemoryStore(), loop),
            sync_side("memory", MemoryStore(), pool),
        ]
        for name, sync_store, async_store in sql_stores:
            loop.run_until_complete(async_store.create_all())
            sides.append(async_side(name, async_store, loop))
            sides.append(sync_side(name, sync_store, pool))
        for side in sides:
            side.clock.advance(STEP * 3)
            run_round(side, 1)  # warm-up: connections, threads, caches
        for r in range(cfg.rounds):
            shift = r % len(sides)
            for side in sides[shift:] + sides[:shift]:
                side.rates.append(run_round(side, cfg.batches))
        report(sides)
    except BenchmarkError as exc:
        print(f"BENCHMARK INVALID: {exc}")
    finally:
        pool.shutdown()
        for _, sync_store, async_store in sql_stores:
            if sync_store.engine.dialect.name == "postgresql":
                sync_store.metadata.drop_all(sync_store.engine)
                async_store.metadata.drop_all(sync_store.engine)
            sync_store.close()
            loop.run_until_complete(async_store.close())
        loop.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
