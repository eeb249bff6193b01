"""Key rotation on the memory store: MFA.rotate_keys re-seals every
authenticator secret under the new primary key while eight threads verify
codes; key_usage / unused_keys say when an old key can go; bad input is
refused; what cannot be re-sealed (a key already dropped) is reported."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from mfakit import MFA, InvalidInput, Keyring, KeyRotation, Policy, generate_secret_key
from mfakit.adapters import MemoryAuditLog, MemoryStore
from mfakit.core.keys import Sealed
from mfakit.service.factors import TOTP_PURPOSE, totp_aad
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests import rotation_race
from tests.helpers import fresh


def test_rotation_while_eight_threads_verify() -> None:
    outcome = rotation_race.run(MemoryStore(), users=48, batch=4)
    rotation_race.assert_sound(outcome, 48)


def test_a_pending_setup_is_resealed_and_confirmed_under_the_new_key() -> None:
    rotation_race.pending_setup_survives(MemoryStore())


def app(store: MemoryStore, clock: FakeClock, *keys: str) -> MFA:
    return MFA(
        store=store,
        secret_key=list(keys),
        issuer="Rotation",
        clock=clock,
        hasher=fast_hasher(),
        audit=MemoryAuditLog(),
        policy=Policy(question_guards_alternatives=True),
    )


def enrol(mfa: MFA, clock: FakeClock, user: str, key: str) -> tuple[str, str]:
    actor = fresh(clock, user, secret=key)
    setup = mfa.begin_totp_setup(actor, user, account_name=f"{user}@example.org")
    done = mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.secret, clock.now()))
    assert done.ok and done.authenticator is not None
    return done.authenticator.id, setup.secret


def test_rotation_reports_progress_and_is_resumable() -> None:
    store, clock = MemoryStore(), FakeClock()
    old, new = generate_secret_key(), generate_secret_key()
    before = app(store, clock, old)
    for n in range(7):
        enrol(before, clock, f"u{n}", old)
    after = app(store, clock, new, old)
    old_id, new_id = Keyring(old).primary_id, Keyring(new).primary_id
    usage = after.key_usage()
    assert usage.primary == new_id and usage.unused == () and usage.unknown == ()
    assert [(k.key_id, k.authenticators) for k in usage.keys] == [(new_id, 0), (old_id, 7)]

    # Stopped after the first batch (the callback raising), then run again.
    class Stop(Exception):
        pass

    def stop(report: KeyRotation) -> None:
        raise Stop

    with pytest.raises(Stop):
        after.rotate_keys(batch=3, progress=stop)
    assert after.key_usage().of(old_id).authenticators == 4  # type: ignore[union-attr]
    seen: list[KeyRotation] = []
    result = after.rotate_keys(batch=3, progress=seen.append)
    assert [r.resealed for r in seen] == [3, 4] and not any(r.done for r in seen)
    assert result == KeyRotation(key_id=new_id, resealed=4, done=True)
    assert after.unused_keys() == (old_id,)
    assert after.rotate_keys() == KeyRotation(key_id=new_id, done=True)  # nothing left

    # The old key can go: the users sign in with a keyring of the new key only.
    clock.advance(seconds=60)
    only_new = app(store, clock, new)
    for n in range(7):
        code = authenticator_code(_secret_of(store, f"u{n}", Keyring(new)), clock.now())
        assert only_new.verify_totp(f"u{n}", code).ok


def _secret_of(store: MemoryStore, user: str, keyring: Keyring) -> str:
    """The user's authenticator secret (base32), opened with ``keyring``."""
    (rec,) = store.list_totp(user)
    raw = keyring.open(
        TOTP_PURPOSE, Sealed(rec.secret_key_id, rec.secret_blob), aad=totp_aad(user, rec.id)
    )
    return base64.b32encode(raw).decode().rstrip("=")


def test_a_record_under_a_dropped_key_is_reported_not_lost() -> None:
    store, clock = MemoryStore(), FakeClock()
    lost, old, new = generate_secret_key(), generate_secret_key(), generate_secret_key()
    enrol(app(store, clock, lost), clock, "gone", lost)
    enrol(app(store, clock, old), clock, "kept", old)
    mfa = app(store, clock, new, old)  # `lost` was dropped too early
    result = mfa.rotate_keys(batch=1)
    assert (result.resealed, result.unreadable, result.done) == (1, 1, True)
    usage = mfa.key_usage()
    assert usage.unknown == (Keyring(lost).primary_id,)
    assert usage.unused == (Keyring(old).primary_id,)
    (rec,) = store.list_totp("gone")
    assert rec.secret_key_id == Keyring(lost).primary_id  # left as it was
    # Put the key back and run again: nothing is lost.
    again = app(store, clock, new, old, lost)
    assert again.rotate_keys().resealed == 1
    assert again.key_usage().unused == (Keyring(old).primary_id, Keyring(lost).primary_id)


