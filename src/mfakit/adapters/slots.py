"""The slots of the one-query user snapshot, for the SQL store and DjangoStore.

Both stores read everything a verification needs about a user with one
`UNION ALL` (see `mfakit.adapters.sql.snapshot`): each table's rows are
laid onto the same typed *slots* (`s0`..`s11` text, `b0` bytes,
`i0`..`i4` integers, `t0`..`t3` timestamps) with a `tag` saying
which table a row is from. This module says which column lies in which slot
(by the SQL store's column names) and sorts such rows back into records
(`snapshot_from`); each store builds the query in its own way. No
SQLAlchemy and no Django here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.records import ChallengeRecord, Counter, UserSnapshot
from . import rows

__all__ = [
    "CHALLENGE",
    "CONTACT",
    "COUNTER",
    "INT",
    "PENDING_PASSKEYS",
    "QUESTION",
    "ROW",
    "SLOTS",
    "STATE",
    "TEXT",
    "TIME",
    "TOTP",
    "snapshot_from",
]

TEXT = tuple(f"s{i}" for i in range(15))
INT = tuple(f"i{i}" for i in range(5))
TIME = tuple(f"t{i}" for i in range(4))
SLOTS = (*TEXT, "b0", *INT, *TIME)
"""Every slot, in the order of the query's columns (after `tag`)."""

# Which column of each table lies in which slot.
TOTP = {
    "user_id": "s0",
    "id": "s1",
    "label": "s2",
    "secret_key_id": "s3",
    "algorithm": "s4",
    "secret_blob": "b0",
    "digits": "i0",
    "period": "i1",
    "last_step": "i2",
    "created_at": "t0",
    "expires_at": "t1",
    "confirmed_at": "t2",
    "last_used_at": "t3",
}
CONTACT = {"user_id": "s0", "kind": "s1", "value": "s2", "created_at": "t0", "verified_at": "t1"}
QUESTION = {"user_id": "s0", "question": "s1", "answer_hash": "s2", "created_at": "t0"}
STATE = {
    "user_id": "s0",
    "preferred_method": "s1",
    "locale": "s2",
    "security_version": "i0",
    "updated_at": "t0",
}
COUNTER = {
    "key": "s0",
    "count": "i0",
    "version": "i1",
    "window_start": "t0",
    "updated_at": "t1",
}
CHALLENGE = {
    "id": "s0",
    "user_id": "s1",
    "purpose": "s2",
    "state": "s3",
    "methods": "s4",
    "method": "s5",
    "code_key_id": "s6",
    "destination": "s7",
    "target_kind": "s8",
    "target_value": "s9",
    "actor_id": "s10",
    "tenant": "s11",
    "message_id": "s12",
    "delivery": "s13",
    "delivery_error": "s14",
    "code_hash": "b0",
    "attempts": "i0",
    "alternatives_locked": "i1",
    "code_length": "i2",
    "sends": "i3",
    "version": "i4",
    "created_at": "t0",
    "expires_at": "t1",
    "code_sent_at": "t2",
}


PENDING_PASSKEYS: tuple[Any, ...] = (None,)
"""Stands for "the user has passkeys, not read yet" in a snapshot's
`webauthn`: the query only counts them (tag `w`); the store reads their
rows next, only when there are some, and replaces it."""

ROW = ("tag", *SLOTS)
"""The columns of a snapshot row, in order: the tag, then the slots."""


def _positions(layout: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    return tuple((name, ROW.index(slot)) for name, slot in layout.items())


_AT = {
    tag: _positions(layout)
    for tag, layout in (
        ("t", TOTP),
        ("c", CONTACT),
        ("q", QUESTION),
        ("s", STATE),
        ("k", COUNTER),
        ("h", CHALLENGE),
    )
}
_COUNT = ROW.index("i0")


def _columns(row: Sequence[Any], tag: str) -> dict[str, Any]:
    # By position, computed once per layout: no per-row name lookups.
    return {name: row[i] for name, i in _AT[tag]}


def snapshot_from(
    user_id: str | None, result: Iterable[Sequence[Any]]
) -> tuple[ChallengeRecord | None, UserSnapshot | None]:
    """Sort the rows of a snapshot query (sequences in the order of
    `ROW`, their values already of the slots' Python types) back into records.
    `user_id` is None for a challenge query (the user is the challenge's)."""
    challenge = None
    totps, contacts = [], []
    question = state = None
    left = passkeys = 0
    counters: dict[str, Counter] = {}
    for m in result:
        tag = m[0]
        if tag == "t":
            totps.append(rows.totp_from(_columns(m, "t")))
        elif tag == "c":
            contacts.append(rows.contact_from(_columns(m, "c")))
        elif tag == "k":
            counter = rows.counter_from(_columns(m, "k"))
            counters[counter.key] = counter
        elif tag == "b":
            left = int(m[_COUNT] or 0)
        elif tag == "w":
            passkeys = int(m[_COUNT] or 0)
        elif tag == "s":
            state = rows.user_state_from(_columns(m, "s"))
        elif tag == "q":
            question = rows.question_from(_columns(m, "q"))
        elif tag == "h":
            challenge = rows.challenge_from(_columns(m, "h"))
    if user_id is None:
        if challenge is None:
            return None, None
        user_id = challenge.user_id
    totps.sort(key=lambda r: (r.created_at, r.id))
    contacts.sort(key=lambda c: c.kind.value)
    snapshot = UserSnapshot(
        user_id=user_id,
        totps=tuple(totps),
        contacts=tuple(contacts),
        backup_codes_left=left,
        question=question,
        state=state,
        counters=counters,
        webauthn=PENDING_PASSKEYS if passkeys else (),
    )
    return challenge, snapshot
