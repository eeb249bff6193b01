"""Schema migrations (mfakit.adapters.sql.migrate): a 0.1.0 database made by
revision 0001, upgraded and run through the storage contract; the migrations
agree with build_metadata(); the store refuses schemas it does not know."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    inspect,
    select,
    text,
)

from mfakit import ConfigurationError
from mfakit.adapters.sql import SCHEMA_VERSION, SqlStore, build_metadata, migrate
from mfakit.adapters.sql.migrations import version_table
from mfakit.adapters.sql.schema import TABLES
from mfakit.testing.contract import T0, AuditLogContract, AuditRetentionContract, StoreContract

from . import release_010
from .conftest import unique_prefix
from .test_schema import set_version

MIGRATIONS = Path(migrate.__file__).with_name("migrations")


def drop_everything(engine: Engine, prefix: str) -> None:
    build_metadata(prefix).drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {version_table(prefix)}"))


def make_010_then_upgrade(target: Engine | str, prefix: str) -> None:
    """A database as mfakit 0.1.0 left it (made by that release's own schema
    module, tests/sql/release_010.py: tables and version row, no Alembic), then
    upgraded by this release: stamped at revision 0001, upgraded to the head."""
    engine = create_engine(target) if isinstance(target, str) else target
    release_010.make_database(engine, prefix)
    assert migrate.current(engine, table_prefix=prefix) is None
    assert migrate.upgrade(engine, table_prefix=prefix) == migrate.HEAD
    assert migrate.check(engine, table_prefix=prefix) == []
    if isinstance(target, str):
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """An empty database (engine, table prefix) on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'mig.db'}")
        yield engine, "mfa_"
        engine.dispose()
        return
    engine = request.getfixturevalue("pg_engine")
    prefix = unique_prefix()
    yield engine, prefix
    drop_everything(engine, prefix)


# --- a 0.1.0 database, upgraded, passes the storage contract ------------------------
class TestUpgradedSqlite(StoreContract, AuditLogContract, AuditRetentionContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStore]:
        url = f"sqlite:///{tmp_path / 'old.db'}"
        make_010_then_upgrade(url, "mfa_")
        store = SqlStore.from_url(url, create=False)
        yield store
        store.close()


class TestUpgradedPostgres(StoreContract, AuditLogContract, AuditRetentionContract):
    @pytest.fixture
    def store(self, pg_engine: Engine) -> Iterator[SqlStore]:
        prefix = unique_prefix()
        make_010_then_upgrade(pg_engine, prefix)
        store = SqlStore(pg_engine, table_prefix=prefix)
        store.check_schema()
        yield store
        drop_everything(pg_engine, prefix)


# --- the migrations and the models agree ------------------------------------------------
def test_revisions_run_from_0001_to_the_schema_version() -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [migrate.HEAD] == [f"{SCHEMA_VERSION:04d}"]
    chain = [s.revision for s in scripts.walk_revisions("base", "heads")][::-1]
    # One line of revisions from 0001, numbered upwards, each recording its own number.
    assert chain[0] == "0001" and chain[-1] == migrate.HEAD
    assert chain == sorted(chain) and len(set(chain)) == len(chain)
    for revision in chain:
        assert int(revision) == scripts.get_revision(revision).module.VERSION
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        assert re.match(r"\d{4}_", path.name), path


def test_autogenerate_finds_nothing_after_the_migrations(db: tuple[Engine, str]) -> None:
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix)
    metadata = build_metadata(prefix)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, type_, _p: type_ != "table" or name in metadata.tables,
            },
        )
        assert compare_metadata(context, metadata) == []
    assert migrate.check(engine, table_prefix=prefix) == []


# The tables of release 0.1.0 (later revisions add the others).
_RELEASE_010 = [
    "schema_version",
    "totp_factors",
    "backup_codes",
    "counters",
    "challenges",
    "contacts",
    "security_questions",
    "trusted_devices",
    "user_state",
    "audit_events",
]


