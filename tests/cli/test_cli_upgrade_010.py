"""A database as mfakit 0.1.0 left it, with a user in it, upgraded by the
operator's command (a subprocess) on a SQLite file and PostgreSQL: before the
upgrade the store refuses to start and names the command; after it `db check`
passes, and every row 0.1.0 wrote is read by this release (the sealed
authenticator secret still verifies codes, the lock-out still holds until
`user unlock`, the audit trail is kept)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, insert

from mfakit import MFA, Keyring
from mfakit.adapters.sql import migrate
from mfakit.service.factors import TOTP_PURPOSE, totp_aad
from mfakit.testing import authenticator_code

from ..sql import release_010
from ..sql.conftest import unique_prefix
from ..sql.test_migrations import drop_everything
from .test_cli import KEY, PHONE, Db, events
from .test_cli import db as db  # the fixture: an empty SQLite file or PostgreSQL prefix


def seed_010_user(db: Db) -> str:
    """alice as 0.1.0 stored her: an authenticator sealed under KEY, a verified
    phone, ten consecutive failures (locked out), her state and one audit event.
    Returns her authenticator's base32 secret."""
    engine = create_engine(db.url)
    md = release_010.make_database(engine, db.prefix)
    t = md.tables
    raw = os.urandom(20)
    now = datetime.now(timezone.utc)
    sealed = Keyring(KEY).seal(TOTP_PURPOSE, raw, aad=totp_aad("alice", "f1"), nonce=os.urandom(12))
    rows = {
        "totp_factors": {
            "user_id": "alice",
            "id": "f1",
            "label": "Phone app",
            "secret_key_id": sealed.key_id,
            "secret_blob": sealed.blob,
            "algorithm": "SHA1",
            "digits": 6,
            "period": 30,
            "created_at": now - timedelta(days=90),
            "confirmed_at": now - timedelta(days=90),
            "last_step": int((now - timedelta(days=1)).timestamp()) // 30,
        },
        "contacts": {
            "user_id": "alice",
            "kind": "phone",
            "value": PHONE,
            "created_at": now - timedelta(days=90),
            "verified_at": now - timedelta(days=90),
        },
        "counters": {
            "key": "failures:alice",
            "count": 50,
            "window_start": now - timedelta(minutes=5),
            "updated_at": now - timedelta(minutes=5),
            "version": 7,
        },
        "user_state": {"user_id": "alice", "security_version": 3, "updated_at": now},
        "audit_events": {
            "id": "ev010",
            "at": now - timedelta(days=90),
            "action": "totp.confirmed",
            "subject_id": "alice",
            "actor_id": "alice",
            "method": "totp",
            "outcome": "success",
            "details": "{}",
        },
    }
    with engine.begin() as conn:
        for table, values in rows.items():
            conn.execute(insert(t[db.prefix + table]).values(**values))
    engine.dispose()
    return _b32(raw)


def _b32(raw: bytes) -> str:
    import base64

    return base64.b32encode(raw).decode().rstrip("=")


def test_a_010_database_is_upgraded_by_the_command_and_keeps_its_rows(db: Db) -> None:
    secret = seed_010_user(db)
    refused = db.run("user", "status", "alice")
    assert refused.returncode == 3 and "mfakit db upgrade" in refused.stderr
    behind = db.run("db", "check")
    assert behind.returncode == 1

    done = db.run("db", "upgrade", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"to {migrate.HEAD}" in done.stdout
    checked = db.run("db", "check")
    assert checked.returncode == 0, checked.stderr

    status = db.run("user", "status", "alice", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["authenticators"] == 1 and shown["phone_verified"] is True
    assert shown["locked"] is True and shown["failures"] == 50
    assert shown["security_version"] == 3
    unlocked = db.run("user", "unlock", "alice", "--yes")
    assert unlocked.returncode == 0 and "50 failures cleared" in unlocked.stdout

    # The 0.1.0 ciphertext opens under this release: alice signs in with her app.
    store = db.store()
    mfa = MFA(store=store, audit=store, secret_key=KEY, issuer="Test")
    assert mfa.verify_totp("alice", authenticator_code(secret, datetime.now(timezone.utc))).ok
    trail = [e["action"] for e in events(db, "--user", "alice", "-n", "50")]
    assert trail[0] == "totp.confirmed"  # 0.1.0's event, oldest first
    assert {"schema.upgraded", "account.unlocked"} <= set(
        e["action"] for e in events(db, "-n", "50")
    )


@pytest.mark.parametrize("start", ["empty", "release 0.1.0"])
def test_four_deploy_jobs_upgrading_at_once_on_postgres(postgres_url: str, start: str) -> None:
    """`mfakit db upgrade --yes` started four times at once (four processes) on
    the same PostgreSQL database: they wait for each other's lock, all succeed,
    exactly one upgrades (and says so, and audits it) and the others find
    nothing to do; from an empty database and from a 0.1.0 one (adopted first)."""
    db = Db(postgres_url, unique_prefix())
    engine = create_engine(postgres_url)
    try:
        if start != "empty":
            release_010.make_database(engine, db.prefix)
        jobs = [db.start("db", "upgrade", "--yes") for _ in range(4)]
        outputs = [job.communicate(timeout=120) for job in jobs]
        done = [(job.returncode, output) for job, output in zip(jobs, outputs, strict=True)]
        assert [code for code, _ in done] == [0] * 4, [err for _, (_, err) in done]
        said = [out for _, (out, _) in done]
        assert sum("Upgraded" in out for out in said) == 1, said
        assert sum("nothing to do" in out for out in said) == 3, said
        first = "none" if start == "empty" else "0001"
        assert any(f"from {first} to {migrate.HEAD}" in out for out in said), said
        assert migrate.check(engine, table_prefix=db.prefix) == []
        upgrades = [e for e in events(db, "-n", "50") if e["action"] == "schema.upgraded"]
        assert len(upgrades) == 1
    finally:
        drop_everything(engine, db.prefix)
        engine.dispose()
