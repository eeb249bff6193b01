"""One query for everything a verification reads about a user.

A sign-in used to read a user's authenticators, contacts, backup-code count,
security question, state and failure counter with a statement each. Here they
come back from one ``UNION ALL``: each table's rows are laid onto the same
typed *slots* (``s0``..``s11`` text, ``b0`` bytes, ``i0``..``i4`` integers,
``t0``..``t3`` timestamps) with a tag saying which table a row is from, and
:func:`snapshot_from` sorts them back into records. Every branch is a lookup
by primary key (or its ``user_id`` prefix), so the query costs what the
separate ones cost, in one round trip.

:func:`challenge_snapshot_query` does the same for a challenge and its user,
finding the user through the challenge (a scalar subquery on its key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Integer,
    LargeBinary,
    ScalarSelect,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from ...core.records import ChallengeRecord, Counter, UserSnapshot
from . import rows
from .schema import Tables, UtcDateTime

__all__ = ["challenge_snapshot_query", "snapshot_from", "user_snapshot_query"]

_TEXT = tuple(f"s{i}" for i in range(12))
_INT = tuple(f"i{i}" for i in range(5))
_TIME = tuple(f"t{i}" for i in range(4))
_TYPES: dict[str, Any] = {
    **{name: String() for name in _TEXT},
    "b0": LargeBinary(),
    **{name: BigInteger() for name in _INT},
    **{name: UtcDateTime() for name in _TIME},
}
_SLOTS = ("tag", *_TEXT, "b0", *_INT, *_TIME)

# Which column of each table lies in which slot.
_TOTP = {
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
_CONTACT = {"user_id": "s0", "kind": "s1", "value": "s2", "created_at": "t0", "verified_at": "t1"}
_QUESTION = {"user_id": "s0", "question": "s1", "answer_hash": "s2", "created_at": "t0"}
_STATE = {
    "user_id": "s0",
    "preferred_method": "s1",
    "security_version": "i0",
    "updated_at": "t0",
}
_COUNTER = {
    "key": "s0",
    "count": "i0",
    "version": "i1",
    "window_start": "t0",
    "updated_at": "t1",
}
_CHALLENGE = {
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


def _branch(tag: str, columns: Mapping[str, ColumnElement[Any]]) -> Select[Any]:
    """A SELECT laying ``columns`` (slot -> expression) onto every slot."""
    out: list[ColumnElement[Any]] = [literal(tag, String()).label("tag")]
    for slot in _SLOTS[1:]:
        expr = columns.get(slot)
        if expr is None:
            out.append(cast(null(), _TYPES[slot]).label(slot))
        else:
            out.append(type_coerce(expr, _TYPES[slot]).label(slot))
    return select(*out)


def _table_branch(tag: str, table: Any, layout: Mapping[str, str]) -> Select[Any]:
    columns = {slot: table.c[name] for name, slot in layout.items()}
    if tag == "h":
        columns["i1"] = cast(table.c.alternatives_locked, Integer)
    return _branch(tag, columns)


def _branches(
    t: Tables, user: ColumnElement[Any] | ScalarSelect[Any], keys: ColumnElement[bool] | None
) -> list[Select[Any]]:
    out = [
        _table_branch("t", t.totp, _TOTP).where(t.totp.c.user_id == user),
        _table_branch("c", t.contacts, _CONTACT).where(t.contacts.c.user_id == user),
        _table_branch("q", t.questions, _QUESTION).where(t.questions.c.user_id == user),
        _table_branch("s", t.user_state, _STATE).where(t.user_state.c.user_id == user),
        _branch("b", {"i0": func.count()})
        .select_from(t.backup)
        .where(t.backup.c.user_id == user, t.backup.c.used_at.is_(None)),
        # Only how many passkeys: their rows are read after, when there are some.
        _branch("w", {"i0": func.count()})
        .select_from(t.credentials)
        .where(t.credentials.c.user_id == user),
    ]
    if keys is not None:
        out.append(_table_branch("k", t.counters, _COUNTER).where(keys))
    return out


def user_snapshot_query(t: Tables, *, counters: bool) -> CompoundSelect[Any]:
    """The snapshot of the user ``p_user``; with ``counters``, also the
    counters whose keys are in the expanding parameter ``p_keys``."""
    user = bindparam("p_user", type_=String())
    keys = t.counters.c.key.in_(bindparam("p_keys", expanding=True)) if counters else None
    return union_all(*_branches(t, user, keys))


def challenge_snapshot_query(t: Tables, counter_prefixes: Sequence[str]) -> CompoundSelect[Any]:
    """The challenge ``p_id`` and the snapshot of its user, found through it,
    with the counters ``prefix + user_id`` for each of ``counter_prefixes``."""
    ch = t.challenges
    challenge_id = bindparam("p_id", type_=String())
    user = select(ch.c.user_id).where(ch.c.id == challenge_id).scalar_subquery()
    keys = None
    if counter_prefixes:
        keys = t.counters.c.key.in_([literal(p, String()) + user for p in counter_prefixes])
    head = _table_branch("h", ch, _CHALLENGE).where(ch.c.id == challenge_id)
    return union_all(head, *_branches(t, user, keys))


_PENDING: tuple[Any, ...] = (None,)
"""Stands for "the user has passkeys, not read yet": the store reads them next
(:meth:`~.operations.SqlOperations.load_user`) and replaces it."""


def _columns(row: Mapping[str, Any], layout: Mapping[str, str]) -> dict[str, Any]:
    return {name: row[slot] for name, slot in layout.items()}


def snapshot_from(
    user_id: str | None, result: Iterable[Any]
) -> tuple[ChallengeRecord | None, UserSnapshot | None]:
    """Sort the rows of a snapshot query back into records. ``user_id`` is
    None for a challenge query (the user is the challenge's)."""
    challenge = None
    totps, contacts = [], []
    question = state = None
    left = 0
    passkeys = 0
    counters: dict[str, Counter] = {}
    for row in result:
        m = row._mapping
        tag = m["tag"]
        if tag == "t":
            totps.append(rows.totp_from(_columns(m, _TOTP)))
        elif tag == "c":
            contacts.append(rows.contact_from(_columns(m, _CONTACT)))
        elif tag == "k":
            counter = rows.counter_from(_columns(m, _COUNTER))
            counters[counter.key] = counter
        elif tag == "b":
            left = int(m["i0"] or 0)
        elif tag == "w":
            passkeys = int(m["i0"] or 0)
        elif tag == "s":
            state = rows.user_state_from(_columns(m, _STATE))
        elif tag == "q":
            question = rows.question_from(_columns(m, _QUESTION))
        elif tag == "h":
            challenge = rows.challenge_from(_columns(m, _CHALLENGE))
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
        webauthn=_PENDING if passkeys else (),
    )
    return challenge, snapshot
