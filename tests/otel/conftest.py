"""The SQL tests' PostgreSQL fixtures (skip on a laptop without a server, fail under CI=true)."""

from __future__ import annotations

from ..sql.conftest import pg_engine as pg_engine
from ..sql.conftest import postgres_url as postgres_url
