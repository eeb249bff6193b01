"""One query for everything a verification reads about a user.

A sign-in used to read a user's authenticators, contacts, backup-code count,
security question, state and failure counter with a statement each. Here they
come back from one `UNION ALL`: each table's rows are laid onto the same
typed *slots* (`s0`..`s11` text, `b0` bytes, `i0`..`i4` integers,
`t0`..`t3` timestamps; `mfakit.adapters.slots`, shared with
DjangoStore) with a tag saying which table a row is from, and
`snapshot_from` sorts them back into records. Every branch is a lookup
by primary key (or its `user_id` prefix), so the query costs what the
separate ones cost, in one round trip.

`challenge_snapshot_query` does the same for a challenge and its user,
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
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from ...core.records import ChallengeRecord, UserSnapshot
from .. import slots
from ..slots import INT, SLOTS, TEXT, TIME
from .schema import Tables, UtcDateTime

__all__ = ["challenge_snapshot_query", "snapshot_from", "user_snapshot_query"]

_TYPES: dict[str, Any] = {
    **{name: String() for name in TEXT},
    "b0": LargeBinary(),
    **{name: BigInteger() for name in INT},
    **{name: UtcDateTime() for name in TIME},
}
_SLOTS = ("tag", *SLOTS)


def _branch(tag: str, columns: Mapping[str, ColumnElement[Any]]) -> Select[Any]:
    """A SELECT laying `columns` (slot -> expression) onto every slot."""
    # The tag is written into the text (one of our own letters, never input):
    # a bound literal would cost a parameter per branch on every call.
    assert tag.isalpha() and len(tag) == 1
    out: list[ColumnElement[Any]] = [literal_column(f"'{tag}'", String()).label("tag")]
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
        _table_branch("t", t.totp, slots.TOTP).where(t.totp.c.user_id == user),
        _table_branch("c", t.contacts, slots.CONTACT).where(t.contacts.c.user_id == user),
        _table_branch("q", t.questions, slots.QUESTION).where(t.questions.c.user_id == user),
        _table_branch("s", t.user_state, slots.STATE).where(t.user_state.c.user_id == user),
        _branch("b", {"i0": func.count()})
        .select_from(t.backup)
        .where(t.backup.c.user_id == user, t.backup.c.used_at.is_(None)),
        # Only how many passkeys: their rows are read after, when there are some.
        _branch("w", {"i0": func.count()})
        .select_from(t.credentials)
        .where(t.credentials.c.user_id == user),
    ]
    if keys is not None:
        out.append(_table_branch("k", t.counters, slots.COUNTER).where(keys))
    return out


def user_snapshot_query(t: Tables, *, counters: int) -> CompoundSelect[Any]:
    """The snapshot of the user `p_user`, with the `counters` counters whose
    keys are the parameters `p_k0`, `p_k1`, ..."""
    user = bindparam("p_user", type_=String())
    keys = None
    if counters:
        keys = t.counters.c.key.in_([bindparam(f"p_k{i}", type_=String()) for i in range(counters)])
    return union_all(*_branches(t, user, keys))


def challenge_snapshot_query(t: Tables, counter_prefixes: Sequence[str]) -> CompoundSelect[Any]:
    """The challenge `p_id` and the snapshot of its user, found through it,
    with the counters `prefix + user_id` for each of `counter_prefixes`."""
    ch = t.challenges
    challenge_id = bindparam("p_id", type_=String())
    user = select(ch.c.user_id).where(ch.c.id == challenge_id).scalar_subquery()
    keys = None
    if counter_prefixes:
        keys = t.counters.c.key.in_([literal(p, String()) + user for p in counter_prefixes])
    head = _table_branch("h", ch, slots.CHALLENGE).where(ch.c.id == challenge_id)
    return union_all(head, *_branches(t, user, keys))


def snapshot_from(
    user_id: str | None, result: Iterable[Sequence[Any]]
) -> tuple[ChallengeRecord | None, UserSnapshot | None]:
    """Sort the rows of a snapshot query (tuples in the order of the slots)
    back into records. `user_id` is None for a challenge query (the user is
    the challenge's)."""
    return slots.snapshot_from(user_id, result)
