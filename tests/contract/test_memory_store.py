"""The in-memory adapter runs the shared storage contract."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfakit.adapters import MemoryAuditLog, MemoryStore, memory
from mfakit.core import writes as w
from mfakit.core.records import Counter, TotpRecord, UserSnapshot
from mfakit.testing.contract import (
    T0,
    AuditLogContract,
    StoreContract,
    backup_codes,
    totp_record,
)


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestMemoryAuditLog(AuditLogContract):
    @pytest.fixture
    def audit_log(self) -> MemoryAuditLog:
        return MemoryAuditLog()


# --- the count of unused backup codes -------------------------------------------------
# MemoryStore keeps that count alongside the codes (load_user counts nothing);
# random sequences of every write that touches backup codes, failed batches
# and purges included, must leave it equal to the codes' own state.

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("replace"), st.sampled_from(["alice", "bob"]), st.integers(0, 4)),
        st.tuples(st.just("use"), st.sampled_from(["alice", "bob"]), st.integers(0, 5)),
        st.tuples(st.just("use_then_fail"), st.sampled_from(["alice", "bob"]), st.integers(0, 5)),
        st.tuples(st.just("clear"), st.sampled_from(["alice", "bob"]), st.just(0)),
        st.tuples(st.just("purge"), st.just(""), st.integers(0, 3)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS)
def test_unused_backup_code_count_follows_every_write(ops: list[tuple[str, str, int]]) -> None:
    store = MemoryStore()
    model: dict[str, dict[str, bool]] = {}  # user -> lookup -> used
    now = T0
    for op, user, n in ops:
        now += timedelta(minutes=1)
        lookup = f"{n:02d}"
        if op == "replace":
            codes = backup_codes(user, n, at=now)
            assert store.apply([w.ReplaceBackupCodes(user, codes)]) == [None]
            model[user] = {c.lookup: False for c in codes}
        elif op == "use":
            unused = not model.get(user, {}).get(lookup, True)
            done = store.apply([w.UseBackupCode(user, lookup, now)])
            assert (done is not None) == unused
            if unused:
                model[user][lookup] = True
        elif op == "use_then_fail":
            # The use holds or not; the second write fails: nothing applied.
            batch: list[w.Write] = [w.UseBackupCode(user, lookup, now), w.DeleteTotp(user, "x")]
            assert store.apply(batch) is None
        elif op == "clear":
            assert store.apply([w.ClearFactors(user)]) == [None]
            model.pop(user, None)
        else:
            # Deletes used codes only (a few, `limit`): the unused stay counted.
            store.purge(before=now + timedelta(days=1), limit=n)
        for who in ("alice", "bob"):
            expected = sum(1 for used in model.get(who, {}).values() if not used)
            assert store.load_user(who).backup_codes_left == expected
            assert store.count_backup_codes(who) == expected
            found = sum(
                1 for code in model.get(who, {}) if store.get_backup_code(who, code) is not None
            )
            assert found == expected


# --- the records built on the hot path -------------------------------------------------


def test_hot_path_records_equal_what_their_constructors_build() -> None:
    # MemoryStore builds the advanced authenticator and the snapshot field by
    # field (no __init__); both must equal the dataclass-built records, every
    # field set, and would miss a __post_init__ if the classes gained one.
    assert not hasattr(TotpRecord, "__post_init__")
    assert not hasattr(UserSnapshot, "__post_init__")
    rec = replace(totp_record(), confirmed_at=T0, expires_at=None, last_step=3, last_used_at=T0)
    later = T0 + timedelta(seconds=90)
    advanced = memory._advanced(rec, 6, later)
    assert type(advanced) is TotpRecord
    assert advanced == replace(rec, last_step=6, last_used_at=later)
    assert [getattr(advanced, f.name) for f in fields(TotpRecord)] == [
        getattr(replace(rec, last_step=6, last_used_at=later), f.name) for f in fields(TotpRecord)
    ]
    assert hash(advanced) == hash(replace(rec, last_step=6, last_used_at=later))

    store = MemoryStore()
    assert store.apply([w.AddTotp(replace(rec, confirmed_at=None, expires_at=later), 5, T0)])
    assert store.apply([w.ConfirmTotp("alice", "f1", 4, T0)])
    assert store.apply([w.AdvanceTotp("alice", "f1", 6, later)])
    assert store.apply([w.ReplaceBackupCodes("alice", backup_codes(n=3))])
    store.apply([w.PutCounter(Counter(key="n:alice", count=2, window_start=T0, updated_at=T0))])
    got = store.load_user("alice", counters=("n:", "m:"))
    assert type(got) is UserSnapshot
    expected = UserSnapshot(
        user_id="alice",
        totps=tuple(store.list_totp("alice")),
        contacts=(),
        backup_codes_left=3,
        question=None,
        state=store.get_user_state("alice"),
        counters={"n:alice": store.get_counter("n:alice")},
        webauthn=(),
    )
    assert got == expected
    assert [getattr(got, f.name) for f in fields(UserSnapshot)] == [
        getattr(expected, f.name) for f in fields(UserSnapshot)
    ]
    assert got.totps[0].last_step == 6 and got.totps[0].last_used_at == later
