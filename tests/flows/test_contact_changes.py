"""Changing the phone number or email, guarded by a second factor (L4, S16, S19).

Seed 001 ("Mandatory 2FA for phone number changes") end to end on the memory
store and the outbox: the change is approved only through a channel verified
before it (email, the current verified phone, an authenticator app), never the
new destination; at most five attempts per user per day; an admin may start it
for a team member, whose channels receive the code; after the change the new
destination is unverified until proven (L3), the old one is told, trusted
devices are revoked (by default) and an audit record names both people.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mfakit import (
    MFA,
    Actor,
    ConflictingState,
    ContactChangeStart,
    ContactKind,
    InvalidInput,
    Method,
    NotPermitted,
    Policy,
    Purpose,
    Reason,
    State,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.core.records import AuditRecord, ContactRecord
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import enrol_email, enrol_phone, fresh

PHONE = "+14155550101"
NEW_PHONE = "+14155550199"
EMAIL = "alice@example.org"
NEW_EMAIL = "nina@example.net"


# --- fixtures and helpers --------------------------------------------------------


def contacts(store: MemoryStore, user_id: str = "alice") -> list[ContactRecord]:
    return store.get_contacts(user_id)


def events(audit_log: MemoryAuditLog, action: str) -> list[AuditRecord]:
    return [e for e in audit_log.events if e.action == action]


def phone_factor(mfa: MFA, user_id: str = "alice") -> Any:
    return next(f for f in mfa.list_factors(user_id) if f.kind == "phone")


def email_factor(mfa: MFA, user_id: str = "alice") -> Any:
    return next(f for f in mfa.list_factors(user_id) if f.kind == "email")


def trusted_sign_in(mfa: MFA, outbox: Outbox, clock: FakeClock, destination: str = PHONE) -> str:
    """Sign in with the code sent to ``destination`` and trust the device."""
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.delivery is not None
    result = mfa.verify(start.challenge.id, outbox.last_code(destination), trust_device=True)
    assert result.ok and result.trust_token is not None
    clock.advance(seconds=31)
    return result.trust_token


def change_with(mfa: MFA, outbox: Outbox, method: Method, **new: str) -> None:
    """Start a change and approve it by a code sent through ``method``."""
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", **new)
    assert start.ok and start.challenge is not None
    sent = mfa.send(start.challenge.id, method)
    assert sent.ok, sent
    destination = EMAIL if method is Method.EMAIL else PHONE
    assert mfa.verify(start.challenge.id, outbox.last_code(destination)).ok


# --- seed 001: the three ways to approve a phone change ------------------------


def test_seed_001_phone_change_approved_through_the_verified_email(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    before = len(outbox.messages)

    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone="+1 415 555 0199")
    assert start.ok and start.reason is None and start.retry_after is None
    challenge = start.challenge
    assert challenge is not None
    assert challenge.purpose is Purpose.CONTACT_CHANGE
    assert challenge.methods == (Method.SMS, Method.VOICE, Method.EMAIL)
    assert challenge.state is State.AWAITING_CODE
    assert len(outbox.messages) == before  # nothing is sent before the user picks a channel

    sent = mfa.send(challenge.id, Method.EMAIL)
    assert sent.ok and sent.challenge.method is Method.EMAIL
    assert sent.challenge.destination == "a•••@example.org"
    code = outbox.last_code(EMAIL)
    assert contacts(store)[1].value == PHONE  # not applied before the code
    result = mfa.verify(challenge.id, code)
    assert result.ok and result.purpose is Purpose.CONTACT_CHANGE and result.method is Method.EMAIL

    # The new number is stored, unverified (L3), and not usable for sign-in.
    phone = phone_factor(mfa)
    assert (phone.destination, phone.verified) == ("+1•••••99", False)
    assert email_factor(mfa).verified
    # The old number is told of the change, with no code in the notice.
    notice = outbox.last(PHONE)
    assert notice.channel == "sms" and notice.code is None
    assert "changed" in notice.text and "+1•••••99" in notice.text
    # One audit record, masked.
    (applied,) = events(audit_log, "contact_change.applied")
    assert (applied.subject_id, applied.actor_id) == ("alice", "alice")
    assert dict(applied.details) == {"kind": "phone", "old": "+1•••••01", "new": "+1•••••99"}
    for event in audit_log.events:
        assert NEW_PHONE not in repr(event) and PHONE not in repr(event)
    # Nothing ever went to the new number.
    assert outbox.sent_to(NEW_PHONE) == []
    # The challenge is spent.
    with pytest.raises(ConflictingState):
        mfa.verify(challenge.id, code)


def test_phone_change_approved_by_sms_to_the_old_verified_number(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None
    assert start.challenge.methods == (Method.SMS, Method.VOICE)
    assert start.challenge.method is Method.SMS
    sent = mfa.send(start.challenge.id)  # the current method: SMS to the old number
    assert sent.ok and sent.challenge.destination == "+1•••••01"
    message = outbox.last(PHONE)
    assert message.channel == "sms"
    result = mfa.verify(start.challenge.id, message.code)
    assert result.ok and result.method is Method.SMS
    assert phone_factor(mfa).verified is False
    assert outbox.sent_to(NEW_PHONE) == []
    assert outbox.last(PHONE).code is None  # the change notice came last
    assert len(events(audit_log, "contact_change.applied")) == 1


def test_phone_change_approved_by_voice_call_to_the_old_number(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None
    assert mfa.send(start.challenge.id, "voice").ok
    call = outbox.last(PHONE)
    assert call.channel == "voice"
    assert mfa.verify(start.challenge.id, call.code).ok
    assert outbox.sent_to(NEW_PHONE) == []


def test_phone_change_approved_by_an_authenticator_needs_no_send(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_phone(mfa, outbox, clock)
    user = enrol()
    before = len(outbox.messages)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None
    assert start.challenge.methods == (Method.TOTP, Method.SMS, Method.VOICE)
    assert start.challenge.method is Method.TOTP
    result = mfa.verify(start.challenge.id, user.code_at())
    assert result.ok and result.method is Method.TOTP
    assert phone_factor(mfa).verified is False
    # The only message is the notice to the old number: no code was sent anywhere.
    (notice,) = outbox.messages[before:]
    assert notice.to == PHONE and notice.code is None
    assert all(
        dict(e.details).get("purpose") != "contact_change" for e in events(audit_log, "code.sent")
    )


def test_after_the_change_the_new_number_is_proven_by_possession(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    change_with(mfa, outbox, Method.EMAIL, phone=NEW_PHONE)
    assert outbox.sent_to(NEW_PHONE) == []
    # The unverified new number is no sign-in method, and no code goes there.
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert start.challenge.methods == (Method.EMAIL, Method.BACKUP_CODE)
    assert outbox.sent_to(NEW_PHONE) == []
    # L3: the user proves the new number, which then becomes a factor.
    clock.advance(seconds=31)
    proof = mfa.begin_phone_enrolment(fresh(clock), "alice", NEW_PHONE)
    assert proof.ok and proof.challenge.purpose is Purpose.ENROL_CONTACT
    result = mfa.verify(proof.challenge.id, outbox.last_code(NEW_PHONE))
    assert result.ok and result.backup_codes is None  # not the first factor
    phone = phone_factor(mfa)
    assert (phone.destination, phone.verified) == ("+1•••••99", True)
    clock.advance(seconds=31)
    again = mfa.begin_sign_in("alice")
    assert again.challenge is not None and again.challenge.method is Method.SMS
    assert again.challenge.destination == "+1•••••99"


@pytest.mark.parametrize("policy", [Policy(require_for_roles={"staff"})])
def test_a_phone_only_user_must_prove_the_new_number_before_it_counts(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    change_with(mfa, outbox, Method.SMS, phone=NEW_PHONE)
    assert [f.verified for f in mfa.list_factors("alice")] == [False]
    assert mfa.begin_sign_in("alice", role="staff").enrollment_required
    proof = mfa.begin_phone_enrolment(fresh(clock), "alice", NEW_PHONE)
    assert mfa.verify(proof.challenge.id, outbox.last_code(NEW_PHONE)).ok
    start = mfa.begin_sign_in("alice", role="staff")
    assert start.challenge is not None and start.challenge.destination == "+1•••••99"


def test_changing_the_only_phone_keeps_2fa_on_until_the_new_one_is_proven(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    """A contact change is not turning 2FA off: the backup codes stay, and the
    next sign-in asks the user to prove the new number instead of letting them in."""
    codes = enrol_phone(mfa, outbox, clock)
    assert len(codes) == 10
    change_with(mfa, outbox, Method.SMS, phone=NEW_PHONE)
    assert not any(f.verified for f in mfa.list_factors("alice"))
    assert mfa.backup_codes_left("alice") == 10
    assert mfa.begin_sign_in("alice", role="client").enrollment_required
    assert mfa.verify_backup_code("alice", codes[0]).ok


# --- trusted devices -------------------------------------------------------------


def test_a_change_revokes_trusted_devices(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    token = trusted_sign_in(mfa, outbox, clock)
    (device,) = mfa.list_devices("alice")
    assert device.active
    before = mfa.begin_sign_in("alice", trust_token=token)
    assert before.satisfied and before.trusted_device
    change_with(mfa, outbox, Method.EMAIL, phone=NEW_PHONE)
    assert [d.active for d in mfa.list_devices("alice")] == [False]
    assert events(audit_log, "device.revoked_all")[-1].reason == "security_change"
    after = mfa.begin_sign_in("alice", trust_token=token)
    assert not after.satisfied and after.challenge is not None and not after.trusted_device


@pytest.mark.parametrize("policy", [Policy(revoke_devices_on_contact_change=False)])
def test_policy_may_keep_trusted_devices(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    token = trusted_sign_in(mfa, outbox, clock)
    change_with(mfa, outbox, Method.EMAIL, phone=NEW_PHONE)
    assert phone_factor(mfa).verified is False  # the change itself happened
    assert [d.active for d in mfa.list_devices("alice")] == [True]
    assert mfa.begin_sign_in("alice", trust_token=token).trusted_device


def test_a_code_sent_to_the_old_number_before_the_change_stops_working(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    sign_in = mfa.begin_sign_in("alice")
    assert sign_in.challenge is not None and sign_in.challenge.method is Method.SMS
    old_code = outbox.last_code(PHONE)
    clock.advance(seconds=31)
    change_with(mfa, outbox, Method.EMAIL, phone=NEW_PHONE)
    assert not mfa.verify(sign_in.challenge.id, old_code).ok


# --- which channels may approve --------------------------------------------------


def test_sms_and_voice_are_not_offered_while_the_current_phone_is_unverified(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    change_with(mfa, outbox, Method.EMAIL, phone=NEW_PHONE)  # the phone is now unverified
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone="+14155550177")
    assert start.challenge is not None
    assert start.challenge.methods == (Method.EMAIL,)
    for method in (Method.SMS, Method.VOICE):
        with pytest.raises(InvalidInput):
            mfa.send(start.challenge.id, method)
    enrol()
    with_app = mfa.begin_contact_change(Actor.user("alice"), "alice", phone="+14155550177")
    assert with_app.challenge is not None
    assert with_app.challenge.methods == (Method.TOTP, Method.EMAIL)
    assert outbox.sent_to(NEW_PHONE) == [] and outbox.sent_to("+14155550177") == []


def test_an_unverified_stored_phone_alone_is_no_eligible_channel(
    mfa: MFA, store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    store.put_contact(
        ContactRecord(user_id="alice", kind=ContactKind.PHONE, value=PHONE, created_at=clock.now())
    )
    refused = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert refused == ContactChangeStart(ok=False, reason=Reason.NO_ELIGIBLE_METHOD)
    assert outbox.messages == []


def test_no_eligible_channel_is_refused_with_a_reason_and_not_counted(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog, store: MemoryStore
) -> None:
    for _ in range(7):
        refused = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
        assert refused == ContactChangeStart(ok=False, reason=Reason.NO_ELIGIBLE_METHOD)
        assert not refused and refused.challenge is None and refused.retry_after is None
    assert contacts(store) == []
    (first, *_) = events(audit_log, "contact_change.refused")
    assert first.reason == "no_eligible_method" and dict(first.details) == {"kind": "phone"}
    # None of those refusals used up the day's attempts.
    enrol_email(mfa, outbox, clock)
    for i in range(5):
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=f"+1415555020{i}").ok
    assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE).reason is (
        Reason.DAILY_LIMIT
    )


def test_a_method_without_a_sender_is_not_offered(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    full = MFA(
        store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher(), sms=outbox
    )
    enrol_phone(full, outbox, clock)
    sms_only = MFA(store=store, secret_key=SECRET, issuer="X", clock=clock, email=outbox)
    refused = sms_only.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert refused.reason is Reason.NO_ELIGIBLE_METHOD
    start = full.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None and start.challenge.methods == (Method.SMS,)


# --- the daily limit (S16) ------------------------------------------------------


def test_the_sixth_attempt_of_the_day_waits_for_the_reset(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    me = Actor.user("alice")
    for i in range(5):
        # Phone and email changes count together.
        new = {"phone": f"+1415555020{i}"} if i % 2 else {"email": f"n{i}@example.net"}
        assert mfa.begin_contact_change(me, "alice", **new).ok
        clock.advance(hours=1)
    sixth = mfa.begin_contact_change(me, "alice", phone=NEW_PHONE)
    # The window began with the first attempt, five hours ago.
    assert sixth == ContactChangeStart(
        ok=False, reason=Reason.DAILY_LIMIT, retry_after=timedelta(hours=19)
    )
    refusal = events(audit_log, "contact_change.refused")[-1]
    assert refusal.reason == "daily_limit" and refusal.subject_id == "alice"
    clock.advance(timedelta(hours=19) - timedelta(seconds=1))
    still = mfa.begin_contact_change(me, "alice", phone=NEW_PHONE)
    assert (still.reason, still.retry_after) == (Reason.DAILY_LIMIT, timedelta(seconds=1))
    # Another user has their own limit.
    enrol_email(mfa, outbox, clock, "bob", "bob@example.org")
    assert mfa.begin_contact_change(Actor.user("bob"), "bob", phone=NEW_PHONE).ok
    clock.advance(seconds=1)
    allowed = mfa.begin_contact_change(me, "alice", phone=NEW_PHONE)
    assert allowed.ok and allowed.challenge is not None
    # A new window of five began with it.
    for _ in range(4):
        assert mfa.begin_contact_change(me, "alice", phone=NEW_PHONE).ok
    assert mfa.begin_contact_change(me, "alice", phone=NEW_PHONE).retry_after == timedelta(days=1)


def test_admin_attempts_count_against_the_members_day(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_email(mfa, outbox, clock)
    for _ in range(3):
        assert mfa.begin_contact_change(Actor.admin("boss"), "alice", phone=NEW_PHONE).ok
    for _ in range(2):
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE).ok
    refused = mfa.begin_contact_change(Actor.admin("boss"), "alice", phone=NEW_PHONE)
    assert refused.reason is Reason.DAILY_LIMIT


# --- who may start a change ------------------------------------------------------


def test_admin_initiated_change_sends_the_code_to_the_member(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock, "carol", PHONE)
    enrol_email(mfa, outbox, clock, "carol", "carol@example.org")
    enrol_email(mfa, outbox, clock, "boss", "boss@example.org")
    before = len(outbox.messages)
    boss = Actor.admin("boss")
    start = mfa.begin_contact_change(boss, "carol", phone=NEW_PHONE)
    assert start.challenge is not None and start.challenge.user_id == "carol"
    assert mfa.send(start.challenge.id).ok  # SMS to carol's current number
    assert mfa.send(start.challenge.id, Method.EMAIL).ok  # and by email
    # The member gives the admin the code; the admin completes the change.
    result = mfa.verify(start.challenge.id, outbox.last_code("carol@example.org"))
    assert result.ok and result.user_id == "carol"
    sent = outbox.messages[before:]
    assert {m.to for m in sent} == {PHONE, "carol@example.org"}
    assert outbox.sent_to(NEW_PHONE) == []
    assert len(outbox.sent_to("boss@example.org")) == 1  # only the admin's own enrolment
    assert phone_factor(mfa, "carol").verified is False
    # Both people are recorded: the admin as actor, the member as subject.
    for action in ("contact_change.started", "code.sent", "contact_change.applied"):
        record = events(audit_log, action)[-1]
        assert (record.actor_id, record.subject_id) == ("boss", "carol"), action
    assert not [e for e in mfa.list_events("boss") if e.action.startswith("contact_change")]


def test_an_impersonating_admin_may_change_the_number_but_not_set_up_an_app(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore
) -> None:
    enrol_email(mfa, outbox, clock, "carol", "carol@example.org")
    login_as = Actor.impersonating("boss", "carol", reauthenticated_at=clock.now())
    with pytest.raises(NotPermitted):
        mfa.begin_totp_setup(login_as, "carol", account_name="carol@example.org")
    assert store.list_totp("carol") == []
    start = mfa.begin_contact_change(login_as, "carol", phone=NEW_PHONE)
    assert start.ok and start.challenge is not None
    assert mfa.send(start.challenge.id).ok
    assert mfa.verify(start.challenge.id, outbox.last_code("carol@example.org")).ok
    assert phone_factor(mfa, "carol").destination == "+1•••••99"
    # Only for the impersonated user.
    with pytest.raises(NotPermitted):
        mfa.begin_contact_change(login_as, "dave", phone=NEW_PHONE)


def test_a_user_cannot_start_a_change_for_someone_else(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_email(mfa, outbox, clock)
    before = len(outbox.messages)
    with pytest.raises(NotPermitted):
        mfa.begin_contact_change(Actor.user("mallory"), "alice", phone=NEW_PHONE)
    with pytest.raises(InvalidInput):
        mfa.begin_contact_change("mallory", "alice", phone=NEW_PHONE)  # type: ignore[arg-type]
    assert len(outbox.messages) == before
    for _ in range(5):  # nothing was counted
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE).ok


# --- never the new destination -----------------------------------------------------


@pytest.mark.parametrize(
    "new", [{"phone": NEW_PHONE}, {"email": NEW_EMAIL}], ids=["phone", "email"]
)
def test_no_code_ever_goes_to_the_new_number_or_address(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled], new: dict[str, str]
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    enrol()
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", **new)
    assert start.challenge is not None
    assert start.challenge.methods == (Method.TOTP, Method.SMS, Method.VOICE, Method.EMAIL)
    cid = start.challenge.id
    # Every channel the challenge offers, by switching, sending and resending.
    for method in (Method.SMS, Method.VOICE, Method.EMAIL, Method.TOTP):
        assert mfa.switch_method(cid, method).ok
    for method in (Method.SMS, Method.VOICE, Method.EMAIL):
        clock.advance(seconds=31)
        assert mfa.send(cid, method).ok
    clock.advance(seconds=31)
    assert mfa.resend(cid).ok
    # Backup codes are no way to approve a change.
    with pytest.raises(InvalidInput):
        mfa.switch_method(cid, Method.BACKUP_CODE)
    assert mfa.verify(cid, outbox.last_code(EMAIL)).ok
    destinations = {m.to for m in outbox.messages}
    assert destinations == {PHONE, EMAIL}
    assert NEW_PHONE not in destinations and NEW_EMAIL not in destinations
    # Nor afterwards, at sign-in: the new destination is unverified.
    clock.advance(minutes=11)
    start_sign_in = mfa.begin_sign_in("alice")
    assert start_sign_in.challenge is not None
    for method in start_sign_in.challenge.methods:
        if method in (Method.SMS, Method.VOICE, Method.EMAIL):
            clock.advance(seconds=31)
            assert mfa.send(start_sign_in.challenge.id, method).ok
    assert {m.to for m in outbox.messages} == {PHONE, EMAIL}


# --- the email change follows the same rules --------------------------------------


def test_email_change_follows_the_same_rules(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    trusted_sign_in(mfa, outbox, clock)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", email="Nina@EXAMPLE.net")
    assert start.challenge is not None
    assert start.challenge.methods == (Method.SMS, Method.VOICE, Method.EMAIL)
    sent = mfa.send(start.challenge.id, Method.EMAIL)
    assert sent.ok and sent.challenge.destination == "a•••@example.org"  # the old address
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
    email = email_factor(mfa)
    assert (email.destination, email.verified) == ("N•••@example.net", False)
    assert phone_factor(mfa).verified
    notice = outbox.last(EMAIL)
    assert notice.channel == "email" and notice.code is None and "changed" in notice.subject
    (applied,) = events(audit_log, "contact_change.applied")
    assert dict(applied.details) == {
        "kind": "email",
        "old": "a•••@example.org",
        "new": "N•••@example.net",
    }
    assert [d.active for d in mfa.list_devices("alice")] == [False]
    assert outbox.sent_to("Nina@example.net") == []
    # The unverified address approves nothing: the next change offers the phone only.
    again = mfa.begin_contact_change(Actor.user("alice"), "alice", email="x@example.net")
    assert again.challenge is not None and again.challenge.methods == (Method.SMS, Method.VOICE)


def test_email_change_without_any_other_channel_goes_through_the_old_address(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_email(mfa, outbox, clock)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", email=NEW_EMAIL)
    assert start.challenge is not None and start.challenge.methods == (Method.EMAIL,)
    assert mfa.send(start.challenge.id).ok
    assert mfa.verify(start.challenge.id, outbox.last_code(EMAIL)).ok
    assert email_factor(mfa).destination == "n•••@example.net"
    assert outbox.sent_to(NEW_EMAIL) == []


# --- failures change nothing ------------------------------------------------------


def test_a_wrong_code_changes_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    token_devices = trusted_sign_in(mfa, outbox, clock)
    assert token_devices
    before = contacts(store)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None
    assert mfa.send(start.challenge.id, Method.EMAIL).ok
    messages = len(outbox.messages)
    right = outbox.last_code(EMAIL)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        result = mfa.verify(start.challenge.id, wrong)
        assert (result.ok, result.reason, result.attempts_left) == (
            False,
            Reason.INVALID_CODE,
            left,
        )
        assert contacts(store) == before
    locked = mfa.verify(start.challenge.id, wrong)
    assert (locked.ok, locked.reason) == (False, Reason.TOO_MANY_ATTEMPTS)
    # Even the right code is refused now, and nothing changed.
    assert mfa.verify(start.challenge.id, right).reason is Reason.TOO_MANY_ATTEMPTS
    assert mfa.get_challenge(start.challenge.id).state is State.LOCKED
    assert contacts(store) == before
    assert len(outbox.messages) == messages  # no notice
    assert events(audit_log, "contact_change.applied") == []
    assert [d.active for d in mfa.list_devices("alice")] == [True]


def test_a_wrong_authenticator_code_changes_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, enrol: Callable[..., Enrolled]
) -> None:
    enrol_email(mfa, outbox, clock)
    user = enrol()
    before = contacts(store)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", email=NEW_EMAIL)
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    right = user.code_at()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    assert mfa.verify(start.challenge.id, wrong).reason is Reason.INVALID_CODE
    assert contacts(store) == before
    assert mfa.verify(start.challenge.id, right).ok
    assert contacts(store) != before


def test_an_expired_change_changes_nothing(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    store: MemoryStore,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_email(mfa, outbox, clock)
    user = enrol()
    before = contacts(store)
    by_email = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    by_app = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert by_email.challenge is not None and by_app.challenge is not None
    assert mfa.send(by_email.challenge.id, Method.EMAIL).ok
    code = outbox.last_code(EMAIL)
    clock.advance(minutes=10)
    assert mfa.verify(by_email.challenge.id, code).reason is Reason.EXPIRED
    assert mfa.verify(by_app.challenge.id, user.code_at()).reason is Reason.EXPIRED
    assert mfa.get_challenge(by_app.challenge.id).state is State.EXPIRED
    assert mfa.send(by_email.challenge.id).reason is Reason.EXPIRED
    assert contacts(store) == before
    assert events(audit_log, "contact_change.applied") == []


def test_a_cancelled_change_changes_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore
) -> None:
    enrol_email(mfa, outbox, clock)
    before = contacts(store)
    start = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert start.challenge is not None
    assert mfa.send(start.challenge.id).ok
    code = outbox.last_code(EMAIL)
    assert mfa.cancel(start.challenge.id).state is State.CANCELLED
    with pytest.raises(ConflictingState):
        mfa.verify(start.challenge.id, code)
    assert contacts(store) == before


# --- refusals before anything is counted -----------------------------------------


@pytest.mark.parametrize(
    "new",
    [
        {"phone": PHONE},
        {"phone": "+1 (415) 555-0101"},
        {"email": EMAIL},
        {"email": "alice@EXAMPLE.org"},
    ],
)
def test_the_current_value_is_counted_like_any_other_and_changes_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, new: dict[str, str]
) -> None:
    """0.1.0 refused the current value before counting, which confirmed guesses
    of a masked number (tests/security/test_masked_contact_probe.py)."""
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    contacts = store.get_contacts("alice")
    change_with(mfa, outbox, Method.EMAIL if "phone" in new else Method.SMS, **new)
    assert store.get_contacts("alice") == contacts  # still verified, unchanged
    for _ in range(4):
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", **new).ok
    refused = mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE)
    assert (refused.ok, refused.reason) == (False, Reason.DAILY_LIMIT)


@pytest.mark.parametrize(
    "new",
    [
        {"phone": "+1 (555) 0100"},
        {"phone": "4155550199"},
        {"phone": "+1 415 555 0199 ext 2"},
        {"phone": "+" + "1" * 5000},
        {"phone": 14155550199},
        {"email": "nina@"},
        {"email": "nina example.net"},
        {"email": "n" * 5000 + "@example.net"},
        {"email": None, "phone": None},
        {"phone": NEW_PHONE, "email": NEW_EMAIL},
        {},
    ],
    ids=lambda new: repr(new)[:40],
)
def test_bad_input_is_refused_before_counting(
    mfa: MFA, outbox: Outbox, clock: FakeClock, store: MemoryStore, new: dict[str, Any]
) -> None:
    enrol_email(mfa, outbox, clock)
    before = contacts(store)
    for _ in range(6):
        with pytest.raises(InvalidInput):
            mfa.begin_contact_change(Actor.user("alice"), "alice", **new)
    assert contacts(store) == before
    for _ in range(5):  # the day's five attempts are all still there
        assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE).ok
    assert mfa.begin_contact_change(Actor.user("alice"), "alice", phone=NEW_PHONE).reason is (
        Reason.DAILY_LIMIT
    )


@pytest.mark.parametrize("user_id", ["", "x" * 5000, None, 5])
def test_bad_user_id_is_invalid_input(mfa: MFA, user_id: Any) -> None:
    with pytest.raises(InvalidInput):
        mfa.begin_contact_change(Actor.admin("boss"), user_id, phone=NEW_PHONE)
