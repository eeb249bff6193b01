"""The in-memory adapter runs the shared storage contract."""

from __future__ import annotations

import pytest

from mfakit.adapters import MemoryAuditLog, MemoryStore
from mfakit.testing.contract import AuditLogContract, StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestMemoryAuditLog(AuditLogContract):
    @pytest.fixture
    def audit_log(self) -> MemoryAuditLog:
        return MemoryAuditLog()
