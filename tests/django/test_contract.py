"""The whole storage contract and the audit-log contract on DjangoStore:
SQLite (a file) and PostgreSQL, with the threads of the concurrency tests
each on its own Django connection, and the process races run by spawned
processes that configure Django themselves for the same test databases."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from mfakit.integrations.django.store import DjangoStore
from mfakit.testing.contract import (
    AuditLogContract,
    AuditRetentionContract,
    ProcessRaceContract,
    StoreContract,
)

from .conftest import ThreadTidyStore
from .racers import contract_store
from .settings import MFAKIT_ONLY

pytestmark = pytest.mark.django_db(
    transaction=True, databases="__all__", available_apps=MFAKIT_ONLY
)


_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def _factory(alias: str) -> Callable[[], Any]:
    """How a racing process makes its DjangoStore: Django set up for the test
    databases pytest-django made (their names, not the settings' own)."""
    databases = {}
    for name in connections:
        settings = connections[name].settings_dict
        databases[name] = {k: settings[k] for k in _KEYS if k in settings}
    assert databases[alias]["NAME"] != ":memory:"
    return functools.partial(contract_store, databases, alias)


class TestSqlite(StoreContract, AuditLogContract, AuditRetentionContract, ProcessRaceContract):
    @pytest.fixture
    def store(self) -> ThreadTidyStore:
        return ThreadTidyStore(DjangoStore())

    @pytest.fixture
    def store_factory(self, store: ThreadTidyStore) -> Callable[[], Any]:
        return _factory("default")


class TestPostgres(StoreContract, AuditLogContract, AuditRetentionContract, ProcessRaceContract):
    @pytest.fixture
    def store(self, postgres_alias: str) -> ThreadTidyStore:
        return ThreadTidyStore(DjangoStore(postgres_alias))

    @pytest.fixture
    def store_factory(self, store: ThreadTidyStore, postgres_alias: str) -> Callable[[], Any]:
        return _factory(postgres_alias)
