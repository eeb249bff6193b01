"""Schema migrations for the SQL store, on Alembic (`pip install 'mfakit[sql]'`).

```python
from mfakit.adapters.sql import migrate

migrate.upgrade("postgresql+psycopg://app:pw@db/app", table_prefix="mfa_")
problems = migrate.check(engine, table_prefix="mfa_")   # [] when up to date
```

The migration environment ships in the package
(`mfakit/adapters/sql/migrations`). Alembic records its revision in
`<prefix>alembic_version` (never the host's `alembic_version`), and every
revision `NNNN` also records schema version `N` in
`<prefix>schema_version`: the row [`SqlStore`][mfakit.adapters.sql.SqlStore] checks when it
starts, without needing Alembic. A database made by `SqlStore.create_all`
(no Alembic table yet) is stamped at its recorded version on its first
upgrade, then upgraded from there.

`target` is a database URL (an engine is made and disposed of), an
`Engine` or a `Connection` (in a host's own `env.py`; the caller
commits). See `docs/operating.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from ...errors import ConfigurationError
from .migrations import PREFIX_ATTRIBUTE, version_table
from .operations import parse_url, storage_error
from .schema import SCHEMA_COMPONENT, SCHEMA_VERSION, Tables, build_metadata, check_prefix

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD",
    "UPGRADE_COMMAND",
    "check",
    "current",
    "downgrade",
    "include_name",
    "render_item",
    "upgrade",
    "upgrade_steps",
]

HEAD = f"{SCHEMA_VERSION:04d}"
"""The newest revision this release ships: the one of `SCHEMA_VERSION`."""

UPGRADE_COMMAND = (
    "run `mfakit db upgrade` (or mfakit.adapters.sql.migrate.upgrade(url, table_prefix=...))"
)
"""What to do about an older schema; quoted by the store's refusal."""

_LOCATION = Path(__file__).with_name("migrations")

Target = str | URL | Engine | Connection


def _alembic() -> Any:
    try:
        from alembic import command
    except ImportError as exc:  # pragma: no cover - alembic ships with the sql extra
        raise ImportError(
            "mfakit's schema migrations need Alembic: pip install 'mfakit[sql]'"
        ) from exc
    return command


def _config(connection: Connection, prefix: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_LOCATION))
    config.attributes["connection"] = connection
    config.attributes[PREFIX_ATTRIBUTE] = prefix
    return config


@contextmanager
def _connection(target: Target) -> Iterator[Connection]:
    """A connection in a transaction on `target`, committed at the end
    (left to the caller for a given `Connection`)."""
    if isinstance(target, Connection):
        yield target
        return
    engine = target if isinstance(target, Engine) else None
    if engine is None:
        if not isinstance(target, (str, URL)):
            raise ConfigurationError("migrate needs a database URL, an Engine or a Connection")
        engine = create_engine(parse_url(target), hide_parameters=True)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if engine is not target:
            engine.dispose()


def _recorded_version(connection: Connection, prefix: str) -> int | None:
    table = Tables(build_metadata(prefix), prefix).version
    found: int | None = connection.execute(
        select(table.c.version).where(table.c.component == SCHEMA_COMPONENT)
    ).scalar()
    return found


def _revision(connection: Connection, prefix: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": version_table(prefix)})
    return context.get_current_revision()


def _serialise(connection: Connection, prefix: str) -> None:
    """On PostgreSQL, wait for (then hold, until this transaction ends) the
    advisory lock that `SqlStore.create_all` and the migration environment
    take: concurrent upgrades (two deploy jobs) then run one after the other,
    each reading the revision only once the one before it has committed."""
    if connection.dialect.name == "postgresql":
        key = prefix + "schema"
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def _adopt(connection: Connection, prefix: str, config: Config) -> None:
    """Stamp tables made without Alembic (`SqlStore.create_all`, or a host's
    `build_metadata()` migrations) at the revision of their recorded version."""
    if _revision(connection, prefix) is not None:
        return
    if not inspect(connection).has_table(prefix + "schema_version"):
        return
    found = _recorded_version(connection, prefix)
    if found is None:
        raise ConfigurationError(
            f"mfakit's tables ({prefix}...) exist but record no schema version: start "
            "the application once (SqlStore records it) or stamp them with Alembic"
        )
    if found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the database holds mfakit schema version {found}, newer than this release "
            f"supports ({SCHEMA_VERSION}): upgrade mfakit (pip install -U mfakit)"
        )
    _alembic().stamp(config, f"{found:04d}")


def _run(target: Target, table_prefix: str, work: Callable[[Connection, Config], Any]) -> Any:
    prefix = check_prefix(table_prefix)
    _alembic()
    try:
        with _connection(target) as connection:
            return work(connection, _config(connection, prefix))
    except SQLAlchemyError as exc:
        raise storage_error("migrate", getattr(work, "__name__", "run"), exc) from exc


