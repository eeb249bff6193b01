"""Issue 12, finding 2 (S33): anyone could block a victim's SMS and voice
codes, and one account could send without limit.

The send quota was keyed by destination only and shared by every user and
purpose: enrolment sends to the victim's number from other accounts filled it,
so the victim's sign-in codes were refused. Now codes to a verified destination
count per (user, destination), codes to a destination being enrolled count
apart, and the latter have per-user, per-tenant and global daily budgets.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mfakit import MFA, Action, Actor, DeliveryError, Policy, Reason
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET
from tests.helpers import PHONE, enrol_phone

ATTACKERS = [f"mallory{i}" for i in range(8)]


def own_account(clock: FakeClock, user_id: str) -> Actor:
    """An attacker in their own freshly signed-in account (no factor yet)."""
    return Actor.user(user_id, reauthenticated_at=clock.now())


def test_other_accounts_enrolling_the_victims_number_for_a_day_never_block_her_codes(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock, "victim")
    refused = 0
    for _ in range(24 * 6):  # every ten minutes for 24 simulated hours
        for attacker in ATTACKERS:
            sent = mfa.begin_phone_enrolment(own_account(clock, attacker), attacker, PHONE)
            refused += not sent.ok
        start = mfa.begin_sign_in("victim")
        assert start.delivery is not None and start.delivery.ok, start.delivery
        assert start.challenge is not None
        assert mfa.verify(start.challenge.id, outbox.last_code(PHONE)).ok
        clock.advance(minutes=10)
    assert refused > 0  # the attackers were held back, to their budgets:
    # her enrolment, her 144 sign-in codes, and 10 unsolicited texts per account.
    assert len(outbox.sent_to(PHONE)) == 1 + 24 * 6 + len(ATTACKERS) * 10


def test_one_account_cannot_send_more_than_its_budget_to_distinct_numbers(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    actor = own_account(clock, "mallory")
    results = [
        mfa.begin_phone_enrolment(actor, "mallory", f"+1415555{n:04d}") for n in range(1000, 1050)
    ]
    assert sum(r.ok for r in results) == mfa.policy.unverified_sends_per_user == 10
    refusal = results[10]
    assert (refusal.ok, refusal.reason) == (False, Reason.SEND_BUDGET_EXHAUSTED)
    assert refusal.retry_after == timedelta(days=1)
    assert len(outbox.messages) == 10
    exhausted = [
        e
        for e in audit_log.list_events("mallory", limit=200)
        if e.action == Action.SEND_BUDGET_EXHAUSTED.value
    ]
    assert len(exhausted) == 40 and dict(exhausted[0].details)["budget"] == "user"
    # A day later the budget is back.
    clock.advance(days=1)
    actor = own_account(clock, "mallory")
    assert mfa.begin_phone_enrolment(actor, "mallory", "+14155552000").ok


def test_tenant_and_global_budgets(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    policy = Policy(unverified_sends_per_tenant=3, unverified_sends_global=5)
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        policy=policy,
        sms=outbox,
    )

    def enrol(user: str, n: int, tenant: str) -> Reason | None:
        sent = mfa.begin_phone_enrolment(
            own_account(clock, user), user, f"+1415555{n:04d}", tenant=tenant
        )
        return sent.reason

    assert [enrol(f"a{i}", 1000 + i, "acme") for i in range(4)] == [
        None,
        None,
        None,
        Reason.SEND_BUDGET_EXHAUSTED,
    ]
    assert [enrol(f"b{i}", 2000 + i, "globex") for i in range(3)] == [
        None,
        None,
        Reason.SEND_BUDGET_EXHAUSTED,  # the application-wide budget: 5 in all
    ]
    assert len(outbox.messages) == 5


def test_a_failed_delivery_gives_back_every_counter_it_took(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    actor = own_account(clock, "frank")
    for n in range(20):
        outbox.fail_next()
        with pytest.raises(DeliveryError):
            mfa.begin_phone_enrolment(actor, "frank", f"+1415555{3000 + n:04d}")
    # Nothing went out, so nothing was counted: the whole budget is left.
    sent = [mfa.begin_phone_enrolment(actor, "frank", f"+1415555{4000 + n:04d}") for n in range(10)]
    assert all(s.ok for s in sent)
