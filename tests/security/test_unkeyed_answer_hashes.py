"""Finding 5.1 of the 0.1.0 attack review: security answers hashed without a key.

An answer has little entropy, so an argon2 hash alone fell to a dictionary
("Fluffy" in 58 guesses) from a database dump. Now the answer is keyed first
(HMAC-SHA256 under a keyring subkey) and the slow hash is taken of that: the
dump alone tests nothing. A 0.1.0 (unkeyed) hash still verifies and is
re-hashed under the keyed scheme on the next right answer.
"""

from __future__ import annotations

import pytest

import mfakit
from mfakit import MFA, Policy
from mfakit.adapters import MemoryStore, Outbox
from mfakit.core.records import QuestionRecord
from mfakit.service.factors import hash_answer
from mfakit.testing import FakeClock, fast_hasher
from tests.helpers import enrol_phone, fresh

DICTIONARY = ["rex", "fluffy", "springfield", "rex the dog", "Rex the dog", "max"]
ANSWER = "Rex the dog"


def build(store: MemoryStore, clock: FakeClock, outbox: Outbox, key: object) -> MFA:
    return MFA(
        store=store,
        secret_key=key,  # type: ignore[arg-type]
        issuer="Acme",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        policy=Policy(question_guards_alternatives=True, allow_restricted_only=True),
    )


@pytest.fixture
def world() -> tuple[MemoryStore, FakeClock, Outbox, str]:
    return MemoryStore(), FakeClock(), Outbox(), mfakit.generate_secret_key()


def answer(mfa: MFA, clock: FakeClock, text: str) -> bool:
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.alternatives_locked
    mfa.try_another_way(start.challenge.id)
    result = mfa.answer_security_question(start.challenge.id, text)
    mfa.cancel(start.challenge.id)
    assert result.ok or result.reason is mfakit.Reason.INVALID_ANSWER, result
    clock.advance(seconds=3600)  # past any back-off a wrong answer started
    return result.ok


def test_a_dump_alone_does_not_test_guesses(
    world: tuple[MemoryStore, FakeClock, Outbox, str],
) -> None:
    store, clock, outbox, key = world
    mfa = build(store, clock, outbox, key)
    mfa.set_security_question(fresh(clock, secret=key), "alice", mfa.security_questions[0], ANSWER)
    stored = store.get_question("alice")
    assert stored is not None
    hasher = fast_hasher()
    # The attacker tries every word against the stored hash, and against the
    # slow hash inside it: no word matches, the right one included.
    prefix = "$mfk-hmac1$"
    inner = stored.answer_hash
    if inner.startswith(prefix):
        inner = inner[len(prefix) :].partition("$")[2]
    for word in DICTIONARY:
        for form in (word, word.casefold()):
            assert not hasher.verify(stored.answer_hash, form)
            assert not hasher.verify(inner, form)
    assert stored.answer_hash.startswith("$mfk-hmac1$")


def test_a_010_unkeyed_hash_verifies_and_is_upgraded(
    world: tuple[MemoryStore, FakeClock, Outbox, str],
) -> None:
    store, clock, outbox, key = world
    mfa = build(store, clock, outbox, key)
    enrol_phone(mfa, outbox, clock)
    question = mfa.security_questions[0]
    legacy = fast_hasher().hash(ANSWER)  # what 0.1.0 stored (NFC, case kept by default)
    store.put_question(
        QuestionRecord(
            user_id="alice", question=question, answer_hash=legacy, created_at=clock.now()
        )
    )
    assert not answer(mfa, clock, "max")
    assert store.get_question("alice").answer_hash == legacy  # type: ignore[union-attr]  # a wrong answer changes nothing
    assert answer(mfa, clock, ANSWER)
    upgraded = store.get_question("alice")
    assert upgraded is not None and upgraded.answer_hash != legacy
    assert upgraded.answer_hash.startswith("$mfk-hmac1$")
    assert not fast_hasher().verify(upgraded.answer_hash, ANSWER)
    assert answer(mfa, clock, ANSWER)  # and the upgraded hash verifies
    assert not answer(mfa, clock, "rex")


def test_a_rotated_key_rehashes_under_the_new_primary(
    world: tuple[MemoryStore, FakeClock, Outbox, str],
) -> None:
    store, clock, outbox, old = world
    mfa = build(store, clock, outbox, old)
    enrol_phone(mfa, outbox, clock)
    mfa.set_security_question(fresh(clock, secret=old), "alice", mfa.security_questions[0], ANSWER)
    before = store.get_question("alice")
    assert before is not None
    new = mfakit.generate_secret_key()
    rotated = build(store, clock, outbox, [new, old])
    assert answer(rotated, clock, ANSWER)
    after = store.get_question("alice")
    assert after is not None and after.answer_hash != before.answer_hash
    assert after.answer_hash.startswith(f"$mfk-hmac1${mfakit.Keyring(new).primary_id}$")
    # Without the old key the new hash still verifies; a stranger's key does not.
    assert answer(build(store, clock, outbox, new), clock, ANSWER)
    # A keyring without the key that made the hash cannot check it, and says so.
    with pytest.raises(mfakit.ConfigurationError):
        answer(build(store, clock, outbox, mfakit.generate_secret_key()), clock, ANSWER)


class QuestionSetMeanwhile(MemoryStore):
    """A MemoryStore on which, once armed, another request sets a new question
    just before the next write to the question lands (the upgrade of the old
    hash): the moment a read-then-write upgrade would overwrite it."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: QuestionRecord | None = None

    def _land_first(self) -> None:
        record, self.meanwhile = self.meanwhile, None
        if record is not None:
            super().put_question(record)

    def apply(self, writes):  # type: ignore[no-untyped-def]
        if any(type(x).__name__ in ("PutQuestion", "ReplaceAnswerHash") for x in writes):
            self._land_first()
        return super().apply(writes)

    def put_question(self, record: QuestionRecord) -> None:
        self._land_first()
        super().put_question(record)


def test_a_question_set_while_an_old_hash_is_upgraded_is_kept(
    world: tuple[MemoryStore, FakeClock, Outbox, str],
) -> None:
    _, clock, outbox, key = world
    store = QuestionSetMeanwhile()
    mfa = build(store, clock, outbox, key)
    enrol_phone(mfa, outbox, clock)
    question = mfa.security_questions[0]
    legacy = fast_hasher().hash(ANSWER)  # a 0.1.0 hash, upgraded at the next right answer
    store.put_question(
        QuestionRecord(
            user_id="alice", question=question, answer_hash=legacy, created_at=clock.now()
        )
    )
    new_answer = "Springfield"
    new = QuestionRecord(
        user_id="alice",
        question=mfa.security_questions[1],
        answer_hash=hash_answer(mfakit.Keyring(key), fast_hasher(), new_answer),
        created_at=clock.now(),
    )
    store.meanwhile = new
    assert answer(mfa, clock, ANSWER)  # right, and its upgrade loses to the new question
    assert store.meanwhile is None  # the new question did land in between
    assert store.get_question("alice") == new
    assert answer(mfa, clock, new_answer)
    assert not answer(mfa, clock, ANSWER)
