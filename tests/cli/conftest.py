"""The SQL tests' PostgreSQL fixture (skips on a laptop without a server, fails under CI=true)."""

from __future__ import annotations

from ..sql.conftest import postgres_url as postgres_url
