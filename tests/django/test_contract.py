"""The whole storage contract and the audit-log contract on DjangoStore:
SQLite (a file) and PostgreSQL, with the threads of the concurrency tests
each on its own Django connection."""

from __future__ import annotations

import pytest

from mfakit.integrations.django.store import DjangoStore
from mfakit.testing.contract import AuditLogContract, AuditRetentionContract, StoreContract

from .conftest import ThreadTidyStore
from .settings import MFAKIT_ONLY

pytestmark = pytest.mark.django_db(
    transaction=True, databases="__all__", available_apps=MFAKIT_ONLY
)


class TestSqlite(StoreContract, AuditLogContract, AuditRetentionContract):
    @pytest.fixture
    def store(self) -> ThreadTidyStore:
        return ThreadTidyStore(DjangoStore())


class TestPostgres(StoreContract, AuditLogContract, AuditRetentionContract):
    @pytest.fixture
    def store(self, postgres_alias: str) -> ThreadTidyStore:
        return ThreadTidyStore(DjangoStore(postgres_alias))
