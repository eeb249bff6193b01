"""Managing 2FA (L5) and the password change (L6, S23), end to end.

Listing factors, renaming, the preferred method, removing a contact or an
authenticator (fresh re-authentication at the boundary, S20; never leaving a
user whose role requires 2FA without a factor), regenerating backup codes,
turning 2FA off and on again, and what a password change does. Clients and
staff use the same calls; only the policy differs (seed 002): here staff must
have 2FA, clients may.
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
    ContactKind,
    FactorInfo,
    InvalidInput,
    Method,
    NotFound,
    NotPermitted,
    Policy,
    Reason,
    ReauthenticationRequired,
)
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.core.records import AuditRecord, ContactRecord
from mfakit.passwords import check_new_password, hash_password, needs_rehash, verify_password
from mfakit.testing import FakeClock, authenticator_code
from tests.conftest import Enrolled
from tests.helpers import enrol_email, enrol_phone, fresh, grant

PHONE = "+14155550101"
EMAIL = "alice@example.org"


# --- fixtures and helpers --------------------------------------------------------


@pytest.fixture
def policy() -> Policy:
    return Policy(require_for_roles={"staff"})


def by_kind(mfa: MFA, user_id: str = "alice") -> dict[str, FactorInfo]:
    factors = mfa.list_factors(user_id)
    kinds = {f.kind: f for f in factors}
    assert len(kinds) == len(factors)
    return kinds


def events(audit_log: MemoryAuditLog, action: str) -> list[AuditRecord]:
    return [e for e in audit_log.events if e.action == action]


def trust_this_device(mfa: MFA, outbox: Outbox, clock: FakeClock, user: Enrolled) -> str:
    """A sign-in with "remember this device"; returns the cookie's token."""
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    code = user.code_at() if start.challenge.method is Method.TOTP else outbox.last_code(PHONE)
    result = mfa.verify(start.challenge.id, code, trust_device=True)
    assert result.ok and result.trust_token is not None
    clock.advance(seconds=31)
    assert mfa.begin_sign_in("alice", trust_token=result.trust_token).trusted_device
    return result.trust_token


# --- listing -------------------------------------------------------------------


def test_list_factors_describes_each_factor(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    assert mfa.list_factors("alice") == ()
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    user = enrol(label="Work phone")
    confirmed_at = clock.now() - timedelta(seconds=90)  # enrol() moves on 90 s
    factors = by_kind(mfa)
    assert set(factors) == {"totp", "phone", "email"}

    app = factors["totp"]
    assert (app.id, app.label, app.methods) == (user.factor_id, "Work phone", (Method.TOTP,))
    assert (app.verified, app.restricted, app.destination, app.preferred) == (
        True,
        False,
        None,
        False,
    )
    assert app.last_used_at == confirmed_at

    phone = factors["phone"]
    assert (phone.id, phone.label, phone.methods) == ("phone", "Phone", (Method.SMS, Method.VOICE))
    assert (phone.verified, phone.restricted, phone.destination) == (True, True, "+1•••••01")
    assert PHONE not in repr(phone)

    email = factors["email"]
    assert (email.label, email.methods, email.verified) == ("Email", (Method.EMAIL,), True)
    assert (email.restricted, email.destination) == (False, "a•••@example.org")
    assert not any(f.preferred for f in factors.values())

    # The last use of the app moves with a verification.
    clock.advance(minutes=3)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    assert mfa.verify(start.challenge.id, user.code_at()).ok
    assert by_kind(mfa)["totp"].last_used_at == clock.now()
    clock.advance(minutes=1)
    assert mfa.verify_totp("alice", user.code_at()).ok
    assert by_kind(mfa)["totp"].last_used_at == clock.now()

    # A pending (unconfirmed) setup is no factor yet; other users see nothing.
    mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL, label="Spare")
    assert {f.label for f in mfa.list_factors("alice")} == {"Work phone", "Phone", "Email"}
    assert mfa.list_factors("bob") == ()


