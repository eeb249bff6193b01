"""The audit trail and security notices (L8, S21, S10).

Every security-relevant action leaves exactly its record(s) (actor, subject,
action, method, outcome, time, request context, tenant), never a code, secret,
answer or token; a user's events can be listed newest first and paged; the
standard-library ``logging`` sink writes the same fields as structured extras.
The user hears of every factor, trust, password and backup-code change, and of
a failed second step, through an already verified channel.
"""

from __future__ import annotations

import dataclasses
import logging
import string
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mfakit
from mfakit import (
    MFA,
    Actor,
    AuditRecord,
    Messages,
    Method,
    Policy,
    Reason,
    RequestContext,
    StaticPolicies,
    Templates,
)
from mfakit.adapters import LoggingAuditSink, MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import fresh, grant

PHONE = "+14155550101"
MASKED_PHONE = "+1•••••01"
EMAIL = "alice@example.org"
MASKED_EMAIL = "a•••@example.org"
IP = "203.0.113.9"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CONTEXT = RequestContext(ip=IP, user_agent=UA)


# --- fixtures and helpers -------------------------------------------------------


@pytest.fixture
def log() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def mfa(
    store: MemoryStore, clock: FakeClock, policy: Policy, outbox: Outbox, log: MemoryAuditLog
) -> MFA:
    return build(store, clock, outbox, audit=log, policy=policy)


def build(
    store: MemoryStore,
    clock: FakeClock,
    outbox: Outbox,
    *,
    audit: object = None,
    policy: Policy | None = None,
    **kwargs: object,
) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        policy=policy,
        audit=audit,  # type: ignore[arg-type]
        sms=outbox,
        voice=outbox,
        email=outbox,
        **kwargs,  # type: ignore[arg-type]
    )


class Trail:
    """Reads the audit log step by step: ``new()`` is what the last step added."""

    def __init__(self, log: MemoryAuditLog) -> None:
        self.log = log
        self.seen = len(log.events)

    def new(self) -> list[AuditRecord]:
        events = self.log.events
        fresh_events, self.seen = events[self.seen :], len(events)
        return fresh_events

    def actions(self) -> list[str]:
        return sorted(e.action for e in self.new())

    def one(self, action: str) -> AuditRecord:
        events = self.new()
        assert [e.action for e in events] == [action], events
        return events[0]


