"""The in-memory adapter runs the shared storage contract."""

from __future__ import annotations

import pytest

from mfakit.adapters import MemoryStore
from mfakit.testing.contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()
