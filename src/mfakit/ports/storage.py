"""The storage port (P1).

Every method that decides whether a code is accepted is a single atomic
operation at the store (ARCHITECTURE.md rule 5): confirming a setup, advancing a
TOTP step, consuming a backup code and updating a counter are compare-and-set,
so several app servers sharing one database never accept a code twice. The
contract suite in [`mfakit.testing.contract`][mfakit.testing.contract] defines what "correct" means;
an adapter that passes it can be used in production.

Adapters raise [`StorageError`][mfakit.errors.StorageError] for their own failures and
leave nothing half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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

__all__ = [
    "AsyncDeviceStore",
    "AsyncMessageLookup",
    "AsyncStore",
    "DeviceStore",
    "MessageLookup",
    "Store",
]


class Store(Protocol):
    """Synchronous storage for mfakit's state."""

    # --- the unit of work (see mfakit.core.writes) ------------------------
    def apply(self, writes: Sequence[Write]) -> list[object] | None:
        """Apply `writes` in order as one transaction, committed once.

        If a conditional write finds its condition false, roll everything
        back and return None; otherwise return one result per write (True for
        a conditional write, the new version for `BumpSecurityVersion`, the
        count for `RevokeDevices`, None for the others). A store failure
        raises [`StorageError`][mfakit.errors.StorageError] with nothing applied."""
        ...

    def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot:
        """Everything a verification needs about `user_id`, in one read:
        authenticators, contacts, unused backup codes, the security question,
        the user state and the counters named `prefix + user_id` for each
        prefix in `counters`."""
        ...

    def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None:
        """A challenge and the snapshot of its user (as
        [`load_user`][mfakit.ports.storage.Store.load_user]), in one read; None if there is no such
        challenge."""
        ...

    def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int:
        """Delete at most `limit` rows of each kind that no longer matter
        (short transactions, no long lock): challenges that expired before
        `before`; counters last updated before it, except those whose key
        starts with one of `keep_nonzero` and whose count is not 0 (a
        lock-out must outlive any retention); devices revoked or expired
        before it; backup codes used before it; pending authenticator setups
        that expired before it; notices queued before it and still undelivered;
        and, when `audit_before` is given and the store keeps the audit
        trail, audit events recorded before `audit_before`; WebAuthn ceremonies
        that expired before it. Returns how many rows went; call again until it
        returns 0."""
        ...

    # --- the notice outbox -------------------------------------------------
    def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]:
        """At most `limit` queued notices due at `now` (`next_attempt_at`
        not after it), the longest due first. Notices are queued, claimed and
        deleted by the writes `QueueNotice`, `ClaimNotice`, `DeleteNotice`."""
        ...

    # --- key rotation ----------------------------------------------------
    def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]:
        """At most `limit` authenticators (pending ones included) whose
        secret is sealed under a key other than `key_id`, ordered by
        `(user_id, id)` and after `after` in that order (None: from the
        start). Re-sealing goes through the `ResealTotp` write."""
        ...

    def key_usage(self, *, now: datetime) -> list[KeyUse]:
        """Every key id the stored values name, with how many of each kind:
        authenticator secrets, keyed security answers (stored as
        `$mfk-hmac1$<key id>$...`) and open challenges (awaiting a code or
        an answer, unexpired at `now`) with a code hash. Ordered by key id."""
        ...

    # --- authenticator apps -------------------------------------------
    def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool:
        """Insert a pending authenticator unless the user already has `limit`
        live ones (confirmed, or pending and unexpired at `now`). Returns
        whether it was inserted. Expired pending setups may be dropped."""
        ...

    def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None:
        """One authenticator of the user, pending or confirmed."""
        ...

    def list_totp(self, user_id: str) -> list[TotpRecord]:
        """All the user's authenticators, oldest first, pending ones included."""
        ...

    def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool:
        """Atomically confirm a pending, unexpired setup, record `step` as its
        last accepted step and, when `backup_codes` is given, replace the user's
        backup codes with them. False (nothing changed) if the setup is missing,
        expired or already confirmed."""
        ...

    def advance_totp(self, user_id: str, factor_id: str, *, step: int, now: datetime) -> bool:
        """Set `last_step = step` only if the authenticator is confirmed and its
        last step is older (S4). False means the step was already used."""
        ...

    def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool:
        """Change a confirmed authenticator's label; False if there is none."""
        ...

    def delete_totp(self, user_id: str, factor_id: str) -> bool:
        """Remove an authenticator; False if there was none."""
        ...

    # --- backup codes --------------------------------------------------
    def replace_backup_codes(self, user_id: str, codes: Sequence[BackupCodeRecord]) -> None:
        """Atomically drop the user's codes and store `codes` (may be empty)."""
        ...

    def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None:
        """The unused code with this lookup id, if any."""
        ...

    def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool:
        """Mark the code used only if it is still unused; False otherwise."""
        ...

    def count_backup_codes(self, user_id: str) -> int:
        """How many unused codes the user has."""
        ...

    # --- counters for limits ------------------------------------------
    def get_counter(self, key: str) -> Counter | None:
        """The counter named `key`, or None if never stored."""
        ...

    def put_counter(self, counter: Counter) -> bool:
        """Store `counter` if the stored version still equals
        `counter.version` (0: not stored yet), bumping the version by one.
        False when another writer got there first."""
        ...

    # --- challenges ------------------------------------------------------
    def insert_challenge(self, record: ChallengeRecord) -> None:
        """Store a new challenge (its `version` is 0)."""
        ...

    def get_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        """A challenge by id, in whatever state it is."""
        ...

    def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool:
        """Compare-and-set: store `record` with `version + 1` only if the
        stored version still equals `record.version`. In the same atomic step,
        upsert `contact` and replace the user's backup codes with
        `backup_codes` when given. False, and nothing changed, on a conflict."""
        ...

    # --- contact channels ------------------------------------------------
    def get_contacts(self, user_id: str) -> list[ContactRecord]:
        """The user's phone and email records (at most one of each kind)."""
        ...

    def put_contact(self, record: ContactRecord) -> None:
        """Insert or replace the user's contact of `record.kind`."""
        ...

    def delete_contact(self, user_id: str, kind: ContactKind) -> bool:
        """Remove the user's contact of `kind`; False if there was none."""
        ...

    # --- security question ---------------------------------------------
    def get_question(self, user_id: str) -> QuestionRecord | None:
        """The user's security question, if set."""
        ...

    def put_question(self, record: QuestionRecord) -> None:
        """Set or replace the user's security question."""
        ...

    # --- trusted devices --------------------------------------------------
    def insert_device(self, record: DeviceRecord) -> None:
        """Store a newly trusted device."""
        ...

    def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None:
        """One of the user's devices, revoked ones included."""
        ...

    def list_devices(self, user_id: str) -> list[DeviceRecord]:
        """The user's devices, newest first, revoked ones included."""
        ...

    def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        """Record a use of an unrevoked device; False if there is none."""
        ...

    def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool:
        """Revoke one device if it is not already; False otherwise."""
        ...

    def revoke_devices(self, user_id: str, *, now: datetime) -> int:
        """Revoke every unrevoked device of the user; returns how many."""
        ...

    # --- per-user state ---------------------------------------------------
    def get_user_state(self, user_id: str) -> UserState | None:
        """The user's security version and preferences, if ever stored."""
        ...

    def bump_security_version(self, user_id: str, *, now: datetime) -> int:
        """Atomically add one to the user's security version (creating the
        state at 1) and return the new value."""
        ...

    def set_preferred_method(self, user_id: str, method: Method | None, *, now: datetime) -> None:
        """Store the user's preferred sign-in method (None: no preference)."""
        ...

    def clear_factors(self, user_id: str) -> None:
        """Atomically turn 2FA off for the user: delete every authenticator,
        WebAuthn credential and backup code, and mark every contact unverified
        (kept as contact data)."""
        ...

    # --- passkeys and security keys (WebAuthn) ---------------------------
    # Written through apply (InsertCredential, UpdateCredential,
    # RenameCredential, DeleteCredential, SetUserHandle, PutCeremony).
    def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None:
        """The credential with this WebAuthn credential id, whoever's it is."""
        ...

    def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]:
        """The user's credentials, oldest first."""
        ...

    def get_user_handle(self, user_id: str) -> bytes | None:
        """The user's WebAuthn user handle, if they were given one."""
        ...

    def user_for_handle(self, handle: bytes) -> str | None:
        """Whose user handle `handle` is, if anyone's."""
        ...

    def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None:
        """A ceremony by id, taken or not (`used_at` says)."""
        ...

    def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None:
        """Atomically mark a pending ceremony used (`used_at = now`) and
        return it as it was before (`used_at` None); None if there is no such
        ceremony or it was taken already. Of several concurrent takes of one
        ceremony, across threads and processes, exactly one gets it."""
        ...


