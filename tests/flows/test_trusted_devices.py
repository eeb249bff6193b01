"""Trusted devices end to end (L2, S22, S30, S31).

"Trust this device" after a passed second step returns a signed token for a
cookie. The next sign-in with it is satisfied without a code, until it expires,
is revoked, or the user's security state moves on (password, factor or contact
change). Any other token (tampered, another user's, unknown, garbage) gets the
ordinary challenge, and the reason is recorded.

The ``check(...)`` tests drive the same decision (``service.devices.check_trust``)
directly, with the policy or keys of another deployment, without a sign-in each.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

import pytest

import mfakit
from mfakit import MFA, Actor, Method, Policy, RequestContext, VerifyResult
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.core import trust as trust_tokens
from mfakit.core.keys import Keyring
from mfakit.core.trust import TrustRefusal
from mfakit.service import devices
from mfakit.service.effects import run_sync
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from mfakit.wiring import build_context, check_ports
from tests.conftest import SECRET, Enrolled
from tests.helpers import fresh, snapshot

PHONE = "+14155550101"
EMAIL = "alice@example.org"
DAY = timedelta(days=1)
OTHER_SECRET = "fa084ae427f3e94ee7de636f29d5d1476d1a970b085cae8253c3a46d67736216"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


# --- fixtures and helpers ------------------------------------------------------


@pytest.fixture
def log() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def mfa(
    store: MemoryStore, clock: FakeClock, policy: Policy, outbox: Outbox, log: MemoryAuditLog
) -> MFA:
    """The conftest MFA, with an audit log that can be read back."""
    return build(store, clock, outbox, log, policy=policy)


def build(
    store: MemoryStore,
    clock: FakeClock,
    outbox: Outbox,
    log: MemoryAuditLog | None = None,
    *,
    secret_key: object = SECRET,
    policy: Policy | None = None,
) -> MFA:
    return MFA(
        store=store,
        secret_key=secret_key,  # type: ignore[arg-type]
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        policy=policy,
        sms=outbox,
        voice=outbox,
        email=outbox,
        audit=log if log is not None else MemoryAuditLog(),
    )


def trust(
    mfa: MFA,
    user: Enrolled,
    clock: FakeClock,
    *,
    label: str | None = None,
    context: RequestContext | None = None,
) -> VerifyResult:
    """Sign ``user`` in with their authenticator and trust the device."""
    start = mfa.begin_sign_in(user.user_id)
    assert start.challenge is not None and start.challenge.method is Method.TOTP
    result = mfa.verify(
        start.challenge.id, user.code_at(), trust_device=True, device_label=label, context=context
    )
    assert result.ok and result.trust_token and result.device_id, result
    clock.advance(seconds=31)  # the next code is of a later step
    return result


def enrol_phone(mfa: MFA, outbox: Outbox, clock: FakeClock, user_id: str = "alice") -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock, user_id), user_id, PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    clock.advance(seconds=31)


def trust_by_sms(mfa: MFA, outbox: Outbox, clock: FakeClock) -> VerifyResult:
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None and start.challenge.method is Method.SMS
    result = mfa.verify(start.challenge.id, outbox.last_code(PHONE), trust_device=True)
    assert result.ok and result.trust_token, result
    clock.advance(seconds=31)
    return result


def checker(
    store: MemoryStore,
    clock: FakeClock,
    *,
    secret_key: object = SECRET,
    policy: Policy | None = None,
) -> Callable[..., TrustRefusal | None]:
    """The trust decision itself, as ``begin_sign_in`` takes it: ``run(token,
    user_id)`` is ``None`` when ``token`` skips the second step, else why not."""
    ctx = build_context(
        secret_key=secret_key,  # type: ignore[arg-type]
        issuer="X",
        policy=policy,
        clock=clock,
        hasher=fast_hasher(),
        senders={},
        messages=None,
        audit=None,
        policies=None,
        notify=False,
    )
    ports = check_ports(store=store, senders={}, audit=MemoryAuditLog(), policies=None)

    def run(token: str, user_id: str = "alice") -> TrustRefusal | None:
        return run_sync(devices.check_trust(ctx, user_id, token), ports)

    return run


def check(
    store: MemoryStore,
    clock: FakeClock,
    token: str,
    user_id: str = "alice",
    *,
    secret_key: object = SECRET,
    policy: Policy | None = None,
) -> TrustRefusal | None:
    return checker(store, clock, secret_key=secret_key, policy=policy)(token, user_id)


def rejections(log: MemoryAuditLog) -> list[str | None]:
    return [e.reason for e in log.events if e.action == "sign_in.trust_rejected"]


def assert_challenged(mfa: MFA, token: str, user_id: str = "alice") -> None:
    start = mfa.begin_sign_in(user_id, trust_token=token)
    assert start.challenge is not None and not start.satisfied
    assert not start.trusted_device


def flip(token: str, i: int, replacement: str) -> str:
    return token[:i] + replacement + token[i + 1 :]


def next_char(ch: str) -> str:
    """A different base64url character (a neighbour in the alphabet)."""
    return B64URL[(B64URL.index(ch) + 1) % len(B64URL)] if ch in B64URL else "A"


# --- issuing a token -------------------------------------------------------------


def test_trusting_returns_a_token_and_a_max_age(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    result = trust(mfa, enrol(), clock)
    assert result.trust_max_age == 14 * 86400
    # The device id carries 128 random bits (S30): 16 bytes in unpadded base64url.
    assert result.device_id is not None and len(result.device_id) == 22
    assert len(base64.urlsafe_b64decode(result.device_id + "==")) == 16
    assert result.trust_token is not None and len(result.trust_token) <= 4096
    (device,) = mfa.list_devices("alice")
    assert device.id == result.device_id and device.active
    trusted = [e for e in log.events if e.action == "device.trusted"]
    assert len(trusted) == 1 and trusted[0].subject_id == "alice"


def test_device_ids_differ(mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]) -> None:
    user = enrol()
    ids = {trust(mfa, user, clock).device_id for _ in range(5)}
    assert len(ids) == 5


def test_the_token_is_hidden_from_repr(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    result = trust(mfa, enrol(), clock)
    assert result.trust_token is not None
    assert result.trust_token not in repr(result)
    assert result.trust_token not in str(result)
    assert result.trust_token.split(".")[-1] not in repr(result)


def test_no_token_without_asking_or_without_success(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    wrong = mfa.verify(start.challenge.id, "000000", trust_device=True)
    assert not wrong.ok and wrong.trust_token is None and wrong.trust_max_age is None
    plain = mfa.verify(start.challenge.id, user.code_at())
    assert plain.ok and plain.trust_token is None and plain.device_id is None
    assert mfa.list_devices("alice") == ()


def test_an_enrolment_challenge_does_not_trust_a_device(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    sent = mfa.begin_phone_enrolment(fresh(clock), "alice", PHONE)
    result = mfa.verify(sent.challenge.id, outbox.last_code(PHONE), trust_device=True)
    assert result.ok and result.trust_token is None
    assert mfa.list_devices("alice") == ()


@pytest.mark.parametrize("value", [1, "yes", None])
def test_trust_device_must_be_a_bool(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], value: object
) -> None:
    user = enrol()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    with pytest.raises(mfakit.InvalidInput):
        mfa.verify(start.challenge.id, user.code_at(), trust_device=value)  # type: ignore[arg-type]
    assert mfa.verify(start.challenge.id, user.code_at()).ok  # the challenge was untouched


@pytest.mark.parametrize("label", ["", "   ", "x" * 65, "bad\nlabel", 7])
def test_a_bad_device_label_is_refused_before_the_code_counts(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], label: object
) -> None:
    user = enrol()
    start = mfa.begin_sign_in("alice")
    assert start.challenge is not None
    with pytest.raises(mfakit.InvalidInput):
        mfa.verify(
            start.challenge.id,
            user.code_at(),
            trust_device=True,
            device_label=label,  # type: ignore[arg-type]
        )
    assert mfa.get_challenge(start.challenge.id).attempts_left == 5
    assert mfa.list_devices("alice") == ()


# --- using a token ----------------------------------------------------------------


def test_a_trusted_device_skips_the_second_step_and_sends_nothing(
    mfa: MFA, outbox: Outbox, clock: FakeClock, log: MemoryAuditLog
) -> None:
    enrol_phone(mfa, outbox, clock)
    result = trust_by_sms(mfa, outbox, clock)
    assert result.trust_token is not None
    outbox.clear()
    start = mfa.begin_sign_in("alice", trust_token=result.trust_token)
    assert start.satisfied and start.trusted_device
    assert start.challenge is None and start.delivery is None
    assert outbox.messages == []
    assert [e.action for e in log.events][-1] == "sign_in.trusted_device"
    (device,) = mfa.list_devices("alice")
    assert device.last_used_at == clock.now()


def test_check_accepts_a_fresh_token_and_touches_the_device(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    result = trust(mfa, enrol(), clock)
    assert result.trust_token is not None
    (before,) = mfa.list_devices("alice")
    assert before.last_used_at is None
    clock.advance(hours=5)
    assert check(store, clock, result.trust_token) is None
    (after,) = mfa.list_devices("alice")
    assert after.last_used_at == clock.now() and after.created_at == before.created_at


def test_without_a_token_a_trusted_user_still_gets_a_challenge(
    mfa: MFA, outbox: Outbox, clock: FakeClock
) -> None:
    enrol_phone(mfa, outbox, clock)
    trust_by_sms(mfa, outbox, clock)
    outbox.clear()
    for token in (None, ""):  # an empty cookie is no token
        start = mfa.begin_sign_in("alice", trust_token=token)
        assert start.challenge is not None and not start.trusted_device
        clock.advance(seconds=31)
    assert len(outbox.sent_to(PHONE)) == 2


# --- tampering --------------------------------------------------------------------


def test_flipping_any_character_falls_back_to_a_challenge(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    start = mfa.begin_sign_in("alice", trust_token=token)
    assert start.satisfied and start.trusted_device  # the genuine token works
    accepted = []
    for i, ch in enumerate(token):
        tampered = flip(token, i, next_char(ch))
        if mfa.begin_sign_in("alice", trust_token=tampered).satisfied:
            accepted.append(i)
    assert accepted == []
    assert rejections(log) == ["tampered"] * len(token)


@pytest.mark.parametrize("segment", ["payload", "signature"])
def test_check_refuses_every_single_character_change(
    mfa: MFA,
    store: MemoryStore,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    segment: str,
) -> None:
    """Every position, every other base64url character (and a few others)."""
    token = trust(mfa, enrol(), clock).trust_token
    assert token is not None and check(store, clock, token) is None
    dot = token.index(".")
    positions = range(dot + 1) if segment == "payload" else range(dot + 1, len(token))
    run = checker(store, clock)
    accepted = []
    for i in positions:
        for replacement in B64URL + ".=~ ":
            if replacement == token[i]:
                continue
            refusal = run(flip(token, i, replacement))
            if refusal is None:
                accepted.append((i, replacement))
            else:
                assert refusal in (TrustRefusal.TAMPERED, TrustRefusal.MALFORMED)
    assert accepted == []


def test_malformed_tokens_get_a_challenge(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    bad_tokens = (
        token[:-1],
        token[: len(token) // 2],
        token.split(".")[0],
        "." + token.split(".")[1],
        token + "A",
        token + "." + token.split(".")[1],
        "garbage",
        "...",
        "é" * 100,
        "x" * 4096,
    )
    for bad in bad_tokens:
        assert_challenged(mfa, bad)
    reasons = rejections(log)
    assert len(reasons) == len(bad_tokens)
    assert set(reasons) <= {"tampered", "malformed"}


def test_check_refuses_malformed_tokens(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    token = trust(mfa, enrol(), clock).trust_token
    assert token is not None
    for bad in (token[:-1], token[: len(token) // 2], "garbage", "", "é" * 100, "x" * 5000):
        assert check(store, clock, bad) in (TrustRefusal.TAMPERED, TrustRefusal.MALFORMED)


@pytest.mark.parametrize("bad", ["x" * 4097, "x" * 5000, b"token", 12345, ["t"]])
def test_an_oversized_or_non_str_token_is_a_typed_error(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled], bad: object
) -> None:
    enrol()
    before = snapshot(store)
    with pytest.raises(mfakit.InvalidInput) as err:
        mfa.begin_sign_in("alice", trust_token=bad)  # type: ignore[arg-type]
    assert err.value.field == "trust_token"
    assert "xxxxxxxx" not in str(err.value)
    assert snapshot(store) == before  # refused before anything was created


# --- expiry -----------------------------------------------------------------------


def test_expiry_at_the_boundary(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    issued_at = clock.now()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    clock.set(issued_at + 14 * DAY - timedelta(seconds=1))
    assert mfa.begin_sign_in("alice", trust_token=token).trusted_device
    clock.set(issued_at + 14 * DAY)
    assert_challenged(mfa, token)
    assert rejections(log) == ["expired"]


def test_check_expiry_at_the_boundary(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    issued_at = clock.now()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    (device,) = mfa.list_devices("alice")
    assert device.created_at == issued_at and device.expires_at == issued_at + 14 * DAY
    clock.set(issued_at + 14 * DAY - timedelta(seconds=1))
    assert check(store, clock, token) is None
    clock.set(issued_at + 14 * DAY)
    assert check(store, clock, token) is TrustRefusal.EXPIRED
    (device,) = mfa.list_devices("alice")
    assert not device.active


def test_a_policy_may_trust_for_up_to_a_year(
    store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    yearly = build(store, clock, outbox, policy=Policy(trust_days=365))
    issued_at = clock.now()
    result = trust(yearly, user, clock)
    assert result.trust_max_age == 365 * 86400
    (device,) = yearly.list_devices("alice")
    assert device.expires_at == issued_at + 365 * DAY
    token = result.trust_token
    assert token is not None
    clock.set(issued_at + 365 * DAY - timedelta(seconds=1))
    assert check(store, clock, token, policy=Policy(trust_days=365)) is None
    clock.set(issued_at + 365 * DAY)
    assert check(store, clock, token, policy=Policy(trust_days=365)) is TrustRefusal.EXPIRED
    for days in (0, 366, 10_000):
        with pytest.raises(mfakit.InvalidInput):
            Policy(trust_days=days)


def test_a_shorter_policy_bounds_older_devices_at_once(
    mfa: MFA, store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    issued_at = clock.now()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    weekly_policy = Policy(trust_days=7)
    weekly = build(store, clock, outbox, policy=weekly_policy)
    (device,) = weekly.list_devices("alice")
    assert device.expires_at == issued_at + 7 * DAY and device.active
    clock.set(issued_at + 7 * DAY - timedelta(seconds=1))
    assert check(store, clock, token, policy=weekly_policy) is None
    clock.set(issued_at + 7 * DAY)
    assert check(store, clock, token, policy=weekly_policy) is TrustRefusal.EXPIRED
    assert check(store, clock, token) is None  # under the 14-day policy it still works
    (device,) = weekly.list_devices("alice")
    assert not device.active
    # A device trusted under the short policy gets the short max age.
    assert trust(weekly, user, clock).trust_max_age == 7 * 86400


def test_a_shorter_policy_applies_at_the_next_sign_in(
    mfa: MFA, store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    issued_at = clock.now()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    log = MemoryAuditLog()
    weekly = build(store, clock, outbox, log, policy=Policy(trust_days=7))
    clock.set(issued_at + 7 * DAY - timedelta(seconds=1))
    assert weekly.begin_sign_in("alice", trust_token=token).trusted_device
    clock.set(issued_at + 7 * DAY)
    assert_challenged(weekly, token)
    assert rejections(log) == ["expired"]


# --- another user's, unknown, revoked ---------------------------------------------


def test_another_users_token_gets_a_challenge(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    alice = enrol("alice")
    bob = enrol("bob")
    bob_token = trust(mfa, bob, clock).trust_token
    alice_token = trust(mfa, alice, clock).trust_token
    assert bob_token is not None and alice_token is not None
    assert mfa.begin_sign_in("bob", trust_token=bob_token).trusted_device
    assert_challenged(mfa, bob_token, "alice")
    assert rejections(log) == ["foreign"]
    assert mfa.begin_sign_in("alice", trust_token=alice_token).trusted_device


def test_check_refuses_another_users_token(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    enrol("alice")
    bob_token = trust(mfa, enrol("bob"), clock).trust_token
    assert bob_token is not None
    assert check(store, clock, bob_token, "bob") is None
    assert check(store, clock, bob_token, "alice") is TrustRefusal.FOREIGN
    assert check(store, clock, bob_token, "nobody") is TrustRefusal.FOREIGN


def test_check_refuses_a_token_for_a_device_the_store_does_not_know(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    token = trust(mfa, enrol(), clock).trust_token
    assert token is not None
    assert check(MemoryStore(), clock, token) is TrustRefusal.UNKNOWN


def test_a_token_from_another_deployment_store_is_unknown(
    mfa: MFA, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    token = trust(mfa, enrol(), clock).trust_token
    assert token is not None
    other_store, other_log = MemoryStore(), MemoryAuditLog()
    other = build(other_store, clock, outbox, other_log)
    sent = other.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert other.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok
    clock.advance(seconds=31)
    assert_challenged(other, token)
    assert rejections(other_log) == ["unknown"]


def test_a_revoked_device_is_challenged_on_the_very_next_call(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    result = trust(mfa, user, clock)
    token, device_id = result.trust_token, result.device_id
    assert token is not None and device_id is not None
    assert mfa.begin_sign_in("alice", trust_token=token).trusted_device
    mfa.revoke_device(fresh(clock), "alice", device_id)
    assert_challenged(mfa, token)
    assert rejections(log) == ["revoked"]


def test_check_refuses_a_revoked_device(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    keep, drop = trust(mfa, user, clock), trust(mfa, user, clock)
    assert keep.trust_token and drop.trust_token and drop.device_id
    mfa.revoke_device(fresh(clock), "alice", drop.device_id)
    assert check(store, clock, drop.trust_token) is TrustRefusal.REVOKED
    assert check(store, clock, keep.trust_token) is None
    active = {d.id: d.active for d in mfa.list_devices("alice")}
    assert active == {keep.device_id: True, drop.device_id: False}
    with pytest.raises(mfakit.NotFound):  # revoking twice
        mfa.revoke_device(fresh(clock), "alice", drop.device_id)


def test_revoke_all_devices(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    alice = enrol("alice")
    bob = enrol("bob")
    tokens = [trust(mfa, alice, clock).trust_token for _ in range(3)]
    bob_token = trust(mfa, bob, clock).trust_token
    assert all(tokens) and bob_token
    assert mfa.revoke_all_devices(fresh(clock), "alice") == 3
    for token in tokens:
        assert check(store, clock, token) is TrustRefusal.REVOKED  # type: ignore[arg-type]
    assert check(store, clock, bob_token, "bob") is None
    assert not any(d.active for d in mfa.list_devices("alice"))
    assert mfa.revoke_all_devices(fresh(clock), "alice") == 0
    # A device trusted afterwards works.
    again = trust(mfa, alice, clock).trust_token
    assert again is not None and check(store, clock, again) is None


def test_revoke_all_devices_applies_on_the_next_sign_in(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    tokens = [trust(mfa, user, clock).trust_token for _ in range(2)]
    assert all(mfa.begin_sign_in("alice", trust_token=t).trusted_device for t in tokens)
    mfa.revoke_all_devices(fresh(clock), "alice")
    for token in tokens:
        assert_challenged(mfa, token)  # type: ignore[arg-type]
    assert rejections(log) == ["revoked", "revoked"]


# --- security changes make older tokens stale --------------------------------------


def _password_changed(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    mfa.password_changed(fresh(clock), "alice")


def _authenticator_added(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    setup = mfa.begin_totp_setup(fresh(clock), "alice", account_name=EMAIL, label="Tablet")
    assert mfa.confirm_totp_setup(
        fresh(clock), setup.id, authenticator_code(setup.uri, clock.now())
    )


def _authenticator_removed(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    # The user keeps their phone, so they still have a second factor.
    (app,) = mfa.list_authenticators("alice")
    mfa.remove_authenticator(fresh(clock), "alice", app.id)


def _email_enrolled(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    sent = mfa.begin_email_enrolment(fresh(clock), "alice", EMAIL)
    assert mfa.verify(sent.challenge.id, outbox.last_code(EMAIL)).ok


def _phone_enrolled(mfa: MFA, outbox: Outbox, clock: FakeClock) -> None:
    enrol_phone(mfa, outbox, clock)


SECURITY_CHANGES = {
    "password_changed": _password_changed,
    "authenticator_added": _authenticator_added,
    "authenticator_removed": _authenticator_removed,
    "phone_enrolled": _phone_enrolled,
    "email_enrolled": _email_enrolled,
}


def _user_with_token(
    mfa: MFA, outbox: Outbox, clock: FakeClock, enrol: Callable[..., Enrolled], change: str
) -> str:
    user = enrol()
    if change == "authenticator_removed":
        enrol_phone(mfa, outbox, clock)
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    return token


@pytest.mark.parametrize("change", list(SECURITY_CHANGES))
def test_a_security_change_makes_older_tokens_fail(
    mfa: MFA,
    store: MemoryStore,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    change: str,
) -> None:
    token = _user_with_token(mfa, outbox, clock, enrol, change)
    assert check(store, clock, token) is None
    SECURITY_CHANGES[change](mfa, outbox, clock)
    clock.advance(seconds=31)
    assert check(store, clock, token) is not None
    assert not any(d.active for d in mfa.list_devices("alice"))


@pytest.mark.parametrize("change", list(SECURITY_CHANGES))
def test_a_security_change_makes_older_tokens_stale(
    mfa: MFA,
    store: MemoryStore,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    change: str,
) -> None:
    token = _user_with_token(mfa, outbox, clock, enrol, change)
    SECURITY_CHANGES[change](mfa, outbox, clock)
    clock.advance(seconds=31)
    assert check(store, clock, token) is TrustRefusal.STALE


@pytest.mark.parametrize("change", list(SECURITY_CHANGES))
def test_a_token_issued_before_a_security_change_gets_a_challenge(
    mfa: MFA,
    outbox: Outbox,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    log: MemoryAuditLog,
    change: str,
) -> None:
    token = _user_with_token(mfa, outbox, clock, enrol, change)
    assert mfa.begin_sign_in("alice", trust_token=token).trusted_device
    SECURITY_CHANGES[change](mfa, outbox, clock)
    clock.advance(seconds=31)
    assert_challenged(mfa, token)
    assert len(rejections(log)) == 1  # the reason: test_..._makes_older_tokens_stale


def test_a_token_from_before_a_version_bump_is_stale(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    """The version check on its own (a device written while a change was under way)."""
    token = trust(mfa, enrol(), clock).trust_token
    assert token is not None
    store.bump_security_version("alice", now=clock.now())
    assert check(store, clock, token) is TrustRefusal.STALE
    assert not mfa.list_devices("alice")[0].active


def test_a_token_issued_after_a_change_works(
    mfa: MFA, store: MemoryStore, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    trust(mfa, user, clock)
    mfa.password_changed(fresh(clock), "alice")
    token = trust(mfa, user, clock).trust_token
    assert token is not None and check(store, clock, token) is None
    assert [d.active for d in mfa.list_devices("alice")] == [True, False]


# --- listing -------------------------------------------------------------------------


def test_listing_devices(mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]) -> None:
    user = enrol()
    t1 = clock.now()
    first = trust(mfa, user, clock, context=RequestContext(user_agent=CHROME_LINUX))
    clock.advance(hours=1)
    t2 = clock.now()
    second = trust(
        mfa, user, clock, label="Reception PC", context=RequestContext(user_agent=CHROME_LINUX)
    )
    clock.advance(hours=1)
    t3 = clock.now()
    third = trust(mfa, user, clock, context=RequestContext(user_agent=FIREFOX_WINDOWS))
    fourth_at = clock.now()
    fourth = trust(mfa, user, clock)
    listed = mfa.list_devices("alice")
    assert [d.id for d in listed] == [
        fourth.device_id,
        third.device_id,
        second.device_id,
        first.device_id,
    ]  # newest first
    assert [d.label for d in listed] == [
        "Unknown device",
        "Firefox on Windows",
        "Reception PC",
        "Chrome on Linux",
    ]
    assert [d.created_at for d in listed] == [fourth_at, t3, t2, t1]
    assert all(d.last_used_at is None and d.active for d in listed)
    assert all(d.expires_at == d.created_at + 14 * DAY for d in listed)
    assert mfa.list_devices("bob") == ()


def test_labels_from_user_agents() -> None:
    label = devices.label_from_user_agent
    assert label(CHROME_LINUX) == "Chrome on Linux"
    assert label(FIREFOX_WINDOWS) == "Firefox on Windows"
    assert (
        label(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
        )
        == "Safari on iPhone"
    )
    assert label("Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36 Edg/126.0") == (
        "Edge on Windows"
    )
    assert label("curl/8.0") == "Browser"
    assert label(None) == label("") == "Unknown device"


def test_listing_shows_which_devices_still_work(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    old = trust(mfa, user, clock)
    clock.advance(days=10)
    revoked = trust(mfa, user, clock)
    live = trust(mfa, user, clock)
    assert revoked.device_id is not None
    mfa.revoke_device(fresh(clock), "alice", revoked.device_id)
    clock.advance(days=5)  # the first one is now 15 days old
    active = {d.id: d.active for d in mfa.list_devices("alice")}
    assert active == {old.device_id: False, revoked.device_id: False, live.device_id: True}


@pytest.mark.parametrize("bad", ["", " alice", "a" * 200, None, 5])
def test_listing_checks_the_user_id(mfa: MFA, bad: object) -> None:
    with pytest.raises(mfakit.InvalidInput):
        mfa.list_devices(bad)  # type: ignore[arg-type]


# --- who may revoke ----------------------------------------------------------------


def test_who_may_revoke(mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled]) -> None:
    user = enrol()
    device_id = trust(mfa, user, clock).device_id
    assert device_id is not None
    for actor in (
        fresh(clock, "bob"),
        Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
        Actor.impersonating("boss", "bob", reauthenticated_at=clock.now()),
    ):
        with pytest.raises(mfakit.NotPermitted):
            mfa.revoke_device(actor, "alice", device_id)
        with pytest.raises(mfakit.NotPermitted):
            mfa.revoke_all_devices(actor, "alice")
    assert mfa.list_devices("alice")[0].active  # nothing happened
    with pytest.raises(mfakit.NotFound):
        mfa.revoke_device(fresh(clock), "alice", "no-such-device")
    with pytest.raises(mfakit.NotFound):  # another user's device id is not theirs
        mfa.revoke_device(fresh(clock, "bob"), "bob", device_id)
    with pytest.raises(mfakit.InvalidInput):
        mfa.revoke_device(fresh(clock), "alice", "")
    with pytest.raises(mfakit.InvalidInput):
        mfa.revoke_device("alice", "alice", device_id)  # type: ignore[arg-type]
    mfa.revoke_device(Actor.admin("boss"), "alice", device_id)  # an admin may, from their session
    assert not mfa.list_devices("alice")[0].active


def test_revocations_are_recorded_with_their_actor(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    user = enrol()
    one, _two = trust(mfa, user, clock), trust(mfa, user, clock)
    assert one.device_id is not None
    n = len(log.events)
    mfa.revoke_device(Actor.admin("boss"), "alice", one.device_id)
    mfa.revoke_all_devices(fresh(clock), "alice")
    revoked, revoked_all = log.events[n:]
    assert (revoked.action, revoked.actor_id, revoked.subject_id) == (
        "device.revoked",
        "boss",
        "alice",
    )
    assert dict(revoked.details)["device"] == one.device_id[:8]
    assert (revoked_all.action, revoked_all.actor_id) == ("device.revoked_all", "alice")
    assert dict(revoked_all.details)["count"] == "1"


# --- key rotation ------------------------------------------------------------------


def test_tokens_survive_a_key_rotation_while_the_old_key_is_kept(
    mfa: MFA, store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    old_token = trust(mfa, user, clock).trust_token
    assert old_token is not None
    rotated = [OTHER_SECRET, SECRET]
    assert check(store, clock, old_token, secret_key=rotated) is None
    assert check(store, clock, old_token, secret_key=OTHER_SECRET) is TrustRefusal.TAMPERED
    # New tokens are signed with the new key.
    new_token = trust(build(store, clock, outbox, secret_key=rotated), user, clock).trust_token
    assert new_token is not None
    assert check(store, clock, new_token, secret_key=OTHER_SECRET) is None
    assert check(store, clock, new_token, secret_key=SECRET) is TrustRefusal.TAMPERED


def test_key_rotation_at_sign_in(
    mfa: MFA, store: MemoryStore, clock: FakeClock, outbox: Outbox, enrol: Callable[..., Enrolled]
) -> None:
    user = enrol()
    token = trust(mfa, user, clock).trust_token
    assert token is not None
    rotated = build(store, clock, outbox, secret_key=[OTHER_SECRET, SECRET])
    assert rotated.begin_sign_in("alice", trust_token=token).trusted_device
    log = MemoryAuditLog()
    new_only = build(store, clock, outbox, log, secret_key=OTHER_SECRET)
    assert_challenged(new_only, token)
    assert rejections(log) == ["tampered"]


# --- every rejection is recorded with its reason -------------------------------------


def _tampered(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    payload, signature = token.split(".")
    return "alice", payload + "." + signature[::-1]


def _foreign(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    return "bob", token


def _revoked(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    (device,) = mfa.list_devices("alice")
    mfa.revoke_device(fresh(clock), "alice", device.id)
    return "alice", token


def _expired(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    clock.advance(days=15)
    return "alice", token


def _stale(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    mfa.password_changed(fresh(clock), "alice")
    return "alice", token


def _unknown(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    """Well signed, for the right user and version, naming no stored device
    (e.g. the device table was restored from an older backup)."""
    keyring = Keyring.coerce(SECRET)
    claims = trust_tokens.read_token(keyring, token)
    assert isinstance(claims, trust_tokens.TokenClaims)
    forged = trust_tokens.TokenClaims("alice", "A" * 22, claims.security_version)
    return "alice", trust_tokens.sign_token(keyring, forged)


def _garbage(mfa: MFA, token: str, clock: FakeClock) -> tuple[str, str]:
    return "alice", "not a token at all"


REJECTIONS = {
    "tampered": _tampered,
    "foreign": _foreign,
    "revoked": _revoked,
    "expired": _expired,
    "stale": _stale,
    "unknown": _unknown,
    "garbage": _garbage,
}


@pytest.mark.parametrize(
    "reason",
    REJECTIONS,
)
def test_each_rejection_is_recorded_with_its_reason(
    mfa: MFA,
    clock: FakeClock,
    enrol: Callable[..., Enrolled],
    log: MemoryAuditLog,
    reason: str,
) -> None:
    alice = enrol("alice")
    enrol("bob")
    token = trust(mfa, alice, clock).trust_token
    assert token is not None
    user_id, presented = REJECTIONS[reason](mfa, token, clock)
    expected = {"garbage": ("tampered", "malformed")}.get(reason, (reason,))
    context = RequestContext(ip="203.0.113.9", user_agent=CHROME_LINUX)
    assert_challenged_with(mfa, user_id, presented, context)
    (event,) = [e for e in log.events if e.action == "sign_in.trust_rejected"]
    assert event.subject_id == user_id and event.reason in expected
    assert event.outcome != "success"
    assert (event.ip, event.user_agent, event.at) == ("203.0.113.9", CHROME_LINUX, clock.now())
    assert token not in repr(event) and token.split(".")[1] not in repr(event)


def assert_challenged_with(mfa: MFA, user_id: str, token: str, context: RequestContext) -> None:
    start = mfa.begin_sign_in(user_id, trust_token=token, context=context)
    assert start.challenge is not None and not start.trusted_device


def test_a_trusted_sign_in_is_recorded(
    mfa: MFA, clock: FakeClock, enrol: Callable[..., Enrolled], log: MemoryAuditLog
) -> None:
    result = trust(mfa, enrol(), clock)
    assert result.trust_token is not None and result.device_id is not None
    n = len(log.events)
    context = RequestContext(ip="203.0.113.9", user_agent=CHROME_LINUX)
    assert mfa.begin_sign_in("alice", trust_token=result.trust_token, context=context).satisfied
    (event,) = log.events[n:]
    assert (event.action, event.subject_id, event.outcome) == (
        "sign_in.trusted_device",
        "alice",
        "success",
    )
    assert event.ip == "203.0.113.9" and result.trust_token not in repr(event)