def test_security_answers_keep_their_key_until_answered() -> None:
    """An answer is keyed, not sealed, and never stored: the rotation cannot
    re-key it; the user's next right answer does, and only then is the old key
    unused."""
    store, clock = MemoryStore(), FakeClock()
    old, new = generate_secret_key(), generate_secret_key()
    before = app(store, clock, old)
    enrol(before, clock, "alice", old)
    question = before.security_questions[0]
    before.set_security_question(fresh(clock, "alice", secret=old), "alice", question, "Fluffy")
    after = app(store, clock, new, old)
    after.rotate_keys()
    old_use = after.key_usage().of(Keyring(old).primary_id)
    assert old_use is not None and (old_use.authenticators, old_use.security_answers) == (0, 1)
    assert after.unused_keys() == ()
    start = after.begin_sign_in("alice")
    assert start.challenge is not None
    after.try_another_way(start.challenge.id)
    assert after.answer_security_question(start.challenge.id, "Fluffy").ok
    assert after.unused_keys() == (Keyring(old).primary_id,)


@pytest.mark.parametrize("batch", [0, -1, 10_001, 2.0, "10", True, None])
def test_bad_batch_is_refused(batch: object) -> None:
    mfa = app(MemoryStore(), FakeClock(), generate_secret_key())
    with pytest.raises(InvalidInput) as caught:
        mfa.rotate_keys(batch=batch)  # type: ignore[arg-type]
    assert caught.value.field == "batch"


def test_a_progress_that_is_not_callable_is_refused() -> None:
    mfa = app(MemoryStore(), FakeClock(), generate_secret_key())
    with pytest.raises(InvalidInput):
        mfa.rotate_keys(progress="yes")  # type: ignore[arg-type]


def test_open_challenges_name_their_key_until_they_expire() -> None:
    from mfakit.adapters import Outbox as Box

    store, clock, box = MemoryStore(), FakeClock(), Box()
    old, new = generate_secret_key(), generate_secret_key()
    before = MFA(
        store=store,
        secret_key=old,
        issuer="R",
        clock=clock,
        hasher=fast_hasher(),
        audit=MemoryAuditLog(),
        sms=box,
    )
    sent = before.begin_phone_enrolment(fresh(clock, "alice", secret=old), "alice", "+14155550101")
    assert sent.challenge is not None
    after = app(store, clock, new, old)
    use = after.key_usage().of(Keyring(old).primary_id)
    assert use is not None and use.open_challenges == 1
    clock.advance(timedelta(hours=1))
    assert after.unused_keys() == (Keyring(old).primary_id,)


def test_trust_tokens_of_the_old_key_hold_until_it_is_dropped() -> None:
    """What the runbook says: a trusted-device token signed under the old key
    stays valid through the rotation while the old key is in the keyring (the
    rotation does not touch it), and is refused once the key is dropped; the
    user then answers a second factor and is trusted again under the new key."""
    store, clock = MemoryStore(), FakeClock()
    old, new = generate_secret_key(), generate_secret_key()
    before = app(store, clock, old)
    _, secret = enrol(before, clock, "alice", old)
    clock.advance(seconds=60)
    start = before.begin_sign_in("alice")
    assert start.challenge is not None
    code = authenticator_code(secret, clock.now())
    signed_in = before.verify(start.challenge.id, code, trust_device=True)
    assert signed_in.ok and signed_in.trust_token is not None
    token = signed_in.trust_token

    rotating = app(store, clock, new, old)
    assert rotating.begin_sign_in("alice", trust_token=token).status.value == "satisfied"
    assert rotating.rotate_keys().resealed == 1
    assert rotating.begin_sign_in("alice", trust_token=token).status.value == "satisfied"
    assert rotating.unused_keys() == (Keyring(old).primary_id,)  # tokens are not counted

    clock.advance(seconds=60)
    dropped = app(store, clock, new)
    again = dropped.begin_sign_in("alice", trust_token=token)
    assert again.status.value == "challenge" and again.challenge is not None
    code = authenticator_code(secret, clock.now())
    renewed = dropped.verify(again.challenge.id, code, trust_device=True)
    assert renewed.ok and renewed.trust_token is not None
    assert dropped.begin_sign_in("alice", trust_token=renewed.trust_token).status.value == (
        "satisfied"
    )
