"""The ``mfakit`` command, run as an operator would (``python -m mfakit`` in a
subprocess) against a SQLite file and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

import mfakit
from mfakit import MFA, Actor
from mfakit.adapters import Outbox
from mfakit.adapters.sql import SqlStore, build_metadata, migrate
from mfakit.adapters.sql.migrations import version_table
from mfakit.core.records import Counter, DeviceRecord
from mfakit.testing.contract import challenge_record

from ..sql.conftest import unique_prefix

SRC = str(Path(mfakit.__file__).resolve().parent.parent)
# A test keyring secret; it must never be printed.
KEY = "5785e8fba5e0dab6bdc27410a1a94d24e51cbcbe18511d01b430d0cd850a5a37"
PHONE = "+14155550101"


@dataclass
class Db:
    """A database the command runs against, and the environment naming it."""

    url: str
    prefix: str
    env: dict[str, str] = field(default_factory=dict)
    opened: list[SqlStore] = field(default_factory=list)

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "mfakit", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self._env(env),
            timeout=120,
            check=False,
        )
        assert KEY not in done.stdout + done.stderr
        return done

    def _env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        full = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": SRC,
            "MFAKIT_DATABASE_URL": self.url,
            "MFAKIT_TABLE_PREFIX": self.prefix,
            "MFAKIT_SECRET_KEYS": KEY,
            "MFAKIT_OPERATOR": "anna",
            **self.env,
            **(env or {}),
        }
        return {k: v for k, v in full.items() if v is not None}

    def start(self, *args: str) -> subprocess.Popen[str]:
        """The command started in the background (its input closed)."""
        return subprocess.Popen(
            [sys.executable, "-m", "mfakit", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(),
        )

    def store(self) -> SqlStore:
        """A store on the database, closed when the test ends."""
        store = SqlStore.from_url(self.url, table_prefix=self.prefix, create=False)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """An empty database: a SQLite file, or PostgreSQL under a fresh prefix."""
    if request.param == "sqlite":
        db = Db(f"sqlite:///{tmp_path / 'mfa.db'}", "mfa_")
        yield db
        db.close()
        return
    url = request.getfixturevalue("postgres_url")
    prefix = unique_prefix()
    db = Db(url, prefix)
    yield db
    db.close()
    engine: Engine = create_engine(url)
    build_metadata(prefix).drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {version_table(prefix)}"))
    engine.dispose()


@pytest.fixture
def ready(db: Db) -> Db:
    """The database with mfakit's tables."""
    migrate.upgrade(db.url, table_prefix=db.prefix)
    return db


