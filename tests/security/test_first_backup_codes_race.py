"""Issue 12, finding 4 (a minor race): two first enrolments at once, say an
authenticator confirmed while a phone is proven, each issued "first" backup
codes; the second set silently replaced the first, whose codes the user had
just written down.

Now the batch that binds a first factor and stores its codes goes on only
while the user still has no factor (``RequireNoFactor``): the codes are issued
once. The two confirmations really run at the same time in two threads, on
the memory store and on SQLite; both are held at the store until both have
decided (so both did read "no factor yet"), then let go together.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mfakit import MFA, Action, Actor, ConflictingState, NotFound
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.core import writes as w
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.conftest import SECRET

PHONE = "+14155550101"


class _Gate:
    """Holds each batch that stores first backup codes until two have come."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.held = 0

    def wait(self, writes: Sequence[w.Write]) -> None:
        if any(isinstance(x, w.ReplaceBackupCodes) and x.codes for x in writes):
            self.held += 1
            if self.held <= 2:
                self.barrier.wait()


class GatedMemoryStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gate = _Gate()

    def apply(self, writes: Sequence[w.Write]) -> list[object] | None:
        self.gate.wait(writes)
        return super().apply(writes)


class GatedSqlStore(SqlStore):
    gate: _Gate

    def apply(self, writes: Sequence[w.Write]) -> list[object] | None:
        self.gate.wait(writes)
        return super().apply(writes)


def make(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return GatedMemoryStore()
    store = GatedSqlStore.from_url(f"sqlite:///{tmp_path / 'race.db'}")
    store.gate = _Gate()
    store.create_all()
    return store


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_two_first_enrolments_at_once_issue_backup_codes_once(kind: str, tmp_path: Path) -> None:
    store = make(kind, tmp_path)
    clock, outbox, audit = FakeClock(), Outbox(), MemoryAuditLog()
    mfa = MFA(
        store=store,
        secret_key=SECRET,
        issuer="Aesthetix CRM",
        clock=clock,
        hasher=fast_hasher(),
        sms=outbox,
        email=outbox,
        audit=audit,
    )
    actor = Actor.user("bob", reauthenticated_at=clock.now())  # no factor: no step-up
    setup = mfa.begin_totp_setup(actor, "bob", account_name="bob@example.org")
    sent = mfa.begin_phone_enrolment(actor, "bob", PHONE)
    assert sent.challenge is not None
    clock.advance(seconds=5)  # the user types the codes in a little later
    totp_code = authenticator_code(setup.uri, clock.now())
    sms_code = outbox.last_code(PHONE)

    outcomes: dict[str, Any] = {}

    def confirm_totp() -> None:
        try:
            outcomes["totp"] = mfa.confirm_totp_setup(actor, setup.id, totp_code)
        except (NotFound, ConflictingState) as exc:
            outcomes["totp"] = exc

    def verify_phone() -> None:
        try:
            outcomes["phone"] = mfa.verify(sent.challenge.id, sms_code)
        except (NotFound, ConflictingState) as exc:
            outcomes["phone"] = exc

    threads = [threading.Thread(target=confirm_totp), threading.Thread(target=verify_phone)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert store.gate.held >= 2, "the two confirmations did not meet at the store"

    won = {k: v for k, v in outcomes.items() if not isinstance(v, Exception) and v.ok}
    assert len(won) == 1, outcomes  # the other one must start again (with a step-up)
    (winner,) = won.values()
    assert winner.backup_codes is not None
    issued = [e for e in audit.list_events("bob") if e.action == Action.BACKUP_CODES_ISSUED]
    assert len(issued) == 1
    # The codes the winner showed are the ones stored: each one works.
    assert mfa.backup_codes_left("bob") == len(winner.backup_codes)
    assert mfa.verify_backup_code("bob", winner.backup_codes.codes[0]).ok
    snapshot = store.load_user("bob")
    assert (
        sum(1 for t in snapshot.totps if t.confirmed)
        + sum(1 for c in snapshot.contacts if c.verified)
        == 1
    )
