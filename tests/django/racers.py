"""Worker processes that race on one database through Django (imported by spawned children).

:class:`Racers` starts N processes with the ``spawn`` start method once. The
first scenario a process runs configures Django in it (its own settings,
connections and app registry, as a separate app server has) for the test
databases the parent made; each then builds its own
:class:`~mfakit.integrations.django.store.DjangoStore` (or a whole
:class:`mfakit.MFA`), reads what it needs, waits at a shared barrier so all
act at the same instant, performs one operation and reports what it saw.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from multiprocessing.synchronize import Barrier
from typing import Any

SPAWN = multiprocessing.get_context("spawn")
BARRIER_TIMEOUT = 60.0
RESULT_TIMEOUT = 120.0


def _setup(databases: dict[str, Any]) -> None:
    import django
    from django.conf import settings

    from tests.django.settings import build

    if not settings.configured:
        settings.configure(**build(databases))
        django.setup()


def _store(alias: str) -> Any:
    from mfakit.integrations.django.store import DjangoStore

    store = DjangoStore(alias)
    store.get_counter("warm-up")  # connect before the race
    return store


def race_backup_code(barrier: Barrier, alias: str, *, user_id: str, lookup: str) -> bool:
    from mfakit.testing.contract import T0

    store = _store(alias)
    barrier.wait(BARRIER_TIMEOUT)
    return bool(store.use_backup_code(user_id, lookup, now=T0))


def race_totp_step(
    barrier: Barrier, alias: str, *, user_id: str, factor_id: str, step: int
) -> bool:
    from mfakit.testing.contract import T0

    store = _store(alias)
    barrier.wait(BARRIER_TIMEOUT)
    return bool(store.advance_totp(user_id, factor_id, step=step, now=T0))


def race_last_attempt(barrier: Barrier, alias: str, *, challenge_id: str) -> bool:
    """Everyone read the challenge at the same version; each tries to record
    the last allowed wrong attempt, which locks it."""
    from mfakit import State

    store = _store(alias)
    rec = store.get_challenge(challenge_id)
    assert rec is not None
    barrier.wait(BARRIER_TIMEOUT)
    return bool(store.update_challenge(replace(rec, attempts=rec.attempts + 1, state=State.LOCKED)))


def race_last_send(barrier: Barrier, alias: str, *, key: str) -> bool:
    """Everyone read the send counter one below the quota; each tries to take
    the last send."""
    store = _store(alias)
    counter = store.get_counter(key)
    assert counter is not None
    barrier.wait(BARRIER_TIMEOUT)
    return bool(store.put_counter(replace(counter, count=counter.count + 1)))


def race_sign_in(
    barrier: Barrier, alias: str, *, secret_key: str, user_id: str, code: str, at: datetime
) -> bool:
    """A whole app server: its own MFA over the shared database, each with its
    own sign-in challenge, verifying the same valid authenticator code."""
    import mfakit
    from mfakit.testing import FakeClock, fast_hasher

    store = _store(alias)
    mfa = mfakit.MFA(
        store=store,
        audit=store,
        secret_key=secret_key,
        issuer="Race",
        clock=FakeClock(at),
        hasher=fast_hasher(),
    )
    start = mfa.begin_sign_in(user_id)
    assert start.challenge is not None, start
    barrier.wait(BARRIER_TIMEOUT)
    return mfa.verify(start.challenge.id, code).ok


def race_take_ceremony(barrier: Barrier, alias: str, *, ceremony_id: str) -> bool:
    from mfakit.testing.contract import T0

    store = _store(alias)
    barrier.wait(BARRIER_TIMEOUT)
    return store.take_ceremony(ceremony_id, now=T0) is not None


def contract_store(databases: dict[str, Any], alias: str) -> Any:
    """A DjangoStore in a racing process of ``mfakit.testing.contract.ProcessRaceContract``
    (Django configured for the parent's test databases); closing it closes the
    process's connections, so the parent can drop the test databases."""
    _setup(databases)
    from django.db import connections

    from mfakit.integrations.django.store import DjangoStore

    class ClosingStore(DjangoStore):
        def close(self) -> None:
            connections.close_all()

    store = ClosingStore(alias)
    store.get_counter("warm-up")  # connect before the race
    return store


SCENARIOS: dict[str, Callable[..., Any]] = {
    "backup_code": race_backup_code,
    "totp_step": race_totp_step,
    "last_attempt": race_last_attempt,
    "last_send": race_last_send,
    "sign_in": race_sign_in,
    "take_ceremony": race_take_ceremony,
}


def _worker(barrier: Barrier, inbox: Any, outbox: Any) -> None:
    while True:
        message = inbox.get()
        if message is None:
            return
        name, databases, alias, params = message
        try:
            _setup(databases)
            try:
                outbox.put(("ok", SCENARIOS[name](barrier, alias, **params)))
            finally:
                from django.db import connections

                connections.close_all()
        except BaseException:
            barrier.abort()  # release the others at once instead of a timeout
            outbox.put(("error", traceback.format_exc()))


class Racers:
    """``n`` spawned processes that run scenarios together."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.barrier = SPAWN.Barrier(n)
        self.inboxes = [SPAWN.Queue() for _ in range(n)]
        self.outbox = SPAWN.Queue()
        self.processes = [
            SPAWN.Process(target=_worker, args=(self.barrier, inbox, self.outbox), daemon=True)
            for inbox in self.inboxes
        ]
        for p in self.processes:
            p.start()

    def run(self, scenario: str, databases: dict[str, Any], alias: str, **params: Any) -> list[Any]:
        """Run ``scenario`` in every process; their results, in arrival order."""
        self.barrier.reset()
        for inbox in self.inboxes:
            inbox.put((scenario, databases, alias, params))
        replies: list[tuple[str, Any]] = []
        deadline = time.monotonic() + RESULT_TIMEOUT
        while len(replies) < self.n:
            try:
                replies.append(self.outbox.get(timeout=0.5))
            except queue.Empty:
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                if dead:
                    raise AssertionError(f"a racer process died (exit codes {dead})") from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"the racers did not answer within {RESULT_TIMEOUT} s"
                    ) from None
        errors = [detail for status, detail in replies if status == "error"]
        if errors:
            raise AssertionError("a racer failed:\n" + "\n".join(errors))
        return [detail for _, detail in replies]

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():  # pragma: no cover
                p.terminate()
                p.join()
        for q in (*self.inboxes, self.outbox):
            q.close()
            q.join_thread()