def test_an_unverified_contact_is_listed_as_unverified(
    mfa: MFA, store: MemoryStore, clock: FakeClock
) -> None:
    store.put_contact(
        ContactRecord(user_id="alice", kind=ContactKind.PHONE, value=PHONE, created_at=clock.now())
    )
    (phone,) = mfa.list_factors("alice")
    assert (phone.kind, phone.verified, phone.restricted) == ("phone", False, True)
    assert mfa.begin_sign_in("alice").satisfied  # it is no factor


def test_rename_an_authenticator(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], audit_log: MemoryAuditLog
) -> None:
    user = enrol()
    info = mfa.rename_authenticator(Actor.user("alice"), "alice", user.factor_id, "Old iPhone")
    assert info.label == "Old iPhone"
    assert by_kind(mfa)["totp"].label == "Old iPhone"
    assert [a.label for a in mfa.list_authenticators("alice")] == ["Old iPhone"]
    renamed = events(audit_log, "factor.renamed")[-1]
    assert (renamed.actor_id, dict(renamed.details)["label"]) == ("alice", "Old iPhone")
    with pytest.raises(NotFound):
        mfa.rename_authenticator(Actor.user("alice"), "alice", "no-such-factor", "X")
    enrol("bob")
    with pytest.raises(NotFound):  # bob cannot reach alice's app through his own account
        mfa.rename_authenticator(Actor.user("bob"), "bob", user.factor_id, "Mine")
    with pytest.raises(NotPermitted):
        mfa.rename_authenticator(Actor.user("bob"), "alice", user.factor_id, "Mine")
    for bad in ("", "x" * 500, "a\x00b"):
        with pytest.raises(InvalidInput):
            mfa.rename_authenticator(Actor.user("alice"), "alice", user.factor_id, bad)
    assert by_kind(mfa)["totp"].label == "Old iPhone"


# --- the preferred method ---------------------------------------------------------


