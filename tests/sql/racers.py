"""Worker processes that race on one database (imported by spawned children).

:class:`Racers` starts N processes with the ``spawn`` start method once; each
:meth:`Racers.run` sends them a scenario. Every process builds its own
:class:`SqlStore` (or a whole :class:`mfakit.MFA`) from the URL, prepares what
it needs, waits at a shared barrier so they all act at the same instant, then
performs one operation and reports what it saw.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from multiprocessing.synchronize import Barrier
from typing import Any

from mfakit.adapters.sql import SqlStore

SPAWN = multiprocessing.get_context("spawn")
BARRIER_TIMEOUT = 60.0
RESULT_TIMEOUT = 120.0


def _store(url: str, prefix: str) -> SqlStore:
    store = SqlStore.from_url(url, table_prefix=prefix, create=False)
    store.get_counter("warm-up")  # connect and check the schema before the race
    return store


def race_backup_code(
    barrier: Barrier, url: str, prefix: str, *, user_id: str, lookup: str, now: datetime
) -> bool:
    store = _store(url, prefix)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        return store.use_backup_code(user_id, lookup, now=now)
    finally:
        store.close()


def race_totp_step(
    barrier: Barrier,
    url: str,
    prefix: str,
    *,
    user_id: str,
    factor_id: str,
    step: int,
    now: datetime,
) -> bool:
    store = _store(url, prefix)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        return store.advance_totp(user_id, factor_id, step=step, now=now)
    finally:
        store.close()


def race_last_attempt(barrier: Barrier, url: str, prefix: str, *, challenge_id: str) -> bool:
    """Everyone read the challenge at the same version; each tries to record
    the last allowed wrong attempt, which locks it."""
    from mfakit import State

    store = _store(url, prefix)
    try:
        rec = store.get_challenge(challenge_id)
        assert rec is not None
        barrier.wait(BARRIER_TIMEOUT)
        return store.update_challenge(replace(rec, attempts=rec.attempts + 1, state=State.LOCKED))
    finally:
        store.close()


def race_last_send(barrier: Barrier, url: str, prefix: str, *, key: str) -> bool:
    """Everyone read the send counter one below the quota; each tries to take
    the last send."""
    store = _store(url, prefix)
    try:
        counter = store.get_counter(key)
        assert counter is not None
        barrier.wait(BARRIER_TIMEOUT)
        return store.put_counter(replace(counter, count=counter.count + 1))
    finally:
        store.close()


def race_increments(barrier: Barrier, url: str, prefix: str, *, key: str, times: int) -> int:
    """Increment a counter ``times`` times by compare-and-set, retrying; returns
    how many attempts lost a race."""
    from mfakit.core.records import Counter

    store = _store(url, prefix)
    lost = 0
    try:
        barrier.wait(BARRIER_TIMEOUT)
        for _ in range(times):
            while True:
                cur = store.get_counter(key)
                now = datetime(2026, 3, 1, tzinfo=timezone.utc)
                base = cur or Counter(key=key, count=0, window_start=now, updated_at=now)
                if store.put_counter(replace(base, count=base.count + 1)):
                    break
                lost += 1
        return lost
    finally:
        store.close()


def race_sign_in(
    barrier: Barrier,
    url: str,
    prefix: str,
    *,
    secret_key: str,
    user_id: str,
    code: str,
    at: datetime,
    via_challenge: bool,
) -> bool:
    """A whole app server: its own MFA over the shared database, verifying the
    same valid authenticator code as the others."""
    import mfakit
    from mfakit.testing import FakeClock, fast_hasher

    store = _store(url, prefix)
    try:
        mfa = mfakit.MFA(
            store=store,
            secret_key=secret_key,
            issuer="Race",
            clock=FakeClock(at),
            hasher=fast_hasher(),
        )
        if via_challenge:
            start = mfa.begin_sign_in(user_id)
            assert start.challenge is not None, start
            barrier.wait(BARRIER_TIMEOUT)
            return mfa.verify(start.challenge.id, code).ok
        barrier.wait(BARRIER_TIMEOUT)
        return mfa.verify_totp(user_id, code).ok
    finally:
        store.close()


def race_hammer(
    barrier: Barrier,
    url: str,
    prefix: str,
    *,
    secret_key: str,
    user_id: str,
    uri: str,
    start: datetime,
    steps: int,
    skew_ms: int,
) -> list[tuple[bool, str | None]]:
    """An app server hammering one user: at every step all racers submit the
    step's right code at the same instant, some after a wrong one, each with a
    clock a few milliseconds off the others'. One result per step."""
    from datetime import timedelta

    import mfakit
    from mfakit.testing import FakeClock, authenticator_code, fast_hasher

    store = _store(url, prefix)
    try:
        clock = FakeClock(start)
        mfa = mfakit.MFA(
            store=store, secret_key=secret_key, issuer="Race", clock=clock, hasher=fast_hasher()
        )
        seen: list[tuple[bool, str | None]] = []
        for step in range(steps):
            me = barrier.wait(BARRIER_TIMEOUT)  # a distinct index per racer
            now = start + timedelta(seconds=30 * step, milliseconds=me * skew_ms)
            clock.set(now)
            code = authenticator_code(uri, start + timedelta(seconds=30 * step))
            if (step + me) % 3 == 0:
                wrong = f"{(int(code) + 1) % 1_000_000:06d}"
                mfa.verify_totp(user_id, wrong)
            result = mfa.verify_totp(user_id, code)
            seen.append((result.ok, None if result.reason is None else result.reason.value))
        return seen
    finally:
        store.close()


def race_take_ceremony(
    barrier: Barrier, url: str, prefix: str, *, ceremony_id: str, now: datetime
) -> bool:
    store = _store(url, prefix)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        return store.take_ceremony(ceremony_id, now=now) is not None
    finally:
        store.close()


SCENARIOS: dict[str, Callable[..., Any]] = {
    "backup_code": race_backup_code,
    "totp_step": race_totp_step,
    "last_attempt": race_last_attempt,
    "last_send": race_last_send,
    "increments": race_increments,
    "sign_in": race_sign_in,
    "hammer": race_hammer,
    "take_ceremony": race_take_ceremony,
}


def _worker(barrier: Barrier, inbox: Any, outbox: Any) -> None:
    while True:
        message = inbox.get()
        if message is None:
            return
        name, url, prefix, params = message
        try:
            outbox.put(("ok", SCENARIOS[name](barrier, url, prefix, **params)))
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

    def run(self, scenario: str, url: str, prefix: str, **params: Any) -> list[Any]:
        """Run ``scenario`` in every process; their results, in arrival order."""
        self.barrier.reset()
        for inbox in self.inboxes:
            inbox.put((scenario, url, prefix, params))
        replies = []
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
