"""Key rotation: re-sealing every stored secret under the keyring's primary key.

A rotation puts a new key first in the keyring (every server), then runs
`rotate_keys`: it walks the authenticators whose secret is sealed under
another key, in batches ordered by `(user_id, factor id)`, opens each secret
with its old key and seals it again under the primary. Each record is written
by a compare-and-set on its old key id and ciphertext (`ResealTotp`), which
changes nothing else of the row: a verification advancing the record's step
meanwhile keeps its step, and a record deleted, replaced or re-sealed meanwhile
is left alone. A batch goes as one unit of work; when one of its records lost a
race the batch is rolled back and its records are written one by one.

It is resumable by construction: what is re-sealed no longer matches, so a run
stopped anywhere simply finds the rest the next time.

What cannot be re-sealed: a security answer is keyed, not sealed, and the answer
itself is never stored, so an answer keyed under an old key is re-keyed only
when its user next answers right; a challenge's code hash lives minutes.
`key_usage` says how many of each still name each key, and which old keys
nothing names any more (they can leave the keyring).
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.keys import Keyring
from ..core.records import KeyUse, TotpRecord
from ..core.results import KeyRotation, KeyUsage
from ..core.writes import ResealTotp
from ..errors import ConfigurationError, InvalidInput
from ..ports.storage import Store
from .context import Context
from .effects import UseCase, call
from .factors import TOTP_PURPOSE, totp_aad, totp_key

__all__ = [
    "MAX_BATCH",
    "key_usage",
    "rotate_batch",
    "rotate_keys",
    "unused_keys",
    "usage_report",
]

MAX_BATCH = 10_000
Progress = Callable[[KeyRotation], object]


def _check_batch(batch: object) -> int:
    if type(batch) is not int or not 1 <= batch <= MAX_BATCH:
        raise InvalidInput("batch", f"must be an int from 1 to {MAX_BATCH}")
    return batch


def _reseal(ctx: Context, rec: TotpRecord) -> ResealTotp | None:
    """The write re-sealing `rec` under the primary key; None if it cannot
    be opened (its key left the keyring, or the data was altered)."""
    try:
        secret = totp_key(ctx, rec)
    except ConfigurationError:
        return None
    aad = totp_aad(rec.user_id, rec.id)
    sealed = ctx.keyring.seal(TOTP_PURPOSE, secret, aad=aad, nonce=ctx.random_bytes(12))
    return ResealTotp(
        rec.user_id, rec.id, rec.secret_key_id, rec.secret_blob, sealed.key_id, sealed.blob
    )


def rotate_batch(
    ctx: Context, *, after: tuple[str, str] | None, batch: int
) -> UseCase[tuple[KeyRotation, tuple[str, str] | None]]:
    """One batch: at most `batch` records after `after`; returns what it
    did and the cursor for the next batch (None: nothing was left)."""
    primary = ctx.keyring.primary_id
    found: list[TotpRecord] = yield from call(
        "store", Store.totps_to_reseal, key_id=primary, after=after, limit=batch
    )
    if not found:
        return KeyRotation(key_id=primary), None
    writes = [_reseal(ctx, rec) for rec in found]
    ready = [x for x in writes if x is not None]
    unreadable = len(writes) - len(ready)
    resealed = 0
    if ready:
        applied = yield from call("store", Store.apply, ready)
        if applied is not None:
            resealed = len(ready)
        else:  # a record changed meanwhile: each alone, so the others still go
            for write in ready:
                one = yield from call("store", Store.apply, [write])
                resealed += one is not None
    last = found[-1]
    report = KeyRotation(
        key_id=primary,
        resealed=resealed,
        changed=len(ready) - resealed,
        unreadable=unreadable,
    )
    return report, (last.user_id, last.id)


def rotate_keys(
    ctx: Context, *, batch: object = 100, progress: object = None
) -> UseCase[KeyRotation]:
    """Re-seal every authenticator secret not under the primary key, `batch`
    records a unit of work; `progress(report)` after each batch."""
    size = _check_batch(batch)
    if progress is not None and not callable(progress):
        raise InvalidInput("progress", "must be a callable taking a KeyRotation")
    total = KeyRotation(key_id=ctx.keyring.primary_id)
    after: tuple[str, str] | None = None
    while True:
        report, after = yield from rotate_batch(ctx, after=after, batch=size)
        if after is None:
            return KeyRotation(
                key_id=total.key_id,
                resealed=total.resealed,
                changed=total.changed,
                unreadable=total.unreadable,
                done=True,
            )
        total = KeyRotation(
            key_id=total.key_id,
            resealed=total.resealed + report.resealed,
            changed=total.changed + report.changed,
            unreadable=total.unreadable + report.unreadable,
        )
        if progress is not None:
            progress(total)


def usage_report(keyring: Keyring, found: list[KeyUse]) -> KeyUsage:
    """The [`KeyUsage`][mfakit.KeyUsage] of what the store names, against `keyring`."""
    named = {use.key_id: use for use in found if use.total}
    ordered = [named.get(k, KeyUse(key_id=k)) for k in keyring.key_ids]
    unknown = tuple(k for k in sorted(named) if k not in keyring.key_ids)
    return KeyUsage(
        primary=keyring.primary_id,
        keys=(*ordered, *(named[k] for k in unknown)),
        unused=keyring.unused_keys(named),
        unknown=unknown,
    )


def key_usage(ctx: Context) -> UseCase[KeyUsage]:
    """Which keys the stored values still need, and which can leave the keyring."""
    found: list[KeyUse] = yield from call("store", Store.key_usage, now=ctx.clock.now())
    return usage_report(ctx.keyring, found)


def unused_keys(ctx: Context) -> UseCase[tuple[str, ...]]:
    """The older keys of the keyring no stored value needs any more."""
    usage = yield from key_usage(ctx)
    return usage.unused
