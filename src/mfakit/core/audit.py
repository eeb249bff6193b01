"""Audit vocabulary (L8): what happened, to whom, by whom, from where.

Records are built here from plain values; nothing secret can enter them: the
builders take masked destinations and short device-id prefixes only, and
[`RequestContext`][mfakit.RequestContext] carries the host's request facts (IP, user agent).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..errors import InvalidInput
from .records import AuditRecord
from .validation import check_encodable

__all__ = ["Action", "Outcome", "RequestContext", "build_record"]


class Action(str, enum.Enum):
    SECOND_STEP_PASSED = "second_step.passed"
    SECOND_STEP_FAILED = "second_step.failed"
    SIGN_IN_TRUSTED = "sign_in.trusted_device"
    TRUST_REJECTED = "sign_in.trust_rejected"
    ENROLLMENT_REQUIRED = "sign_in.enrollment_required"
    CODE_SENT = "code.sent"
    CODE_NOT_SENT = "code.not_sent"
    """The provider refused to send a code because the recipient opted out."""
    CODE_DELIVERY = "code.delivery"
    """The provider reported what became of a code (delivered, failed...)."""
    CODE_REPLAYED = "code.replayed"
    CHALLENGE_LOCKED = "challenge.locked"
    ACCOUNT_BACKOFF = "account.backoff"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_UNLOCKED = "account.unlocked"
    ACCOUNT_RECOVERED = "account.recovered"
    """A right backup code ended a back-off or lock-out of the other factors (S34)."""
    STEP_UP_STARTED = "step_up.started"
    STEP_UP_REFUSED = "step_up.refused"
    """A call that removes or binds a factor came without a valid step-up grant (S32)."""
    SEND_BUDGET_EXHAUSTED = "send.budget_exhausted"
    """A code to a destination being enrolled was refused by a budget (S33)."""
    FACTOR_ADDED = "factor.added"
    FACTOR_REMOVED = "factor.removed"
    FACTOR_RENAMED = "factor.renamed"
    REMOVED_WITHOUT_NOTICE = "factor.removed_without_independent_notice"
    PASSKEY_REFUSED = "passkey.refused"
    PASSKEY_CLONE_DETECTED = "passkey.clone_detected"
    SIGN_IN_PASSKEY = "sign_in.passkey"
    """A factor went and no independent verified channel remained to tell the
    user through (S21); allowed only with step-up (S32)."""
    BACKUP_CODES_ISSUED = "backup_codes.issued"
    BACKUP_CODE_USED = "backup_code.used"
    QUESTION_SET = "security_question.set"
    QUESTION_FAILED = "security_question.failed"
    DEVICE_TRUSTED = "device.trusted"
    DEVICE_REVOKED = "device.revoked"
    DEVICES_REVOKED = "device.revoked_all"
    CONTACT_CHANGE_STARTED = "contact_change.started"
    CONTACT_CHANGED = "contact_change.applied"
    CONTACT_CHANGE_REFUSED = "contact_change.refused"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 (an event name, not a password)
    TWO_FACTOR_DISABLED = "two_factor.disabled"
    PREFERRED_METHOD_SET = "preferred_method.set"
    NOTICE_FAILED = "notice.failed"
    # Operators' maintenance (the ``mfakit`` command), about no user: subject "*".
    SCHEMA_UPGRADED = "schema.upgraded"
    DATA_PURGED = "retention.purged"
    KEYS_ROTATED = "keys.rotated"

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.value


def _short(field: str, value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a str")
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    check_encodable(field, value)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(field, "must not contain control characters")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestContext:
    """What the host knows about the request, recorded with each event.

    Example: `RequestContext(ip=request.remote_addr, user_agent=request.user_agent.string)`.
    """

    ip: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        _short("context.ip", self.ip, 64)
        _short("context.user_agent", self.user_agent, 512)

    @staticmethod
    def check(value: object) -> RequestContext:
        if value is None:
            return RequestContext()
        if not isinstance(value, RequestContext):
            raise InvalidInput("context", "must be an mfakit.RequestContext")
        return value


def build_record(
    *,
    record_id: str,
    at: datetime,
    action: Action,
    subject_id: str,
    actor_id: str | None,
    context: RequestContext,
    outcome: Outcome = Outcome.SUCCESS,
    method: str | None = None,
    reason: str | None = None,
    tenant: str | None = None,
    details: Mapping[str, str] | None = None,
) -> AuditRecord:
    return AuditRecord(
        id=record_id,
        at=at,
        action=action.value,
        subject_id=subject_id,
        actor_id=actor_id,
        method=method,
        outcome=outcome.value,
        reason=reason,
        ip=context.ip,
        user_agent=context.user_agent,
        tenant=tenant,
        details=tuple(sorted((details or {}).items())),
    )
