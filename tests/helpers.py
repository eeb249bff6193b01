"""Small helpers for tests."""

from __future__ import annotations

import copy
from typing import Any

from mfakit.adapters import MemoryStore


def snapshot(store: MemoryStore) -> dict[str, Any]:
    """Everything the memory store holds, deep-copied, to prove "nothing changed"."""
    return {k: copy.deepcopy(v) for k, v in vars(store).items() if k != "_lock"}
