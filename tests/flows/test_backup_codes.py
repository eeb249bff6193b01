"""Backup codes end to end (F5, S26)."""

from __future__ import annotations

import pytest

import mfakit
from mfakit import MFA, Actor, Reason
from mfakit.adapters import MemoryStore
from mfakit.testing import FakeClock
from tests.helpers import fresh


def test_each_code_works_once(mfa: MFA, enrol) -> None:
    user = enrol()
    first = mfa.verify_backup_code("alice", user.backup_codes[0])
    assert first.ok and first.method is mfakit.Method.BACKUP_CODE
    assert first.backup_codes_left == 9 and not first.backup_codes_low
    again = mfa.verify_backup_code("alice", user.backup_codes[0])
    assert (again.ok, again.reason) == (False, Reason.INVALID_CODE)
    assert mfa.backup_codes_left("alice") == 9


def test_codes_tolerate_how_people_type_them(mfa: MFA, enrol) -> None:
    user = enrol()
    code = user.backup_codes[1]
    typed = " " + code.replace("-", " ").lower().replace("0", "o").replace("1", "l") + " "
    assert mfa.verify_backup_code("alice", typed).ok


def test_low_warning_and_running_out(mfa: MFA, enrol) -> None:
    user = enrol()
    results = [mfa.verify_backup_code("alice", c) for c in user.backup_codes]
    assert all(r.ok for r in results)
    assert [r.backup_codes_left for r in results] == list(range(9, -1, -1))
    assert [r.backup_codes_low for r in results] == [False] * 7 + [True] * 3
    assert mfa.backup_codes_left("alice") == 0


def test_regenerating_invalidates_the_old_set(mfa: MFA, clock: FakeClock, enrol) -> None:
    user = enrol()
    assert mfa.verify_backup_code("alice", user.backup_codes[0]).ok
    fresh_set = mfa.regenerate_backup_codes(fresh(clock), "alice")
    assert len(fresh_set) == 10 and set(fresh_set).isdisjoint(user.backup_codes)
    assert mfa.backup_codes_left("alice") == 10
    assert not mfa.verify_backup_code("alice", user.backup_codes[1]).ok
    assert mfa.verify_backup_code("alice", next(iter(fresh_set))).ok


def test_regenerating_is_for_the_user_freshly_reauthenticated(
    mfa: MFA, clock: FakeClock, enrol
) -> None:
    enrol()
    with pytest.raises(mfakit.ReauthenticationRequired):
        mfa.regenerate_backup_codes(Actor.user("alice"), "alice")
    for actor in (
        Actor.admin("boss", reauthenticated_at=clock.now()),
        Actor.impersonating("boss", "alice", reauthenticated_at=clock.now()),
    ):
        with pytest.raises(mfakit.NotPermitted):
            mfa.regenerate_backup_codes(actor, "alice")
    assert mfa.backup_codes_left("alice") == 10


def test_no_backup_codes_without_a_second_factor(mfa: MFA, clock: FakeClock) -> None:
    with pytest.raises(mfakit.ConflictingState):
        mfa.regenerate_backup_codes(fresh(clock), "alice")


def test_codes_are_stored_only_as_argon2id_hashes(mfa: MFA, store: MemoryStore, enrol) -> None:
    user = enrol()
    dump = repr(vars(store))
    stored = [store.get_backup_code("alice", c.replace("-", "")[:2]) for c in user.backup_codes]
    assert all(s is not None and s.hash.startswith("$argon2id$") for s in stored)
    hashes = " ".join(s.hash for s in stored if s is not None)
    for code in user.backup_codes:
        assert code not in dump and code.replace("-", "") not in dump
        assert code.replace("-", "")[2:] not in hashes


def test_a_miss_costs_one_hash_too(mfa: MFA, enrol, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown lookup ids and unknown users still pay one hash verification (S24, S26)."""
    enrol()
    hasher = mfa._ctx.hasher
    calls: list[str] = []
    real = type(hasher).verify

    def counting(self: object, hashed: str, secret: str) -> bool:
        calls.append(hashed)
        return real(self, hashed, secret)  # type: ignore[arg-type]

    monkeypatch.setattr(type(hasher), "verify", counting)
    mfa.verify_backup_code("alice", "ZZZZ-ZZZZ-ZZZZ")
    mfa.verify_backup_code("nobody", "ZZZZ-ZZZZ-ZZZZ")
    assert len(calls) == 2
