"""What the pages say: one place for every refusal and label."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import mfakit
from mfakit import Method, Reason
from mfakit.passwords import PasswordProblem

__all__ = [
    "ACTIONS",
    "CHOOSE_LABELS",
    "ENGLISH",
    "METHOD_NAMES",
    "OTHER_WAYS",
    "PASSWORD_PROBLEMS",
    "PROMPTS",
    "START_AGAIN",
    "explain",
    "seconds_until",
]

PROMPTS = {
    Method.TOTP: "Enter the 6-digit code from your authenticator app.",
    Method.SMS: "Enter the code we sent you by text message.",
    Method.VOICE: "Enter the code we read to you on the phone.",
    Method.EMAIL: "Enter the code we sent you by email.",
    Method.BACKUP_CODE: "Enter one of your backup codes.",
    Method.WEBAUTHN: "Use your passkey or security key.",
}

OTHER_WAYS = {
    Method.TOTP: "Use my authenticator app",
    Method.SMS: "Text me a code",
    Method.VOICE: "Call me with a code",
    Method.EMAIL: "Email me a code",
    Method.BACKUP_CODE: "Use a backup code",
    Method.WEBAUTHN: "Use a passkey",
}

METHOD_NAMES = {
    Method.TOTP: "Authenticator app",
    Method.SMS: "Text message",
    Method.VOICE: "Voice call",
    Method.EMAIL: "Email",
    Method.BACKUP_CODE: "Backup code",
    Method.WEBAUTHN: "Passkey",
}

CHOOSE_LABELS = {
    Method.EMAIL: "Email",
    Method.SMS: "Text message",
    Method.VOICE: "Voice call",
    Method.TOTP: "Use authenticator app",
}
"""Seed 001's "Choose how to verify" options."""

ENGLISH = mfakit.texts("en")
"""mfakit's own sentences for refusals; ``mfakit.texts(locale)`` gives them in German,
Spanish, French or Brazilian Portuguese."""

START_AGAIN = frozenset({Reason.EXPIRED, Reason.TOO_MANY_ATTEMPTS, Reason.LOCKED_OUT})
"""Refusals after which the challenge is over."""

PASSWORD_PROBLEMS = {
    PasswordProblem.CONFIRMATION_MISMATCH: "The new password and its confirmation differ.",
    PasswordProblem.SAME_AS_CURRENT: "The new password must differ from the current one.",
    PasswordProblem.TOO_SHORT: "The new password needs at least 8 characters.",
    PasswordProblem.TOO_LONG: "The new password may have at most 64 characters.",
    PasswordProblem.COMMON: "This password is too common. Choose another.",
    PasswordProblem.CONTAINS_IDENTIFIER: "The password must not contain your name or email.",
    PasswordProblem.CONTROL_CHARACTERS: "The password contains characters that cannot be typed.",
}

ACTIONS = {
    "second_step.passed": "Two-step verification passed",
    "second_step.failed": "Wrong code entered",
    "sign_in.trusted_device": "Signed in on a trusted device",
    "sign_in.trust_rejected": "Trusted-device cookie refused",
    "sign_in.enrollment_required": "Asked to set up two-step verification",
    "code.sent": "Code sent",
    "code.not_sent": "Code not sent: the number blocked our messages",
    "code.delivery": "Code delivery reported",
    "code.replayed": "Code used twice",
    "challenge.locked": "Locked after too many wrong codes",
    "account.backoff": "Slowed down after failures",
    "account.locked": "Two-step verification locked",
    "account.unlocked": "Two-step verification unlocked",
    "factor.added": "Second factor added",
    "factor.removed": "Second factor removed",
    "factor.renamed": "Second factor renamed",
    "backup_codes.issued": "Backup codes issued",
    "backup_code.used": "Backup code used",
    "security_question.set": "Security question set",
    "security_question.failed": "Wrong security answer",
    "device.trusted": "Device trusted",
    "device.revoked": "Trusted device revoked",
    "device.revoked_all": "All trusted devices revoked",
    "contact_change.started": "Phone or email change started",
    "contact_change.applied": "Phone or email changed",
    "contact_change.refused": "Phone or email change refused",
    "password.changed": "Password changed",
    "two_factor.disabled": "Two-step verification turned off",
    "preferred_method.set": "Preferred method changed",
    "notice.failed": "Security notice not delivered",
}


def seconds_until(when: datetime | None) -> int:
    """Whole seconds until ``when`` (e.g. a challenge's ``resend_at``), 0 if past:
    the visible resend cooldown."""
    if when is None:
        return 0
    return max(math.ceil((when - datetime.now(timezone.utc)).total_seconds()), 0)


def explain(
    reason: Reason | None,
    retry_after: timedelta | None = None,
    attempts_left: int | None = None,
) -> str:
    """A refusal as a sentence, with when to retry and, after a wrong code or
    answer, the tries left: mfakit's text for the reason."""
    if reason not in (Reason.INVALID_CODE, Reason.INVALID_ANSWER):
        attempts_left = None
    return ENGLISH.reason(reason, retry_after=retry_after, attempts_left=attempts_left)
