"""Policy by role and tenant (L7).

Which roles must use 2FA, per application or per tenant (one policy per
clinic, through a resolver), applied at the user's next sign-in; a challenge
keeps its tenant's policy until it ends; the two named presets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Method, Policy, Reason, State, StaticPolicies
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.testing import FakeClock, fast_hasher
from tests.conftest import SECRET, Enrolled
from tests.helpers import fresh, snapshot

PHONE = "+14155550101"
EMAIL = "alice@example.org"


def build(
    store: MemoryStore,
    clock: FakeClock,
    outbox: Outbox,
    *,
    policy: Policy | None = None,
    policies: object = None,
    audit: MemoryAuditLog | None = None,
) -> MFA:
    return MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        policy=policy,
        policies=policies,  # type: ignore[arg-type]
        audit=audit if audit is not None else MemoryAuditLog(),
        sms=outbox,
        voice=outbox,
        email=outbox,
    )


def enrol_phone(mfa: MFA, outbox: Outbox, clock: FakeClock, user_id: str = "alice") -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock, user_id), user_id, PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)


def clinics() -> StaticPolicies:
    return StaticPolicies(
        {
            "clinic-a": Policy(require_for_roles={"staff", "client"}),
            "clinic-b": Policy(require_for_roles={"staff"}),
            "clinic-c": Policy(),
        }
    )


# --- by role -------------------------------------------------------------------------


def test_staff_required_clients_optional(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = build(store, clock, outbox, policy=Policy(require_for_roles={"staff"}))
    assert mfa.begin_sign_in("sam", role="staff").enrollment_required
    assert mfa.begin_sign_in("carl", role="client").satisfied
    assert mfa.begin_sign_in("nora").satisfied  # no role: not required
    assert mfa.begin_sign_in("sam", role="Staff").satisfied  # roles are exact names
    # Enrolled users get their challenge whatever their role.
    enrol_phone(mfa, outbox, clock, "carl")
    start = mfa.begin_sign_in("carl", role="client")
    assert start.challenge is not None and start.challenge.method is Method.SMS


def test_staff_and_clients_required(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    mfa = build(store, clock, outbox, policy=Policy(require_for_roles={"staff", "client"}))
    assert mfa.begin_sign_in("sam", role="staff").enrollment_required
    assert mfa.begin_sign_in("carl", role="client").enrollment_required
    assert mfa.begin_sign_in("ann", role="auditor").satisfied


def test_default_policy_requires_nobody(mfa: MFA) -> None:
    assert Policy().require_for_roles == frozenset()
    for role in (None, "staff", "client", "admin"):
        assert mfa.begin_sign_in("alice", role=role).satisfied


@pytest.mark.parametrize("role", ["", "x" * 65, 7, b"staff", "bad\nrole"])
def test_a_bad_role_is_refused(mfa: MFA, store: MemoryStore, role: object) -> None:
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_sign_in("alice", role=role)  # type: ignore[arg-type]
    assert snapshot(store) == before


# --- by tenant -----------------------------------------------------------------------


def test_each_tenant_has_its_policy(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    mfa = build(store, clock, outbox, policies=clinics())
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-a").enrollment_required
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-a").enrollment_required
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-b").satisfied
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-b").enrollment_required
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-c").satisfied
    # Without a tenant, and for a tenant the resolver does not know: the default policy.
    assert mfa.begin_sign_in("sam", role="staff").satisfied
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-z").satisfied


def test_an_unknown_tenant_gets_the_default_policy(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = build(
        store, clock, outbox, policy=Policy(require_for_roles={"staff"}), policies=clinics()
    )
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-z").enrollment_required
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-z").satisfied
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-a").enrollment_required
    assert mfa.policy == Policy(require_for_roles={"staff"})


def test_a_tenant_without_a_resolver_uses_the_default_policy(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    audit = MemoryAuditLog()
    mfa = build(store, clock, outbox, policy=Policy(require_for_roles={"staff"}), audit=audit)
    assert mfa.begin_sign_in("sam", role="staff", tenant="clinic-a").enrollment_required
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-a").satisfied


def test_a_stricter_policy_applies_at_the_next_sign_in(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    policies = clinics()
    mfa = build(store, clock, outbox, policies=policies)
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-b").satisfied
    policies.set("clinic-b", Policy(require_for_roles={"staff", "client"}))
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-b").enrollment_required
    # ...and a newly added tenant too.
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-new").satisfied
    policies.set("clinic-new", Policy(require_for_roles={"client"}))
    assert mfa.begin_sign_in("carl", role="client", tenant="clinic-new").enrollment_required
    # Once the user enrols, the same policy gives them a challenge.
    enrol_phone(mfa, outbox, clock, "carl")
    start = mfa.begin_sign_in("carl", role="client", tenant="clinic-b")
    assert start.challenge is not None


def test_a_resolver_is_asked_on_every_call(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    asked: list[str] = []

    class Resolver:
        def policy_for(self, tenant: str) -> Policy | None:
            asked.append(tenant)
            return Policy(require_for_roles={"staff"}) if tenant == "strict" else None

    mfa = build(store, clock, outbox, policies=Resolver())
    assert mfa.begin_sign_in("sam", role="staff", tenant="strict").enrollment_required
    assert mfa.begin_sign_in("sam", role="staff", tenant="lax").satisfied
    assert mfa.begin_sign_in("sam", role="staff").satisfied
    assert asked == ["strict", "lax"]


def test_a_resolver_returning_something_else_is_a_configuration_error(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    class Broken:
        def policy_for(self, tenant: str) -> object:
            return {"require_for_roles": {"staff"}}

    mfa = build(store, clock, outbox, policies=Broken())
    with pytest.raises(mfakit.ConfigurationError):
        mfa.begin_sign_in("sam", role="staff", tenant="clinic-a")
    with pytest.raises(mfakit.ConfigurationError):
        build(store, clock, outbox, policies=object())


def test_static_policies_check_their_entries() -> None:
    for bad_tenant in ("", " clinic", "x" * 129, 5):
        with pytest.raises(mfakit.InvalidInput):
            StaticPolicies({bad_tenant: Policy()})  # type: ignore[dict-item]
    with pytest.raises(mfakit.ConfigurationError):
        StaticPolicies({"clinic-a": {"trust_days": 7}})  # type: ignore[dict-item]
    policies = StaticPolicies()
    with pytest.raises(mfakit.ConfigurationError):
        policies.set("clinic-a", None)  # type: ignore[arg-type]
    assert policies.policy_for("clinic-a") is None
    assert "tenants=0" in repr(policies)


# --- a challenge keeps its tenant's policy ----------------------------------------------


def test_a_challenge_keeps_its_tenants_policy(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    policies = StaticPolicies(
        {"clinic-a": Policy(code_length=8, max_attempts=3, require_for_roles={"staff"})}
    )
    audit = MemoryAuditLog()
    mfa = build(store, clock, outbox, policies=policies, audit=audit)
    enrol_phone(mfa, outbox, clock)
    assert len(outbox.last_code(PHONE)) == 6  # enrolled under the default policy

    start = mfa.begin_sign_in("alice", role="staff", tenant="clinic-a")
    challenge = start.challenge
    assert challenge is not None and challenge.attempts_left == 3
    code = outbox.last_code(PHONE)
    assert len(code) == 8 and code.isdigit()
    # Later calls name only the challenge; its tenant's policy still applies.
    assert mfa.get_challenge(challenge.id).attempts_left == 3
    clock.advance(seconds=31)
    assert mfa.resend(challenge.id).ok
    code = outbox.last_code(PHONE)
    assert len(code) == 8
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    left = [mfa.verify(challenge.id, wrong).attempts_left for _ in range(2)]
    assert left == [2, 1]
    third = mfa.verify(challenge.id, wrong)
    assert (third.reason, third.attempts_left) == (Reason.TOO_MANY_ATTEMPTS, 0)
    assert mfa.get_challenge(challenge.id).state is State.LOCKED
    assert not mfa.verify(challenge.id, code).ok
    # Every record of the challenge names the tenant.
    tenants = {e.tenant for e in audit.events if e.action in ("code.sent", "second_step.failed")}
    assert "clinic-a" in tenants
    failed = [e for e in audit.events if e.action == "second_step.failed"]
    assert failed and all(e.tenant == "clinic-a" for e in failed)
    locked = [e for e in audit.events if e.action == "challenge.locked"]
    assert len(locked) == 1 and locked[0].tenant == "clinic-a"


def test_the_same_user_under_the_default_policy(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    policies = StaticPolicies({"clinic-a": Policy(code_length=8, max_attempts=3)})
    mfa = build(store, clock, outbox, policies=policies)
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.attempts_left == 5
    assert len(outbox.last_code(PHONE)) == 6


def test_a_tenants_trust_lifetime_applies_to_its_challenges(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    policies = StaticPolicies({"clinic-a": Policy(trust_days=30), "clinic-b": Policy.nist()})
    mfa = build(store, clock, outbox, policies=policies)
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice", tenant="clinic-a")
    assert start.challenge is not None
    result = mfa.verify(start.challenge.id, outbox.last_code(PHONE), trust_device=True)
    assert result.ok and result.trust_max_age == 30 * 86400
    clock.advance(seconds=31)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    result = mfa.verify(start.challenge.id, outbox.last_code(PHONE), trust_device=True)
    assert result.ok and result.trust_max_age == 14 * 86400


def test_a_tenants_methods_apply_at_sign_in(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    """Under the nist preset SMS is not offered; the authenticator is."""
    mfa = build(store, clock, outbox, policies=StaticPolicies({"hipaa": Policy.nist()}))
    enrol_phone(mfa, outbox, clock)
    enrol()  # an authenticator app, through the conftest MFA on the same store
    outbox.clear()
    strict = mfa.begin_sign_in("alice", tenant="hipaa")
    assert strict.challenge is not None
    assert strict.challenge.methods == (Method.TOTP, Method.BACKUP_CODE)
    assert outbox.messages == []
    with pytest.raises(mfakit.InvalidInput):
        mfa.switch_method(strict.challenge.id, Method.SMS)
    lax = mfa.begin_sign_in("alice")
    assert lax.challenge is not None and Method.SMS in lax.challenge.methods


def test_a_policy_that_disallows_the_users_only_factor_does_not_drop_2fa(
    store: MemoryStore, clock: FakeClock, outbox: Outbox
) -> None:
    mfa = build(store, clock, outbox, policies=StaticPolicies({"hipaa": Policy.nist()}))
    enrol_phone(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice", role="client", tenant="hipaa")
    assert not start.satisfied
    assert start.enrollment_required


# --- presets -----------------------------------------------------------------------------


def test_presets_differ_where_documented() -> None:
    default, nist = Policy.default(), Policy.nist()
    assert default == Policy()
    assert default.allowed_methods == frozenset(Method)
    assert nist.allowed_methods == frozenset({Method.TOTP, Method.BACKUP_CODE})
    assert (default.trust_days, nist.trust_days) == (14, 7)
    assert (default.allow_restricted_only, nist.allow_restricted_only) == (True, False)
    assert nist.lockout_after == 100 and nist.totp_window <= 1
    assert nist.require_for_roles == default.require_for_roles == frozenset()
    assert Policy.nist(require_for_roles={"staff"}).require_for_roles == {"staff"}
    differing = {
        name
        for name in Policy.__dataclass_fields__
        if getattr(default, name) != getattr(nist, name)
    }
    assert {"allowed_methods", "trust_days", "allow_restricted_only"} <= differing


def test_the_nist_preset_in_use(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    mfa = build(store, clock, outbox, policy=Policy.nist(require_for_roles={"staff"}))
    assert mfa.begin_sign_in("sam", role="staff").enrollment_required
    with pytest.raises(mfakit.NotPermitted):
        mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    with pytest.raises(mfakit.NotPermitted):
        mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert outbox.messages == []
    user = enrol()
    start = mfa.begin_sign_in("alice", role="staff")
    assert start.challenge is not None
    result = mfa.verify(start.challenge.id, user.code_at(), trust_device=True)
    assert result.ok and result.trust_max_age == 7 * 86400


def test_the_default_preset_in_use(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    assert mfa.policy == Policy.default()
    enrol_phone(mfa, outbox, clock)
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert sent.ok


def test_presets_compose_with_replace() -> None:
    strict_staff = Policy.nist().replace(require_for_roles={"staff"}, trust_days=1)
    assert strict_staff.allowed_methods == Policy.nist().allowed_methods
    assert strict_staff.trust_days == 1 and strict_staff.requires_2fa("staff")
    with pytest.raises(mfakit.InvalidInput):
        Policy.nist().replace(trust_days=400)
    for bad in ("staff", {""}, {"x" * 65}, {3}, 3):
        with pytest.raises(mfakit.InvalidInput):
            Policy(require_for_roles=bad)  # type: ignore[arg-type]


# --- bad tenant values -------------------------------------------------------------------

BAD_TENANTS = ["", "x" * 10_000, " clinic-a", "clinic\n", 5, b"clinic-a", ["clinic-a"]]


@pytest.mark.parametrize("tenant", BAD_TENANTS, ids=repr)
def test_bad_tenant_values_change_nothing(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, tenant: object
) -> None:
    audit = MemoryAuditLog()
    mfa = build(store, clock, outbox, policies=clinics(), audit=audit)
    enrol_phone(mfa, outbox, clock)
    outbox.clear()
    before, events = snapshot(store), len(audit.events)
    calls: list[Callable[[], object]] = [
        lambda: mfa.begin_sign_in("alice", role="staff", tenant=tenant),  # type: ignore[arg-type]
        lambda: mfa.begin_totp_setup(
            fresh(clock),
            "alice",
            account_name=EMAIL,
            tenant=tenant,  # type: ignore[arg-type]
        ),
        lambda: mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL, tenant=tenant),  # type: ignore[arg-type]
        lambda: mfa.verify_totp("alice", "123456", tenant=tenant),  # type: ignore[arg-type]
        lambda: mfa.verify_backup_code("alice", "AAAA-AAAA-AAAA", tenant=tenant),  # type: ignore[arg-type]
        lambda: mfa.regenerate_backup_codes(fresh(clock), "alice", tenant=tenant),  # type: ignore[arg-type]
        lambda: mfa.list_devices("alice", tenant=tenant),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(mfakit.InvalidInput) as err:
            call()
        assert err.value.field == "tenant"
        assert "xxxxxxxxxx" not in str(err.value)
    assert snapshot(store) == before
    assert len(audit.events) == events
    assert outbox.messages == []


def test_bad_tenant_values_without_a_resolver(mfa: MFA, store: MemoryStore) -> None:
    before = snapshot(store)
    for tenant in BAD_TENANTS:
        with pytest.raises(mfakit.InvalidInput):
            mfa.begin_sign_in("alice", tenant=tenant)  # type: ignore[arg-type]
    assert snapshot(store) == before


def test_a_long_but_valid_tenant_id(store: MemoryStore, clock: FakeClock, outbox: Outbox) -> None:
    tenant = "t" * 128
    policies = StaticPolicies({tenant: Policy(require_for_roles={"staff"})})
    mfa = build(store, clock, outbox, policies=policies)
    assert mfa.begin_sign_in("sam", role="staff", tenant=tenant).enrollment_required
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_sign_in("sam", role="staff", tenant=tenant + "t")


def test_policy_bounds_hold_for_tenant_policies() -> None:
    with pytest.raises(mfakit.InvalidInput):
        StaticPolicies({"clinic-a": Policy(code_length=5)})
    with pytest.raises(mfakit.InvalidInput):
        Policy(max_attempts=0)
    with pytest.raises(mfakit.InvalidInput):
        Policy(reauth_max_age=timedelta(minutes=21))
