"""Writes a use case hands the store as one unit of work (`Store.apply`).

Theory of operation
-------------------
A use case reads what it needs (one query: [`Store.load_user`][mfakit.ports.storage.Store.load_user]
or [`Store.load_challenge`][mfakit.ports.storage.Store.load_challenge]), decides in pure code, then
hands the store *every* change it decided as one batch of the writes below. The store applies
them in order, in one transaction, and commits once. Some writes are
*conditional* (marked "if" below): a compare-and-set on a version, "only if
the step is newer", "only if still unused". If any condition is false when
its write runs, another request got there first: the store rolls the whole
batch back and `apply` answers `None`. The use case then reads again and
decides again, so what is committed was always decided on the state it
changed (no lost update, no code accepted twice, no attempt uncounted).

On success `apply` returns one result per write: `True` for a conditional
write, the new version for `BumpSecurityVersion`, the number of devices
for `RevokeDevices`, `None` for the others.

A batch never waits on slow work: argon2 runs between two batches (reserve an
attempt, hash outside any transaction, commit the outcome), never while a
store holds a lock.

The writes are named tuples: several are built per verification and they cost
a third of a frozen dataclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Union

from .contacts import ContactKind
from .methods import Method
from .records import (
    AuditRecord,
    BackupCodeRecord,
    CeremonyRecord,
    ChallengeRecord,
    ContactRecord,
    Counter,
    DeviceRecord,
    NoticeRecord,
    QuestionRecord,
    TotpRecord,
    WebAuthnCredentialRecord,
)

__all__ = [
    "CONDITIONAL",
    "AddTotp",
    "AdvanceTotp",
    "BumpSecurityVersion",
    "ClaimNotice",
    "ClearFactors",
    "ConfirmTotp",
    "DeleteContact",
    "DeleteCredential",
    "DeleteNotice",
    "DeleteTotp",
    "ExpectCounter",
    "InsertChallenge",
    "InsertCredential",
    "InsertDevice",
    "PutCeremony",
    "PutContact",
    "PutCounter",
    "PutQuestion",
    "QueueNotice",
    "RecordAudit",
    "RenameCredential",
    "RenameTotp",
    "ReplaceAnswerHash",
    "ReplaceBackupCodes",
    "RequireNoFactor",
    "ResealTotp",
    "RevokeDevice",
    "RevokeDevices",
    "SetLocale",
    "SetPreferredMethod",
    "SetUserHandle",
    "TouchDevice",
    "UpdateChallenge",
    "UpdateCredential",
    "UseBackupCode",
    "Write",
]


# --- authenticator apps -------------------------------------------------------
class AddTotp(NamedTuple):
    """Insert a pending authenticator, if the user has fewer than `limit`
    live ones (confirmed, or pending and unexpired at `now`) and the id is
    free. Expired pending setups of the user may be dropped."""

    record: TotpRecord
    limit: int
    now: datetime


class ConfirmTotp(NamedTuple):
    """Confirm a pending setup, if it exists, is unexpired and unconfirmed;
    its last accepted step becomes `step`."""

    user_id: str
    factor_id: str
    step: int
    now: datetime


class AdvanceTotp(NamedTuple):
    """Record `step` as the authenticator's last accepted step, if it is
    confirmed and its last step is older (S4)."""

    user_id: str
    factor_id: str
    step: int
    now: datetime


class RenameTotp(NamedTuple):
    """Relabel a confirmed authenticator, if it exists."""

    user_id: str
    factor_id: str
    label: str


class ResealTotp(NamedTuple):
    """Replace an authenticator's sealed secret with the same secret sealed
    under another key, if its stored key id and ciphertext are still
    `old_key_id` and `old_blob` (a compare-and-set: a record deleted,
    replaced or re-sealed meanwhile is left alone). Nothing else of the row
    changes, so a concurrent step advance is never lost."""

    user_id: str
    factor_id: str
    old_key_id: str
    old_blob: bytes
    key_id: str
    blob: bytes

    def __repr__(self) -> str:
        return f"ResealTotp(user_id={self.user_id!r}, factor_id={self.factor_id!r}, ...)"


class DeleteTotp(NamedTuple):
    """Remove an authenticator (pending or confirmed), if it exists."""

    user_id: str
    factor_id: str


# --- backup codes --------------------------------------------------------------
class ReplaceBackupCodes(NamedTuple):
    """Drop the user's backup codes and store `codes` (may be empty)."""

    user_id: str
    codes: Sequence[BackupCodeRecord]


class UseBackupCode(NamedTuple):
    """Mark a backup code used, if it exists and is unused."""

    user_id: str
    lookup: str
    now: datetime


# --- counters and challenges -------------------------------------------------------
class PutCounter(NamedTuple):
    """Store `counter` with version + 1, if the stored version still equals
    `counter.version` (0: if no counter of that key is stored)."""

    counter: Counter


class ExpectCounter(NamedTuple):
    """Write nothing, if the counter `key` is stored at `version` (0: not
    stored): a success over a counter already at zero keeps the decision
    conditional on it (no attempt counted meanwhile) without rewriting it. A
    SQL store folds this condition into another statement of the batch."""

    key: str
    version: int


class InsertChallenge(NamedTuple):
    """Store a new challenge at version 0 (a duplicate id is a StorageError)."""

    record: ChallengeRecord


class UpdateChallenge(NamedTuple):
    """Store `record` with version + 1, if the stored version still equals
    `record.version`."""

    record: ChallengeRecord


# --- contacts and the security question ---------------------------------------------
class PutContact(NamedTuple):
    """Insert or replace the user's contact of `record.kind`."""

    record: ContactRecord