def upgrade(target: Target, *, table_prefix: str = "mfa_", revision: str = "head") -> str | None:
    """Bring mfakit's tables of `table_prefix` to `revision` (the newest by
    default), creating them in an empty database; returns the revision reached.
    Safe to run again; on PostgreSQL concurrent runs wait for each other."""
    return upgrade_steps(target, table_prefix=table_prefix, revision=revision)[1]


def upgrade_steps(
    target: Target, *, table_prefix: str = "mfa_", revision: str = "head"
) -> tuple[str | None, str | None]:
    """[`upgrade`][mfakit.adapters.sql.migrate.upgrade], returning the revision
    found once it held the lock (for tables made without Alembic, the one of
    their recorded version) and the one reached: equal when there was nothing
    to do (another upgrade, running at the same time, had done it)."""
    if not isinstance(revision, str) or not revision:
        raise ConfigurationError("revision must be a revision id or 'head'")

    def upgrade(connection: Connection, config: Config) -> tuple[str | None, str | None]:
        prefix = check_prefix(table_prefix)
        _serialise(connection, prefix)
        _adopt(connection, prefix, config)  # tables made without Alembic: at their version
        before = _revision(connection, prefix)
        _alembic().upgrade(config, revision)
        return before, _revision(connection, prefix)

    result: tuple[str | None, str | None] = _run(target, table_prefix, upgrade)
    return result


def downgrade(target: Target, *, revision: str, table_prefix: str = "mfa_") -> str | None:
    """Take the tables back to `revision` (`"base"` drops them all); for
    tests and for backing out a release. Data in dropped columns is lost."""
    if not isinstance(revision, str) or not revision:
        raise ConfigurationError("revision must be a revision id or 'base'")

    def downgrade(connection: Connection, config: Config) -> str | None:
        _alembic().downgrade(config, revision)
        return _revision(connection, table_prefix)

    result: str | None = _run(target, table_prefix, downgrade)
    return result


def current(target: Target, *, table_prefix: str = "mfa_") -> str | None:
    """The Alembic revision of the tables (None: not under Alembic yet)."""

    def current(connection: Connection, _config: Config) -> str | None:
        return _revision(connection, table_prefix)

    result: str | None = _run(target, table_prefix, current)
    return result


def include_name(table_prefix: str = "mfa_") -> Callable[[str | None, str, Any], bool]:
    """An `include_name` hook for a host's `env.py` that leaves mfakit's
    tables (and its version table) to mfakit's migrations:

    ```python
    context.configure(..., include_name=migrate.include_name("mfa_"))
    ```
    """
    prefix = check_prefix(table_prefix)
    ours = {*build_metadata(prefix).tables, version_table(prefix)}

    def include(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name not in ours

    return include


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """A `render_item` hook for a host's `env.py` whose `target_metadata`
    includes `build_metadata(...)`: autogenerate then writes mfakit's
    timestamp column type (`UtcDateTime`) with its import, so the script it
    generates runs (without it the script names a module it never imports):

    ```python
    context.configure(..., render_item=migrate.render_item)
    ```

    Everything else is left to Alembic's own rendering."""
    from .schema import UtcDateTime

    if type_ == "type" and isinstance(obj, UtcDateTime):
        autogen_context.imports.add("from mfakit.adapters.sql.schema import UtcDateTime")
        return "UtcDateTime()"
    return False


def check(target: Target, *, table_prefix: str = "mfa_") -> list[str]:
    """What stands between the database and this release's tables: an empty
    list when the revision is the newest, the recorded version matches and
    Alembic's autogenerate finds no difference from `build_metadata`."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    prefix = check_prefix(table_prefix)
    metadata = build_metadata(prefix)

    def check(connection: Connection, _config: Config) -> list[str]:
        names = set(inspect(connection).get_table_names())
        if prefix + "schema_version" not in names:
            return [f"mfakit's tables ({prefix}...) are missing: {UPGRADE_COMMAND}"]
        problems = []
        revision = _revision(connection, prefix)
        if revision != HEAD:
            at = "not under migration control" if revision is None else f"at {revision}"
            problems.append(f"the tables are {at}, the newest is {HEAD}: {UPGRADE_COMMAND}")
        recorded = _recorded_version(connection, prefix)
        if recorded != SCHEMA_VERSION:
            problems.append(
                f"the recorded schema version is {recorded}, this release's {SCHEMA_VERSION}"
            )
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": version_table(prefix),
                "include_name": lambda name, type_, _p: type_ != "table" or name in metadata.tables,
                "compare_type": True,
            },
        )
        problems.extend(
            f"differs from the models: {diff!r}" for diff in compare_metadata(context, metadata)
        )
        return problems

    result: list[str] = _run(target, prefix, check)
    return result
