"""docs/operating.md runs as written: every shell block (the runbook's ``mfakit``
commands) in a subprocess, in page order, against an empty SQLite file and an empty
PostgreSQL database; every Python block too (the host ``env.py`` inside a real
Alembic environment of a host application); the TOML example is a valid config file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import types
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import alembic
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Integer, create_engine, make_url, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import mfakit
from mfakit import MFA, Actor, Keyring
from mfakit.adapters import Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.cli.config import load_settings
from mfakit.core.records import Counter
from mfakit.testing import authenticator_code

from ..sql.conftest import postgres_url as postgres_url

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
SRC = str(Path(mfakit.__file__).resolve().parent.parent)
KEY = "9b2dc10f7ea1296aaf116f61e3ebbc6908e292ac9798e1a726a4f7a30e0d25ca"
PHONE = "+14155550101"


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def seed_alice(url: str) -> None:
    """alice, enrolled by phone and locked out: what the runbook's commands act on."""
    store = SqlStore.from_url(url, create=False)
    outbox = Outbox()
    mfa = MFA(store=store, audit=store, secret_key=KEY, issuer="Ops", sms=outbox)
    now = datetime.now(timezone.utc)
    sent = mfa.begin_phone_enrolment(Actor.user("alice", reauthenticated_at=now), "alice", PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    stored = store.get_counter("failures:alice")
    version = 0 if stored is None else stored.version
    assert store.put_counter(
        Counter(key="failures:alice", count=99, window_start=now, updated_at=now, version=version)
    )
    store.close()


def seed_bob(url: str) -> None:
    """bob, with an authenticator sealed under KEY: what the rotation re-seals."""
    store = SqlStore.from_url(url, create=False)
    mfa = MFA(store=store, audit=store, secret_key=KEY, issuer="Ops")
    me = Actor.user("bob", reauthenticated_at=datetime.now(timezone.utc))
    setup = mfa.begin_totp_setup(me, "bob", account_name="bob@example.org")
    code = authenticator_code(setup.secret, datetime.now(timezone.utc))
    assert mfa.confirm_totp_setup(me, setup.id, code).ok
    store.close()


class HostModels(types.ModuleType):
    """``myapp.models`` of the page's env.py: a host application with one table."""

    def __init__(self) -> None:
        super().__init__("myapp.models")

        class Base(DeclarativeBase):
            pass

        class Order(Base):
            __tablename__ = "orders"
            id: Mapped[int] = mapped_column(Integer, primary_key=True)

        self.Base = Base


def run_host_env(env_py: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The page's env.py as a host application's Alembic environment: its
    autogenerate proposes the host's table and none of mfakit's."""
    home = tmp_path / "host_migrations"
    (home / "versions").mkdir(parents=True)
    (home / "env.py").write_text(env_py)
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, home / "script.py.mako")
    models = HostModels()
    monkeypatch.setitem(sys.modules, "myapp", types.ModuleType("myapp"))
    monkeypatch.setitem(sys.modules, "myapp.models", models)
    config = Config()
    config.set_main_option("script_location", str(home))
    config.set_main_option("sqlalchemy.url", url)
    command.revision(config, message="host", autogenerate=True, rev_id="h1")
    [script] = (home / "versions").glob("h1_*.py")
    return script.read_text()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a PostgreSQL database of
    its own (the page uses the default table prefix, and its host env.py
    compares every table of the database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_operating_page_runs_as_written(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mfakit"  # the console script, as `pip install` would make it
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mfakit "$@"\n')
    shim.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": SRC,
        "MFAKIT_DATABASE_URL": url,
        "MFAKIT_SECRET_KEYS": KEY,
        "MFAKIT_OPERATOR": "oncall",
    }
    monkeypatch.setenv("MFAKIT_DATABASE_URL", url)
    found = blocks()
    shells = [code for lang, code in found if lang == "shell"]
    assert len(shells) >= 6
    seeded = False
    outputs: list[str] = []
    for number, (lang, code) in enumerate(found):
        if lang == "shell":
            if "alice" in code and not seeded:
                seed_alice(url)
                seeded = True
            if "keys rotate" in code:
                seed_bob(url)
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"block {number}:\n{code}\n{done.stdout}{done.stderr}"
            assert KEY not in done.stdout + done.stderr
            outputs.append(done.stdout)
        elif lang == "python" and "from alembic import context" in code:
            script = run_host_env(code, url, tmp_path, monkeypatch)
            assert "create_table('orders'" in script or 'create_table("orders"' in script
            assert "mfa_" not in script
        elif lang == "python":
            exec(compile(code, f"operating.md block {number}", "exec"), {"__name__": "page"})  # noqa: S102
        elif lang == "toml":
            config = tmp_path / "mfakit.toml"
            config.write_text(code)
            settings = load_settings(config, environ={})
            assert settings.database_url and len(settings.secret_keys) == 2
    said = "".join(outputs)
    assert "Unlocked alice: 99 failures cleared" in said
    assert "Turned 2FA off for alice" in said
    assert "two_factor.disabled" in said and "actor=cli:oncall" in said
    assert PHONE not in said
    assert "Re-sealed 1 authenticator secrets" in said
    assert f"Nothing needs {Keyring(KEY).primary_id} any more" in said
    assert "unused: can be removed" in said  # keys status, after the rotation
    assert "and audit events older than 400 days" in said
