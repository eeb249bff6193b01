"""SQL storage on SQLAlchemy 2 Core: SQLite as the embedded default, PostgreSQL
for several app servers sharing one database (`pip install mfakit[sql]` or
`mfakit[postgres]`):

```python
from mfakit.adapters.sql import AsyncSqlStore, SqlStore

store = SqlStore.from_url("sqlite:///mfa.db")          # creates the tables
store = SqlStore.from_url("postgresql+psycopg://app:pw@db/app")
store = SqlStore(app_engine, table_prefix="mfa_")        # an engine you own

astore = AsyncSqlStore.from_url("sqlite+aiosqlite:///mfa.db")   # for AsyncMFA
await astore.create_all()
astore = AsyncSqlStore(app_async_engine)
```

Only this package imports SQLAlchemy; `import mfakit` does not. The async
store (and with it `sqlalchemy.ext.asyncio` and greenlet) is imported on
first use of the name `AsyncSqlStore`. See `docs/sql.md` and
`docs/async-adapters.md`.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

try:
    import sqlalchemy  # noqa: F401 (only to say which extra brings it)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "mfakit.adapters.sql needs SQLAlchemy: pip install 'mfakit[sql]' "
        "(SQLite) or 'mfakit[postgres]' (PostgreSQL)"
    ) from exc

from .schema import SCHEMA_VERSION as SCHEMA_VERSION
from .schema import UtcDateTime as UtcDateTime
from .schema import build_metadata as build_metadata
from .sqlite import configure_sqlite as configure_sqlite
from .store import SqlStore as SqlStore

if TYPE_CHECKING:
    from .async_store import AsyncSqlStore as AsyncSqlStore

__all__ = [
    "SCHEMA_VERSION",
    "AsyncSqlStore",
    "SqlStore",
    "UtcDateTime",
    "build_metadata",
    "configure_sqlite",
]


def __getattr__(name: str) -> Any:
    if name == "AsyncSqlStore":
        try:
            from .async_store import AsyncSqlStore
        except ImportError as exc:
            if importlib.util.find_spec("greenlet") is not None:
                raise
            # SQLAlchemy's own message says `pip install sqlalchemy[asyncio]`: name
            # the extra of ours that brings it.
            raise ImportError(
                "AsyncSqlStore needs SQLAlchemy's asyncio support (greenlet): pip install"
                " 'mfakit[sql]' (SQLite) or 'mfakit[postgres]' (PostgreSQL), which bring it"
            ) from exc

        globals()[name] = AsyncSqlStore  # found directly from now on
        return AsyncSqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