def _shape(engine: Engine, prefix: str, names: Sequence[str] = TABLES) -> dict[str, Any]:
    """Everything the database says about mfakit's tables (those in
    ``names``), prefix removed."""
    inspector = inspect(engine)

    def strip(value: Any) -> Any:
        return re.sub(re.escape(prefix), "<p>", value) if isinstance(value, str) else value

    shape: dict[str, Any] = {}
    for table in (prefix + name for name in names):
        shape[strip(table)] = {
            "columns": [
                {k: strip(str(v)) for k, v in col.items() if k != "comment"}
                for col in inspector.get_columns(table)
            ],
            "pk": {k: strip(str(v)) for k, v in inspector.get_pk_constraint(table).items()},
            "indexes": sorted(strip(str(i)) for i in inspector.get_indexes(table)),
            "unique": sorted(strip(str(u)) for u in inspector.get_unique_constraints(table)),
            "comment": (
                inspector.get_table_comment(table) if engine.dialect.supports_comments else None
            ),
        }
    return shape


# The columns later revisions add to the 0.1.0 tables, by table.
ADDED_SINCE_010 = {
    "<p>user_state": {"locale"},
    "<p>challenges": {"message_id", "delivery", "delivery_error"},
}


def _without_later_columns(shape: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for table, facts in shape.items():
        later = ADDED_SINCE_010.get(table, set())
        out[table] = {
            **facts,
            "columns": [c for c in facts["columns"] if c["name"] not in later],
            # An index on a later column came with it.
            "indexes": [i for i in facts["indexes"] if not any(f"'{c}'" in i for c in later)],
        }
    return out


def _revisions() -> list[str]:
    """Every revision shipped, oldest first: the tests below cover a new one
    as soon as its file is added."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    return [s.revision for s in scripts.walk_revisions("base", "heads")][::-1]


@pytest.mark.parametrize("revision", _revisions())
def test_each_revision_goes_down_and_up_again_to_the_same_tables(
    db: tuple[Engine, str], revision: str
) -> None:
    """Upgrade to ``revision``, downgrade one step, upgrade again: the same
    tables, column by column, and the recorded schema version follows."""
    engine, prefix = db
    assert migrate.upgrade(engine, table_prefix=prefix, revision=revision) == revision
    shape = _shape_if_present(engine, prefix)
    below = migrate.downgrade(engine, table_prefix=prefix, revision="-1")
    assert below == (None if revision == "0001" else f"{int(revision) - 1:04d}")
    assert migrate.upgrade(engine, table_prefix=prefix, revision=revision) == revision
    assert _shape_if_present(engine, prefix) == shape
    version = build_metadata(prefix).tables[prefix + "schema_version"]
    with engine.connect() as conn:
        recorded = conn.execute(select(version.c.version)).scalar_one()
    assert recorded == int(revision)


def _shape_if_present(engine: Engine, prefix: str) -> dict[str, Any]:
    names = set(inspect(engine).get_table_names())
    present = [name for name in TABLES if prefix + name in names]
    return _shape(engine, prefix, present)


def test_a_model_change_without_a_migration_fails_the_check(
    db: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``build_metadata()`` ahead of the migrations (a column and a table added
    to schema.py, no revision written): autogenerate finds the difference, so
    this suite (and ``mfakit db check``) fails until a revision is added."""
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix)
    real = migrate.build_metadata

    def ahead(table_prefix: str = "mfa_", metadata: MetaData | None = None) -> MetaData:
        md = real(table_prefix, metadata)
        md.tables[table_prefix + "contacts"].append_column(Column("nickname", Integer))
        Table(table_prefix + "new_things", md, Column("id", Integer, primary_key=True))
        return md

    monkeypatch.setattr(migrate, "build_metadata", ahead)
    problems = migrate.check(engine, table_prefix=prefix)
    assert any("add_column" in p and "nickname" in p for p in problems), problems
    assert any("add_table" in p and "new_things" in p for p in problems), problems


