"""Issue 12, finding 1 (S32): a stolen session plus the password bound the
attacker's phone without any second factor.

The attack: the attacker holds Alice's session and knows her password, so the
password freshness (S20) is satisfied. Alice has an authenticator app and a
phone, no email. Before the fix, ``remove_contact`` then ``begin_phone_enrolment``
with the attacker's number (or ``disable_two_factor`` then a new enrolment)
went through, and Alice was told nothing. Now each of those calls needs a
step-up grant: a factor proven within ``Policy.step_up_seconds``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

from mfakit import (
    MFA,
    Action,
    Actor,
    ConflictingState,
    Method,
    NotFound,
    NotPermitted,
    Purpose,
    StepUpChallenge,
    StepUpNotNeeded,
    StepUpRequired,
    StepUpStatus,
    generate_secret_key,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher, step_up
from tests.conftest import Enrolled
from tests.helpers import PHONE, enrol_phone, snapshot

ATTACKER_PHONE = "+14155550199"


def password_only(clock: FakeClock, user_id: str = "alice") -> Actor:
    """What a stolen session plus the password gives: fresh, no step-up."""
    return Actor.user(user_id, reauthenticated_at=clock.now())


@pytest.fixture
def alice(mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]) -> Enrolled:
    """Alice: an authenticator app and a phone, no email."""
    user = enrol()
    step = step_up(mfa, password_only(clock), "alice", user.code_at())
    clock.advance(seconds=30)
    sent = mfa.begin_phone_enrolment(step, "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=60)
    return user


def every_factor_change(mfa: MFA, actor: Actor, user: Enrolled) -> dict[str, Callable[[], object]]:
    return {
        "remove_contact": lambda: mfa.remove_contact(actor, "alice", "phone"),
        "remove_authenticator": lambda: mfa.remove_authenticator(actor, "alice", user.factor_id),
        "disable_two_factor": lambda: mfa.disable_two_factor(actor, "alice"),
        "begin_phone_enrolment": lambda: mfa.begin_phone_enrolment(actor, "alice", ATTACKER_PHONE),
        "begin_email_enrolment": lambda: mfa.begin_email_enrolment(
            actor, "alice", "mallory@example.net"
        ),
        "begin_totp_setup": lambda: mfa.begin_totp_setup(
            actor, "alice", account_name="alice@example.org"
        ),
        "regenerate_backup_codes": lambda: mfa.regenerate_backup_codes(actor, "alice"),
        "set_security_question": lambda: mfa.set_security_question(
            actor, "alice", mfa.security_questions[0], "Fluffy"
        ),
    }


CALLS = [
    "remove_contact",
    "remove_authenticator",
    "disable_two_factor",
    "begin_phone_enrolment",
    "begin_email_enrolment",
    "begin_totp_setup",
    "regenerate_backup_codes",
    "set_security_question",
]


@pytest.mark.parametrize("call", CALLS)
def test_the_password_alone_no_longer_removes_or_binds_a_factor(
    mfa: MFA,
    store: MemoryStore,
    outbox: Outbox,
    clock: FakeClock,
    alice: Enrolled,
    audit_log: MemoryAuditLog,
    call: str,
) -> None:
    before, sent = snapshot(store), len(outbox.messages)
    with pytest.raises(StepUpRequired) as refused:
        every_factor_change(mfa, password_only(clock), alice)[call]()
    assert isinstance(refused.value, NotPermitted)
    assert snapshot(store) == before  # nothing applied
    assert len(outbox.messages) == sent  # nothing sent, least of all to the attacker
    (event,) = [e for e in audit_log.list_events("alice", limit=5) if e.action == "step_up.refused"]
    assert event.outcome == "refused"


def test_the_attack_of_the_finding_fails_and_alice_keeps_her_phone(
    mfa: MFA, outbox: Outbox, clock: FakeClock, alice: Enrolled
) -> None:
    attacker = password_only(clock)
    with pytest.raises(StepUpRequired):
        mfa.remove_contact(attacker, "alice", "phone")
    with pytest.raises(StepUpRequired):
        mfa.disable_two_factor(attacker, "alice")
    with pytest.raises(StepUpRequired):
        mfa.begin_phone_enrolment(attacker, "alice", ATTACKER_PHONE)
    assert outbox.sent_to(ATTACKER_PHONE) == []
    assert {f.kind for f in mfa.list_factors("alice")} == {"totp", "phone"}
    # A step-up sends its code to Alice's own factors, never anywhere else.
    start = mfa.begin_step_up(attacker, "alice")
    assert isinstance(start, StepUpChallenge)
    assert start.challenge.purpose is Purpose.REAUTHENTICATE
    assert start.challenge.methods == (Method.TOTP, Method.SMS, Method.VOICE, Method.BACKUP_CODE)
    assert not mfa.verify(start.challenge.id, "000000").ok


def test_a_step_up_lets_alice_remove_her_phone_and_the_phone_is_told(
    mfa: MFA, outbox: Outbox, clock: FakeClock, alice: Enrolled, audit_log: MemoryAuditLog
) -> None:
    start = mfa.begin_step_up(password_only(clock), "alice")
    assert start.status is StepUpStatus.CHALLENGE and isinstance(start, StepUpChallenge)
    result = mfa.verify(start.challenge.id, alice.code_at())
    assert result.ok and result.purpose is Purpose.REAUTHENTICATE
    assert result.step_up is not None and result.step_up not in repr(result)
    assert result.step_up_expires_at == clock.now() + timedelta(seconds=300)
    actor = Actor.user("alice", reauthenticated_at=clock.now(), step_up=result.step_up)
    assert result.step_up not in repr(actor)
    before = len(outbox.messages)
    mfa.remove_contact(actor, "alice", "phone")
    # Alice has no email: the removed phone itself is told (S21), and since no
    # independent channel was left the removal is audited as such.
    (notice,) = outbox.messages[before:]
    assert notice.to == PHONE and notice.code is None and "was removed" in notice.text
    actions = [e.action for e in audit_log.list_events("alice", limit=10)]
    assert Action.REMOVED_WITHOUT_NOTICE.value in actions
    # The grant lasts its window: the same session may go on.
    clock.advance(seconds=60)
    actor = dataclasses.replace(actor, reauthenticated_at=clock.now())
    mfa.regenerate_backup_codes(actor, "alice")


def test_a_backup_code_counts_as_a_factor_for_step_up(
    mfa: MFA, clock: FakeClock, alice: Enrolled
) -> None:
    actor = step_up(mfa, password_only(clock), "alice", alice.backup_codes[0])
    mfa.disable_two_factor(actor, "alice")
    assert mfa.list_authenticators("alice") == ()


def test_a_sign_in_gives_a_grant_a_trusted_device_does_not(
    mfa: MFA, clock: FakeClock, alice: Enrolled
) -> None:
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    signed_in = mfa.verify(start.challenge.id, alice.code_at(), trust_device=True)
    assert signed_in.ok and signed_in.step_up is not None and signed_in.trust_token
    actor = Actor.user("alice", reauthenticated_at=clock.now(), step_up=signed_in.step_up)
    mfa.regenerate_backup_codes(actor, "alice")
    trusted = mfa.begin_sign_in("alice", trust_token=signed_in.trust_token)
    assert trusted.trusted_device and not hasattr(trusted, "step_up")
    # A direct verify_totp proves the code but issues no grant either.
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", alice.code_at()).step_up is None


def grant_for(mfa: MFA, clock: FakeClock, actor: Actor, user: Enrolled) -> str:
    stepped = step_up(mfa, actor, user.user_id, user.code_at())
    clock.advance(seconds=30)  # the next code is a new step
    assert stepped.step_up is not None
    return stepped.step_up


def test_a_grant_is_refused_for_another_user_another_actor_late_or_tampered(
    mfa: MFA,
    store: MemoryStore,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    alice: Enrolled,
) -> None:
    bob = enrol("bob")
    bobs = grant_for(mfa, clock, password_only(clock, "bob"), bob)
    alices = grant_for(mfa, clock, password_only(clock), alice)
    admins = grant_for(mfa, clock, Actor.admin("boss"), alice)
    # The same user and actor at another deployment, with another key.
    elsewhere = Outbox()
    other_key = MFA(
        store=MemoryStore(),
        secret_key=generate_secret_key(),
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        sms=elsewhere,
    )
    enrol_phone(other_key, elsewhere, clock)
    foreign = step_up(
        other_key, password_only(clock), "alice", lambda _: elsewhere.last_code(PHONE)
    )
    assert foreign.step_up is not None
    last = alices[-1]
    tampered = [
        alices[:-1] + ("A" if last != "A" else "B"),
        alices.replace(".", "x", 1),
        "x" + alices,
    ]
    now = clock.now()

    def user(grant: str, user_id: str = "alice") -> Actor:
        return Actor.user(user_id, reauthenticated_at=now, step_up=grant)

    refused = [
        user(bobs),  # another user's grant
        user(admins),  # the admin's grant over Alice is not Alice's
        Actor.admin("boss", reauthenticated_at=now, step_up=alices),  # another actor
        Actor.admin("other-admin", reauthenticated_at=now, step_up=admins),
        user(foreign.step_up),  # signed with a key not in the keyring
        *[user(t) for t in tampered],
    ]
    messages = set()
    for actor in refused:
        with pytest.raises(StepUpRequired) as caught:
            mfa.remove_contact(actor, "alice", "phone")
        messages.add(str(caught.value))
    assert len(messages) == 1  # no detail on what was wrong
    # The real grants work for their own user and actor...
    mfa.regenerate_backup_codes(user(alices), "alice")
    mfa.regenerate_backup_codes(user(bobs, "bob"), "bob")
    # ...until they expire: step_up_seconds after the verification.
    clock.advance(seconds=mfa.policy.step_up_seconds - 90)
    expired = Actor.user("alice", reauthenticated_at=clock.now(), step_up=alices)
    with pytest.raises(StepUpRequired):
        mfa.regenerate_backup_codes(expired, "alice")
    # A forged issue time in the future is no grant either (mfakit's clock decides).
    clock.set(now - timedelta(minutes=10))
    with pytest.raises(StepUpRequired):
        mfa.regenerate_backup_codes(
            Actor.user("alice", reauthenticated_at=clock.now(), step_up=alices), "alice"
        )


def test_an_admin_steps_up_through_the_members_phone(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock, "carol")
    boss = Actor.admin("boss", reauthenticated_at=clock.now())
    with pytest.raises(StepUpRequired):
        mfa.remove_contact(boss, "carol", "phone")
    with pytest.raises(NotPermitted):
        mfa.begin_step_up(Actor.impersonating("boss", "carol"), "carol")
    before = len(outbox.messages)
    start = mfa.begin_step_up(boss, "carol")
    assert isinstance(start, StepUpChallenge)
    assert start.delivery is not None and start.delivery.ok
    (code_message,) = outbox.messages[before:]
    assert code_message.to == PHONE and code_message.code is not None  # the member's phone
    result = mfa.verify(start.challenge.id, code_message.code)
    assert result.ok and result.step_up is not None
    # Bound to the admin and the member: Carol's own session cannot use it.
    with pytest.raises(StepUpRequired):
        mfa.remove_contact(
            Actor.user("carol", reauthenticated_at=clock.now(), step_up=result.step_up),
            "carol",
            "phone",
        )
    mfa.remove_contact(dataclasses.replace(boss, step_up=result.step_up), "carol", "phone")
    assert mfa.list_factors("carol") == ()


def test_the_first_factor_needs_no_step_up(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    assert isinstance(mfa.begin_step_up(password_only(clock, "dan"), "dan"), StepUpNotNeeded)
    sent = mfa.begin_phone_enrolment(password_only(clock, "dan"), "dan", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    # ...but the second does.
    with pytest.raises(StepUpRequired):
        mfa.begin_totp_setup(password_only(clock, "dan"), "dan", account_name="dan")


def test_an_enrolment_begun_before_the_first_factor_cannot_bind_a_second(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    """Begun while Erin had no factor (no step-up needed), finished after she
    got one: finishing would bind a second factor without a step-up."""
    setup = mfa.begin_totp_setup(password_only(clock, "erin"), "erin", account_name="erin")
    email = mfa.begin_email_enrolment(password_only(clock, "erin"), "erin", "evil@example.net")
    clock.advance(seconds=1)
    enrol_phone(mfa, outbox, clock, "erin")
    with pytest.raises(NotFound):
        mfa.confirm_totp_setup(
            password_only(clock, "erin"), setup.id, authenticator_code(setup.uri, clock.now())
        )
    with pytest.raises(ConflictingState):
        mfa.verify(email.challenge.id, outbox.last_code("evil@example.net"))
    assert {f.kind for f in mfa.list_factors("erin")} == {"phone"}
