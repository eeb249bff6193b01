"""Four processes, each with its own Django setup and DjangoStore, race on one
database: exactly one winner. On PostgreSQL and on the SQLite test file.

The processes are spawned (not forked) and configure Django themselves for
the test databases pytest-django made, as separate app servers would. The
test runs with real transactions (``transaction=True``), so what it prepares
is committed and the racers see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections

from mfakit import MFA, Actor, State
from mfakit.core import writes as w
from mfakit.core.records import Counter
from mfakit.integrations.django.store import DjangoStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.testing.contract import (
    T0,
    backup_codes,
    ceremony_record,
    challenge_record,
    totp_record,
)

from .racers import Racers
from .settings import MFAKIT_ONLY

pytestmark = pytest.mark.django_db(
    transaction=True, databases="__all__", available_apps=MFAKIT_ONLY
)

SECRET = "e61fdd5a8556d375a46d2832bc04bcf4f4da9cebf8c27751ea8d9ee10a8efe02"
_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


@pytest.fixture(scope="session")
def racers() -> Iterator[Racers]:
    """Four worker processes (spawned once per session) for the races."""
    pool = Racers(4)
    yield pool
    pool.close()


@pytest.fixture(params=["postgres", "sqlite-file"])
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_alias"))
    return "default"


@pytest.fixture
def databases(alias: str) -> dict[str, Any]:
    """The test databases as the racers configure them (the parent's test names)."""
    found = {}
    for name in connections:
        settings = connections[name].settings_dict
        found[name] = {k: settings[k] for k in _KEYS if k in settings}
    assert found[alias]["NAME"] != ":memory:"
    return found


def one_winner(results: list[object]) -> None:
    assert len(results) == 4
    assert results.count(True) == 1, results
    assert results.count(False) == 3, results


def test_one_process_consumes_a_backup_code(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    store = DjangoStore(alias)
    store.replace_backup_codes("alice", backup_codes())
    one_winner(racers.run("backup_code", databases, alias, user_id="alice", lookup="05"))
    assert store.count_backup_codes("alice") == 9
    assert store.get_backup_code("alice", "05") is None


def test_one_process_accepts_a_totp_step(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    store = DjangoStore(alias)
    assert store.add_totp(totp_record(), limit=5, now=T0)
    assert store.confirm_totp("alice", "f1", step=100, now=T0, backup_codes=None)
    results = racers.run("totp_step", databases, alias, user_id="alice", factor_id="f1", step=101)
    one_winner(results)
    got = store.get_totp("alice", "f1")
    assert got is not None and got.last_step == 101


def test_one_process_records_the_last_allowed_attempt(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    store = DjangoStore(alias)
    store.insert_challenge(challenge_record(attempts=4))  # max_attempts 5: one left
    one_winner(racers.run("last_attempt", databases, alias, challenge_id="c1"))
    got = store.get_challenge("c1")
    assert got is not None
    assert got.attempts == 5 and got.state is State.LOCKED and got.version == 1


def test_one_process_takes_the_last_allowed_send(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    store = DjangoStore(alias)
    key = "sends:+14155550101"
    assert store.put_counter(Counter(key=key, count=1, window_start=T0, updated_at=T0))
    current = store.get_counter(key)
    assert current is not None
    for n in range(2, 5):  # quota 5: four sent, one left
        assert store.put_counter(replace(current, count=n))
        current = store.get_counter(key)
        assert current is not None
    one_winner(racers.run("last_send", databases, alias, key=key))
    got = store.get_counter(key)
    assert got is not None and got.count == 5 and got.version == current.version + 1


def test_one_app_server_accepts_a_code(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    """Four MFA instances (four app servers, each with its own Django) verify
    the same valid code, each through its own sign-in challenge."""
    store = DjangoStore(alias)
    clock = FakeClock(T0)
    mfa = MFA(store=store, secret_key=SECRET, issuer="Race", clock=clock, hasher=fast_hasher())
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok
    clock.advance(timedelta(seconds=90))
    code = authenticator_code(setup.uri, clock.now())
    results = racers.run(
        "sign_in", databases, alias, secret_key=SECRET, user_id="alice", code=code, at=clock.now()
    )
    one_winner(results)
    passed = [e for e in store.list_events("alice") if e.action == "second_step.passed"]
    assert len(passed) == 1


def test_one_process_takes_a_passkey_ceremony(
    racers: Racers, alias: str, databases: dict[str, Any]
) -> None:
    store = DjangoStore(alias)
    store.apply([w.PutCeremony(ceremony_record())])
    one_winner(racers.run("take_ceremony", databases, alias, ceremony_id="cer1"))
    taken = store.get_ceremony("cer1")
    assert taken is not None and taken.used_at == T0
