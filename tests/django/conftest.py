"""Django for the integration's tests: configured here, databases by pytest-django.

The ``default`` database is a SQLite file; ``pg`` is PostgreSQL when
``MFAKIT_TEST_POSTGRES_URL`` is set. Without it the PostgreSQL tests skip,
except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

pytest.importorskip("django", reason="the Django integration needs mfakit[django]")
pytest.importorskip("pytest_django", reason="the Django tests need pytest-django")

from .settings import PG_ENV, build

PG_SKIP = f"PostgreSQL tests need a server: set {PG_ENV} to run them; .ci/run does"


def pytest_configure(config: pytest.Config) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**build())
        django.setup()


@pytest.fixture(scope="session")
def postgres_alias() -> str:
    """The alias of the PostgreSQL database, or a skip (a failure under CI=true)."""
    if not os.environ.get(PG_ENV, "").strip():
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: CI must run the PostgreSQL tests")
        pytest.skip(PG_SKIP)
    return "pg"


class ThreadTidyStore:
    """A store whose calls from other threads than the test's close that
    thread's Django connections afterwards.

    Django opens one connection per thread and leaves closing it to whoever
    started the thread (a request handler does it at the end of each
    request). The contract suite's racing threads do not know about Django,
    so this wrapper does it for them; calls from the test's own thread pass
    straight through."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._main = threading.get_ident()

    def __repr__(self) -> str:
        return f"ThreadTidyStore({self.store!r})"

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            finally:
                if threading.get_ident() != self._main:
                    from django.db import connections

                    connections.close_all()

        return call
