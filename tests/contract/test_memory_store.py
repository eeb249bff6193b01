"""The in-memory adapter runs the shared storage contract."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfakit.adapters import MemoryAuditLog, MemoryStore
from mfakit.core import writes as w
from mfakit.testing.contract import T0, AuditLogContract, StoreContract, backup_codes


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
