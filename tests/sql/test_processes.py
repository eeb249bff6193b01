"""Four processes, each with its own store, race on one database: one winner.

The processes are spawned (not forked) and build their engines from the URL,
as separate app servers would. A barrier releases them at the same instant.
Each race runs on PostgreSQL and on a SQLite file (WAL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mfakit import MFA, Actor, State
from mfakit.adapters.sql import SqlStore
from mfakit.core import writes as w
from mfakit.core.records import Counter
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.contract import (
    T0,
    backup_codes,
    ceremony_record,
    challenge_record,
    totp_record,
)

from .conftest import unique_prefix
from .racers import Racers

SECRET = "716dd333dd855ec3777accae9973335129b7147646f2f185d78a788b7b381741"


@dataclass
class Shared:
    """A database the racers reach by URL and prefix, and the parent's own store on it."""

    url: str
    prefix: str
    store: SqlStore


@pytest.fixture(params=["postgres", "sqlite-file"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    prefix = unique_prefix()
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = SqlStore.from_url(url, table_prefix=prefix)
    yield Shared(url, prefix, store)
    store.metadata.drop_all(store.engine)
    store.close()


def one_winner(results: list[object]) -> None:
    assert len(results) == 4
    assert results.count(True) == 1, results
    assert results.count(False) == 3, results


def test_one_process_consumes_a_backup_code(racers: Racers, shared: Shared) -> None:
    shared.store.replace_backup_codes("alice", backup_codes())
    results = racers.run(
        "backup_code", shared.url, shared.prefix, user_id="alice", lookup="05", now=T0
    )
    one_winner(results)
    assert shared.store.count_backup_codes("alice") == 9
    assert shared.store.get_backup_code("alice", "05") is None


def test_one_process_accepts_a_totp_step(racers: Racers, shared: Shared) -> None:
    store = shared.store
    assert store.add_totp(totp_record(), limit=5, now=T0)
    assert store.confirm_totp("alice", "f1", step=100, now=T0, backup_codes=None)
    results = racers.run(
        "totp_step", shared.url, shared.prefix, user_id="alice", factor_id="f1", step=101, now=T0
    )
    one_winner(results)
    got = store.get_totp("alice", "f1")
    assert got is not None and got.last_step == 101


def test_one_process_records_the_last_allowed_attempt(racers: Racers, shared: Shared) -> None:
    store = shared.store
    store.insert_challenge(challenge_record(attempts=4))  # max_attempts 5: one left
    one_winner(racers.run("last_attempt", shared.url, shared.prefix, challenge_id="c1"))
    got = store.get_challenge("c1")
    assert got is not None
    assert got.attempts == 5 and got.state is State.LOCKED and got.version == 1


def test_one_process_takes_the_last_allowed_send(racers: Racers, shared: Shared) -> None:
    store = shared.store
    key = "sends:+14155550101"
    assert store.put_counter(Counter(key=key, count=1, window_start=T0, updated_at=T0))
    current = store.get_counter(key)
    assert current is not None
    for n in range(2, 5):  # quota 5: four sent, one left
        assert store.put_counter(replace(current, count=n))
        current = store.get_counter(key)
        assert current is not None
    one_winner(racers.run("last_send", shared.url, shared.prefix, key=key))
    got = store.get_counter(key)
    assert got is not None and got.count == 5 and got.version == current.version + 1


def test_no_increment_is_lost_across_processes(racers: Racers, shared: Shared) -> None:
    racers.run("increments", shared.url, shared.prefix, key="hits", times=25)
    got = shared.store.get_counter("hits")
    assert got is not None and got.count == 100 and got.version == 100


@pytest.fixture
def enrolled(shared: Shared) -> Callable[[], tuple[str, str, FakeClock]]:
    """Enrol alice through a whole MFA on the shared database; returns the URI,
    the code her app shows 90 s later, and the clock at that moment."""

    def enrol() -> tuple[str, str, FakeClock]:
        clock = FakeClock(T0)
        mfa = MFA(
            store=shared.store,
            secret_key=SECRET,
            issuer="Race",
            clock=clock,
            hasher=fast_hasher(),
        )
        actor = Actor.user("alice", reauthenticated_at=clock.now())
        setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
        confirmed = mfa.confirm_totp_setup(
            actor, setup.id, authenticator_code(setup.uri, clock.now())
        )
        assert confirmed.ok, confirmed
        clock.advance(timedelta(seconds=90))
        return setup.uri, authenticator_code(setup.uri, clock.now()), clock

    return enrol


@pytest.mark.parametrize("via_challenge", [False, True], ids=["verify_totp", "sign_in"])
def test_one_app_server_accepts_a_code(
    racers: Racers,
    shared: Shared,
    enrolled: Callable[[], tuple[str, str, FakeClock]],
    via_challenge: bool,
) -> None:
    """Four MFA instances (four app servers) verify the same valid code at once:
    ``verify_totp`` directly, or each through its own sign-in challenge."""
    _, code, clock = enrolled()
    results = racers.run(
        "sign_in",
        shared.url,
        shared.prefix,
        secret_key=SECRET,
        user_id="alice",
        code=code,
        at=clock.now(),
        via_challenge=via_challenge,
    )
    one_winner(results)


def test_one_user_hammered_by_app_servers(
    racers: Racers, shared: Shared, enrolled: Callable[[], tuple[str, str, FakeClock]]
) -> None:
    """Four app servers, their clocks a few milliseconds apart, submit every
    step's right code for one user at the same instant, some after a wrong
    one: each step's code is accepted exactly once (never twice, never
    refused as rate limited by a failure another server recorded "later")."""
    uri, _, clock = enrolled()
    base = int(clock.now().timestamp()) // 30 * 30 + 60 + 10  # 10 s into a fresh step
    start = datetime.fromtimestamp(base, tz=timezone.utc)
    steps = 10
    results = racers.run(
        "hammer",
        shared.url,
        shared.prefix,
        secret_key=SECRET,
        user_id="alice",
        uri=uri,
        start=start,
        steps=steps,
        skew_ms=4,
    )
    for step in range(steps):
        outcomes = [seen[step] for seen in results]
        assert [ok for ok, _ in outcomes].count(True) == 1, (step, outcomes)
        assert {reason for ok, reason in outcomes if not ok} <= {"replayed"}, (step, outcomes)


def test_one_process_takes_a_passkey_ceremony(racers: Racers, shared: Shared) -> None:
    # The same passkey ceremony finished by four app servers at once: exactly
    # one gets it (its assertion is then checked), the others find it taken.
    shared.store.apply([w.PutCeremony(ceremony_record())])
    results = racers.run("take_ceremony", shared.url, shared.prefix, ceremony_id="cer1", now=T0)
    one_winner(results)
    taken = shared.store.get_ceremony("cer1")
    assert taken is not None and taken.used_at == T0