class AsyncStore(Protocol):
    """The async twin of [`Store`][mfakit.ports.storage.Store]: the same methods, awaitable."""

    async def apply(self, writes: Sequence[Write]) -> list[object] | None: ...

    async def load_user(self, user_id: str, *, counters: Sequence[str] = ()) -> UserSnapshot: ...

    async def load_challenge(
        self, challenge_id: str, *, counters: Sequence[str] = ()
    ) -> tuple[ChallengeRecord, UserSnapshot] | None: ...

    async def purge(
        self,
        *,
        before: datetime,
        keep_nonzero: Sequence[str] = (),
        limit: int,
        audit_before: datetime | None = None,
    ) -> int: ...

    async def pending_notices(self, *, now: datetime, limit: int) -> list[NoticeRecord]: ...

    # --- key rotation ----------------------------------------------------
    async def totps_to_reseal(
        self, *, key_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[TotpRecord]: ...

    async def key_usage(self, *, now: datetime) -> list[KeyUse]: ...

    # --- authenticator apps -------------------------------------------
    async def add_totp(self, record: TotpRecord, *, limit: int, now: datetime) -> bool: ...

    async def get_totp(self, user_id: str, factor_id: str) -> TotpRecord | None: ...

    async def list_totp(self, user_id: str) -> list[TotpRecord]: ...

    async def confirm_totp(
        self,
        user_id: str,
        factor_id: str,
        *,
        step: int,
        now: datetime,
        backup_codes: Sequence[BackupCodeRecord] | None,
    ) -> bool: ...

    async def advance_totp(
        self, user_id: str, factor_id: str, *, step: int, now: datetime
    ) -> bool: ...

    async def rename_totp(self, user_id: str, factor_id: str, label: str) -> bool: ...

    async def delete_totp(self, user_id: str, factor_id: str) -> bool: ...

    # --- backup codes --------------------------------------------------
    async def replace_backup_codes(
        self, user_id: str, codes: Sequence[BackupCodeRecord]
    ) -> None: ...

    async def get_backup_code(self, user_id: str, lookup: str) -> BackupCodeRecord | None: ...

    async def use_backup_code(self, user_id: str, lookup: str, *, now: datetime) -> bool: ...

    async def count_backup_codes(self, user_id: str) -> int: ...

    # --- counters for limits ------------------------------------------
    async def get_counter(self, key: str) -> Counter | None: ...

    async def put_counter(self, counter: Counter) -> bool: ...

    # --- challenges ------------------------------------------------------
    async def insert_challenge(self, record: ChallengeRecord) -> None: ...

    async def get_challenge(self, challenge_id: str) -> ChallengeRecord | None: ...

    async def update_challenge(
        self,
        record: ChallengeRecord,
        *,
        contact: ContactRecord | None = None,
        backup_codes: Sequence[BackupCodeRecord] | None = None,
    ) -> bool: ...

    # --- contact channels ------------------------------------------------
    async def get_contacts(self, user_id: str) -> list[ContactRecord]: ...

    async def put_contact(self, record: ContactRecord) -> None: ...

    async def delete_contact(self, user_id: str, kind: ContactKind) -> bool: ...

    # --- security question ---------------------------------------------
    async def get_question(self, user_id: str) -> QuestionRecord | None: ...

    async def put_question(self, record: QuestionRecord) -> None: ...

    # --- trusted devices --------------------------------------------------
    async def insert_device(self, record: DeviceRecord) -> None: ...

    async def get_device(self, user_id: str, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, user_id: str) -> list[DeviceRecord]: ...

    async def touch_device(self, user_id: str, device_id: str, *, now: datetime) -> bool: ...

    async def revoke_device(self, user_id: str, device_id: str, *, now: datetime) -> bool: ...

    async def revoke_devices(self, user_id: str, *, now: datetime) -> int: ...

    # --- per-user state ---------------------------------------------------
    async def get_user_state(self, user_id: str) -> UserState | None: ...

    async def bump_security_version(self, user_id: str, *, now: datetime) -> int: ...

    async def set_preferred_method(
        self, user_id: str, method: Method | None, *, now: datetime
    ) -> None: ...

    async def clear_factors(self, user_id: str) -> None: ...

    # --- passkeys and security keys (WebAuthn) ---------------------------
    async def get_credential(self, credential_id: bytes) -> WebAuthnCredentialRecord | None: ...

    async def list_credentials(self, user_id: str) -> list[WebAuthnCredentialRecord]: ...

    async def get_user_handle(self, user_id: str) -> bytes | None: ...

    async def user_for_handle(self, handle: bytes) -> str | None: ...

    async def get_ceremony(self, ceremony_id: str) -> CeremonyRecord | None: ...

    async def take_ceremony(self, ceremony_id: str, *, now: datetime) -> CeremonyRecord | None: ...


class MessageLookup(Protocol):
    """Finding a challenge by the provider's id of its code (optional).

    Needed only to record delivery statuses (`MFA.record_delivery_status`);
    every store shipped with mfakit has it."""

    def challenge_for_message(self, message_id: str) -> ChallengeRecord | None:
        """The newest challenge whose current code went out as `message_id`
        (`ChallengeRecord.message_id`), or None."""
        ...


class AsyncMessageLookup(Protocol):
    """The async twin of `MessageLookup`."""

    async def challenge_for_message(self, message_id: str) -> ChallengeRecord | None: ...


DeviceStore = Store
"""Former name of the device and user-state half of [`Store`][mfakit.ports.storage.Store]."""
AsyncDeviceStore = AsyncStore
