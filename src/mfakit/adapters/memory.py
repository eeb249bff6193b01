"""In-memory storage: for tests, prototypes and single-process apps.

Thread-safe: one lock guards every operation, so each compare-and-set is
atomic across threads. State lives in this process only; apps with several
server processes need the SQL adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

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
    UserState,
)
from ..errors import StorageError

__all__ = ["MemoryStore"]


class MemoryStore:
    """Implements :class:`mfakit.ports.storage.Store` with dicts
    and a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totp: dict[str, dict[str, TotpRecord]] = {}
        self._backup: dict[str, dict[str, BackupCodeRecord]] = {}
        self._counters: dict[str, Counter] = {}
        self._challenges: dict[str, ChallengeRecord] = {}
        self._contacts: dict[str, dict[ContactKind, ContactRecord]] = {}
        self._questions: dict[str, QuestionRecord] = {}
        self._devices: dict[str, dict[str, DeviceRecord]] = {}
        self._states: dict[str, UserState] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(users={len(self._totp.keys() | self._backup.keys())})"

    # --- authenticator apps -------------------------------------------
    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        with self._lock:
            mine = self._totp.setdefault(record.user_id, {})
            for fid in [f for f, r in mine.items() if not r.is_live(now)]:
                del mine[fid]
            if len(mine) >= limit or record.id in mine:
                return False
            mine[record.id] = record
            return True

    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        with self._lock:
            return self._totp.get(user_id, {}).get(factor_id)

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        with self._lock:
            return sorted(self._totp.get(user_id, {}).values(), key=lambda r: r.created_at)

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        with self._lock:
            rec = self._totp.get(user_id, {}).get(factor_id)
            if rec is None or rec.confirmed or not rec.is_live(now):
                return False
            self._totp[user_id][factor_id] = replace(
                rec, confirmed_at=now, expires_at=None, last_step=step, last_used_at=now
            )
            if backup_codes is not None:
                self._backup[user_id] = {c.lookup: c for c in backup_codes}
            return True

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        with self._lock:
            rec = self._totp.get(user_id, {}).get(factor_id)
            if rec is None or not rec.confirmed:
                return False
            if rec.last_step is not None and rec.last_step >= step:
                return False
            # The hot path of every TOTP sign-in: a direct copy, not dataclasses.replace.
            self._totp[user_id][factor_id] = TotpRecord(
                id=rec.id,
                user_id=rec.user_id,
                label=rec.label,
                secret_key_id=rec.secret_key_id,
                secret_blob=rec.secret_blob,
                algorithm=rec.algorithm,
                digits=rec.digits,
                period=rec.period,
                created_at=rec.created_at,
                expires_at=rec.expires_at,
                confirmed_at=rec.confirmed_at,
                last_step=step,
                last_used_at=now,
            )
            return True

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        with self._lock:
            rec = self._totp.get(user_id, {}).get(factor_id)
            if rec is None or not rec.confirmed:
                return False
            self._totp[user_id][factor_id] = replace(rec, label=label)
            return True

    def delete_totp(self, user_id: str, factor_id: str) -> bool:
        with self._lock:
            return self._totp.get(user_id, {}).pop(factor_id, None) is not None

    # --- backup codes --------------------------------------------------
    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        with self._lock:
            self._backup[user_id] = {c.lookup: c for c in codes}

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        with self._lock:
            rec = self._backup.get(user_id, {}).get(lookup)
            return rec if rec is not None and rec.used_at is None else None

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        with self._lock:
            codes = self._backup.get(user_id, {})
            rec = codes.get(lookup)
            if rec is None or rec.used_at is not None:
                return False
            codes[lookup] = replace(rec, used_at=now)
            return True

    def count_backup_codes(self, user_id: str) -> int:
        with self._lock:
            return sum(1 for c in self._backup.get(user_id, {}).values() if c.used_at is None)

    # --- counters -------------------------------------------------------
    def get_counter(self, key: str) -> Counter | None:
        with self._lock:
            return self._counters.get(key)

    def put_counter(self, counter: Counter) -> bool:
        with self._lock:
            current = self._counters.get(counter.key)
            if (current.version if current is not None else 0) != counter.version:
                return False
            self._counters[counter.key] = Counter(
                key=counter.key,
                count=counter.count,
                window_start=counter.window_start,
                updated_at=counter.updated_at,
                version=counter.version + 1,
            )
            return True

    # --- challenges -----------------------------------------------------
    def insert_challenge(self, record: ChallengeRecord) -> None:
        with self._lock:
            if record.id in self._challenges:
                raise StorageError("a challenge with this id already exists")
            self._challenges[record.id] = replace(record, version=0)

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        with self._lock:
            return self._challenges.get(challenge_id)

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        with self._lock:
            current = self._challenges.get(record.id)
            if current is None or current.version != record.version:
                return False
            self._challenges[record.id] = replace(record, version=record.version + 1)
            if contact is not None:
                self._contacts.setdefault(contact.user_id, {})[contact.kind] = contact
            if backup_codes is not None:
                self._backup[record.user_id] = {c.lookup: c for c in backup_codes}
            return True

    # --- contacts ---------------------------------------------------------
    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        with self._lock:
            return sorted(self._contacts.get(user_id, {}).values(), key=lambda c: c.kind.value)

    def put_contact(self, record: ContactRecord) -> None:
        with self._lock:
            self._contacts.setdefault(record.user_id, {})[record.kind] = record

    def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        with self._lock:
            return self._contacts.get(user_id, {}).pop(kind, None) is not None

    # --- security question -----------------------------------------------
    def get_question(self, user_id: str) -> QuestionRecord | None:
        with self._lock:
            return self._questions.get(user_id)

    def put_question(self, record: QuestionRecord) -> None:
        with self._lock:
            self._questions[record.user_id] = record

    # --- trusted devices -------------------------------------------------
    def insert_device(self, record: DeviceRecord) -> None:
        with self._lock:
            mine = self._devices.setdefault(record.user_id, {})
            if record.id in mine:
                raise StorageError("a device with this id already exists")
            mine[record.id] = record

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        with self._lock:
            return self._devices.get(user_id, {}).get(device_id)

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        with self._lock:
            mine = list(self._devices.get(user_id, {}).values())
        return sorted(mine, key=lambda d: d.created_at, reverse=True)

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        with self._lock:
            rec = self._devices.get(user_id, {}).get(device_id)
            if rec is None or rec.revoked_at is not None:
                return False
            self._devices[user_id][device_id] = replace(rec, last_used_at=now)
            return True

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        with self._lock:
            rec = self._devices.get(user_id, {}).get(device_id)
            if rec is None or rec.revoked_at is not None:
                return False
            self._devices[user_id][device_id] = replace(rec, revoked_at=now)
            return True

    def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        with self._lock:
            mine = self._devices.get(user_id, {})
            live = [d for d in mine.values() if d.revoked_at is None]
            for rec in live:
                mine[rec.id] = replace(rec, revoked_at=now)
            return len(live)

    # --- per-user state --------------------------------------------------
    def get_user_state(self, user_id: str) -> UserState | None:
        with self._lock:
            return self._states.get(user_id)

    def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        with self._lock:
            state = self._states.get(user_id) or UserState(user_id=user_id)
            state = replace(state, security_version=state.security_version + 1, updated_at=now)
            self._states[user_id] = state
            return state.security_version

    def set_preferred_method(self, user_id: str, method: Method | None, *, now: datetime) -> None:
        with self._lock:
            state = self._states.get(user_id) or UserState(user_id=user_id)
            self._states[user_id] = replace(state, preferred_method=method, updated_at=now)

    def clear_factors(self, user_id: str) -> None:
        with self._lock:
            self._totp.pop(user_id, None)
            self._backup.pop(user_id, None)
            mine = self._contacts.get(user_id, {})
            for kind, contact in list(mine.items()):
                mine[kind] = replace(contact, verified_at=None)
