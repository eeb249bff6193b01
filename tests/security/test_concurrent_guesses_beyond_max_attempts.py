"""Issue 12, finding 5: concurrent guesses got more compares than ``max_attempts``.

In 0.1.0 a challenge's attempts were checked when the challenge was read and
counted after the compare: every request that read the challenge before it
locked was compared, recorded as a failure, and a right guess among them was
answered apart from the wrong ones ("invalid code" rather than "too many
attempts"), a backup code being spent on the way.

Now a guess's attempt is taken by compare-and-set on the challenge as it was
read: for one-time codes in the same unit of work as the outcome, so a compare
whose write loses the race is discarded unseen and the request reads again; for
backup codes and security answers, which cost a slow hash, before the hash, so
a request finding no attempt left hashes nothing. These tests make every request
read the challenge before any of them writes (the store holds each request after
its first read of the challenge), on the memory store and on SQLite, and count
what was compared: failures recorded and slow hashes run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mfakit import MFA, Action, ConflictingState, Policy, Reason, State
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.core import backup_codes as bc
from mfakit.hashers import Argon2Hasher
from mfakit.testing import FakeClock
from tests.conftest import SECRET
from tests.helpers import PHONE, enrol_phone, fresh

MAX = 3
THREADS = 12
ANSWER = "Fluffy"
QUESTION = "What was the name of your first pet?"


# --- a real store that holds a request after it has read the challenge ------------


class Gate:
    """Holds each enlisted thread right after its first read of a challenge:
    at a barrier until all have read, or (``hold``) until released."""

    def __init__(self, parties: int = 1, *, hold: bool = False) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.hold = threading.Event() if hold else None
        self.holding = threading.Event()
        self.local = threading.local()

    def enlist(self) -> None:
        self.local.gated = True

    def after_read(self) -> None:
        if not getattr(self.local, "gated", False) or getattr(self.local, "passed", False):
            return
        self.local.passed = True
        if self.hold is not None:
            self.holding.set()
            assert self.hold.wait(timeout=30), "never released"
        else:
            self.barrier.wait()


class _Gated:
    gate: Gate | None = None

    def get_challenge(self, *args: Any, **kwargs: Any) -> Any:
        found = super().get_challenge(*args, **kwargs)  # type: ignore[misc]
        if self.gate is not None:
            self.gate.after_read()
        return found

    def load_challenge(self, *args: Any, **kwargs: Any) -> Any:
        found = super().load_challenge(*args, **kwargs)  # type: ignore[misc]
        if self.gate is not None:
            self.gate.after_read()
        return found


class GatedMemoryStore(_Gated, MemoryStore):
    pass


class GatedSqlStore(_Gated, SqlStore):
    pass


class CountingHasher(Argon2Hasher):
    """argon2id (test parameters) that counts the hashes it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)  # as fast_hasher()
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hashed: str, secret: str) -> bool:
        with self._lock:
            self.verified += 1
        return super().verify(hashed, secret)


# --- Alice with a phone, backup codes and a security question -----------------------


@dataclass
class World:
    mfa: MFA
    store: Any
    audit: MemoryAuditLog
    hasher: CountingHasher
    outbox: Outbox
    clock: FakeClock
    backup_codes: list[str]
    challenge_id: str = ""
    right: str = ""


def build(kind: str, store_kind: str, tmp_path: Path) -> World:
    if store_kind == "memory":
        store: Any = GatedMemoryStore()
    else:
        store = GatedSqlStore.from_url(f"sqlite:///{tmp_path / 'mfa.db'}")
        store.create_all()
    clock, outbox, audit, hasher = FakeClock(), Outbox(), MemoryAuditLog(), CountingHasher()
    policy = Policy(
        max_attempts=MAX,
        free_failures=40,  # the account's back-off must not be what stops them
        backup_code_free_failures=40,
        question_guards_alternatives=kind == "answer",
    )
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=hasher,
        policy=policy,
        audit=audit,
        sms=outbox,
    )
    codes = enrol_phone(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock), "alice", QUESTION, ANSWER)
    world = World(mfa, store, audit, hasher, outbox, clock, codes)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    world.challenge_id = start.challenge.id
    if kind == "answer":
        assert mfa.try_another_way(start.challenge.id).state is State.AWAITING_ANSWER
        world.right = ANSWER
    elif kind == "backup_code":
        world.right = codes[0]
    else:
        world.right = outbox.last_code(PHONE)
    return world


