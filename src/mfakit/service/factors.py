"""Questions about a user's factors shared by several use cases."""

from __future__ import annotations

from ..ports.storage import Store
from .effects import UseCase, call

__all__ = ["has_second_factor"]


def has_second_factor(user_id: str) -> UseCase[bool]:
    """Whether the user has at least one confirmed second factor."""
    records = yield from call("store", Store.list_totp, user_id)
    return any(r.confirmed for r in records)