def events(db: Db, *args: str) -> list[dict[str, object]]:
    done = db.run("audit", "tail", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def enrolled(db: Db, user_id: str = "alice") -> MFA:
    """``user_id`` with a verified phone and backup codes, through the facade."""
    store = db.store()
    outbox = Outbox()
    mfa = MFA(store=store, audit=store, secret_key=KEY, issuer="Test", sms=outbox)
    me = Actor.user(user_id, reauthenticated_at=datetime.now(timezone.utc))
    sent = mfa.begin_phone_enrolment(me, user_id, PHONE)
    assert mfa.verify(sent.challenge.id, outbox.last_code(PHONE)).ok
    return mfa


# --- db -----------------------------------------------------------------------------------
def test_db_upgrade_asks_then_upgrades_and_check_agrees(db: Db) -> None:
    missing = db.run("db", "check")
    assert missing.returncode == 1 and "mfakit db upgrade" in missing.stderr
    declined = db.run("db", "upgrade", input="n\n")
    assert declined.returncode == 1 and "Aborted" in declined.stderr
    assert migrate.current(db.url, table_prefix=db.prefix) is None
    done = db.run("db", "upgrade", input="y\n")
    assert done.returncode == 0, done.stderr
    assert f"from none to {migrate.HEAD}" in done.stdout
    assert db.run("db", "check").returncode == 0
    again = db.run("db", "upgrade")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    [event] = events(db)
    assert event["action"] == "schema.upgraded" and event["actor_id"] == "cli:anna"
    assert event["details"] == {"from": "none", "to": migrate.HEAD}


def test_the_store_refuses_to_start_before_the_upgrade(db: Db) -> None:
    missing = db.run("user", "status", "alice")
    assert missing.returncode == 3 and "mfakit db upgrade" in missing.stderr


def test_db_check_reports_a_difference(ready: Db) -> None:
    engine = create_engine(ready.url)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {ready.prefix}contacts ADD COLUMN extra INTEGER"))
    engine.dispose()
    done = ready.run("db", "check")
    assert done.returncode == 1 and "extra" in done.stderr


# --- keys ---------------------------------------------------------------------------------
def test_keys_generate_prints_fresh_32_byte_keys(tmp_path: Path) -> None:
    db = Db(f"sqlite:///{tmp_path / 'unused.db'}", "mfa_")
    first, second = (db.run("keys", "generate").stdout.strip() for _ in range(2))
    assert first != second
    for key in (first, second):
        assert key.startswith("mfk1_")  # mfakit.generate_secret_key(): a random key id
        assert len(base64.urlsafe_b64decode(key.split("_", 2)[2] + "=")) == 32
    store = SqlStore.from_url("sqlite://")
    MFA(store=store, secret_key=first, issuer="x")  # usable as a key
    store.close()


# --- user ---------------------------------------------------------------------------------
def test_user_status_masks_the_phone_and_unlock_lifts_the_lockout(ready: Db) -> None:
    mfa = enrolled(ready)
    store = ready.store()
    now = datetime.now(timezone.utc)
    stored = store.get_counter("failures:alice")  # cleared by the enrolment's success
    version = 0 if stored is None else stored.version
    locked = Counter(
        key="failures:alice", count=50, window_start=now, updated_at=now, version=version
    )
    assert store.put_counter(locked)
    status = ready.run("user", "status", "alice", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["locked"] is True and shown["failures"] == 50
    assert shown["two_factor_on"] is True and shown["phone_verified"] is True
    assert shown["backup_codes_left"] == 10
    assert PHONE not in status.stdout and shown["phone"].startswith("+1")
    human = ready.run("user", "status", "alice")
    assert "locked out" in human.stdout and PHONE not in human.stdout

    declined = ready.run("user", "unlock", "alice", input="n\n")
    assert declined.returncode == 1
    assert store.get_counter("failures:alice").count == 50  # type: ignore[union-attr]
    done = ready.run("user", "unlock", "alice", input="y\n")
    assert done.returncode == 0, done.stderr
    assert "50 failures cleared" in done.stdout
    assert store.get_counter("failures:alice").count == 0  # type: ignore[union-attr]
    [unlocked] = [e for e in mfa.list_events("alice") if e.action == "account.unlocked"]
    assert unlocked.actor_id == "cli:anna"
    again = ready.run("user", "unlock", "alice")
    assert again.returncode == 0 and "nothing to unlock" in again.stdout
    store.close()


def test_disable_2fa_needs_a_reason_and_records_it(ready: Db) -> None:
    mfa = enrolled(ready)
    assert ready.run("user", "disable-2fa", "alice", "--yes").returncode == 2
    done = ready.run(
        "--operator",
        "bob",
        "user",
        "disable-2fa",
        "alice",
        "--reason",
        "lost phone, ID checked",
        "--yes",
    )
    assert done.returncode == 0, done.stderr
    assert mfa.backup_codes_left("alice") == 0
    assert all(not f.verified for f in mfa.list_factors("alice"))
    [event] = [e for e in mfa.list_events("alice") if e.action == "two_factor.disabled"]
    assert event.actor_id == "cli:bob" and event.reason == "operator"
    assert dict(event.details) == {"note": "lost phone, ID checked"}
    off = ready.run("user", "disable-2fa", "alice", "--reason", "again", "--yes")
    assert off.returncode == 1 and "not on" in off.stderr


def test_devices_revoke(ready: Db) -> None:
    store = ready.store()
    now = datetime.now(timezone.utc)
    for n in range(2):
        store.insert_device(
            DeviceRecord(
                id=f"d{n}",
                user_id="alice",
                label="Firefox",
                created_at=now,
                expires_at=now + timedelta(days=14),
                security_version=0,
            )
        )
    assert ready.run("user", "status", "alice", "--json").stdout.count('"trusted_devices": 2')
    done = ready.run("devices", "revoke", "alice", "--yes")
    assert done.returncode == 0 and "Revoked 2" in done.stdout
    assert all(d.revoked_at is not None for d in store.list_devices("alice"))
    [event] = events(ready, "--user", "alice")
    assert event["action"] == "device.revoked_all" and event["actor_id"] == "cli:anna"
    store.close()


# --- purge --------------------------------------------------------------------------------
def test_purge_deletes_what_expired_and_records_it(ready: Db) -> None:
    store = ready.store()
    old = datetime.now(timezone.utc) - timedelta(days=3)
    for n in range(5):
        store.insert_challenge(challenge_record(f"old{n}", at=old))
    store.insert_challenge(challenge_record("fresh", at=datetime.now(timezone.utc)))
    too_recent = ready.run("purge", "--before", datetime.now(timezone.utc).isoformat(), "--yes")
    assert too_recent.returncode == 2 and "one day" in too_recent.stderr
    done = ready.run("purge", "--batch", "2", "--yes")
    assert done.returncode == 0, done.stderr
    assert "Purged 5 rows" in done.stdout and "Purging" in done.stderr
    assert store.get_challenge("old0") is None and store.get_challenge("fresh") is not None
    [event] = events(ready)
    assert event["action"] == "retention.purged" and event["subject_id"] == "*"
    assert event["details"]["rows"] == "5"  # type: ignore[index]
    store.close()


def test_purge_before_a_date_keeps_what_ended_after_it(ready: Db) -> None:
    store = ready.store()
    now = datetime.now(timezone.utc)
    store.insert_challenge(challenge_record("ten_days", at=now - timedelta(days=10)))
    store.insert_challenge(challenge_record("three_days", at=now - timedelta(days=3)))
    cut = (now - timedelta(days=5)).date().isoformat()  # a date: midnight UTC
    done = ready.run("purge", "--before", cut, "--yes")
    assert done.returncode == 0, done.stderr
    assert "Purged 1 rows" in done.stdout and cut in done.stdout
    assert store.get_challenge("ten_days") is None
    assert store.get_challenge("three_days") is not None
    [event] = [e for e in events(ready) if e["action"] == "retention.purged"]
    assert event["details"]["before"].startswith(cut)  # type: ignore[index]
    store.close()


# --- audit --------------------------------------------------------------------------------
def test_audit_tail_lines_oldest_first(ready: Db) -> None:
    enrolled(ready, "alice")
    enrolled(ready, "bob")
    everyone = ready.run("audit", "tail", "-n", "50").stdout.splitlines()
    assert any("user=alice" in line for line in everyone)
    assert any("user=bob" in line for line in everyone)
    stamps = [line.split()[0] for line in everyone]
    assert stamps == sorted(stamps)  # oldest first
    alice = events(ready, "--user", "alice")
    assert alice and all(e["subject_id"] == "alice" for e in alice)
    assert PHONE not in ready.run("audit", "tail", "-n", "50").stdout
    assert ready.run("audit", "tail", "--limit", "0").returncode == 2


# --- configuration and exit codes ---------------------------------------------------------
def test_a_config_file_and_the_environment(ready: Db, tmp_path: Path) -> None:
    config = tmp_path / "mfakit.toml"
    config.write_text(
        f'[mfakit]\ndatabase_url = "{ready.url}"\ntable_prefix = "{ready.prefix}"\n'
        f'secret_keys = ["{KEY}"]\n'
    )
    bare = {"MFAKIT_DATABASE_URL": "", "MFAKIT_TABLE_PREFIX": "", "MFAKIT_SECRET_KEYS": ""}
    done = ready.run("--config", str(config), "user", "status", "alice", env=bare)
    assert done.returncode == 0, done.stderr
    via_env = ready.run("user", "status", "alice", env={**bare, "MFAKIT_CONFIG": str(config)})
    assert via_env.returncode == 0
    # The environment wins over the file: a prefix no table carries (unique per run, so tables
    # another run left in a shared database cannot answer for it).
    absent = f"zz{ready.prefix}"
    wrong = ready.run(
        "--config", str(config), "user", "status", "alice", env={"MFAKIT_TABLE_PREFIX": absent}
    )
    assert wrong.returncode == 3 and absent in wrong.stderr


def test_configuration_errors_exit_3(ready: Db, tmp_path: Path) -> None:
    no_url = ready.run("user", "status", "alice", env={"MFAKIT_DATABASE_URL": ""})
    assert no_url.returncode == 3 and "MFAKIT_DATABASE_URL" in no_url.stderr
    no_keys = ready.run("user", "status", "alice", env={"MFAKIT_SECRET_KEYS": ""})
    assert no_keys.returncode == 3 and "MFAKIT_SECRET_KEYS" in no_keys.stderr
    short = ready.run("user", "status", "alice", env={"MFAKIT_SECRET_KEYS": "short"})
    assert short.returncode == 3
    bad = tmp_path / "bad.toml"
    bad.write_text("[mfakit\n")
    assert ready.run("--config", str(bad), "db", "check").returncode == 3
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[mfakit]\npassword = "x"\n')
    assert ready.run("--config", str(unknown), "db", "check").returncode == 3


def test_usage_errors_exit_2(ready: Db) -> None:
    assert ready.run("nope").returncode == 2
    assert ready.run("user", "unlock").returncode == 2
    assert ready.run("user", "status", " padded ").returncode == 2
    assert ready.run("purge", "--before", "yesterday", "--yes").returncode == 2


def test_storage_errors_exit_4_without_the_password(tmp_path: Path) -> None:
    pg = Db("postgresql+psycopg://mfa:s3cretpw@127.0.0.1:9/none", "mfa_")
    done = pg.run("db", "check")
    assert done.returncode == 4 and "s3cretpw" not in done.stdout + done.stderr
    sqlite = Db(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", "mfa_")
    assert sqlite.run("user", "status", "alice").returncode == 4


def test_help_names_every_command_and_the_exit_codes(tmp_path: Path) -> None:
    db = Db(f"sqlite:///{tmp_path / 'unused.db'}", "mfa_")
    top = db.run("--help").stdout
    for group in ("db", "keys", "user", "devices", "purge", "audit"):
        assert group in top
    assert "3 configuration, 4 storage" in top
    assert "disable-2fa" in db.run("user", "--help").stdout


def test_every_command_that_changes_something_asks_first(ready: Db) -> None:
    """Declined at the question: exit 1, nothing changed, nothing audited.
    Confirmed: done, and audited under the operator's name."""
    mfa = enrolled(ready)
    store = ready.store()
    now = datetime.now(timezone.utc)
    store.insert_device(
        DeviceRecord(
            id="d1",
            user_id="alice",
            label="Firefox",
            created_at=now,
            expires_at=now + timedelta(days=14),
            security_version=0,
        )
    )
    store.insert_challenge(challenge_record("old", at=now - timedelta(days=3)))
    trail = events(ready, "-n", "200")
    changing = [
        ("user", "disable-2fa", "alice", "--reason", "lost phone"),
        ("devices", "revoke", "alice"),
        ("purge",),
    ]
    for command in changing:
        declined = ready.run(*command, input="n\n")
        assert declined.returncode == 1, command
        assert "[y/N]" in declined.stdout and "nothing changed" in declined.stderr, command
    assert mfa.backup_codes_left("alice") == 10
    assert store.list_devices("alice")[0].revoked_at is None
    assert store.get_challenge("old") is not None
    assert events(ready, "-n", "200") == trail

    for command in changing:
        done = ready.run(*command, input="y\n")
        assert done.returncode == 0, (command, done.stderr)
    new = events(ready, "-n", "200")[len(trail) :]
    by_cli = {e["action"]: e["actor_id"] for e in new if str(e["actor_id"]).startswith("cli:")}
    assert by_cli == {
        "two_factor.disabled": "cli:anna",
        "device.revoked_all": "cli:anna",
        "retention.purged": "cli:anna",
    }
    store.close()


def test_the_console_script_runs(tmp_path: Path) -> None:
    """`mfakit` itself, as pip installs it: pyproject declares it, the installed
    distribution's entry point names `mfakit.cli:main`, and the script runs."""
    import sysconfig
    from importlib.metadata import entry_points

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '[project.scripts]\nmfakit = "mfakit.cli:main"' in text
    [entry] = entry_points(group="console_scripts", name="mfakit")
    assert entry.value == "mfakit.cli:main"
    script = Path(sysconfig.get_path("scripts")) / "mfakit"
    if not script.exists():
        message = f"mfakit is not installed in {script.parent}: pip install -e '.[cli]'"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": SRC}
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Exit codes: 0 ok" in done.stdout
    bad = subprocess.run(
        [str(script), "user", "status", "alice"],
        capture_output=True,
        text=True,
        env={**env, "MFAKIT_OPERATOR": "anna", "MFAKIT_DATABASE_URL": ""},
        timeout=60,
        check=False,
    )
    assert bad.returncode == 3 and "MFAKIT_SECRET_KEYS" in bad.stderr  # nothing configured