def wrong(world: World, kind: str, i: int) -> str:
    if kind == "answer":
        return f"Rex {i}"
    if kind == "backup_code":
        # Well-formed, and not one of Alice's (the lookup id may match: still wrong).
        lookup = bc.read_code(world.backup_codes[1])
        assert lookup is not None
        return lookup[:2] + "ZZZZZZZZ" + bc.ALPHABET[i // 32] + bc.ALPHABET[i % 32]
    return f"{(int(world.right) + 1 + i) % 1_000_000:06d}"


def guess(world: World, kind: str, text: str) -> tuple[bool, Reason | None]:
    if kind == "answer":
        answered = world.mfa.answer_security_question(world.challenge_id, text)
        return answered.ok, answered.reason
    verified = world.mfa.verify(world.challenge_id, text)
    return verified.ok, verified.reason


def failures(world: World) -> int:
    counted = {Action.SECOND_STEP_FAILED, Action.QUESTION_FAILED}
    return sum(1 for e in world.audit.list_events("alice", limit=1000) if e.action in counted)


def run_threads(n: int, target: Callable[[int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads


KINDS = ["sms", "backup_code", "answer"]
SLOW = {"backup_code", "answer"}


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kind", KINDS)
def test_guesses_read_before_the_lock_get_max_attempts_compares(
    kind: str, store_kind: str, tmp_path: Path
) -> None:
    world = build(kind, store_kind, tmp_path)
    texts = [wrong(world, kind, i) for i in range(THREADS)]
    failed_before, hashed_before = failures(world), world.hasher.verified
    gate = Gate(THREADS)
    world.store.gate = gate
    answers: list[tuple[bool, Reason | None]] = []
    errors: list[BaseException] = []

    def attempt(i: int) -> None:
        gate.enlist()
        try:
            answers.append(guess(world, kind, texts[i]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    for t in run_threads(THREADS, attempt):
        t.join()
    world.store.gate = None
    assert not errors, errors
    assert len(answers) == THREADS
    assert not any(ok for ok, _ in answers)
    # Exactly MAX guesses were compared and counted; the rest learned nothing.
    assert failures(world) - failed_before == MAX
    if kind in SLOW:
        assert world.hasher.verified - hashed_before == MAX
    told_wrong = [r for _, r in answers if r is not Reason.TOO_MANY_ATTEMPTS]
    assert len(told_wrong) == MAX - 1, answers
    assert world.mfa.get_challenge(world.challenge_id).state is State.LOCKED


@pytest.mark.parametrize("kind", KINDS)
def test_a_right_guess_read_before_the_lock_is_answered_like_a_wrong_one(
    kind: str, store_kind: str, tmp_path: Path
) -> None:
    world = build(kind, store_kind, tmp_path)
    gate = Gate(hold=True)
    world.store.gate = gate
    late: list[tuple[bool, Reason | None]] = []

    def right(_: int) -> None:
        gate.enlist()
        late.append(guess(world, kind, world.right))

    (thread,) = run_threads(1, right)
    assert gate.holding.wait(timeout=30)
    # While the right guess waits, having read the challenge open, MAX wrong ones lock it.
    for i in range(MAX):
        assert not guess(world, kind, wrong(world, kind, i))[0]
    assert world.mfa.get_challenge(world.challenge_id).state is State.LOCKED
    failed_before, hashed_before = failures(world), world.hasher.verified
    left_before = world.mfa.backup_codes_left("alice")
    gate.hold.set()  # type: ignore[union-attr]
    thread.join()
    world.store.gate = None
    # The same answer as a wrong guess now: nothing tells the right one apart.
    assert late == [guess(world, kind, wrong(world, kind, 99))]
    assert late == [(False, Reason.TOO_MANY_ATTEMPTS)]
    passed = [e for e in world.audit.list_events("alice", limit=1000)]
    assert not any(
        e.action is Action.SECOND_STEP_PASSED and e.details.get("purpose") == "sign_in"
        for e in passed
    )
    if kind in SLOW:
        assert world.hasher.verified == hashed_before  # not even hashed
    assert failures(world) == failed_before
    assert world.mfa.backup_codes_left("alice") == left_before  # no backup code spent


def test_a_right_answer_gives_its_attempt_back(tmp_path: Path) -> None:
    """Reserving before the hash must not make a right answer cost an attempt."""
    world = build("answer", "memory", tmp_path)
    for i in range(MAX - 1):
        assert guess(world, "answer", wrong(world, "answer", i)) == (False, Reason.INVALID_ANSWER)
    assert guess(world, "answer", ANSWER)[0]
    assert world.mfa.get_challenge(world.challenge_id).attempts_left == 1


def test_an_answer_read_before_another_unlocked_the_question_is_not_compared(
    tmp_path: Path,
) -> None:
    """Another request answered right meanwhile: the late answer, wrong here, is
    neither hashed nor told "right"; it is refused as a call made now would be."""
    world = build("answer", "memory", tmp_path)
    gate = Gate(hold=True)
    world.store.gate = gate
    late: list[BaseException] = []

    def wrong_answer(_: int) -> None:
        gate.enlist()
        try:
            guess(world, "answer", "Rex")
        except BaseException as exc:  # expected: reported below
            late.append(exc)

    (thread,) = run_threads(1, wrong_answer)
    assert gate.holding.wait(timeout=30)
    assert guess(world, "answer", ANSWER)[0]
    hashed_before = world.hasher.verified
    gate.hold.set()  # type: ignore[union-attr]
    thread.join()
    world.store.gate = None
    assert [type(e) for e in late] == [ConflictingState]
    assert world.hasher.verified == hashed_before
    assert world.mfa.get_challenge(world.challenge_id).attempts_left == MAX