class DeleteContact(NamedTuple):
    """Remove the user's contact of `kind`, if there is one."""

    user_id: str
    kind: ContactKind


class PutQuestion(NamedTuple):
    """Set or replace the user's security question."""

    record: QuestionRecord


class ReplaceAnswerHash(NamedTuple):
    """Store `new_hash` as the user's answer hash, if the stored one is still
    `old_hash` (a stale hash re-hashed after a right answer: a question set
    meanwhile wins)."""

    user_id: str
    old_hash: str
    new_hash: str


# --- trusted devices and the user's state -----------------------------------------------
class InsertDevice(NamedTuple):
    """Store a newly trusted device (a duplicate id is a StorageError)."""

    record: DeviceRecord


class TouchDevice(NamedTuple):
    """Record a use of a device, if it exists and is not revoked."""

    user_id: str
    device_id: str
    now: datetime


class RevokeDevice(NamedTuple):
    """Revoke one device, if it exists and is not revoked yet."""

    user_id: str
    device_id: str
    now: datetime


class RevokeDevices(NamedTuple):
    """Revoke every unrevoked device of the user; the result is how many."""

    user_id: str
    now: datetime


class BumpSecurityVersion(NamedTuple):
    """Add one to the user's security version (creating the state at 1); the
    result is the new version."""

    user_id: str
    now: datetime


class SetPreferredMethod(NamedTuple):
    """Store the user's preferred sign-in method (None: no preference)."""

    user_id: str
    method: Method | None
    now: datetime


class SetLocale(NamedTuple):
    """Store the user's preferred locale, a checked language tag like `"de"`
    or `"pt-br"` (None: the default locale)."""

    user_id: str
    locale: str | None
    now: datetime


class ClearFactors(NamedTuple):
    """Turn 2FA off: delete every authenticator, WebAuthn credential and
    backup code, and mark every contact unverified (kept as contact data)."""

    user_id: str


class RequireNoFactor(NamedTuple):
    """Go on only if the user has no confirmed authenticator and no verified
    phone or email: put first in the batch that binds a first factor and
    issues its backup codes, so two first enrolments at once issue them once."""

    user_id: str


# --- the notice outbox (S21) -----------------------------------------------------------
class QueueNotice(NamedTuple):
    """Store a notice to deliver (a duplicate id is a StorageError)."""

    record: NoticeRecord


class ClaimNotice(NamedTuple):
    """Claim a notice for one delivery try, if it exists and its attempts
    still equal `attempts`: attempts + 1, due again at `retry_at`."""

    notice_id: str
    attempts: int
    retry_at: datetime


class DeleteNotice(NamedTuple):
    """Remove a delivered notice (nothing if it is gone already)."""

    notice_id: str


# --- passkeys and security keys (WebAuthn) ------------------------------------------
class InsertCredential(NamedTuple):
    """Store a new credential at version 0, if no user has its credential id,
    the user has no credential of the same name and fewer than `limit`."""

    record: WebAuthnCredentialRecord
    limit: int


class UpdateCredential(NamedTuple):
    """Store a credential's use (`sign_count`, `backed_up`,
    `last_used_at`, `cloned`) with version + 1, if the stored version still
    equals `record.version`."""

    record: WebAuthnCredentialRecord


class RenameCredential(NamedTuple):
    """Rename a credential, if it exists and no other of the user's has `name`."""

    user_id: str
    factor_id: str
    name: str


class DeleteCredential(NamedTuple):
    """Remove a credential, if it exists."""

    user_id: str
    factor_id: str


class SetUserHandle(NamedTuple):
    """Give the user their WebAuthn user handle, if they have none yet and no
    other user has this one."""

    user_id: str
    handle: bytes
    now: datetime


class PutCeremony(NamedTuple):
    """Store a pending ceremony, replacing one of the same id (a second-factor
    challenge's ceremony is issued again under the challenge's id)."""

    record: CeremonyRecord


# --- the audit trail ------------------------------------------------------------------
class RecordAudit(NamedTuple):
    """Store one audit event (only for a store that is also the audit log)."""

    record: AuditRecord


Write = Union[  # noqa: UP007 (a runtime alias: isinstance and match use it)
    AddTotp,
    ConfirmTotp,
    AdvanceTotp,
    RenameTotp,
    ResealTotp,
    DeleteTotp,
    ReplaceBackupCodes,
    UseBackupCode,
    PutCounter,
    ExpectCounter,
    InsertChallenge,
    UpdateChallenge,
    PutContact,
    DeleteContact,
    PutQuestion,
    ReplaceAnswerHash,
    InsertDevice,
    TouchDevice,
    RevokeDevice,
    RevokeDevices,
    BumpSecurityVersion,
    SetPreferredMethod,
    SetLocale,
    ClearFactors,
    RequireNoFactor,
    QueueNotice,
    ClaimNotice,
    DeleteNotice,
    InsertCredential,
    UpdateCredential,
    RenameCredential,
    DeleteCredential,
    SetUserHandle,
    PutCeremony,
    RecordAudit,
]
"""Any of the writes above."""

CONDITIONAL: frozenset[type] = frozenset(
    {
        AddTotp,
        ConfirmTotp,
        AdvanceTotp,
        RenameTotp,
        ResealTotp,
        DeleteTotp,
        UseBackupCode,
        PutCounter,
        ExpectCounter,
        UpdateChallenge,
        DeleteContact,
        ReplaceAnswerHash,
        TouchDevice,
        RevokeDevice,
        RequireNoFactor,
        ClaimNotice,
        InsertCredential,
        UpdateCredential,
        RenameCredential,
        DeleteCredential,
        SetUserHandle,
    }
)
"""The writes whose condition, when false, rolls the whole batch back."""