def test_the_preferred_method_decides_how_sign_in_starts(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_phone(mfa, outbox, clock)
    user = enrol()
    before = len(outbox.messages)
    default = mfa.begin_sign_in("alice")
    assert default.challenge is not None and default.challenge.method is Method.TOTP
    assert len(outbox.messages) == before  # nothing sent for an app

    mfa.set_preferred_method(Actor.user("alice"), "alice", Method.SMS)
    assert by_kind(mfa)["phone"].preferred and not by_kind(mfa)["totp"].preferred
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    assert start.delivery is not None and start.delivery.ok
    message = outbox.last(PHONE)
    assert message.channel == "sms" and len(outbox.messages) == before + 1
    assert mfa.verify(start.challenge.id, message.code).ok
    assert events(audit_log, "preferred_method.set")[-1].method == "sms"

    clock.advance(minutes=1)
    mfa.set_preferred_method(Actor.user("alice"), "alice", "voice")
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.VOICE
    assert outbox.last(PHONE).channel == "voice"

    mfa.set_preferred_method(Actor.user("alice"), "alice", Method.TOTP)
    assert by_kind(mfa)["totp"].preferred and not by_kind(mfa)["phone"].preferred
    mfa.set_preferred_method(Actor.user("alice"), "alice", None)  # back to the default order
    assert not any(f.preferred for f in mfa.list_factors("alice"))
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    assert mfa.verify(start.challenge.id, user.code_at()).ok


def test_preferred_method_refusals(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    me = Actor.user("alice")
    with pytest.raises(ConflictingState):  # no email, no app: not usable
        mfa.set_preferred_method(me, "alice", Method.EMAIL)
    with pytest.raises(ConflictingState):
        mfa.set_preferred_method(me, "alice", Method.TOTP)
    for fallback in (Method.BACKUP_CODE, "backup_code"):
        with pytest.raises(InvalidInput):
            mfa.set_preferred_method(me, "alice", fallback)
    for unknown in ("pigeon", "", 5, ["sms"]):
        with pytest.raises(InvalidInput):
            mfa.set_preferred_method(me, "alice", unknown)  # type: ignore[arg-type]
    with pytest.raises(NotPermitted):
        mfa.set_preferred_method(Actor.user("bob"), "alice", Method.SMS)
    assert not any(f.preferred for f in mfa.list_factors("alice"))

    # A preference that stopped being usable is ignored, not an error.
    enrol()
    mfa.set_preferred_method(me, "alice", Method.SMS)
    mfa.remove_contact(fresh(clock), "alice", "phone")
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.TOTP


# --- removing a contact -------------------------------------------------------------


def test_remove_contact_needs_a_fresh_reauthentication_at_the_boundary(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol()
    max_age = mfa.policy.reauth_max_age
    assert max_age == timedelta(minutes=5)
    now = clock.now()
    for stale in (
        Actor.user("alice"),
        Actor.user("alice", reauthenticated_at=now - max_age - timedelta(seconds=1)),
        Actor.user("alice", reauthenticated_at=now + timedelta(minutes=1)),  # cannot have happened
        Actor.admin("boss", reauthenticated_at=now - max_age - timedelta(seconds=1)),
    ):
        with pytest.raises(ReauthenticationRequired):
            mfa.remove_contact(stale, "alice", ContactKind.PHONE)
    assert by_kind(mfa)["phone"].verified
    mfa.remove_contact(
        Actor.user("alice", reauthenticated_at=now - max_age, step_up=grant(clock)),
        "alice",
        "phone",
    )
    assert "phone" not in by_kind(mfa)


def test_remove_contact_refused_when_it_would_leave_a_required_role_without_factor(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)  # the only factor
    with pytest.raises(NotPermitted) as refused:
        mfa.remove_contact(fresh(clock), "alice", "phone", role="staff")
    assert not isinstance(refused.value, ReauthenticationRequired)
    assert by_kind(mfa)["phone"].verified
    assert mfa.backup_codes_left("alice") == 10
    # Clients may go without 2FA.
    mfa.remove_contact(fresh(clock), "alice", "phone", role="client")
    assert mfa.list_factors("alice") == ()
    assert mfa.backup_codes_left("alice") == 0  # backup codes follow the last factor
    assert mfa.begin_sign_in("alice", role="client").satisfied
    assert mfa.begin_sign_in("alice", role="staff").enrollment_required


def test_staff_may_remove_a_contact_while_another_factor_remains(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    mfa.remove_contact(fresh(clock), "alice", "phone", role="staff")
    assert set(by_kind(mfa)) == {"email"}
    with pytest.raises(NotPermitted):  # the email is now the last one
        mfa.remove_contact(fresh(clock), "alice", "email", role="staff")
    assert by_kind(mfa)["email"].verified


def test_removing_a_contact_notifies_first_revokes_devices_and_stops_its_codes(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    user = enrol()
    token = trust_this_device(mfa, outbox, clock, user)
    mfa.set_preferred_method(Actor.user("alice"), "alice", Method.SMS)
    open_sign_in = mfa.begin_sign_in("alice")
    assert open_sign_in.challenge is not None and open_sign_in.challenge.method is Method.SMS
    before = len(outbox.messages)
    clock.advance(seconds=31)

    mfa.remove_contact(fresh(clock), "alice", "phone")

    # Told through another, still verified channel, and the removed number
    # itself is told it was removed (S21); no code goes anywhere.
    notice, removed_notice = outbox.messages[before:]
    assert notice.to == EMAIL and notice.code is None and "+1•••••01" in notice.text
    assert removed_notice.to == PHONE and removed_notice.code is None
    assert "phone number (+1•••••01) was removed" in removed_notice.text
    removed = events(audit_log, "factor.removed")[-1]
    assert removed.actor_id == "alice"
    assert dict(removed.details) == {"kind": "phone", "destination": "+1•••••01"}
    # Trusted devices go (S30), and the phone is no method any more (S22).
    assert [d.active for d in mfa.list_devices("alice")] == [False]
    assert not mfa.begin_sign_in("alice", trust_token=token).trusted_device
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    assert Method.SMS not in start.challenge.methods
    with pytest.raises(ConflictingState):  # no resend to the removed number
        mfa.resend(open_sign_in.challenge.id)
    # After the removal the number got its notice and nothing else.
    later = [m for m in outbox.sent_to(PHONE) if m not in outbox.messages[:before]]
    assert later == [removed_notice]


def test_a_code_sent_before_the_phone_was_removed_stops_working(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    code = outbox.last_code(PHONE)
    mfa.remove_contact(fresh(clock), "alice", "phone")
    assert not mfa.verify(start.challenge.id, code).ok


def test_remove_contact_refuses_a_bad_role_whatever_the_factors(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    for role in (5, "", "x" * 65):
        with pytest.raises(InvalidInput):
            mfa.remove_contact(fresh(clock), "alice", "phone", role=role)  # type: ignore[arg-type]
    assert by_kind(mfa)["phone"].verified


def test_remove_contact_refusals(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)
    now = clock.now()
    with pytest.raises(NotPermitted):
        mfa.remove_contact(
            Actor.impersonating("boss", "alice", reauthenticated_at=now), "alice", "phone"
        )
    with pytest.raises(NotPermitted):
        mfa.remove_contact(Actor.user("bob", reauthenticated_at=now), "alice", "phone")
    for kind in ("fax", "", None, 5):
        with pytest.raises(InvalidInput):
            mfa.remove_contact(fresh(clock), "alice", kind)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        mfa.remove_contact(fresh(clock), "alice", "email")
    assert by_kind(mfa)["phone"].verified
    # An admin, from their own freshly re-authenticated session (a lost phone),
    # stepped up through the member's factor.
    boss = Actor.admin("boss", reauthenticated_at=now, step_up=grant(clock, "alice", "boss"))
    mfa.remove_contact(boss, "alice", "phone")
    assert mfa.list_factors("alice") == ()


# --- removing an authenticator -----------------------------------------------------


def test_remove_authenticator_needs_a_fresh_reauthentication_at_the_boundary(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    user = enrol()
    max_age = mfa.policy.reauth_max_age
    now = clock.now()
    with pytest.raises(ReauthenticationRequired):
        mfa.remove_authenticator(
            Actor.user("alice", reauthenticated_at=now - max_age - timedelta(seconds=1)),
            "alice",
            user.factor_id,
        )
    with pytest.raises(NotPermitted):
        mfa.remove_authenticator(
            Actor.impersonating("boss", "alice", reauthenticated_at=now), "alice", user.factor_id
        )
    assert "totp" in by_kind(mfa)
    mfa.remove_authenticator(
        Actor.user("alice", reauthenticated_at=now - max_age, step_up=grant(clock)),
        "alice",
        user.factor_id,
    )
    assert "totp" not in by_kind(mfa)
    assert not mfa.verify_totp("alice", user.code_at()).ok  # at once (S22)
    with pytest.raises(NotFound):
        mfa.remove_authenticator(fresh(clock), "alice", user.factor_id)


def test_removing_a_clients_last_authenticator_turns_2fa_off(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    mfa.remove_authenticator(fresh(clock), "alice", user.factor_id)
    assert mfa.list_factors("alice") == ()
    assert mfa.backup_codes_left("alice") == 0
    assert not mfa.verify_backup_code("alice", user.backup_codes[0]).ok
    assert mfa.begin_sign_in("alice", role="client").satisfied


def test_remove_authenticator_refused_when_it_would_leave_staff_without_factor(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    remove: Any = mfa.remove_authenticator
    with pytest.raises(NotPermitted):
        remove(fresh(clock), "alice", user.factor_id, role="staff")
    assert "totp" in by_kind(mfa)


# --- backup codes ----------------------------------------------------------------


def test_regenerate_backup_codes(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    old = enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    with pytest.raises(ReauthenticationRequired):
        mfa.regenerate_backup_codes(
            Actor.user("alice", reauthenticated_at=clock.now() - timedelta(minutes=5, seconds=1)),
            "alice",
        )
    for not_the_user in (
        Actor.admin("boss", reauthenticated_at=clock.now()),
        Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
    ):
        with pytest.raises(NotPermitted):
            mfa.regenerate_backup_codes(not_the_user, "alice")
    before = len(outbox.messages)
    new = mfa.regenerate_backup_codes(fresh(clock), "alice")
    assert len(new) == 10 and set(new).isdisjoint(old)
    assert not mfa.verify_backup_code("alice", old[0]).ok
    assert mfa.verify_backup_code("alice", new.codes[0]).ok
    assert events(audit_log, "backup_codes.issued")[-1].actor_id == "alice"
    (notice,) = outbox.messages[before:]
    assert notice.to == EMAIL and notice.code is None
    with pytest.raises(ConflictingState):  # no factor, no backup codes
        mfa.regenerate_backup_codes(fresh(clock, "bob"), "bob")


# --- turning 2FA off and on again -------------------------------------------------


def test_disable_two_factor_needs_reauthentication_and_a_role_that_allows_it(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol()
    factors = mfa.list_factors("alice")
    now = clock.now()
    max_age = mfa.policy.reauth_max_age
    for stale in (
        Actor.user("alice"),
        Actor.user("alice", reauthenticated_at=now - max_age - timedelta(seconds=1)),
    ):
        with pytest.raises(ReauthenticationRequired):
            mfa.disable_two_factor(stale, "alice", role="client")
    with pytest.raises(NotPermitted) as required:
        mfa.disable_two_factor(fresh(clock), "alice", role="staff")
    assert not isinstance(required.value, ReauthenticationRequired)
    with pytest.raises(NotPermitted):
        mfa.disable_two_factor(
            Actor.impersonating("boss", "alice", reauthenticated_at=now), "alice", role="client"
        )
    with pytest.raises(NotPermitted):
        mfa.disable_two_factor(Actor.user("bob", reauthenticated_at=now), "alice")
    for role in ("", "x" * 65, 5):
        with pytest.raises(InvalidInput):
            mfa.disable_two_factor(fresh(clock), "alice", role=role)  # type: ignore[arg-type]
    assert mfa.list_factors("alice") == factors
    assert mfa.backup_codes_left("alice") == 10
    # Exactly at the boundary it is allowed.
    mfa.disable_two_factor(
        Actor.user("alice", reauthenticated_at=now - max_age, step_up=grant(clock)),
        "alice",
        role="client",
    )
    assert not any(f.verified for f in mfa.list_factors("alice"))
    with pytest.raises(ConflictingState):  # already off
        mfa.disable_two_factor(fresh(clock), "alice", role="client")


def test_disable_two_factor_clears_everything_and_enrolling_turns_it_on_again(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    user = enrol()
    old_codes = mfa.regenerate_backup_codes(fresh(clock), "alice").codes
    token = trust_this_device(mfa, outbox, clock, user)
    before = len(outbox.messages)

    mfa.disable_two_factor(fresh(clock), "alice")

    # The notice went out while the email was still verified (S21).
    (notice,) = outbox.messages[before:]
    assert notice.to == EMAIL and "turned off" in notice.subject and notice.code is None
    # Authenticators and backup codes are gone, contacts kept but unverified.
    assert mfa.list_authenticators("alice") == ()
    assert mfa.backup_codes_left("alice") == 0
    factors = by_kind(mfa)
    assert set(factors) == {"phone", "email"}
    assert not factors["phone"].verified and not factors["email"].verified
    assert factors["phone"].destination == "+1•••••01"
    # Revoked at once (S22): devices, backup codes, the app.
    assert [d.active for d in mfa.list_devices("alice")] == [False]
    assert not mfa.begin_sign_in("alice", trust_token=token).trusted_device
    assert not mfa.verify_backup_code("alice", old_codes[0]).ok
    clock.advance(seconds=30)
    assert mfa.verify_totp("alice", user.code_at()).reason is Reason.INVALID_CODE
    (disabled,) = events(audit_log, "two_factor.disabled")
    assert (disabled.actor_id, disabled.subject_id) == ("alice", "alice")
    # The next sign-in asks for nothing (the role does not require it).
    start = mfa.begin_sign_in("alice", role="client")
    assert start.satisfied and start.challenge is None
    # No code goes to the now unverified contacts.
    assert len(outbox.messages) == before + 1

    # Enabling again is enrolling a factor: fresh backup codes come with it.
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL)
    confirmed = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert confirmed.ok and confirmed.backup_codes is not None
    assert len(confirmed.backup_codes) == 10
    assert set(confirmed.backup_codes).isdisjoint(old_codes)
    assert not mfa.verify_backup_code("alice", old_codes[1]).ok
    assert mfa.verify_backup_code("alice", confirmed.backup_codes.codes[0]).ok
    start = mfa.begin_sign_in("alice", role="client")
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    # The old phone can be proven again (L3).
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    assert by_kind(mfa)["phone"].verified


@pytest.mark.parametrize("role", ["client", "staff"])
def test_clients_and_staff_use_the_same_calls(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled], role: str
) -> None:
    assert mfa.begin_sign_in("alice", role=role).status.value == (
        "enrollment_required" if role == "staff" else "satisfied"
    )
    enrol_phone(mfa, outbox, clock)
    user = enrol()
    assert set(by_kind(mfa)) == {"totp", "phone"}
    mfa.rename_authenticator(Actor.user("alice"), "alice", user.factor_id, "Phone app")
    mfa.set_preferred_method(Actor.user("alice"), "alice", "sms")
    start = mfa.begin_sign_in("alice", role=role)
    assert start.challenge is not None and start.challenge.method is Method.SMS
    assert mfa.verify(start.challenge.id, outbox.last_code(PHONE)).ok
    assert len(mfa.regenerate_backup_codes(fresh(clock), "alice")) == 10
    mfa.remove_contact(fresh(clock), "alice", "phone", role=role)  # the app remains
    assert set(by_kind(mfa)) == {"totp"}
    # Only the policy makes a difference.
    if role == "staff":
        with pytest.raises(NotPermitted):
            mfa.disable_two_factor(fresh(clock), "alice", role=role)
        assert mfa.begin_sign_in("alice", role=role).challenge is not None
    else:
        mfa.disable_two_factor(fresh(clock), "alice", role=role)
        assert mfa.begin_sign_in("alice", role=role).satisfied


# --- password change (L6, S23) -------------------------------------------------------


def test_a_password_change_keeps_2fa_and_revokes_trusted_devices(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    audit_log: MemoryAuditLog,
) -> None:
    enrol_phone(mfa, outbox, clock)
    enrol_email(mfa, outbox, clock)
    user = enrol()
    token = trust_this_device(mfa, outbox, clock, user)
    factors = mfa.list_factors("alice")
    codes_left = mfa.backup_codes_left("alice")

    # The host's "current / new / confirm" form, with the bundled helper.
    current, new = "old horse battery staple", "correct horse battery staple 42"
    assert check_new_password(current, new, new, identifiers=[EMAIL]) == []
    hashed = hash_password(new)
    assert hashed.startswith("$argon2id$") and new not in hashed
    assert verify_password(hashed, new) and not verify_password(hashed, current)
    assert not needs_rehash(hashed)
    before = len(outbox.messages)
    mfa.password_changed(Actor.user("alice"), "alice")

    # 2FA is untouched (S23): the next sign-in still asks for the second step.
    assert mfa.list_factors("alice") == factors
    assert mfa.backup_codes_left("alice") == codes_left
    start = mfa.begin_sign_in("alice", trust_token=token)
    assert not start.satisfied and not start.trusted_device
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    # The trusted device is revoked and its token stale.
    assert [d.active for d in mfa.list_devices("alice")] == [False]
    (changed,) = events(audit_log, "password.changed")
    assert (changed.actor_id, changed.subject_id) == ("alice", "alice")
    # The user is told through a verified channel.
    (notice,) = outbox.messages[before:]
    assert notice.to == EMAIL and "password" in notice.subject and notice.code is None


def test_a_password_reset_by_an_admin_does_not_bypass_2fa(
    mfa: MFA, outbox: Outbox, clock: FakeClock, audit_log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    mfa.password_changed(Actor.admin("helpdesk"), "alice")
    start = mfa.begin_sign_in("alice", role="client")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    assert events(audit_log, "password.changed")[-1].actor_id == "helpdesk"
    assert outbox.last(PHONE).code is not None  # the sign-in code came after the notice
    assert "password" in outbox.sent_to(PHONE)[-2].text
    with pytest.raises(NotPermitted):
        mfa.password_changed(Actor.user("bob"), "alice")
