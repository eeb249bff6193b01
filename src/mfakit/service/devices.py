"""Trusted devices (L2, S22, S30, S31) and the user's security version."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..core import trust
from ..core.actor import Actor
from ..core.audit import Action, Outcome
from ..core.records import AuditRecord, DeviceRecord
from ..core.results import DeviceInfo
from ..core.trust import TokenClaims, TrustRefusal
from ..core.validation import check_id, check_text
from ..core.writes import BumpSecurityVersion, RevokeDevices, Write
from ..errors import NotFound
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call
from .scope import audit, event, record

__all__ = [
    "NewDevice",
    "check_trust",
    "devices_revoked",
    "label_from_user_agent",
    "list_devices",
    "new_device",
    "revoke_all_devices",
    "revoke_device",
    "security_writes",
    "trust_new_device",
]

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def label_from_user_agent(user_agent: str | None) -> str:
    """`"Chrome on Linux"` from a user-agent string; `"Unknown device"` otherwise."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "Browser")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    return f"{browser} on {system}" if system else browser


def _info(rec: DeviceRecord, version: int, lifetime: timedelta, now: datetime) -> DeviceInfo:
    expires = min(rec.expires_at, rec.created_at + lifetime)
    return DeviceInfo(
        id=rec.id,
        label=rec.label,
        created_at=rec.created_at,
        last_used_at=rec.last_used_at,
        expires_at=expires,
        active=rec.revoked_at is None and now < expires and rec.security_version == version,
    )


def current_version(user_id: str) -> UseCase[int]:
    state = yield from call("store", Store.get_user_state, user_id)
    return 0 if state is None else state.security_version


def check_trust(ctx: Context, user_id: str, token: str) -> UseCase[TrustRefusal | None]:
    """Whether `token` satisfies the second step for `user_id` now."""
    claims = trust.read_token(ctx.keyring, token)
    if isinstance(claims, TrustRefusal):
        return claims
    device = None
    if claims.user_id == user_id:
        device = yield from call("store", Store.get_device, user_id, claims.device_id)
    version = yield from current_version(user_id)
    now = ctx.clock.now()
    refusal = trust.check_device(
        claims=claims,
        user_id=user_id,
        device=device,
        current_version=version,
        trust_lifetime=timedelta(days=ctx.policy.trust_days),
        now=now,
    )
    if refusal is None and not (
        yield from call("store", Store.touch_device, user_id, claims.device_id, now=now)
    ):
        refusal = TrustRefusal.REVOKED  # revoked between the read and now (S22)
    return refusal


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device about to be trusted: its record, the token for its cookie
    (hidden from repr) and the audit event saying so."""

    record: DeviceRecord
    token: str = field(repr=False)
    max_age: int
    event: AuditRecord | None


def new_device(
    ctx: Context, user_id: str, label: str | None, version: int, now: datetime
) -> NewDevice:
    """Decide a trusted device for `user_id` at security `version` (pure;
    the caller stores `record`)."""
    name = (
        check_text("device_label", label, max_length=64)
        if label is not None
        else label_from_user_agent(ctx.request.user_agent)
    )
    lifetime = timedelta(days=ctx.policy.trust_days)
    device_id = ctx.new_id()  # 128 random bits (S30)
    record = DeviceRecord(
        id=device_id,
        user_id=user_id,
        label=name,
        created_at=now,
        expires_at=now + lifetime,
        security_version=version,
    )
    token = trust.sign_token(ctx.keyring, TokenClaims(user_id, device_id, version))
    trusted = event(
        ctx,
        Action.DEVICE_TRUSTED,
        user_id,
        actor_id=user_id,
        details={"device": device_id[:8], "label": name},
        at=now,
    )
    return NewDevice(record, token, int(lifetime.total_seconds()), trusted)


def trust_new_device(
    ctx: Context, user_id: str, label: str | None, now: datetime
) -> UseCase[tuple[str, int, str]]:
    """Create a device record and its signed token: `(token, max_age_s, device_id)`."""
    version = yield from current_version(user_id)
    device = new_device(ctx, user_id, label, version, now)
    yield from call("store", Store.insert_device, device.record)
    yield from record(ctx, device.event)
    return device.token, device.max_age, device.record.id


def list_devices(ctx: Context, user_id: str) -> UseCase[tuple[DeviceInfo, ...]]:
    """The user's trusted devices, newest first, with whether each still works."""
    check_id("user_id", user_id)
    records = yield from call("store", Store.list_devices, user_id)
    version = yield from current_version(user_id)
    now = ctx.clock.now()
    lifetime = timedelta(days=ctx.policy.trust_days)
    return tuple(_info(r, version, lifetime, now) for r in records)


def revoke_device(ctx: Context, actor: Actor, user_id: str, device_id: str) -> UseCase[None]:
    """Stop trusting one device; its token fails on the next call (S22)."""
    check_id("user_id", user_id)
    check_id("device_id", device_id)
    Actor.check(actor).require_manager(user_id, "manage the user's trusted devices")
    now = ctx.clock.now()
    if not (yield from call("store", Store.revoke_device, user_id, device_id, now=now)):
        raise NotFound("no such trusted device, or it is already revoked")
    yield from audit(
        ctx,
        Action.DEVICE_REVOKED,
        user_id,
        actor_id=actor.id,
        details={"device": device_id[:8]},
        at=now,
    )


def revoke_all_devices(ctx: Context, actor: Actor, user_id: str) -> UseCase[int]:
    """Stop trusting every device of the user; returns how many were revoked."""
    check_id("user_id", user_id)
    Actor.check(actor).require_manager(user_id, "manage the user's trusted devices")
    now = ctx.clock.now()
    count: int = yield from call("store", Store.revoke_devices, user_id, now=now)
    yield from audit(
        ctx,
        Action.DEVICES_REVOKED,
        user_id,
        actor_id=actor.id,
        details={"count": str(count)},
        at=now,
    )
    return count


def security_writes(user_id: str, now: datetime) -> list[Write]:
    """What a security change does to trust (S30), to join the change's unit of
    work: the security version moves on (older tokens go stale) and every
    device is revoked. Their results: the new version, the devices revoked."""
    return [BumpSecurityVersion(user_id, now), RevokeDevices(user_id, now)]


def devices_revoked(ctx: Context, user_id: str, count: object, now: datetime) -> UseCase[None]:
    """Record the revocation a security change made (`count` devices)."""
    if count:
        yield from audit(
            ctx,
            Action.DEVICES_REVOKED,
            user_id,
            outcome=Outcome.SUCCESS,
            reason="security_change",
            details={"count": str(count)},
            at=now,
        )
