"""benchmarks/bench_peer.py: the instrument counts what it claims, and a tiny
run on SQLite completes with every result checked.

The counter tests use known SQL with known answers (SQLite always; PostgreSQL
with ``MFAKIT_TEST_POSTGRES_URL``). The tiny run needs django-otp, which is in
the ``bench`` dependency group, not in ``dev``: without it that test skips,
also in CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from mfakit.adapters.sql import configure_sqlite

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_peer  # noqa: E402 - needs benchmarks/ on sys.path

PG_ENV = "MFAKIT_TEST_POSTGRES_URL"
NO_DJANGO_OTP = (
    "django-otp is not installed: it is in the 'bench' dependency group "
    "(pip install --group bench), not in the dev extra, so this test skips in CI too"
)


def count(engine: Engine, *blocks: list[str], begin: bool = True) -> bench_peer.TxCounter:
    """Run each block of statements in one ``engine.begin()`` (or, with
    ``begin=False``, on a plain connection, committing at the end)."""
    counter = bench_peer.TxCounter()
    with bench_peer.counting_sqlalchemy(engine, counter):
        for block in blocks:
            if begin:
                with engine.begin() as conn:
                    for sql in block:
                        conn.exec_driver_sql(sql)
            else:
                with engine.connect() as conn:
                    for sql in block:
                        conn.exec_driver_sql(sql)
                    conn.commit()
    return counter


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite the way mfakit's SqlStore.from_url sets it up: SQLAlchemy emits BEGIN."""
    engine = create_engine(f"sqlite:///{tmp_path / 'count.db'}")
    configure_sqlite(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 0)")
    yield engine
    engine.dispose()


@pytest.fixture
def autocommit_sqlite(tmp_path: Path) -> Iterator[Engine]:
    """SQLite with the driver in autocommit and no BEGIN: each statement commits."""
    engine = create_engine(
        f"sqlite:///{tmp_path / 'auto.db'}", connect_args={"isolation_level": None}
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 0)")
    yield engine
    engine.dispose()


def test_statement_kinds() -> None:
    assert bench_peer.statement_kind("SELECT v FROM t WHERE k = 1 FOR UPDATE") == ("SELECT", False)
    assert bench_peer.statement_kind("update t set v = 1") == ("UPDATE", True)
    assert bench_peer.statement_kind("WITH x AS (UPDATE t SET v = 1 RETURNING k) SELECT k FROM x")[
        1
    ]
    assert not bench_peer.statement_kind("WITH x AS (SELECT 1) SELECT * FROM x")[1]


def test_one_transaction_is_one_commit(sqlite_engine: Engine) -> None:
    c = count(sqlite_engine, ["UPDATE t SET v = v + 1", "INSERT INTO t VALUES (2, 0)"])
    assert (c.commits, c.total_statements, c.read_only, c.rolled_back) == (1, 2, 0, 0)
    assert c.statements == {"UPDATE": 1, "INSERT": 1}  # BEGIN is not a statement here


def test_reads_alone_are_no_commit(sqlite_engine: Engine) -> None:
    c = count(sqlite_engine, ["SELECT v FROM t"], ["SELECT k FROM t", "SELECT v FROM t"])
    assert (c.commits, c.total_statements, c.read_only) == (0, 3, 2)


def test_each_autocommitted_write_is_a_commit(autocommit_sqlite: Engine) -> None:
    c = count(autocommit_sqlite, ["UPDATE t SET v = 1", "UPDATE t SET v = 2", "SELECT v FROM t"])
    assert (c.commits, c.total_statements, c.read_only) == (2, 3, 0)


def test_a_write_that_changes_no_row_still_commits(autocommit_sqlite: Engine) -> None:
    c = count(autocommit_sqlite, ["UPDATE t SET v = 1 WHERE k = 99"])
    assert c.commits == 1


def test_commit_sent_as_sql_counts_once(autocommit_sqlite: Engine) -> None:
    c = count(
        autocommit_sqlite,
        ["BEGIN IMMEDIATE", "UPDATE t SET v = 1", "UPDATE t SET v = 2", "COMMIT"],
        begin=False,
    )
    assert (c.commits, c.total_statements) == (1, 2)


def test_each_run_of_an_executemany_is_a_statement(
    sqlite_engine: Engine, autocommit_sqlite: Engine
) -> None:
    rows = [(1, 1), (2, 1), (3, 1)]
    for engine, commits in ((sqlite_engine, 1), (autocommit_sqlite, 3)):
        counter = bench_peer.TxCounter()
        with bench_peer.counting_sqlalchemy(engine, counter), engine.begin() as conn:
            conn.exec_driver_sql("UPDATE t SET v = ? WHERE k = ?", rows)
        assert (counter.total_statements, counter.commits) == (3, commits)


def test_statements_joined_in_one_text_count_one_by_one() -> None:
    sql = "UPDATE t SET v = ';'; -- a comment; not a statement\nINSERT INTO t VALUES (1); "
    assert [bench_peer.statement_kind(p) for p in bench_peer.split_sql(sql)] == [
        ("UPDATE", True),
        ("INSERT", True),
    ]
    assert bench_peer.split_sql("SELECT 1") == ["SELECT 1"]


