"""Rows to records and back, for the SQL stores and DjangoStore.

`*_values(record)` gives the column values to insert; `*_from(m)` the
record a row holds (`m` is `row._mapping`, or any mapping of column
names). Enums are stored as their string values, a challenge's methods as a
comma-joined string, and binary columns come back as `bytes` whatever the
driver returns (`memoryview` on some). No SQLAlchemy here: DjangoStore
reads its rows with these too (its models name a few columns differently).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.challenge import Purpose, State
from ..core.contacts import ContactKind
from ..core.methods import Method
from ..core.records import (
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
    UserState,
    WebAuthnCredentialRecord,
)
from ..core.webauthn import CeremonyKind, CredentialUsage, Discoverable, UserVerification

__all__ = [
    "backup_from",
    "backup_values",
    "ceremony_from",
    "ceremony_values",
    "challenge_from",
    "challenge_values",
    "contact_from",
    "contact_values",
    "counter_from",
    "credential_from",
    "credential_values",
    "device_from",
    "device_values",
    "notice_from",
    "notice_values",
    "question_from",
    "totp_from",
    "totp_values",
    "user_state_from",
]


def totp_values(r: TotpRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "id": r.id,
        "label": r.label,
        "secret_key_id": r.secret_key_id,
        "secret_blob": r.secret_blob,
        "algorithm": r.algorithm,
        "digits": r.digits,
        "period": r.period,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "confirmed_at": r.confirmed_at,
        "last_step": r.last_step,
        "last_used_at": r.last_used_at,
    }


def totp_from(m: Mapping[Any, Any]) -> TotpRecord:
    return TotpRecord(
        id=m["id"],
        user_id=m["user_id"],
        label=m["label"],
        secret_key_id=m["secret_key_id"],
        secret_blob=bytes(m["secret_blob"]),
        algorithm=m["algorithm"],
        digits=m["digits"],
        period=m["period"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        confirmed_at=m["confirmed_at"],
        last_step=m["last_step"],
        last_used_at=m["last_used_at"],
    )


def backup_values(user_id: str, r: BackupCodeRecord) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "lookup": r.lookup,
        "hash": r.hash,
        "created_at": r.created_at,
        "used_at": r.used_at,
    }


def backup_from(m: Mapping[Any, Any]) -> BackupCodeRecord:
    return BackupCodeRecord(
        user_id=m["user_id"],
        lookup=m["lookup"],
        hash=m["hash"],
        created_at=m["created_at"],
        used_at=m["used_at"],
    )


def counter_from(m: Mapping[Any, Any]) -> Counter:
    return Counter(
        key=m["key"],
        count=m["count"],
        window_start=m["window_start"],
        updated_at=m["updated_at"],
        version=m["version"],
    )


def challenge_values(r: ChallengeRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "user_id": r.user_id,
        "purpose": Purpose(r.purpose).value,
        "state": State(r.state).value,
        "methods": ",".join(Method(m).value for m in r.methods),
        "method": Method(r.method).value,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "attempts": r.attempts,
        "alternatives_locked": bool(r.alternatives_locked),
        "code_hash": r.code_hash,
        "code_key_id": r.code_key_id,
        "code_sent_at": r.code_sent_at,
        "destination": r.destination,
        "code_length": r.code_length,
        "sends": r.sends,
        "target_kind": None if r.target_kind is None else ContactKind(r.target_kind).value,
        "target_value": r.target_value,
        "actor_id": r.actor_id,
        "tenant": r.tenant,
        "message_id": r.message_id,
        "delivery": r.delivery,
        "delivery_error": r.delivery_error,
        "version": r.version,
    }


def challenge_from(m: Mapping[Any, Any]) -> ChallengeRecord:
    code_hash = m["code_hash"]
    target_kind = m["target_kind"]
    return ChallengeRecord(
        id=m["id"],
        user_id=m["user_id"],
        purpose=Purpose(m["purpose"]),
        state=State(m["state"]),
        methods=tuple(Method(x) for x in m["methods"].split(",") if x),
        method=Method(m["method"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        attempts=m["attempts"],
        alternatives_locked=bool(m["alternatives_locked"]),
        code_hash=None if code_hash is None else bytes(code_hash),
        code_key_id=m["code_key_id"],
        code_sent_at=m["code_sent_at"],
        destination=m["destination"],
        code_length=m["code_length"],
        sends=m["sends"],
        target_kind=None if target_kind is None else ContactKind(target_kind),
        target_value=m["target_value"],
        actor_id=m["actor_id"],
        tenant=m["tenant"],
        message_id=m["message_id"],
        delivery=m["delivery"],
        delivery_error=m["delivery_error"],
        version=m["version"],
    )


def contact_values(r: ContactRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "kind": ContactKind(r.kind).value,
        "value": r.value,
        "created_at": r.created_at,
        "verified_at": r.verified_at,
    }


def contact_from(m: Mapping[Any, Any]) -> ContactRecord:
    return ContactRecord(
        user_id=m["user_id"],
        kind=ContactKind(m["kind"]),
        value=m["value"],
        created_at=m["created_at"],
        verified_at=m["verified_at"],
    )


def question_from(m: Mapping[Any, Any]) -> QuestionRecord:
    return QuestionRecord(
        user_id=m["user_id"],
        question=m["question"],
        answer_hash=m["answer_hash"],
        created_at=m["created_at"],
    )


def device_values(r: DeviceRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "id": r.id,
        "label": r.label,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "security_version": r.security_version,
        "last_used_at": r.last_used_at,
        "revoked_at": r.revoked_at,
    }


def device_from(m: Mapping[Any, Any]) -> DeviceRecord:
    return DeviceRecord(
        id=m["id"],
        user_id=m["user_id"],
        label=m["label"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        security_version=m["security_version"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def notice_values(r: NoticeRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "user_id": r.user_id,
        "kind": r.kind,
        "channel": r.channel.value,
        "destination": r.destination,
        "detail": r.detail,
        "locale": r.locale,
        "created_at": r.created_at,
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
    }


def notice_from(m: Mapping[Any, Any]) -> NoticeRecord:
    return NoticeRecord(
        id=m["id"],
        user_id=m["user_id"],
        kind=m["kind"],
        channel=ContactKind(m["channel"]),
        destination=m["destination"],
        detail=m["detail"],
        locale=m["locale"],
        created_at=m["created_at"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
    )


def user_state_from(m: Mapping[Any, Any]) -> UserState:
    method = m["preferred_method"]
    return UserState(
        user_id=m["user_id"],
        security_version=m["security_version"],
        preferred_method=None if method is None else Method(method),
        updated_at=m["updated_at"],
        locale=m["locale"],
    )


def audit_values(r: AuditRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at,
        "action": r.action,
        "subject_id": r.subject_id,
        "actor_id": r.actor_id,
        "method": r.method,
        "outcome": r.outcome,
        "reason": r.reason,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "tenant": r.tenant,
        "details": json.dumps(dict(r.details), sort_keys=True),
    }


def audit_from(m: Mapping[Any, Any]) -> AuditRecord:
    details = json.loads(m["details"] or "{}")
    return AuditRecord(
        id=m["id"],
        at=m["at"],
        action=m["action"],
        subject_id=m["subject_id"],
        actor_id=m["actor_id"],
        method=m["method"],
        outcome=m["outcome"],
        reason=m["reason"],
        ip=m["ip"],
        user_agent=m["user_agent"],
        tenant=m["tenant"],
        details=tuple(sorted((str(k), str(v)) for k, v in details.items())),
    )


def _words(values: Iterable[object]) -> str:
    """A tuple or set of short strings as JSON (sorted when unordered)."""
    items = [str(v) for v in values]
    if isinstance(values, frozenset):
        items.sort()
    return json.dumps(items, separators=(",", ":"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def credential_values(r: WebAuthnCredentialRecord) -> dict[str, Any]:
    return {
        "user_id": r.user_id,
        "id": r.id,
        "credential_id": r.credential_id,
        "public_key": r.public_key,
        "user_handle": r.user_handle,
        "name": r.name,
        "sign_count": r.sign_count,
        "transports": _words(r.transports),
        "aaguid": r.aaguid,
        "attestation_format": r.attestation_format,
        "backup_eligible": bool(r.backup_eligible),
        "backed_up": bool(r.backed_up),
        "discoverable": Discoverable(r.discoverable).value,
        "usage": _words(frozenset(CredentialUsage(u).value for u in r.usage)),
        "user_verified": bool(r.user_verified),
        "created_at": r.created_at,
        "last_used_at": r.last_used_at,
        "cloned": bool(r.cloned),
        "version": r.version,
    }


def credential_from(m: Mapping[Any, Any]) -> WebAuthnCredentialRecord:
    return WebAuthnCredentialRecord(
        id=m["id"],
        user_id=m["user_id"],
        credential_id=bytes(m["credential_id"]),
        public_key=bytes(m["public_key"]),
        user_handle=bytes(m["user_handle"]),
        name=m["name"],
        sign_count=int(m["sign_count"]),
        transports=tuple(json.loads(m["transports"] or "[]")),
        aaguid=m["aaguid"],
        attestation_format=m["attestation_format"],
        backup_eligible=bool(m["backup_eligible"]),
        backed_up=bool(m["backed_up"]),
        discoverable=Discoverable(m["discoverable"]),
        usage=frozenset(CredentialUsage(u) for u in json.loads(m["usage"] or "[]")),
        user_verified=bool(m["user_verified"]),
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        cloned=bool(m["cloned"]),
        version=int(m["version"]),
    )


def ceremony_values(r: CeremonyRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": CeremonyKind(r.kind).value,
        "user_id": r.user_id,
        "challenge": r.challenge,
        "rp_id": r.rp_id,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "user_verification": UserVerification(r.user_verification).value,
        "allowed_credential_ids": _words(_b64(c) for c in r.allowed_credential_ids),
        "user_handle": r.user_handle,
        "name": r.name,
        "usage": _words(frozenset(CredentialUsage(u).value for u in r.usage)),
        "conditional": bool(r.conditional),
        "challenge_id": r.challenge_id,
        "actor_id": r.actor_id,
        "tenant": r.tenant,
        "used_at": r.used_at,
    }


def ceremony_from(m: Mapping[Any, Any]) -> CeremonyRecord:
    handle = m["user_handle"]
    return CeremonyRecord(
        id=m["id"],
        kind=CeremonyKind(m["kind"]),
        user_id=m["user_id"],
        challenge=bytes(m["challenge"]),
        rp_id=m["rp_id"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        user_verification=UserVerification(m["user_verification"]),
        allowed_credential_ids=tuple(
            base64.urlsafe_b64decode(c) for c in json.loads(m["allowed_credential_ids"] or "[]")
        ),
        user_handle=None if handle is None else bytes(handle),
        name=m["name"],
        usage=frozenset(CredentialUsage(u) for u in json.loads(m["usage"] or "[]")),
        conditional=bool(m["conditional"]),
        challenge_id=m["challenge_id"],
        actor_id=m["actor_id"],
        tenant=m["tenant"],
        used_at=m["used_at"],
    )
