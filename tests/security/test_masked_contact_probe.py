"""Finding 5.3 of the 0.1.0 attack review: probing a masked number.

``begin_contact_change`` with the user's current phone raised "already the
user's phone" *before* the daily limit was counted, so a session holder who saw
``+1•••••01`` could try every candidate number (~5,500 probes) until that answer
came. Now a change to the current value is counted like any other and answered
like any other: a started challenge, whose approval changes nothing.
"""

from __future__ import annotations

from mfakit import MFA, Actor, Method, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock
from tests.helpers import EMAIL, PHONE, enrol_email, enrol_phone

CANDIDATES = [f"+1415555{n:04d}" for n in range(95, 106)]  # PHONE is among them


def shape(result: object) -> tuple[object, ...]:
    """Everything a caller sees of a start, except the random challenge id."""
    ok, reason, retry = (getattr(result, a) for a in ("ok", "reason", "retry_after"))
    ch = getattr(result, "challenge", None)
    view = None if ch is None else (ch.purpose, ch.methods, ch.method, ch.state, ch.destination)
    return (ok, reason, retry, view)


def test_probing_candidates_never_singles_out_the_current_number(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    attacker = Actor.user("alice")  # a stolen session: no fresh password needed
    answers = {}
    for number in CANDIDATES:
        try:
            answers[number] = shape(mfa.begin_contact_change(attacker, "alice", phone=number))
        except Exception as exc:  # 0.1.0: ConflictingState for the right guess
            answers[number] = (type(exc).__name__,)
    # The first five probes start challenges, the rest hit the daily limit; the
    # current number is answered exactly like its neighbours.
    started = [n for n in CANDIDATES if answers[n][0] is True]
    assert len(started) == 5 and PHONE not in started
    assert len(set(answers[n] for n in started)) == 1
    limited = [n for n in CANDIDATES if n not in started]
    assert len(set(answers[n] for n in limited)) == 1
    assert answers[limited[0]][:2] == (False, Reason.DAILY_LIMIT)


def test_the_current_number_is_counted_first(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    for _ in range(5):
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone="+14155550199").ok
    late = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=PHONE)
    assert (late.ok, late.reason) == (False, Reason.DAILY_LIMIT)


def test_approving_a_change_to_the_current_value_changes_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    contacts = store.get_contacts("alice")
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=PHONE)
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    sent = len(outbox.messages)
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
    assert store.get_contacts("alice") == contacts  # the phone stays verified
    assert len(outbox.messages) == sent  # no "your phone changed" notice
    assert "contact_change.applied" not in [e.action for e in audit_log.events]