def other(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def enrol_phone(mfa: MFA, outbox: Outbox, clock: FakeClock, phone: str = PHONE) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", phone)
    assert mfa.verify(sent.challenge.id, outbox.last_code(phone)).ok
    clock.advance(seconds=31)


def enrol_email(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)


def subjects(outbox: Outbox, to: str) -> list[str]:
    return [m.subject or m.text for m in outbox.sent_to(to)]


def notices(outbox: Outbox) -> list[tuple[str, str]]:
    """(to, subject or SMS text) of every message that carries no code."""
    return [(m.to, m.subject or m.text) for m in outbox.messages if m.code is None]


# --- second step -------------------------------------------------------------------


def test_verify_totp_records(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    trail = Trail(log)
    code = user.code_at()
    assert mfa.verify_totp("alice", code, context=CONTEXT).ok
    passed = trail.one("second_step.passed")
    assert (passed.subject_id, passed.method, passed.outcome) == ("alice", "totp", "success")
    assert (passed.at, passed.ip, passed.user_agent) == (clock.now(), IP, UA)
    assert mfa.verify_totp("alice", code).reason is Reason.REPLAYED
    replay = trail.one("code.replayed")
    assert (replay.method, replay.outcome, replay.reason) == ("totp", "failure", "replayed")
    clock.advance(seconds=31)
    assert not mfa.verify_totp("alice", other(user.code_at())).ok
    failed = trail.one("second_step.failed")
    assert (failed.method, failed.outcome, failed.reason) == ("totp", "failure", "invalid_code")
    # A user without any authenticator gets the same record as a wrong code (S24).
    assert not mfa.verify_totp("nobody", "123456").ok
    assert trail.one("second_step.failed").subject_id == "nobody"


def test_verify_backup_code_records(
    mfa: MFA, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    trail = Trail(log)
    assert mfa.verify_backup_code("alice", user.backup_codes[0]).ok
    events = trail.new()
    assert sorted(e.action for e in events) == ["backup_code.used", "second_step.passed"]
    used = next(e for e in events if e.action == "backup_code.used")
    assert dict(used.details)["left"] == "9" and used.method == "backup_code"
    assert not mfa.verify_backup_code("alice", user.backup_codes[0]).ok
    failed = trail.one("second_step.failed")
    assert (failed.method, failed.reason, failed.outcome) == (
        "backup_code",
        "invalid_code",
        "failure",
    )


def test_challenge_records(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    trail = Trail(log)
    start = mfa.begin_sign_in("alice", context=CONTEXT)
    assert start.challenge is not None
    assert trail.new() == []  # an authenticator challenge sends nothing
    code = user.code_at()
    assert not mfa.verify(start.challenge.id, other(code), context=CONTEXT).ok
    failed = trail.one("second_step.failed")
    assert (failed.method, failed.reason, dict(failed.details)["purpose"]) == (
        "totp",
        "invalid_code",
        "sign_in",
    )
    assert mfa.verify(start.challenge.id, code, context=CONTEXT).ok
    passed = trail.one("second_step.passed")
    assert (passed.method, passed.ip, passed.user_agent) == ("totp", IP, UA)
    # The same code on a new challenge is a replay.
    again = mfa.begin_sign_in("alice")
    assert again.challenge is not None
    assert mfa.verify(again.challenge.id, code).reason is Reason.REPLAYED
    assert trail.one("code.replayed").reason == "replayed"
    # A backup code on a challenge.
    assert mfa.verify(again.challenge.id, user.backup_codes[0]).ok
    assert trail.actions() == ["backup_code.used", "second_step.passed"]


def test_code_sent_is_recorded_with_the_destination_masked(
    mfa: MFA, outbox: Outbox, clock: FakeClock, log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    enrol_phone(mfa, outbox, clock)
    trail = Trail(log)
    start = mfa.begin_sign_in("alice", context=CONTEXT)
    assert start.challenge is not None and start.challenge.method is Method.SMS
    sent = trail.one("code.sent")
    assert (sent.method, dict(sent.details)["destination"]) == ("sms", MASKED_PHONE)
    clock.advance(seconds=31)
    assert mfa.switch_method(start.challenge.id, Method.EMAIL).ok
    email = trail.one("code.sent")
    assert (email.method, dict(email.details)["destination"]) == ("email", MASKED_EMAIL)
    for event in log.events:
        for text in (repr(event), *map(str, dataclasses.astuple(event))):
            assert PHONE not in text and PHONE[2:] not in text and EMAIL not in text


def test_a_challenge_lock_is_recorded_and_the_user_told(
    mfa: MFA, outbox: Outbox, clock: FakeClock, log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    enrol_phone(mfa, outbox, clock)
    outbox.clear()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    wrong = other(outbox.last_code(PHONE))
    trail = Trail(log)
    for _ in range(4):
        mfa.verify(start.challenge.id, wrong)
        assert trail.actions() == ["second_step.failed"]
    assert notices(outbox) == []
    assert mfa.verify(start.challenge.id, wrong).reason is Reason.TOO_MANY_ATTEMPTS
    assert trail.actions() == ["challenge.locked", "second_step.failed"]
    # S21: told by email, the channel independent of the one being guessed.
    assert notices(outbox) == [(EMAIL, "Failed sign-in attempt on Aesthetix CRM")]
    assert not mfa.verify(start.challenge.id, wrong).ok  # locked: nothing more happens
    assert trail.new() == []


def test_account_backoff_lock_and_unlock_are_recorded(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    log = MemoryAuditLog()
    policy = Policy(
        free_failures=2,
        lockout_after=3,
        backoff_base=timedelta(seconds=1),
        backoff_ceiling=timedelta(seconds=1),
    )
    mfa = build(store, clock, outbox, audit=log, policy=policy)
    user = enrol()
    trail = Trail(log)
    for _ in range(2):
        assert not mfa.verify_totp("alice", other(user.code_at())).ok
    assert trail.actions() == ["second_step.failed"] * 2
    backoff = mfa.verify_totp("alice", user.code_at())
    assert backoff.reason is Reason.RATE_LIMITED
    refused = trail.one("account.backoff")
    assert (refused.outcome, refused.method) == ("refused", "totp")
    clock.advance(seconds=2)
    assert not mfa.verify_totp("alice", other(user.code_at())).ok
    assert trail.actions() == ["second_step.failed"]
    clock.advance(seconds=2)
    assert mfa.verify_totp("alice", user.code_at()).reason is Reason.LOCKED_OUT
    assert trail.one("account.locked").outcome == "refused"
    mfa.unlock_second_step(Actor.admin("boss", reauthenticated_at=clock.now()), "alice")
    unlocked = trail.one("account.unlocked")
    assert (unlocked.actor_id, unlocked.subject_id) == ("boss", "alice")
    assert mfa.verify_totp("alice", user.code_at()).ok


# --- factors, codes, question, password -----------------------------------------------


def test_authenticator_changes_are_recorded(
    mfa: MFA, clock: FakeClock, outbox: Outbox, log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    trail = Trail(log)
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL, label="Phone app")
    assert trail.new() == []  # nothing is bound yet
    confirmed = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now()), context=CONTEXT
    )
    assert confirmed.ok and confirmed.authenticator is not None
    added = trail.one("factor.added")  # the email came first: it brought the backup codes
    assert (added.actor_id, added.subject_id, added.method) == ("alice", "alice", "totp")
    assert dict(added.details)["label"] == "Phone app"
    assert (added.ip, added.user_agent, added.at) == (IP, UA, clock.now())
    factor_id = confirmed.authenticator.id
    mfa.rename_authenticator(Actor.admin("boss"), "alice", factor_id, "Work phone")
    renamed = trail.one("factor.renamed")
    assert (renamed.actor_id, dict(renamed.details)["label"]) == ("boss", "Work phone")
    mfa.remove_authenticator(
        Actor.admin("boss", reauthenticated_at=clock.now(), step_up=grant(clock, "alice", "boss")),
        "alice",
        factor_id,
    )
    removed = trail.one("factor.removed")
    assert (removed.actor_id, removed.subject_id, removed.method) == ("boss", "alice", "totp")


def test_a_first_factor_records_its_backup_codes(
    mfa: MFA, clock: FakeClock, outbox: Outbox, log: MemoryAuditLog
) -> None:
    trail = Trail(log)
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE, context=CONTEXT)
    assert trail.one("code.sent").actor_id == "alice"
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    events = trail.new()
    assert sorted(e.action for e in events) == [
        "backup_codes.issued",
        "factor.added",
        "second_step.passed",
    ]
    added = next(e for e in events if e.action == "factor.added")
    assert (added.method, dict(added.details)["destination"]) == ("sms", MASKED_PHONE)


def test_backup_code_set_changes_are_recorded(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    enrol()
    trail = Trail(log)
    mfa.regenerate_backup_codes(fresh(clock), "alice", context=CONTEXT)
    issued = trail.one("backup_codes.issued")
    assert (issued.actor_id, issued.ip) == ("alice", IP)


def test_security_question_records(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    log = MemoryAuditLog()
    mfa = build(store, clock, outbox, audit=log, policy=Policy(question_guards_alternatives=True))
    enrol()
    enrol_phone(mfa, outbox, clock)
    trail = Trail(log)
    question = mfa.security_questions[0]
    mfa.set_security_question(fresh(clock), "alice", question, "Rex the dog")
    assert trail.one("security_question.set").actor_id == "alice"
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.alternatives_locked
    mfa.try_another_way(start.challenge.id)
    assert trail.new() == []
    assert not mfa.answer_security_question(start.challenge.id, "rex the dog", context=CONTEXT)
    failed = trail.one("security_question.failed")
    assert (failed.outcome, failed.ip) == ("failure", IP)
    assert mfa.answer_security_question(start.challenge.id, "Rex the dog").ok
    assert trail.new() == []  # a right answer is not a second step (S27)


def test_password_change_is_recorded_and_told(
    mfa: MFA, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    user = enrol()
    trail = Trail(log)
    mfa.password_changed(Actor.admin("boss"), "alice", context=CONTEXT)
    changed = trail.one("password.changed")  # no trusted device: nothing to revoke
    assert (changed.actor_id, changed.subject_id, changed.ip) == ("boss", "alice", IP)
    # With trusted devices, their revocation is recorded too.
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert mfa.verify(start.challenge.id, user.code_at(), trust_device=True).ok
    trail.new()
    outbox.clear()
    mfa.password_changed(fresh(clock), "alice")
    events = trail.new()
    assert sorted(e.action for e in events) == ["device.revoked_all", "password.changed"]
    assert notices(outbox) == [(EMAIL, "Your Aesthetix CRM password changed")]


def test_device_trust_and_revocation_are_recorded(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    trail = Trail(log)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    result = mfa.verify(start.challenge.id, user.code_at(), trust_device=True, context=CONTEXT)
    assert result.ok and result.device_id and result.trust_token
    events = trail.new()
    assert sorted(e.action for e in events) == ["device.trusted", "second_step.passed"]
    trusted = next(e for e in events if e.action == "device.trusted")
    assert dict(trusted.details) == {"device": result.device_id[:8], "label": "Firefox on Linux"}
    assert trusted.ip == IP and result.trust_token not in repr(events)
    assert mfa.begin_sign_in("alice", trust_token=result.trust_token).trusted_device
    assert trail.one("sign_in.trusted_device").subject_id == "alice"
    mfa.revoke_device(fresh(clock), "alice", result.device_id, context=CONTEXT)
    revoked = trail.one("device.revoked")
    assert (revoked.actor_id, dict(revoked.details)["device"]) == ("alice", result.device_id[:8])
    assert not mfa.begin_sign_in("alice", trust_token=result.trust_token).trusted_device
    assert trail.one("sign_in.trust_rejected").reason == "revoked"
    mfa.revoke_all_devices(fresh(clock), "alice")
    assert dict(trail.one("device.revoked_all").details)["count"] == "0"


def test_enrollment_required_is_recorded(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    log = MemoryAuditLog()
    policies = StaticPolicies({"clinic-a": Policy(require_for_roles={"staff", "client"})})
    mfa = build(store, clock, outbox, audit=log, policies=policies)
    trail = Trail(log)
    assert mfa.begin_sign_in("carl", role="client").satisfied
    assert trail.new() == []
    start = mfa.begin_sign_in("carl", role="client", tenant="clinic-a", context=CONTEXT)
    assert start.enrollment_required
    required = trail.one("sign_in.enrollment_required")
    assert (required.subject_id, required.tenant, required.ip) == ("carl", "clinic-a", IP)
    assert required.outcome != "success"


# --- what a record carries ---------------------------------------------------------------


def test_records_carry_the_request_context_tenant_and_time(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    log = MemoryAuditLog()
    policies = StaticPolicies({"clinic-a": Policy(code_length=8)})
    mfa = build(store, clock, outbox, audit=log, policies=policies)
    enrol_phone(mfa, outbox, clock)
    trail = Trail(log)
    clock.advance(minutes=3)
    start = mfa.begin_sign_in("alice", tenant="clinic-a", context=CONTEXT)
    assert start.challenge is not None
    sent = trail.one("code.sent")
    assert dataclasses.asdict(sent) | {"id": None} == {
        "id": None,
        "at": clock.now(),
        "action": "code.sent",
        "subject_id": "alice",
        "actor_id": None,
        "method": "sms",
        "outcome": "success",
        "reason": None,
        "ip": IP,
        "user_agent": UA,
        "tenant": "clinic-a",
        "details": (("destination", MASKED_PHONE), ("purpose", "sign_in")),
    }
    clock.advance(seconds=20)
    other_context = RequestContext(ip="198.51.100.7", user_agent="curl/8.0")
    # verify takes no tenant: the challenge's tenant is recorded, this request's facts.
    assert mfa.verify(start.challenge.id, outbox.last_code(PHONE), context=other_context).ok
    passed = trail.one("second_step.passed")
    assert (passed.tenant, passed.ip, passed.user_agent, passed.at) == (
        "clinic-a",
        "198.51.100.7",
        "curl/8.0",
        clock.now(),
    )
    assert len({e.id for e in log.events}) == len(log.events)  # ids are unique
    # Without a context, the fields are empty rather than invented.
    mfa.password_changed(fresh(clock), "alice")
    changed = [e for e in log.events if e.action == "password.changed"][-1]
    assert (changed.ip, changed.user_agent, changed.tenant) == (None, None, None)


@pytest.mark.parametrize("context", ["203.0.113.9", {"ip": IP}, ("ip", IP)], ids=repr)
def test_a_bad_context_is_refused(mfa: MFA, log: MemoryAuditLog, context: object) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.password_changed(fresh(FakeClock()), "alice", context=context)  # type: ignore[arg-type]
    assert log.events == []


def test_request_context_checks_its_fields() -> None:
    for kwargs in (
        {"ip": "x" * 65},
        {"user_agent": "u" * 513},
        {"ip": "1.2.3.4\n"},
        {"user_agent": "evil\r\nInjected: header"},
        {"ip": 1234},
    ):
        with pytest.raises(mfakit.InvalidInput):
            RequestContext(**kwargs)  # type: ignore[arg-type]
    assert RequestContext(ip="2001:db8::1", user_agent="u" * 512).ip == "2001:db8::1"


# --- listing -------------------------------------------------------------------------------


def test_list_events_newest_first_and_paged(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol("bob")
    times = []
    for _ in range(7):
        clock.advance(minutes=1)
        times.append(clock.now())
        mfa.password_changed(fresh(clock), "alice")
    events = mfa.list_events("alice")
    assert [e.at for e in events] == times[::-1]
    assert all(e.subject_id == "alice" for e in events)
    first = mfa.list_events("alice", limit=3)
    assert [e.at for e in first] == times[:3:-1]
    second = mfa.list_events("alice", limit=3, before=first[-1].id)
    assert [e.at for e in second] == times[3:0:-1]
    third = mfa.list_events("alice", limit=3, before=second[-1].id)
    assert [e.at for e in third] == times[:1]
    assert mfa.list_events("alice", before=third[-1].id) == []
    assert mfa.list_events("nobody") == []
    assert {e.action for e in mfa.list_events("bob")} >= {"factor.added"}


def test_list_events_orders_events_of_one_call_newest_first(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    listed = mfa.list_events("alice")
    assert len(listed) == 4 and len({e.at for e in listed}) == 1
    assert listed[-1].action == "code.sent"  # the oldest comes last


def test_paging_through_every_event(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)  # four records at one instant
    mfa.password_changed(fresh(clock), "alice")
    everything = mfa.list_events("alice", limit=500)
    assert len(everything) == 5
    paged: list[AuditRecord] = []
    page = mfa.list_events("alice", limit=2)
    while page:
        paged += page
        page = mfa.list_events("alice", limit=2, before=page[-1].id)
    assert [e.id for e in paged] == [e.id for e in everything]


@pytest.mark.parametrize("limit", [0, -1, 501, True, 2.0, "10"])
def test_list_events_limits(mfa: MFA, limit: object) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.list_events("alice", limit=limit)  # type: ignore[arg-type]


@pytest.mark.parametrize("before", ["", " x", 5, datetime(2026, 1, 1), "x" * 500], ids=repr)
def test_list_events_checks_before(mfa: MFA, clock: FakeClock, before: object) -> None:
    mfa.password_changed(fresh(clock), "alice")
    with pytest.raises(mfakit.InvalidInput):
        mfa.list_events("alice", before=before)  # type: ignore[arg-type]


def test_an_unknown_cursor_lists_nothing(mfa: MFA, clock: FakeClock) -> None:
    mfa.password_changed(fresh(clock), "alice")
    assert mfa.list_events("alice", before="no-such-event") == []


@pytest.mark.parametrize("user_id", ["", " alice", "a" * 129, None])
def test_list_events_checks_the_user_id(mfa: MFA, user_id: object) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.list_events(user_id)  # type: ignore[arg-type]


def test_without_an_audit_log_list_events_is_a_configuration_error(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    for audit in (None, LoggingAuditSink()):
        mfa = build(store, clock, outbox, audit=audit)
        mfa.password_changed(fresh(clock), "alice")
        with pytest.raises(mfakit.ConfigurationError):
            mfa.list_events("alice")
    with pytest.raises(mfakit.ConfigurationError):
        build(store, clock, outbox, audit=object())


# --- the logging sink -------------------------------------------------------------------------


def test_the_default_sink_logs_structured_fields(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    mfa = build(store, clock, outbox)
    caplog.set_level(logging.INFO, logger="mfakit.audit")
    enrol_phone(mfa, outbox, clock)
    caplog.clear()
    start = mfa.begin_sign_in("alice", context=CONTEXT)
    assert start.challenge is not None
    (record,) = [r for r in caplog.records if r.name == "mfakit.audit"]
    assert record.levelno == logging.INFO
    fields = {k: v for k, v in vars(record).items() if k.startswith("mfa_")}
    assert fields == {
        "mfa_id": fields["mfa_id"],
        "mfa_at": clock.now().isoformat(),
        "mfa_action": "code.sent",
        "mfa_subject": "alice",
        "mfa_actor": None,
        "mfa_method": "sms",
        "mfa_outcome": "success",
        "mfa_reason": None,
        "mfa_ip": IP,
        "mfa_user_agent": UA,
        "mfa_tenant": None,
        "mfa_details": {"destination": MASKED_PHONE, "purpose": "sign_in"},
    }
    assert record.getMessage().startswith("code.sent success subject=alice")
    assert PHONE not in caplog.text and outbox.last_code(PHONE) not in caplog.text


def test_a_custom_logger_and_level(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    sink = LoggingAuditSink(logging.getLogger("clinic.security"), level=logging.WARNING)
    mfa = build(store, clock, outbox, audit=sink)
    caplog.set_level(logging.WARNING, logger="clinic.security")
    mfa.password_changed(fresh(clock), "alice", context=CONTEXT)
    (record,) = [r for r in caplog.records if r.name == "clinic.security"]
    assert record.levelno == logging.WARNING
    assert (record.mfa_action, record.mfa_actor, record.mfa_ip) == (  # type: ignore[attr-defined]
        "password.changed",
        "alice",
        IP,
    )


def test_a_silent_logger_gets_no_events(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("clinic.quiet")
    logger.setLevel(logging.ERROR)
    try:
        mfa = build(store, clock, outbox, audit=LoggingAuditSink(logger))
        with caplog.at_level(logging.DEBUG):
            mfa.password_changed(fresh(clock), "alice")
        assert [r for r in caplog.records if r.name == "clinic.quiet"] == []
    finally:
        logger.setLevel(logging.NOTSET)


# --- notices (S21) -----------------------------------------------------------------------------


def test_a_new_trusted_device_is_told(
    mfa: MFA, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    enrol_email(mfa, outbox, clock)
    user = enrol()
    outbox.clear()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert mfa.verify(start.challenge.id, user.code_at(), trust_device=True, context=CONTEXT).ok
    (notice,) = outbox.messages
    assert (notice.to, notice.subject) == (EMAIL, "New trusted device for Aesthetix CRM")
    assert "Firefox on Linux" in notice.text
    outbox.clear()
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert mfa.verify(start.challenge.id, user.code_at()).ok  # not trusting: no notice
    assert outbox.messages == []


def test_a_new_phone_is_told_to_the_email_never_to_the_phone(
    mfa: MFA, clock: FakeClock, outbox: Outbox
) -> None:
    enrol_email(mfa, outbox, clock)
    outbox.clear()
    enrol_phone(mfa, outbox, clock)
    assert [m.code is not None for m in outbox.sent_to(PHONE)] == [True]  # only its code
    (notice,) = outbox.sent_to(EMAIL)
    assert notice.subject == "Two-step verification method added on Aesthetix CRM"
    assert MASKED_PHONE in notice.text and PHONE not in notice.text


def test_a_new_email_is_told_to_the_phone_never_to_the_email(
    mfa: MFA, clock: FakeClock, outbox: Outbox
) -> None:
    enrol_phone(mfa, outbox, clock)
    outbox.clear()
    enrol_email(mfa, outbox, clock)
    assert [m.code is not None for m in outbox.sent_to(EMAIL)] == [True]
    (notice,) = outbox.sent_to(PHONE)
    assert notice.channel == "sms" and "was added" in notice.text
    assert MASKED_EMAIL in notice.text and EMAIL not in notice.text


def test_a_first_factor_has_no_other_channel_to_tell(
    mfa: MFA, clock: FakeClock, outbox: Outbox
) -> None:
    enrol_phone(mfa, outbox, clock)
    assert [m.code is not None for m in outbox.messages] == [True]


def test_authenticator_changes_are_told(
    mfa: MFA, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    enrol_email(mfa, outbox, clock)
    outbox.clear()
    user = enrol(label="Pixel")
    assert notices(outbox) == [(EMAIL, "Two-step verification method added on Aesthetix CRM")]
    assert "Pixel" in outbox.last(EMAIL).text
    outbox.clear()
    mfa.remove_authenticator(fresh(clock), "alice", user.factor_id)
    assert notices(outbox) == [(EMAIL, "Two-step verification method removed on Aesthetix CRM")]


def test_backup_code_notices(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    mfa = build(store, clock, outbox, audit=MemoryAuditLog(), policy=Policy(backup_code_count=4))
    enrol_email(mfa, outbox, clock)
    codes = list(mfa.regenerate_backup_codes(fresh(clock), "alice"))
    assert notices(outbox) == [(EMAIL, "New backup codes for Aesthetix CRM")]
    outbox.clear()
    first = mfa.verify_backup_code("alice", codes[0])
    assert first.backup_codes_left == 3 and not first.backup_codes_low
    assert outbox.messages == []
    second = mfa.verify_backup_code("alice", codes[1])
    assert second.backup_codes_left == 2 and second.backup_codes_low
    (low,) = outbox.messages
    assert (low.to, low.subject) == (EMAIL, "Few backup codes left on Aesthetix CRM")
    assert "Only 2 backup codes" in low.text
    for code in codes:
        assert code not in low.text
    mfa.verify_backup_code("alice", codes[2])
    assert "Only 1 backup code is left" in outbox.last(EMAIL).text


def test_notify_false_sends_no_notice(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    log = MemoryAuditLog()
    mfa = build(store, clock, outbox, audit=log, notify=False)
    enrol_email(mfa, outbox, clock)
    enrol_phone(mfa, outbox, clock)
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL)
    confirmed = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert confirmed.ok and confirmed.authenticator is not None
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    code = authenticator_code(setup.uri, clock.now())
    assert mfa.verify(start.challenge.id, code, trust_device=True).ok
    codes = list(mfa.regenerate_backup_codes(fresh(clock), "alice"))
    for backup_code in codes[:9]:  # down to one left
        assert mfa.verify_backup_code("alice", backup_code).ok
    mfa.password_changed(fresh(clock), "alice")
    mfa.remove_authenticator(fresh(clock), "alice", confirmed.authenticator.id)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    for _ in range(5):
        mfa.verify(start.challenge.id, "000000")
    assert notices(outbox) == []
    assert "password.changed" in {e.action for e in log.events}  # still recorded
    with pytest.raises(mfakit.ConfigurationError):
        build(store, clock, outbox, notify="no")


def test_a_failed_notice_undoes_nothing_and_is_recorded(
    mfa: MFA, clock: FakeClock, outbox: Outbox, log: MemoryAuditLog
) -> None:
    enrol_email(mfa, outbox, clock)
    old_set = list(mfa.regenerate_backup_codes(fresh(clock), "alice"))
    trail = Trail(log)
    outbox.fail_next()
    fresh_set = list(mfa.regenerate_backup_codes(fresh(clock), "alice"))
    assert sorted(trail.actions()) == ["backup_codes.issued", "notice.failed"]
    failed = [e for e in log.events if e.action == "notice.failed"][-1]
    assert (failed.reason, failed.outcome) == ("backup_codes_regenerated", "failure")
    assert not mfa.verify_backup_code("alice", old_set[0]).ok  # the old set is gone
    assert mfa.verify_backup_code("alice", fresh_set[0]).ok  # the new one works
    trail.new()
    outbox.fail_next()
    mfa.password_changed(fresh(clock), "alice")
    assert trail.actions() == ["notice.failed", "password.changed"]
    # The next notice goes out again.
    mfa.password_changed(fresh(clock), "alice")
    assert notices(outbox)[-1] == (EMAIL, "Your Aesthetix CRM password changed")


def test_translated_notice_templates(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    french = Templates(
        notices={
            "password_changed": (
                "Votre mot de passe {issuer} a changé",
                "Le mot de passe de votre compte {issuer} a été modifié le {when}.",
            ),
            "device_trusted": (
                "Nouvel appareil de confiance sur {issuer}",
                "L'appareil « {detail} » est désormais de confiance ({when}).",
            ),
        }
    )
    messages = Messages({"fr": french}, default_locale="fr")
    mfa = build(store, clock, outbox, audit=MemoryAuditLog(), messages=messages)
    enrol_email(mfa, outbox, clock)
    outbox.clear()
    mfa.password_changed(fresh(clock), "alice")
    notice = outbox.last(EMAIL)
    assert notice.subject == "Votre mot de passe Aesthetix CRM a changé"
    assert notice.text == (
        "Le mot de passe de votre compte Aesthetix CRM a été modifié le 2026-01-01 12:00 UTC."
    )
    user = enrol()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    mfa.verify(start.challenge.id, user.code_at(), trust_device=True, device_label="Mon PC")
    assert outbox.last(EMAIL).text.startswith("L'appareil « Mon PC »")
    # Kinds not given come from mfakit's own French catalog.
    mfa.regenerate_backup_codes(fresh(clock), "alice")
    assert outbox.last(EMAIL).subject == "Nouveaux codes de secours pour Aesthetix CRM"


def test_bad_notice_templates_fail_at_start_up() -> None:
    for notices_map in (
        {"no_such_notice": ("s", "t")},
        {"password_changed": ("s {nope}", "t")},
        {"password_changed": ("two\nlines", "t")},
        {"password_changed": "just a string"},
        {"password_changed": ("s", "t {when")},
    ):
        with pytest.raises(mfakit.ConfigurationError):
            Templates(notices=notices_map)  # type: ignore[arg-type]


# --- nothing secret anywhere (S10) ------------------------------------------------------------

_RANDOM_DETAILS = ("device", "factor")


class TeeAudit:
    """An audit log that also writes every event to the ``mfakit.audit`` logger."""

    def __init__(self) -> None:
        self.memory = MemoryAuditLog()
        self.sink = LoggingAuditSink()

    def record(self, event: AuditRecord) -> None:
        self.memory.record(event)
        self.sink.record(event)

    def list_events(
        self, subject_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> list[AuditRecord]:
        return self.memory.list_events(subject_id, limit=limit, before=before)


def _without_random_ids(event: AuditRecord) -> AuditRecord:
    """Ids are random base64; a 6-digit run in one is chance, not a leak."""
    details = tuple((k, "" if k in _RANDOM_DETAILS else v) for k, v in event.details)
    return dataclasses.replace(event, id="", details=details)


def _texts(event: AuditRecord) -> list[str]:
    return [repr(event), *(str(v) for v in dataclasses.astuple(event))]


_phones = st.builds(
    "+1{}555{:04d}".format,
    st.sampled_from(["415", "212", "646", "312", "617", "202"]),
    st.integers(0, 9999),
)
# A non-ASCII letter in every answer: the records' own vocabulary is ASCII, so a
# found answer is a leak, not a word like "destinatio" inside the key "destination".
_answers = st.text(
    alphabet=string.ascii_letters + string.digits + " -'éüß", min_size=10, max_size=40
).filter(lambda a: len(set(a)) >= 4 and any(c in "éüß" for c in a))
_six_digits = st.text(alphabet=string.digits, min_size=6, max_size=6)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    phone=_phones,
    answer=_answers,
    wrong_answer=_answers,
    wrong_codes=st.lists(_six_digits, min_size=1, max_size=2),
    malformed=st.from_regex(r"[0-9]{3}[a-z]{3}[0-9]?", fullmatch=True),
    bad_phone=st.from_regex(r"\+1[0-9]{3}555[0-9]{2,3}", fullmatch=True),
)
def test_no_code_secret_answer_or_token_leaks(
    caplog: pytest.LogCaptureFixture,
    phone: str,
    answer: str,
    wrong_answer: str,
    wrong_codes: list[str],
    malformed: str,
    bad_phone: str,
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    clock, outbox, audit = FakeClock(), Outbox(), TeeAudit()
    policy = Policy(question_guards_alternatives=True, backup_code_count=4)
    mfa = build(MemoryStore(), clock, outbox, audit=audit, policy=policy)
    ctx = RequestContext(ip=IP, user_agent=UA)
    digit_codes: set[str] = set(wrong_codes)
    secrets: set[str] = {answer, wrong_answer, malformed}
    errors: list[BaseException] = []

    def attempt(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except mfakit.MfaError as exc:
            errors.append(exc)
            return None

    def totp_now() -> str:
        code = authenticator_code(setup.uri, clock.now())
        digit_codes.add(code)
        return code

    def wrong_totp(candidate: str) -> str:
        valid = {
            authenticator_code(setup.uri, clock.now() + timedelta(seconds=s)) for s in (-30, 0, 30)
        }
        while candidate in valid:
            candidate = other(candidate)
        return candidate

    def sent_code(to: str) -> str:
        code = outbox.last_code(to)
        digit_codes.add(code)
        return code

    # An authenticator app; a wrong first code, then the right one.
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL, context=ctx)
    secrets |= {setup.secret, setup.uri}
    attempt(mfa.confirm_totp_setup, fresh(clock), setup.id, wrong_totp(wrong_codes[0]))
    confirmed = mfa.confirm_totp_setup(fresh(clock), setup.id, totp_now(), context=ctx)
    assert confirmed.ok and confirmed.backup_codes is not None
    backup = list(confirmed.backup_codes)
    secrets |= set(backup) | {c.replace("-", "") for c in backup}
    clock.advance(seconds=61)

    # A phone: a mistyped number, a wrong code, then the right one.
    attempt(mfa.begin_phone_enrolment, fresh(clock), "alice", bad_phone + "0000000")
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", phone, context=ctx)
    real = sent_code(phone)
    mfa.verify(sent.challenge.id, wrong_codes[0] if wrong_codes[0] != real else other(real))
    assert mfa.verify(sent.challenge.id, real, context=ctx).ok
    clock.advance(seconds=31)

    # The security question, and a sign-in through it: wrong answer, right answer, SMS.
    question = mfa.security_questions[1]
    mfa.set_security_question(fresh(clock), "alice", question, answer, context=ctx)
    start = mfa.begin_sign_in("alice", context=ctx)
    assert start.challenge is not None
    cid = start.challenge.id
    mfa.verify(cid, wrong_totp(wrong_codes[-1]), context=ctx)
    mfa.try_another_way(cid)
    if wrong_answer != answer:
        mfa.answer_security_question(cid, wrong_answer, context=ctx)
    attempt(mfa.verify, cid, malformed)
    assert mfa.answer_security_question(cid, answer, context=ctx).ok
    assert mfa.switch_method(cid, Method.SMS, context=ctx).ok
    real = sent_code(phone)
    for wrong in wrong_codes:
        if wrong != real:
            mfa.verify(cid, wrong, context=ctx)
    result = mfa.verify(cid, real, trust_device=True, context=ctx)
    assert result.ok and result.trust_token is not None
    token = result.trust_token
    secrets |= {token, token.rpartition(".")[2]}
    clock.advance(seconds=31)

    # The trusted device, a backup code, an authenticator code and its replay.
    assert mfa.begin_sign_in("alice", trust_token=token, context=ctx).trusted_device
    attempt(mfa.verify_backup_code, "alice", malformed)
    assert mfa.verify_backup_code("alice", backup[0], context=ctx).ok
    assert mfa.verify_backup_code("alice", backup[1], context=ctx).ok  # 2 left: a notice
    code = totp_now()
    assert mfa.verify_totp("alice", code, context=ctx).ok
    assert mfa.verify_totp("alice", code, context=ctx).reason is Reason.REPLAYED
    attempt(mfa.verify_totp, "alice", malformed)

    # A password change: the token is now refused, and says why in the trail.
    mfa.password_changed(fresh(clock), "alice", context=ctx)
    assert not mfa.begin_sign_in("alice", trust_token=token, context=ctx).trusted_device
    attempt(mfa.begin_sign_in, "alice", trust_token=token + "x" * 4096)
    regenerated = list(mfa.regenerate_backup_codes(fresh(clock), "alice", context=ctx))
    secrets |= set(regenerated)

    events = audit.memory.events
    actions = {e.action for e in events}
    assert {"code.sent", "second_step.failed", "sign_in.trust_rejected"} <= actions
    assert ("security_question.failed" in actions) is (wrong_answer != answer)
    assert errors, "the scenario should have raised some InvalidInput"

    national = phone[2:]
    log_texts = [caplog.text]
    for rec in caplog.records:
        log_texts.append(rec.getMessage())
        log_texts += [
            str(v) for k, v in vars(rec).items() if k.startswith("mfa_") and k != "mfa_id"
        ]
    error_texts = [t for exc in errors for t in (str(exc), repr(exc), *map(str, exc.args))]
    for event in events:
        texts = _texts(event)
        scrubbed = _texts(_without_random_ids(event))
        for secret in secrets:
            assert not any(secret in t for t in texts), (secret, event)
        for code in digit_codes:
            assert not any(code in t for t in scrubbed), (code, event)
        assert not any(phone in t or national in t for t in texts), event
    for text in log_texts + error_texts:
        for secret in secrets | {phone}:
            assert secret not in text
    for text in error_texts:
        for code in digit_codes | {bad_phone}:
            assert code not in text
    log_lines = "\n".join(
        rec.getMessage() + " " + str(getattr(rec, "mfa_details", "")) for rec in caplog.records
    )
    for code in digit_codes:
        assert code not in log_lines
