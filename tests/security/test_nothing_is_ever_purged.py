"""Issue 12, finding 5: nothing was ever purged.

In 0.1.0 expired challenges, idle send counters and revoked devices stayed
forever: one user signing in every day for 400 simulated days left 4,000
challenge rows. Now ``Store.purge`` (in the port and the contract suite) and
``MFA.purge_expired()`` delete them, run daily as docs/operating.md says.

The attack replayed here, on the memory store and on SQLite (on PostgreSQL the
contract suite's RetentionContract runs the same store operation): a user
signs in by SMS twice a day, trusting the device each time, and changes the
password every day (which revokes the devices), for 200 simulated days. With
``purge_expired()`` run once a day, what is left is at most two days' worth;
without it, everything stays (what 0.1.0 did, since it had nothing to run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy import table as sa_table

from mfakit import MFA, Actor, Policy
from mfakit.adapters import MemoryStore, Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import PHONE, enrol_phone

DAYS = 200
PER_DAY = 2


def rows(store: Any) -> dict[str, int]:
    """How many challenges, counters and devices the store holds."""
    if isinstance(store, MemoryStore):
        return {
            "challenges": len(store._challenges),
            "counters": len(store._counters),
            "devices": sum(len(d) for d in store._devices.values()),
        }
    counts = {}
    with store.engine.connect() as conn:
        for name, table in (
            ("challenges", "challenges"),
            ("counters", "counters"),
            ("devices", "trusted_devices"),
        ):
            rows_of = sa_table(f"mfa_{table}")  # the default table prefix
            counts[name] = conn.execute(select(func.count()).select_from(rows_of)).scalar_one()
    return counts


def make_store(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return MemoryStore()
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
    store.create_all()
    return store


def live(days: int, store: Any, *, purge: bool) -> tuple[MFA, FakeClock]:
    clock, outbox = FakeClock(), Outbox()
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        policy=Policy(trust_days=1),
        sms=outbox,
    )
    enrol_phone(mfa, outbox, clock)
    for _ in range(days):
        for _ in range(PER_DAY):
            start = mfa.begin_sign_in("alice")
            assert start.challenge is not None
            assert mfa.verify(start.challenge.id, outbox.last_code(PHONE), trust_device=True).ok
            clock.advance(hours=1)
        mfa.password_changed(Actor.user("alice"), "alice")  # revokes the devices
        clock.advance(hours=24 - PER_DAY)
        if purge:
            mfa.purge_expired()
    return mfa, clock


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_without_a_purge_everything_stays(store_kind: str, tmp_path: Path) -> None:
    """The growth the finding measured: one row per sign-in and device, forever."""
    store = make_store(store_kind, tmp_path)
    live(DAYS, store, purge=False)
    left = rows(store)
    assert left["challenges"] >= DAYS * PER_DAY
    assert left["devices"] == DAYS * PER_DAY


def test_a_daily_purge_keeps_two_days_worth(store_kind: str, tmp_path: Path) -> None:
    store = make_store(store_kind, tmp_path)
    mfa, _ = live(DAYS, store, purge=True)
    left = rows(store)
    assert left["challenges"] <= 2 * PER_DAY, left
    assert left["devices"] <= 2 * PER_DAY, left
    assert left["counters"] <= 4, left  # the send window and the failure counter, not one a day
    assert mfa.purge_expired() == 0  # nothing due twice
    # The user still signs in: a purge takes nothing that still matters.
    assert mfa.begin_sign_in("alice").challenge is not None