def test_revision_0001_is_the_010_schema_exactly(db: tuple[Engine, str]) -> None:
    """0.1.0's tables, column by column, as ``create_all`` of build_metadata()
    makes them, less the tables and columns later revisions add."""
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix, revision="0001")
    assert not inspect(engine).has_table(prefix + "notice_outbox")
    other = prefix + "b_" if prefix != "mfa_" else "mfb_"
    build_metadata(other).create_all(engine)
    try:
        expected = _without_later_columns(_shape(engine, other, _RELEASE_010))
        assert _shape(engine, prefix, _RELEASE_010) == expected
    finally:
        build_metadata(other).drop_all(engine)


def test_revision_0001_is_what_010_created(db: tuple[Engine, str]) -> None:
    """Revision 0001 makes, column by column, the tables mfakit 0.1.0's own
    schema module made (an independent reference: that file, kept verbatim)."""
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix, revision="0001")
    other = prefix + "o_" if prefix != "mfa_" else "mfo_"
    old = release_010.make_database(engine, other)
    try:
        assert sorted(old.tables) == sorted(other + name for name in _RELEASE_010)
        assert _shape(engine, prefix, _RELEASE_010) == _shape(engine, other, _RELEASE_010)
    finally:
        old.drop_all(engine)


def test_the_newest_revision_is_build_metadata_exactly(db: tuple[Engine, str]) -> None:
    """Every table, column by column, as ``create_all`` makes it; and the
    revisions go down again to 0.1.0's tables."""
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix)
    other = prefix + "b_" if prefix != "mfa_" else "mfb_"
    build_metadata(other).create_all(engine)
    try:
        assert _shape(engine, prefix) == _shape(engine, other)
    finally:
        build_metadata(other).drop_all(engine)
    migrate.downgrade(engine, table_prefix=prefix, revision="0001")
    assert not inspect(engine).has_table(prefix + "notice_outbox")
    assert migrate.check(engine, table_prefix=prefix) != []


def test_check_reports_a_table_that_differs(db: tuple[Engine, str]) -> None:
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {prefix}contacts ADD COLUMN extra INTEGER"))
    problems = migrate.check(engine, table_prefix=prefix)
    assert len(problems) == 1 and "remove_column" in problems[0] and "extra" in problems[0]


def test_tables_from_create_all_are_adopted(db: tuple[Engine, str]) -> None:
    """A database made by SqlStore.create_all (no Alembic table): check says so,
    upgrade stamps it at its recorded version and keeps its rows."""
    engine, prefix = db
    store = SqlStore(engine, table_prefix=prefix)
    store.create_all()
    store.bump_security_version("alice", now=T0)
    assert migrate.current(engine, table_prefix=prefix) is None
    problems = migrate.check(engine, table_prefix=prefix)
    assert any("not under migration control" in p for p in problems)
    assert migrate.upgrade(engine, table_prefix=prefix) == migrate.HEAD
    assert migrate.check(engine, table_prefix=prefix) == []
    again = SqlStore(engine, table_prefix=prefix)
    state = again.get_user_state("alice")
    assert state is not None and state.security_version == 1
    assert migrate.upgrade(engine, table_prefix=prefix) == migrate.HEAD  # idempotent


def test_downgrade_to_base_drops_the_tables(db: tuple[Engine, str]) -> None:
    engine, prefix = db
    migrate.upgrade(engine, table_prefix=prefix)
    assert migrate.downgrade(engine, table_prefix=prefix, revision="base") is None
    names = set(inspect(engine).get_table_names())
    assert not names & set(build_metadata(prefix).tables)
    assert "missing" in migrate.check(engine, table_prefix=prefix)[0]


