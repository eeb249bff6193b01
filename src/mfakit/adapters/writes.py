"""The one-write methods of the storage port, written once over `apply`.

A store implements the unit of work ([`apply`][mfakit.ports.storage.Store.apply])
once; this mixin gives it every single-write method of the port
(`advance_totp`, `put_counter`, `update_challenge`, ...) as a batch of
one (or two, where the port's method applies two changes at once). So a
method and the same write inside a larger batch can never behave differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..core import writes as w
from ..core.contacts import ContactKind
from ..core.methods import Method
from ..core.records import (
    BackupCodeRecord,
    ChallengeRecord,
    ContactRecord,
    Counter,
    DeviceRecord,
    QuestionRecord,
    TotpRecord,
)

__all__ = ["WriteMethods"]


def _challenge_batch(
    record: ChallengeRecord,
    contact: ContactRecord | None,
    backup_codes: Sequence[BackupCodeRecord] | None,
) -> list[w.Write]:
    batch: list[w.Write] = [w.UpdateChallenge(record)]
    if contact is not None:
        batch.append(w.PutContact(contact))
    if backup_codes is not None:
        batch.append(w.ReplaceBackupCodes(record.user_id, backup_codes))
    return batch


def _confirm_batch(
    user_id: str,
    factor_id: str,
    step: int,
    now: datetime,
    backup_codes: Sequence[BackupCodeRecord] | None,
) -> list[w.Write]:
    batch: list[w.Write] = [w.ConfirmTotp(user_id, factor_id, step, now)]
    if backup_codes is not None:
        batch.append(w.ReplaceBackupCodes(user_id, backup_codes))
    return batch


def _first(results: list[object] | None) -> Any:
    return None if results is None else results[0]


class WriteMethods:
    """The port's single-write methods for a sync store with `apply`."""

    # The store's own unit of work, which every method below runs.
    apply: Callable[[Sequence[w.Write]], list[object] | None]

    def _ok(self, *writes: w.Write) -> bool:
        return self.apply(writes) is not None

    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        return self._ok(w.AddTotp(record, limit, now))

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        return self.apply(_confirm_batch(user_id, factor_id, step, now, backup_codes)) is not None

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        return self._ok(w.AdvanceTotp(user_id, factor_id, step, now))

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        return self._ok(w.RenameTotp(user_id, factor_id, label))

    def delete_totp(self, user_id: str, factor_id: str) -> bool:
        return self._ok(w.DeleteTotp(user_id, factor_id))

    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        self.apply([w.ReplaceBackupCodes(user_id, codes)])

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        return self._ok(w.UseBackupCode(user_id, lookup, now))

    def put_counter(self, counter: Counter) -> bool:
        return self._ok(w.PutCounter(counter))

    def insert_challenge(self, record: ChallengeRecord) -> None:
        self.apply([w.InsertChallenge(record)])

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        return self.apply(_challenge_batch(record, contact, backup_codes)) is not None

    def put_contact(self, record: ContactRecord) -> None:
        self.apply([w.PutContact(record)])

    def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        return self._ok(w.DeleteContact(user_id, kind))

    def put_question(self, record: QuestionRecord) -> None:
        self.apply([w.PutQuestion(record)])

    def insert_device(self, record: DeviceRecord) -> None:
        self.apply([w.InsertDevice(record)])

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self._ok(w.TouchDevice(user_id, device_id, now))

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self._ok(w.RevokeDevice(user_id, device_id, now))

    def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        return int(_first(self.apply([w.RevokeDevices(user_id, now)])))

    def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        return int(_first(self.apply([w.BumpSecurityVersion(user_id, now)])))

    def set_preferred_method(self, user_id: str, method: Method | None, *, now: datetime) -> None:
        self.apply([w.SetPreferredMethod(user_id, method, now)])

    def clear_factors(self, user_id: str) -> None:
        self.apply([w.ClearFactors(user_id)])
