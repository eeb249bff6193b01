"""Authenticator apps end to end on the memory store with a fake clock (F1, S1-S6, S20, S28)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Actor, Reason
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET
from tests.helpers import fresh, grant


def test_first_authenticator_comes_with_ten_backup_codes(mfa: MFA, clock: FakeClock) -> None:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice@example.org")
    assert setup.uri.startswith("otpauth://totp/Aesthetix%20CRM:alice%40example.org?secret=")
    assert len(base64.b32decode(setup.secret + "=" * (-len(setup.secret) % 8))) * 8 >= 160
    assert setup.expires_at == clock.now() + timedelta(minutes=10)
    assert mfa.list_authenticators("alice") == ()  # pending setups are not listed

    result = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert result.ok and result.backup_codes is not None
    assert len(result.backup_codes) == 10
    assert len(set(result.backup_codes)) == 10
    assert [a.id for a in mfa.list_authenticators("alice")] == [setup.id]
    assert mfa.backup_codes_left("alice") == 10

    second = mfa.begin_totp_setup(
        fresh(clock), "alice", account_name="alice@example.org", label="Tablet"
    )
    again = mfa.confirm_totp_setup(
        fresh(clock), second.id, authenticator_code(second.uri, clock.now())
    )
    assert again.ok and again.backup_codes is None  # codes are not reissued behind the user's back
    assert [a.label for a in mfa.list_authenticators("alice")] == ["Authenticator app", "Tablet"]


def test_wrong_confirmation_codes_burn_the_setup(mfa: MFA, clock: FakeClock) -> None:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    right = authenticator_code(setup.uri, clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        r = mfa.confirm_totp_setup(fresh(clock), setup.id, wrong)
        assert (r.ok, r.reason, r.attempts_left) == (False, Reason.INVALID_CODE, left)
    r = mfa.confirm_totp_setup(fresh(clock), setup.id, wrong)
    assert (r.ok, r.reason) == (False, Reason.TOO_MANY_ATTEMPTS)
    with pytest.raises(mfakit.NotFound):
        mfa.confirm_totp_setup(fresh(clock), setup.id, right)


def test_pending_setup_expires(mfa: MFA, clock: FakeClock) -> None:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(mfakit.NotFound):
        mfa.confirm_totp_setup(fresh(clock), setup.id, authenticator_code(setup.uri, clock.now()))


@pytest.mark.parametrize(
    "actor",
    [
        Actor.admin("boss"),
        Actor.impersonating("boss", "alice"),
        Actor.user("mallory"),
    ],
    ids=["admin", "impersonating-admin", "other-user"],
)
def test_only_the_user_may_set_up_an_authenticator(
    mfa: MFA, clock: FakeClock, actor: Actor
) -> None:
    actor = Actor(
        id=actor.id,
        kind=actor.kind,
        impersonated=actor.impersonated,
        reauthenticated_at=clock.now(),
    )
    with pytest.raises(mfakit.NotPermitted):
        mfa.begin_totp_setup(actor, "alice", account_name="alice")


def test_setup_needs_a_fresh_reauthentication(mfa: MFA, clock: FakeClock) -> None:
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.begin_totp_setup(Actor.user("alice"), "alice", account_name="alice")
    actor = fresh(clock)
    clock.advance(minutes=5)
    mfa.begin_totp_setup(actor, "alice", account_name="alice")  # exactly at the boundary: allowed
    clock.advance(seconds=1)
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.begin_totp_setup(actor, "alice", account_name="alice")


def test_window_accepts_one_step_either_side(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    now = clock.now()
    assert mfa.verify_totp("alice", authenticator_code(user.uri, now - timedelta(seconds=30))).ok
    assert mfa.verify_totp("alice", authenticator_code(user.uri, now + timedelta(seconds=30))).ok
    clock.advance(minutes=5)
    now = clock.now()
    for offset in (-60, 60):
        r = mfa.verify_totp("alice", authenticator_code(user.uri, now + timedelta(seconds=offset)))
        assert (r.ok, r.reason) == (False, Reason.INVALID_CODE)


def test_a_code_is_accepted_once(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    code = user.code_at()
    ok = mfa.verify_totp("alice", code)
    assert ok.ok and ok.method is mfakit.Method.TOTP and ok.factor_id == user.factor_id
    again = mfa.verify_totp("alice", code)
    assert (again.ok, again.reason) == (False, Reason.REPLAYED)


def test_no_code_of_an_older_step_after_a_newer_one(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    now = clock.now()
    older = authenticator_code(user.uri, now - timedelta(seconds=30))
    assert mfa.verify_totp("alice", authenticator_code(user.uri, now + timedelta(seconds=30))).ok
    r = mfa.verify_totp("alice", older)
    assert (r.ok, r.reason) == (False, Reason.REPLAYED)
    r = mfa.verify_totp("alice", authenticator_code(user.uri, now))
    assert (r.ok, r.reason) == (False, Reason.REPLAYED)


def test_unknown_user_and_wrong_code_get_the_same_answer(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    code = user.code_at()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert mfa.verify_totp("nobody", code) == mfa.verify_totp("alice", wrong)
    assert mfa.verify_backup_code("nobody", user.backup_codes[0]) == mfa.verify_backup_code(
        "alice", "0000-0000-0000"
    )


def test_another_users_code_is_refused(mfa: MFA, clock: FakeClock, enrol) -> None:
    alice = enrol("alice")
    enrol("bob")
    assert not mfa.verify_totp("bob", alice.code_at()).ok


def test_several_authenticators_each_work(mfa: MFA, clock: FakeClock, enrol) -> None:
    phone = enrol("alice", label="Phone")
    tablet = enrol("alice", label="Tablet")
    r = mfa.verify_totp("alice", tablet.code_at())
    assert r.ok and r.factor_id == tablet.factor_id
    r = mfa.verify_totp("alice", phone.code_at())
    assert r.ok and r.factor_id == phone.factor_id


def test_rename_and_remove(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    info = mfa.rename_authenticator(fresh(clock), "alice", user.factor_id, "  Work phone ")
    assert info.label == "Work phone"
    with pytest.raises(mfakit.NotFound):
        mfa.rename_authenticator(fresh(clock), "alice", "no-such-factor", "x")
    with pytest.raises(mfakit.NotPermitted):
        mfa.rename_authenticator(fresh(clock, "mallory"), "alice", user.factor_id, "x")
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.remove_authenticator(Actor.user("alice"), "alice", user.factor_id)
    with pytest.raises(mfakit.NotPermitted):
        mfa.remove_authenticator(
            Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
            "alice",
            user.factor_id,
        )
    code = user.code_at()
    mfa.remove_authenticator(fresh(clock), "alice", user.factor_id)
    # Revocation takes effect on the very next call (S22).
    assert not mfa.verify_totp("alice", code).ok
    assert mfa.list_authenticators("alice") == ()
    with pytest.raises(mfakit.NotFound):
        mfa.remove_authenticator(fresh(clock), "alice", user.factor_id)


def test_an_admin_may_remove_a_members_authenticator(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    mfa.remove_authenticator(
        Actor.admin("boss", reauthenticated_at=clock.now(), step_up=grant(clock, "alice", "boss")),
        "alice",
        user.factor_id,
    )
    assert mfa.list_authenticators("alice") == ()


def test_authenticator_limit(store: MemoryStore, clock: FakeClock) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        policy=mfakit.Policy(max_authenticators=2),
    )
    for _ in range(2):
        setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")
        code = authenticator_code(setup.uri, clock.now())
        assert mfa.confirm_totp_setup(fresh(clock), setup.id, code).ok
    with pytest.raises(mfakit.ConflictingState):
        mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")
    (first, _) = mfa.list_authenticators("alice")
    mfa.remove_authenticator(fresh(clock), "alice", first.id)  # room again
    mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")


def test_policy_can_forbid_authenticator_apps(store: MemoryStore, clock: FakeClock) -> None:
    policy = mfakit.Policy(allowed_methods={mfakit.Method.SMS, mfakit.Method.BACKUP_CODE})
    mfa = MFA(store=store, secret_key=SECRET, issuer="X", clock=clock, policy=policy)
    with pytest.raises(mfakit.NotPermitted):
        mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")


def test_importing_a_secret(mfa: MFA, clock: FakeClock) -> None:
    short = base64.b32encode(b"\x01" * 15).decode()  # 120 bits
    with pytest.raises(mfakit.InvalidInput):
        mfa.begin_totp_setup(fresh(clock), "alice", account_name="a", secret=short)
    ok = base64.b32encode(bytes(range(16))).decode().lower()
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="a", secret=ok)
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(ok.upper().rstrip("="), clock.now())
    ).ok


@pytest.mark.parametrize(("algorithm", "digits"), [("SHA256", 8), ("SHA512", 6), ("SHA1", 8)])
def test_non_default_parameters(
    store: MemoryStore, clock: FakeClock, algorithm: str, digits: int
) -> None:
    policy = mfakit.Policy(totp_algorithm=algorithm, totp_digits=digits, totp_period=60)
    mfa = MFA(
        store=store, secret_key=SECRET, issuer="X", clock=clock, hasher=fast_hasher(), policy=policy
    )
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")
    assert f"algorithm={algorithm}&digits={digits}&period=60" in setup.uri
    assert setup.warnings  # some apps ignore non-default parameters: say so
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
    clock.advance(seconds=60)
    code = authenticator_code(setup.uri, clock.now())
    assert len(code) == digits
    assert mfa.verify_totp("alice", code).ok


def test_secrets_are_encrypted_at_rest(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol
) -> None:
    user = enrol()
    secret_b32 = user.uri.split("secret=")[1].split("&")[0]
    raw = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    (record,) = store.list_totp("alice")
    dump = repr(vars(store)).encode() + record.secret_blob
    assert raw not in dump and secret_b32.encode() not in dump
    assert raw.hex().encode() not in dump
    # A copy of the database with another app secret yields nothing usable.
    other = MFA(
        store=store,
        secret_key="52c7ec2e8d3bbc52162603dd940b7d3665bda53624bd4c873b5104612505c5ef",
        issuer="X",
        clock=clock,
    )
    with pytest.raises(mfakit.ConfigurationError):
        other.verify_totp("alice", user.code_at())


def test_key_rotation_keeps_old_authenticators_working(
    store: MemoryStore, clock: FakeClock, enrol
) -> None:
    user = enrol()
    new_secret = "9b4491751563b6ee543b84eeffb7e3a3c3d8fbe333ace025fd488a223f42d0c5"
    rotated = MFA(
        store=store,
        secret_key=[new_secret, SECRET],
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
    )
    assert rotated.verify_totp("alice", user.code_at()).ok
    # New setups are sealed under the new key and work without the old one.
    setup = rotated.begin_totp_setup(fresh(clock), "alice", account_name="a")
    assert rotated.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
    rotated.remove_authenticator(fresh(clock), "alice", user.factor_id)
    only_new = MFA(store=store, secret_key=new_secret, issuer="X", clock=clock)
    clock.advance(seconds=30)
    assert only_new.verify_totp("alice", authenticator_code(setup.uri, clock.now())).ok


def test_secrets_never_show_in_reprs(mfa: MFA, clock: FakeClock) -> None:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name="alice")
    confirmed = mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )
    assert confirmed.backup_codes is not None
    text = repr(setup) + str(setup) + repr(confirmed) + repr(mfa) + repr(mfa._ports["store"])
    assert setup.secret not in text and "otpauth" not in text
    for code in confirmed.backup_codes:
        assert code not in text and code.replace("-", "") not in text


def test_removing_the_last_factor_drops_the_backup_codes(mfa: MFA, clock: FakeClock, enrol) -> None:
    first = enrol(label="Phone")
    second = enrol(label="Tablet")
    mfa.remove_authenticator(fresh(clock), "alice", first.factor_id)
    assert mfa.backup_codes_left("alice") == 10  # a factor is left: the codes stay
    mfa.remove_authenticator(fresh(clock), "alice", second.factor_id)
    assert mfa.backup_codes_left("alice") == 0
    assert not mfa.verify_backup_code("alice", first.backup_codes[0]).ok
    again = enrol(label="New phone")
    assert len(again.backup_codes) == 10  # a first factor again: a fresh set


def test_policy_change_stops_methods_at_verification(
    store: MemoryStore, clock: FakeClock, enrol
) -> None:
    user = enrol()
    strict = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        policy=mfakit.Policy(allowed_methods={mfakit.Method.SMS}),
    )
    with pytest.raises(mfakit.NotPermitted):
        strict.verify_totp("alice", user.code_at())
    with pytest.raises(mfakit.NotPermitted):
        strict.verify_backup_code("alice", user.backup_codes[0])


def test_one_unreadable_authenticator_does_not_block_the_others(
    store: MemoryStore, clock: FakeClock, enrol
) -> None:
    old = enrol(label="Old")
    new_secret = "9b4491751563b6ee543b84eeffb7e3a3c3d8fbe333ace025fd488a223f42d0c5"
    rotated = MFA(
        store=store, secret_key=[new_secret, SECRET], issuer="X", clock=clock, hasher=fast_hasher()
    )
    setup = rotated.begin_totp_setup(fresh(clock), "alice", account_name="a", label="New")
    assert setup.period == 30 and setup.digits == 6 and setup.algorithm == "SHA1"
    assert rotated.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    ).ok
    clock.advance(seconds=30)
    only_new = MFA(store=store, secret_key=new_secret, issuer="X", clock=clock)
    assert only_new.verify_totp("alice", authenticator_code(setup.uri, clock.now())).ok
    clock.advance(seconds=30)
    with pytest.raises(mfakit.ConfigurationError):  # the old one's code: nothing else matches
        only_new.verify_totp("alice", old.code_at())


def test_starting_a_setup_again_replaces_the_pending_one(
    store: MemoryStore, clock: FakeClock
) -> None:
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        policy=mfakit.Policy(max_authenticators=2),
    )
    first = mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")
    for _ in range(5):  # a reloaded setup page
        latest = mfa.begin_totp_setup(fresh(clock), "alice", account_name="a")
    assert len(store.list_totp("alice")) == 1
    with pytest.raises(mfakit.NotFound):
        mfa.confirm_totp_setup(fresh(clock), first.id, authenticator_code(first.uri, clock.now()))
    assert mfa.confirm_totp_setup(
        fresh(clock), latest.id, authenticator_code(latest.uri, clock.now())
    ).ok


def test_policy_for_a_tenant_and_the_question_chosen(store: MemoryStore, clock: FakeClock) -> None:
    strict = mfakit.Policy(require_for_roles={"staff"}, code_length=8)
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="X",
        clock=clock,
        hasher=fast_hasher(),
        policies=mfakit.StaticPolicies({"clinic": strict}),
    )
    assert mfa.policy_for("clinic") is strict
    assert mfa.policy_for("elsewhere") is mfa.policy
    assert mfa.policy_for() is mfa.policy
    with pytest.raises(mfakit.InvalidInput):
        mfa.policy_for("")
    assert mfa.get_security_question("alice") is None
    mfa.set_security_question(fresh(clock), "alice", mfa.security_questions[2], "Oak Street")
    assert mfa.get_security_question("alice") == mfa.security_questions[2]


def test_contact_normalisers_are_public() -> None:
    assert mfakit.normalize_phone("+1 (415) 555-0101") == "+14155550101"
    assert mfakit.normalize_email("Alice@Example.ORG") == "Alice@example.org"
