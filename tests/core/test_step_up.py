"""Step-up grants (S32) as pure values: signing, reading, binding and age;
the Actor's ``step_up`` field; the Policy's step-up and budget fields."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mfakit import Actor, InvalidInput, Keyring, Method, Policy
from mfakit.core.step_up import (
    MAX_GRANT_LENGTH,
    StepUpClaims,
    grant_expires_at,
    grant_holds,
    read_grant,
    sign_grant,
)
from mfakit.core.trust import TokenClaims, sign_token

KEY = "207e01cd9e0fe2240be6ad23824153e0f343ab4ec05e1b6158dbbbdcc2fc6c66"
OTHER = "92faac0ad7d0471eea2ff8212694a481cc26f5622cc15e75685016f7b9902df4"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
AGE = timedelta(seconds=300)


def claims(user: str = "alice", actor: str = "alice", at: datetime = NOW) -> StepUpClaims:
    return StepUpClaims(user, actor, at, Method.TOTP)


def test_a_grant_reads_back_and_holds_for_its_user_and_actor_until_it_expires() -> None:
    token = sign_grant(Keyring(KEY), claims())
    read = read_grant(Keyring(KEY), token)
    assert read == claims()
    assert grant_holds(read, user_id="alice", actor_id="alice", now=NOW, max_age=AGE)
    last = NOW + AGE - timedelta(microseconds=1)
    assert grant_holds(read, user_id="alice", actor_id="alice", now=last, max_age=AGE)
    assert not grant_holds(read, user_id="alice", actor_id="alice", now=NOW + AGE, max_age=AGE)
    assert not grant_holds(read, user_id="bob", actor_id="alice", now=NOW, max_age=AGE)
    assert not grant_holds(read, user_id="alice", actor_id="boss", now=NOW, max_age=AGE)
    # Issued in the future (beyond a second of skew): it cannot have happened.
    assert not grant_holds(
        read, user_id="alice", actor_id="alice", now=NOW - timedelta(seconds=2), max_age=AGE
    )
    assert grant_expires_at(NOW + timedelta(microseconds=700), AGE) == NOW + AGE


def test_rotation_keeps_grants_and_other_keys_or_purposes_do_not_pass() -> None:
    token = sign_grant(Keyring(OTHER), claims())
    assert read_grant(Keyring(KEY, OTHER), token) == claims()  # old key still in the ring
    assert read_grant(Keyring(KEY), token) is None
    trust_token = sign_token(Keyring(KEY), TokenClaims("alice", "device", 0))
    assert read_grant(Keyring(KEY), trust_token) is None  # another purpose, another subkey


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: "x" + t,
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "a" * (MAX_GRANT_LENGTH + 1),
        lambda t: t + "=",
    ],
)
def test_tampered_or_malformed_grants_are_none(mangle) -> None:  # type: ignore[no-untyped-def]
    token = sign_grant(Keyring(KEY), claims())
    assert read_grant(Keyring(KEY), mangle(token)) is None


def test_actor_takes_a_grant_and_hides_it() -> None:
    token = sign_grant(Keyring(KEY), claims())
    for actor in (
        Actor.user("alice", step_up=token),
        Actor.admin("boss", step_up=token),
        Actor.impersonating("boss", "alice", step_up=token),
    ):
        assert actor.step_up == token and token not in repr(actor)
    for bad in ("", "x" * (MAX_GRANT_LENGTH + 1), "grant\u00e9", 5, b"bytes"):
        with pytest.raises(InvalidInput) as refused:
            Actor.user("alice", step_up=bad)  # type: ignore[arg-type]
        assert refused.value.field == "actor.step_up"


def test_policy_bounds_for_step_up_budgets_and_backup_code_failures() -> None:
    policy = Policy()
    assert (policy.step_up_seconds, policy.unverified_sends_per_user) == (300, 10)
    assert policy.unverified_sends_per_tenant is None and policy.unverified_sends_global is None
    assert (policy.backup_code_free_failures, policy.backup_code_lockout_after) == (10, 100)
    assert policy.step_up_max_age == timedelta(minutes=5)
    for field, value in [
        ("step_up_seconds", 29),
        ("step_up_seconds", 3601),
        ("step_up_seconds", True),
        ("unverified_sends_per_user", 0),
        ("unverified_sends_per_tenant", 0),
        ("unverified_sends_global", "10"),
        ("backup_code_lockout_after", 101),
        ("backup_code_free_failures", 0),
    ]:
        with pytest.raises(InvalidInput) as refused:
            Policy(**{field: value})
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        Policy(backup_code_lockout_after=5, backup_code_free_failures=6)
    assert refused.value.field == "backup_code_free_failures"
    assert Policy(step_up_seconds=30, unverified_sends_global=1).unverified_sends_global == 1
