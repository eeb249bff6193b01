"""Finding 5.9 of the 0.1.0 attack review: a world-readable database file.

``SqlStore.from_url("sqlite:///...")`` let SQLite create the file with the
process umask, usually 0644: every local user could read the TOTP ciphertexts,
code hashes and audit trail. Now the file is created 0600, and the ``-wal`` and
``-shm`` files are no more readable than it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfakit.adapters.sql import AsyncSqlStore, SqlStore
from mfakit.core.records import QuestionRecord
from mfakit.testing import FakeClock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files 0644
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_something(store: SqlStore) -> None:
    store.put_question(
        QuestionRecord(
            user_id="alice", question="Q?", answer_hash="$h", created_at=FakeClock().now()
        )
    )


def test_the_sync_store_creates_its_database_0600(tmp_path: Path) -> None:
    db = tmp_path / "mfa.db"
    store = SqlStore.from_url(f"sqlite:///{db}")
    try:
        write_something(store)
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm"):
            side = Path(f"{db}{suffix}")
            if side.exists():
                assert mode(side) == 0o600, suffix
        assert Path(f"{db}-wal").exists()  # WAL mode: the journal is there, and private
    finally:
        store.close()


def test_the_async_store_creates_its_database_0600(tmp_path: Path) -> None:
    db = tmp_path / "mfa.db"

    async def run() -> None:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{db}")
        try:
            await store.create_all()
            assert mode(db) == 0o600
            for suffix in ("-wal", "-shm"):
                side = Path(f"{db}{suffix}")
                if side.exists():
                    assert mode(side) == 0o600, suffix
        finally:
            await store.close()

    asyncio.run(run())


def test_journals_left_readable_are_tightened(tmp_path: Path) -> None:
    db = tmp_path / "mfa.db"
    SqlStore.from_url(f"sqlite:///{db}").close()
    wal = Path(f"{db}-wal")
    wal.touch()
    wal.chmod(0o644)
    store = SqlStore.from_url(f"sqlite:///{db}")
    try:
        write_something(store)
        if wal.exists():
            assert mode(wal) == 0o600
    finally:
        store.close()


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "mfa.db"
    db.touch()
    db.chmod(0o640)  # the operator's choice (a group that backs it up)
    SqlStore.from_url(f"sqlite:///{db}").close()
    assert mode(db) == 0o640