def test_a_rolled_back_write_is_no_commit(sqlite_engine: Engine) -> None:
    def abandon() -> None:
        with sqlite_engine.begin() as conn:
            conn.exec_driver_sql("UPDATE t SET v = 5")
            raise RuntimeError("abandon")

    counter = bench_peer.TxCounter()
    with bench_peer.counting_sqlalchemy(sqlite_engine, counter), pytest.raises(RuntimeError):
        abandon()
    assert (counter.commits, counter.rolled_back) == (0, 1)
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT v FROM t").scalar() == 0


def postgres_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(f"PostgreSQL tests need a server: set {PG_ENV} to run them; .ci/run does")
    return url


def test_postgres_autocommit_and_transactions() -> None:
    url = postgres_url()
    table = f"count_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (k integer PRIMARY KEY, v integer)"))
            conn.execute(text(f"INSERT INTO {table} VALUES (1, 0)"))  # noqa: S608 - our name
        update = f"UPDATE {table} SET v = v + 1"  # noqa: S608 - a generated table name
        read = f"SELECT v FROM {table}"  # noqa: S608 - a generated table name
        c = count(auto, [update, update, read])
        assert (c.commits, c.total_statements, c.read_only) == (2, 3, 0)
        c = count(engine, [update, update, read])
        assert (c.commits, c.total_statements, c.read_only) == (1, 3, 0)
        c = count(engine, [read])
        assert (c.commits, c.read_only) == (0, 1)
        # Two statements in one text: two statements, and in autocommit one
        # implicit transaction (PostgreSQL's rule for a multi-statement query).
        c = count(auto, [f"{update}; {update}"])
        assert (c.commits, c.total_statements) == (1, 2)
        c = count(auto, ["BEGIN", update, "COMMIT", update])
        assert (c.commits, c.total_statements) == (2, 2)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


TINY = bench_peer.Config(
    name="tiny",
    rounds=2,
    per_round=3,
    counted=2,
    proc_counts=(1, 2),
    proc_seconds=0.2,
    proc_repeats=1,
    big_users=2_000,
    growth_rounds=2,
    growth_per_round=3,
    conc_rounds=1,
    conc_batches=1,
    mem_rounds=3,
    mem_per_round=10,
    race_procs=2,
    race_steps=3,
    conc_width=4,
)


def columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_tiny_run_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("django_otp", reason=NO_DJANGO_OTP)
    monkeypatch.delenv(PG_ENV, raising=False)  # SQLite only
    # In a process of its own: the benchmark configures Django for django-otp,
    # which this test process may already have configured for mfakit's own app.
    runner = (
        "import argparse, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_bench_peer_smoke as smoke\n"
        "args = argparse.Namespace(pg_fsync_off=True, baseline_4p=smoke.bench_peer.BASELINE_4P)\n"
        "smoke.bench_peer.run(smoke.TINY, args)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", runner],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k != PG_ENV},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    out = done.stdout
    assert "BENCHMARK INVALID" not in out, out
    for heading in ("1. ", "2. ", "3. ", "4. ", "5. ", "6. ", "7. "):
        assert f"\n{heading}" in out
    assert "(skipped: no PostgreSQL)" in out

    # Every section states its verdict; the race table has both libraries.
    assert out.count("PASS") + out.count("MISS") >= 10
    race = out[out.index("\n7. ") :]
    assert re.search(r"^SQLite file\s+mfakit, free_failures=\d+.*?\s+\d+\s+\d+", race, re.M)
    assert re.search(r"^SQLite file\s+django-otp\s+\d+\s+\d+", race, re.M)

    # Section 2: django-otp's verification is one SELECT and one UPDATE that
    # commits by itself, as its source says (get, then save in autocommit).
    section = out[out.index("\n2. ") : out.index("\n3. ")]
    counted, synced = section.split("fsync + fdatasync calls per operation")
    django_row = next(line for line in counted.splitlines() if line.startswith("django-otp"))
    assert columns(django_row)[1:4] == ["1", "2", "(SELECT 1, UPDATE 1)"]
    commits: dict[str, int] = {}
    for line in counted.splitlines():
        if line.startswith("mfakit"):
            name, low, statements = columns(line)[:3]
            commits[name] = int(low.split("-")[0])
            assert commits[name] >= 1 and int(statements.split("-")[0]) >= 2, line

    # strace's count of disk syncs (SQLite, synchronous=FULL) agrees: one per
    # django-otp verification; for mfakit at least one, and never more syncs
    # than counted commits (a commit that changes nothing may skip its sync).
    if "strace not found" in synced:
        return
    syncs = {
        columns(line)[0]: float(columns(line)[1])
        for line in synced.splitlines()
        if line.startswith(("mfakit", "django-otp"))
    }
    assert syncs["django-otp"] == 1.0, synced
    for name in ("mfakit verify_totp, SQL audit", "mfakit sign-in, SQL audit"):
        assert 1 <= syncs[name] <= commits[name], (name, syncs, commits)