def test_a_hosts_autogenerate_leaves_mfakit_tables_alone(tmp_path: Path) -> None:
    """A host's env.py with ``include_name=migrate.include_name(prefix)``: its
    autogenerate proposes only its own tables, never mfakit's or mfakit's
    version table."""
    engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    migrate.upgrade(engine, table_prefix="mfa_")
    host = MetaData()
    Table("orders", host, Column("id", Integer, primary_key=True))
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": migrate.include_name("mfa_")}
        )
        diffs = compare_metadata(context, host)
    assert [(d[0], d[1].name) for d in diffs] == [("add_table", "orders")]
    engine.dispose()


def test_the_version_table_never_is_the_hosts() -> None:
    assert version_table("mfa_") == "mfa_alembic_version"
    assert version_table("") == "mfakit_alembic_version"


# --- the store refuses schemas it does not know -----------------------------------------
@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_store_refuses_an_older_schema_naming_the_command(make_store: Any, backend: str) -> None:
    store = make_store(backend)
    set_version(store, SCHEMA_VERSION - 1)
    fresh = SqlStore(store.engine, table_prefix=store.table_prefix)
    with pytest.raises(ConfigurationError, match=r"older.*`mfakit db upgrade`.*migrate\.upgrade"):
        fresh.get_totp("alice", "f1")
    set_version(store, SCHEMA_VERSION + 1)
    fresh = SqlStore(store.engine, table_prefix=store.table_prefix)
    with pytest.raises(ConfigurationError, match=r"newer.*pip install -U mfakit"):
        fresh.get_totp("alice", "f1")
    with pytest.raises(ConfigurationError, match="newer"):
        migrate.upgrade(store.engine, table_prefix=store.table_prefix)


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        migrate.upgrade("sqlite://", table_prefix="1bad")
    with pytest.raises(ConfigurationError):
        migrate.upgrade(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        migrate.upgrade("sqlite://", revision="")


HOST_ENV = """
from alembic import context

from mfakit.adapters.sql import build_metadata, migrate

config = context.config
connection = config.attributes["connection"]
prefix = config.attributes["prefix"]
context.configure(
    connection=connection,
    target_metadata=[config.attributes["host"], build_metadata(prefix)],
    render_item=migrate.render_item,
    version_table=prefix + "host_version",
)
with context.begin_transaction():
    context.run_migrations()
"""


def test_a_host_alembic_setup_with_build_metadata(db: tuple[Engine, str], tmp_path: Path) -> None:
    """The other way in: a host's own Alembic environment whose target_metadata
    includes build_metadata(prefix) writes (autogenerate) and runs a migration
    that creates mfakit's tables; the store works on them, and once mfakit's
    own migrations adopt them, `check` finds no difference."""
    import shutil

    import alembic
    from alembic import command
    from alembic.config import Config

    engine, prefix = db
    home = tmp_path / "host_migrations"
    (home / "versions").mkdir(parents=True)
    (home / "env.py").write_text(HOST_ENV)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, home / "script.py.mako")
    host = MetaData()
    orders = Table(prefix + "orders", host, Column("id", Integer, primary_key=True))
    config = Config()
    config.set_main_option("script_location", str(home))
    try:
        with engine.begin() as conn:
            config.attributes.update(connection=conn, prefix=prefix, host=host)
            command.revision(config, message="host", autogenerate=True, rev_id="h1")
            command.upgrade(config, "head")
        [script] = (home / "versions").glob("h1_*.py")
        written = script.read_text()
        for name in TABLES:
            assert prefix + name in written, name
        store = SqlStore(engine, table_prefix=prefix)
        store.bump_security_version("alice", now=T0)  # records the schema version on first use
        assert store.get_user_state("alice").security_version == 1  # type: ignore[union-attr]
        assert migrate.upgrade(engine, table_prefix=prefix) == migrate.HEAD
        assert migrate.check(engine, table_prefix=prefix) == []
    finally:
        orders.drop(engine, checkfirst=True)
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {prefix}host_version"))
