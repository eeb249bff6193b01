"""mfakit on SQL storage: sign-ins per second, cost growth, statements per verification.

Run from the repository root (PostgreSQL is included when
``MFAKIT_TEST_POSTGRES_URL`` is set, e.g. from ``scripts/postgres``)::

    python benchmarks/bench_sql.py           # full run: 1,000 vs 1,000,000 users
    python benchmarks/bench_sql.py --quick   # smoke run: 1,000 vs 100,000 users

A report, not a test: it prints tables and always exits 0.

1. Full sign-in verification (``begin_sign_in`` + ``verify`` with a valid TOTP
   code) per second on ``MemoryStore``, SQLite (file, WAL) and PostgreSQL, side
   by side: interleaved rounds, order rotated every round, medians.
2. Cost growth: ``verify_totp`` latency on SQLite with 1,000 and with
   1,000,000 users (rows bulk-inserted through SQLAlchemy ``executemany``);
   target: the larger within 1.3x of the smaller.
3. Statements per verification, counted with a ``before_cursor_execute``
   listener, for ``verify_totp`` and for ``begin_sign_in`` + ``verify``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import uuid
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any

from sqlalchemy import Engine, event, insert

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import MemoryStore
from mfakit.adapters.sql import SqlStore
from mfakit.ports.storage import Store
from mfakit.testing import FakeClock, authenticator_code, fast_hasher

SECRET_KEY = "e7f5bcb8c1ed11b15e23c6d1d7d7009f4ee365157264f4899b05ccaef11da9a7"
ISSUER = "Bench"
STEP = timedelta(seconds=30)
PG_ENV = "MFAKIT_TEST_POSTGRES_URL"
START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Config:
    signin_rounds: int
    signin_per_round: int
    growth_rounds: int
    growth_per_round: int
    big_users: int


FULL = Config(
    signin_rounds=21,
    signin_per_round=50,
    growth_rounds=21,
    growth_per_round=100,
    big_users=1_000_000,
)
QUICK = Config(
    signin_rounds=5, signin_per_round=20, growth_rounds=5, growth_per_round=40, big_users=100_000
)


class BenchmarkError(RuntimeError):
    """A verification that should have succeeded did not."""


@dataclass
class Backend:
    """One store with its own MFA and clock, and a user enrolled on it."""

    name: str
    store: Store
    clock: FakeClock
    mfa: MFA
    cleanup: Callable[[], None] = lambda: None
    engine: Engine | None = None
    uri: str = ""
    user_id: str = ""
    timings: list[float] = field(default_factory=list)

    def enrol(self, user_id: str) -> None:
        actor = Actor.user(user_id, reauthenticated_at=self.clock.now())
        setup = self.mfa.begin_totp_setup(actor, user_id, account_name=f"{user_id}@bench.example")
        done = self.mfa.confirm_totp_setup(
            actor, setup.id, authenticator_code(setup.uri, self.clock.now())
        )
        if not done.ok:
            raise BenchmarkError(f"{self.name}: enrolment failed: {done}")
        self.uri, self.user_id = setup.uri, user_id

    def next_codes(self, n: int) -> list[str]:
        """The codes the app shows at the next ``n`` steps (the clock is moved
        one step before each verification)."""
        now = self.clock.now()
        return [authenticator_code(self.uri, now + STEP * (i + 1)) for i in range(n)]


def make_backend(name: str, store: Store, **kw: Any) -> Backend:
    clock = FakeClock(START)
    mfa = MFA(store=store, secret_key=SECRET_KEY, issuer=ISSUER, clock=clock, hasher=fast_hasher())
    return Backend(name, store, clock, mfa, **kw)


def sql_backend(
    name: str, url: str, *, prefix: str = "mfa_", synchronous: str | None = None
) -> Backend:
    store = SqlStore.from_url(url, table_prefix=prefix)
    if synchronous is not None:  # SQLite only: set on every (new) connection

        def pragma(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")

        event.listen(store.engine, "connect", pragma)
        store.engine.dispose()

    def cleanup() -> None:
        if store.engine.dialect.name == "postgresql":
            store.metadata.drop_all(store.engine)
        store.close()

    return make_backend(name, store, cleanup=cleanup, engine=store.engine)


# --- 1. sign-ins per second -----------------------------------------------------


def time_sign_ins(b: Backend, n: int) -> float:
    """Mean ns per full sign-in (begin_sign_in + verify) over ``n`` sign-ins."""
    codes = b.next_codes(n)
    total = 0
    gc.disable()
    try:
        for code in codes:
            b.clock.advance(STEP)  # untimed
            t0 = perf_counter_ns()
            start = b.mfa.begin_sign_in(b.user_id)
            if start.challenge is None:
                raise BenchmarkError(f"{b.name}: no challenge: {start}")
            result = b.mfa.verify(start.challenge.id, code)
            total += perf_counter_ns() - t0
            if not result.ok:
                raise BenchmarkError(f"{b.name}: a valid code was refused: {result}")
    finally:
        gc.enable()
    return total / n


def bench_sign_ins(cfg: Config, backends: list[Backend]) -> None:
    for i, b in enumerate(backends):
        b.enrol(f"signin-user-{i}")
        b.clock.advance(STEP * 3)
        time_sign_ins(b, 5)  # warm-up: connections, prepared statements, caches
    for r in range(cfg.signin_rounds):
        shift = r % len(backends)
        for b in backends[shift:] + backends[:shift]:
            b.timings.append(time_sign_ins(b, cfg.signin_per_round))

    mem = next(b for b in backends if b.name == "memory")
    rows = []
    for b in backends:
        med = statistics.median(b.timings)
        rows.append(
            (
                b.name,
                f"{med / 1e3:,.0f} us",
                f"{1e9 / med:,.0f}/s",
                f"{min(b.timings) / 1e3:,.0f} / {max(b.timings) / 1e3:,.0f} us",
                f"{med / statistics.median(mem.timings):.1f}x",
            )
        )
    print_table(("store", "median", "sign-ins", "round min / max", "vs memory"), rows)


# --- 2. cost growth ---------------------------------------------------------------


def populate(store: SqlStore, users: int, batch: int = 20_000) -> float:
    """Bulk-insert ``users`` plausible users (a confirmed authenticator, a
    verified email, a failure counter, a state row) straight through
    SQLAlchemy executemany; returns the seconds it took."""
    t = store.metadata.tables
    p = store.table_prefix
    t0 = perf_counter()
    created = START - timedelta(days=30)
    blob = os.urandom(48)  # stands for AES-GCM ciphertext: never decrypted here
    with store.engine.begin() as conn:
        for lo in range(0, users, batch):
            ids = [f"user-{i:08d}" for i in range(lo, min(users, lo + batch))]
            conn.execute(
                insert(t[p + "totp_factors"]),
                [
                    {
                        "user_id": u,
                        "id": uuid.uuid4().hex[:22],
                        "label": "Authenticator",
                        "secret_key_id": "k1",
                        "secret_blob": blob,
                        "algorithm": "SHA1",
                        "digits": 6,
                        "period": 30,
                        "created_at": created,
                        "expires_at": None,
                        "confirmed_at": created,
                        "last_step": 59_000_000,
                        "last_used_at": created,
                    }
                    for u in ids
                ],
            )
            conn.execute(
                insert(t[p + "contacts"]),
                [
                    {
                        "user_id": u,
                        "kind": "email",
                        "value": f"{u}@example.org",
                        "created_at": created,
                        "verified_at": created,
                    }
                    for u in ids
                ],
            )
            conn.execute(
                insert(t[p + "counters"]),
                [
                    {
                        "key": f"failures:{u}",
                        "count": 0,
                        "window_start": created,
                        "updated_at": created,
                        "version": 3,
                    }
                    for u in ids
                ],
            )
            conn.execute(
                insert(t[p + "user_state"]),
                [
                    {
                        "user_id": u,
                        "security_version": 1,
                        "preferred_method": None,
                        "updated_at": created,
                    }
                    for u in ids
                ],
            )
    return perf_counter() - t0


def time_verify_totp(b: Backend, n: int) -> float:
    codes = b.next_codes(n)
    total = 0
    gc.disable()
    try:
        for code in codes:
            b.clock.advance(STEP)
            t0 = perf_counter_ns()
            result = b.mfa.verify_totp(b.user_id, code)
            total += perf_counter_ns() - t0
            if not result.ok:
                raise BenchmarkError(f"{b.name}: a valid code was refused: {result}")
    finally:
        gc.enable()
    return total / n


def bench_growth(cfg: Config, workdir: Path) -> None:
    sizes = (1_000, cfg.big_users)
    backends = []
    for users in sizes:
        b = sql_backend(
            f"{users:,} users",
            f"sqlite:///{workdir / f'growth-{users}.db'}",
            synchronous="NORMAL",
        )
        assert isinstance(b.store, SqlStore)
        seconds = populate(b.store, users)
        print(f"  populated {users:>9,} users in {seconds:5.1f} s", flush=True)
        b.enrol(f"user-{users // 2:08d}-bench")  # sorts into the middle of the keys
        b.clock.advance(STEP * 3)
        time_verify_totp(b, 5)
        backends.append(b)
    for r in range(cfg.growth_rounds):
        order = backends if r % 2 == 0 else backends[::-1]
        for b in order:
            b.timings.append(time_verify_totp(b, cfg.growth_per_round))
    small, big = (statistics.median(b.timings) for b in backends)
    rows = [(b.name, f"{statistics.median(b.timings) / 1e3:,.0f} us") for b in backends]
    print_table(("SQLite file, verify_totp", "median"), rows)
    ratio = big / small
    verdict = "PASS" if ratio <= 1.3 else "MISS"
    print(f"  ratio {sizes[1]:,} / {sizes[0]:,} users: {ratio:.2f}x (target <= 1.3x) {verdict}")
    for b in backends:
        size = Path(str(b.store.engine.url.database)).stat().st_size  # type: ignore[attr-defined]
        b.cleanup()
        print(f"  {b.name}: database file {size / 2**20:,.1f} MiB")


# --- 3. statements per verification -------------------------------------------------


def count_statements(b: Backend) -> tuple[Tally[str], Tally[str]]:
    assert b.engine is not None
    seen: Tally[str] = Tally()

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen[statement.split(None, 1)[0].upper()] += 1

    event.listen(b.engine, "before_cursor_execute", listener)
    try:
        b.clock.advance(STEP)
        code = b.next_codes(0) or [authenticator_code(b.uri, b.clock.now())]
        seen.clear()
        if not b.mfa.verify_totp(b.user_id, code[0]).ok:
            raise BenchmarkError("verify_totp refused a valid code")
        direct = Tally(seen)
        b.clock.advance(STEP)
        code = [authenticator_code(b.uri, b.clock.now())]
        seen.clear()
        start = b.mfa.begin_sign_in(b.user_id)
        assert start.challenge is not None
        if not b.mfa.verify(start.challenge.id, code[0]).ok:
            raise BenchmarkError("verify refused a valid code")
        return direct, Tally(seen)
    finally:
        event.remove(b.engine, "before_cursor_execute", listener)


def describe(t: Tally[str]) -> str:
    parts = ", ".join(f"{k} {v}" for k, v in sorted(t.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(t.values())} ({parts})"


def bench_statements(backends: list[Backend]) -> None:
    rows = []
    for b in backends:
        if b.engine is None:
            continue
        direct, full = count_statements(b)
        rows.append((b.name, describe(direct), describe(full)))
    print_table(("store", "verify_totp", "begin_sign_in + verify"), rows)


# --- report -------------------------------------------------------------------------


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        rest = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in rest]
        return "  ".join(cells).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 100,000 users")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    pg_url = os.environ.get(PG_ENV, "").strip()

    print(f"mfakit {mfakit.__version__} SQL benchmarks ({'quick' if args.quick else 'full'})")
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
        f"SQLAlchemy {version('SQLAlchemy')}, psycopg {version('psycopg')}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
    print(
        f"sign-in: {cfg.signin_rounds} rounds x {cfg.signin_per_round}; cost growth: "
        f"{cfg.growth_rounds} rounds x {cfg.growth_per_round}; medians of per-round means"
    )
    print(flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="mfakit-bench-"))
    backends = [make_backend("memory", MemoryStore())]
    try:
        backends.append(sql_backend("sqlite file (WAL)", f"sqlite:///{workdir / 'signin.db'}"))
        if pg_url:
            prefix = f"bench{uuid.uuid4().hex[:8]}_"
            backends.append(sql_backend("postgresql", pg_url, prefix=prefix))
        else:
            print(f"(PostgreSQL skipped: set {PG_ENV} to include it)\n")

        print("1. Full sign-in verification: begin_sign_in + verify (valid TOTP code)")
        bench_sign_ins(cfg, backends)
        print("2. Statements per verification (before_cursor_execute)")
        bench_statements(backends)
        print(f"3. Cost growth: verify_totp with 1,000 and {cfg.big_users:,} users (SQLite)")
        print(
            "  (synchronous=NORMAL here, so the per-commit fsync, the same for any size and "
            "the noisiest part on this disk, does not hide the effect of size; section 1 "
            "uses the default FULL)"
        )
        bench_growth(cfg, workdir)
    except BenchmarkError as exc:
        print(f"BENCHMARK INVALID: {exc}")
    finally:
        for b in backends:
            b.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
