"""Async adapters over the in-memory store, sharing its state.

`AsyncMemoryStore(store)` exposes the same state as a
[`MemoryStore`][mfakit.adapters.MemoryStore] through the async storage port,
so a test can drive [`AsyncMFA`][mfakit.AsyncMFA] and look at the state with the
sync API. (`AsyncMFA` also accepts a plain `MemoryStore`: it never blocks.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..core.contacts import ContactKind
from ..core.methods import Method
from ..core.records import (
    BackupCodeRecord,
    CeremonyRecord,
    ChallengeRecord,
    ContactRecord,
    Counter,
    DeviceRecord,
    KeyUse,
    NoticeRecord,
    QuestionRecord,
    TotpRecord,
    UserSnapshot,
    UserState,
    WebAuthnCredentialRecord,
)
from ..core.writes import Write
from .memory import MemoryStore

__all__ = ["AsyncMemoryStore"]


class AsyncMemoryStore:
    """Implements [`AsyncStore`][mfakit.ports.storage.AsyncStore] over a
    [`MemoryStore`][mfakit.adapters.MemoryStore]."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.sync = store if store is not None else MemoryStore()

    def __repr__(self) -> str:
        return f"AsyncMemoryStore({self.sync!r})"

    async def apply(self, writes: Sequence[Write]) -> list[object] | None:
        return self.sync.apply(writes)

    async def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        return self.sync.load_user(user_id, counters=counters)

    async def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        return self.sync.load_challenge(challenge_id, counters=counters)

    async def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        return self.sync.purge(
            before=before, keep_nonzero=keep_nonzero, limit=limit, audit_before=audit_before
        )

    async def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        return self.sync.totps_to_reseal(key_id=key_id, after=after, limit=limit)

    async def key_usage(self, *, now: datetime) -> list[KeyUse]:
        return self.sync.key_usage(now=now)

    async def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        return self.sync.pending_notices(now=now, limit=limit)

    async def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        return self.sync.add_totp(record, limit=limit, now=now)

    async def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        return self.sync.get_totp(user_id, factor_id)

    async def list_totp(self, user_id: str) -> list[TotpRecord]:
        return self.sync.list_totp(user_id)

    async def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        return self.sync.rename_totp(user_id, factor_id, label)

    async def delete_totp(self, user_id: str, factor_id: str) -> bool:
        return self.sync.delete_totp(user_id, factor_id)

    async def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        return self.sync.get_backup_code(user_id, lookup)

    async def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        return self.sync.use_backup_code(user_id, lookup, now=now)

    async def count_backup_codes(self, user_id: str) -> int:
        return self.sync.count_backup_codes(user_id)

    async def get_counter(self, key: str) -> Counter | None:
        return self.sync.get_counter(key)

    async def put_counter(self, counter: Counter) -> bool:
        return self.sync.put_counter(counter)

    async def insert_challenge(self, record: ChallengeRecord) -> None:
        return self.sync.insert_challenge(record)

    async def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        return self.sync.get_challenge(challenge_id)

    async def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        return self.sync.challenge_for_message(message_id)

    async def get_contacts(self, user_id: str) -> list[ContactRecord]:
        return self.sync.get_contacts(user_id)

    async def put_contact(self, record: ContactRecord) -> None:
        return self.sync.put_contact(record)

    async def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        return self.sync.delete_contact(user_id, kind)

    async def get_question(self, user_id: str) -> QuestionRecord | None:
        return self.sync.get_question(user_id)

    async def put_question(self, record: QuestionRecord) -> None:
        return self.sync.put_question(record)

    async def insert_device(self, record: DeviceRecord) -> None:
        return self.sync.insert_device(record)

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        return self.sync.get_device(user_id, device_id)

    async def list_devices(self, user_id: str) -> list[DeviceRecord]:
        return self.sync.list_devices(user_id)

    async def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self.sync.touch_device(user_id, device_id, now=now)

    async def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        return self.sync.revoke_device(user_id, device_id, now=now)

    async def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        return self.sync.revoke_devices(user_id, now=now)

    async def get_user_state(self, user_id: str) -> UserState | None:
        return self.sync.get_user_state(user_id)

    async def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        return self.sync.bump_security_version(user_id, now=now)

    async def clear_factors(self, user_id: str) -> None:
        return self.sync.clear_factors(user_id)

    async def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        return self.sync.confirm_totp(
            user_id, factor_id, step=step, now=now, backup_codes=backup_codes
        )

    async def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        return self.sync.advance_totp(user_id, factor_id, step=step, now=now)

    async def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        return self.sync.replace_backup_codes(user_id, codes)

    async def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        return self.sync.update_challenge(record, contact=contact, backup_codes=backup_codes)

    async def set_preferred_method(
        self, user_id: str, method: Method | None, *, now: datetime
    ) -> None:
        return self.sync.set_preferred_method(user_id, method, now=now)

    async def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        return self.sync.get_credential(credential_id)

    async def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        return self.sync.list_credentials(user_id)

    async def get_user_handle(self, user_id: str) -> bytes | None:
        return self.sync.get_user_handle(user_id)

    async def user_for_handle(self, handle: bytes) -> str | None:
        return self.sync.user_for_handle(handle)

    async def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        return self.sync.get_ceremony(ceremony_id)

    async def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        return self.sync.take_ceremony(ceremony_id, now=now)
