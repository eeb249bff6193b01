"""``mfakit keys rotate | keys status`` and ``purge --audit-days``, run as an
operator would (a subprocess) on a SQLite file and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mfakit import MFA, Actor, Keyring
from mfakit.core.keys import Sealed
from mfakit.service.factors import TOTP_PURPOSE, totp_aad
from mfakit.testing import authenticator_code, fast_hasher
from mfakit.testing.contract import audit_event

from .test_cli import KEY, Db, events
from .test_cli import db as db
from .test_cli import ready as ready

NEW = "9f3c2a7d41e05b86c17e92d4a0b3f58e6d21c7a49b0e83f5d6c2a17b9e40f3d8"
"""The key rotated to; like KEY, it must never be printed."""
OLD_ID, NEW_ID = Keyring(KEY).primary_id, Keyring(NEW).primary_id


def with_authenticators(db: Db, users: int) -> dict[str, bytes]:
    """``users`` users with an authenticator sealed under KEY; their secrets."""
    store = db.store()
    mfa = MFA(store=store, audit=store, secret_key=KEY, issuer="Test", hasher=fast_hasher())
    secrets = {}
    for n in range(users):
        user = f"u{n}"
        me = Actor.user(user, reauthenticated_at=datetime.now(timezone.utc))
        setup = mfa.begin_totp_setup(me, user, account_name=f"{user}@example.org")
        code = authenticator_code(setup.secret, datetime.now(timezone.utc))
        assert mfa.confirm_totp_setup(me, setup.id, code).ok
        (rec,) = store.list_totp(user)
        secrets[user] = Keyring(KEY).open(
            TOTP_PURPOSE, Sealed(rec.secret_key_id, rec.secret_blob), aad=totp_aad(user, rec.id)
        )
    return secrets


def run(db: Db, *args: str, keys: str, input: str = "") -> tuple[int, str, str]:
    done = db.run(*args, input=input, env={"MFAKIT_SECRET_KEYS": keys})
    assert NEW not in done.stdout + done.stderr
    return done.returncode, done.stdout, done.stderr


def test_keys_rotate_reseals_everything_and_says_which_key_can_go(ready: Db) -> None:
    secrets = with_authenticators(ready, 5)
    both = f"{NEW},{KEY}"
    code, out, _ = run(ready, "keys", "status", "--json", keys=both)
    assert code == 0
    status = json.loads(out)
    assert status["primary"] == NEW_ID and status["unused"] == []
    assert [(k["key_id"], k["authenticators"]) for k in status["keys"]] == [
        (NEW_ID, 0),
        (OLD_ID, 5),
    ]

    code, _, err = run(ready, "keys", "rotate", keys=both, input="n\n")
    assert code == 1 and "nothing changed" in err
    store = ready.store()
    assert {r.secret_key_id for u in secrets for r in store.list_totp(u)} == {OLD_ID}

    code, out, err = run(ready, "keys", "rotate", "--batch", "2", keys=both, input="y\n")
    assert code == 0, err
    assert "Re-sealed 5 authenticator secrets under key " + NEW_ID in out
    assert "Re-sealing" in err  # the progress bar
    assert f"Nothing needs {OLD_ID} any more" in out
    for user, secret in secrets.items():
        (rec,) = store.list_totp(user)
        assert rec.secret_key_id == NEW_ID
        opened = Keyring(NEW).open(
            TOTP_PURPOSE, Sealed(rec.secret_key_id, rec.secret_blob), aad=totp_aad(user, rec.id)
        )
        assert opened == secret
    [event] = [e for e in events(ready) if e["action"] == "keys.rotated"]
    assert event["actor_id"] == "cli:anna" and event["subject_id"] == "*"
    assert event["details"] == {  # key ids and counts only
        "key": NEW_ID,
        "resealed": "5",
        "changed": "0",
        "unreadable": "0",
    }

    # Run again: nothing to do. Then the old key goes and everything still works.
    code, out, _ = run(ready, "keys", "rotate", "--yes", keys=both)
    assert code == 0 and "sealed under key " + NEW_ID + " already" in out
    code, out, _ = run(ready, "keys", "status", keys=NEW)
    assert code == 0 and OLD_ID not in out and "authenticators=5" in out
    code, out, _ = run(ready, "user", "status", "u0", "--json", keys=NEW)
    assert code == 0 and json.loads(out)["authenticators"] == 1


def test_a_key_missing_from_the_keyring_is_reported_exit_1(ready: Db) -> None:
    with_authenticators(ready, 2)
    code, out, err = run(ready, "keys", "status", keys=NEW)  # KEY dropped too early
    assert code == 1 and "NOT IN THE KEYRING" in out and OLD_ID in out
    code, out, err = run(ready, "keys", "rotate", "--yes", keys=NEW)
    assert code == 1
    assert "0 changed meanwhile, 2 unreadable" in out and "lacks" in err
    assert KEY not in out + err


def test_keys_rotate_refuses_a_bad_batch_and_needs_keys(ready: Db) -> None:
    assert run(ready, "keys", "rotate", "--batch", "0", "--yes", keys=NEW)[0] == 2
    assert run(ready, "keys", "rotate", "--yes", keys="")[0] == 3


def test_purge_keeps_the_audit_trail_unless_told(ready: Db) -> None:
    store = ready.store()
    now = datetime.now(timezone.utc)
    for n in range(3):
        store.record(audit_event(n, at=now - timedelta(days=400 - n)))
    store.record(audit_event(9, at=now - timedelta(days=2)))
    code, out, err = run(ready, "purge", "--yes", keys=KEY)
    assert code == 0, err
    assert len(store.list_events("alice")) == 4
    code, out, err = run(ready, "purge", "--audit-days", "365", "--yes", keys=KEY)
    assert code == 0, err
    assert "audit events older than 365 days" in out
    assert [e.id for e in store.list_events("alice")] == ["ev0009"]
    purges = [e for e in events(ready) if e["action"] == "retention.purged"]
    assert purges[-1]["details"]["audit_days"] == "365"  # type: ignore[index]
    assert run(ready, "purge", "--audit-days", "0", "--yes", keys=KEY)[0] == 2


def test_the_retention_setting_comes_from_the_environment_or_the_file(
    ready: Db, tmp_path: Path
) -> None:
    store = ready.store()
    now = datetime.now(timezone.utc)
    store.record(audit_event(1, at=now - timedelta(days=40)))
    store.record(audit_event(2, at=now - timedelta(days=20)))
    config = tmp_path / "mfakit.toml"
    config.write_text("[mfakit]\naudit_retention_days = 30\n")
    done = ready.run("--config", str(config), "purge", "--yes")
    assert done.returncode == 0, done.stderr
    assert [e.id for e in store.list_events("alice")] == ["ev0002"]
    done = ready.run("purge", "--yes", env={"MFAKIT_AUDIT_RETENTION_DAYS": "10"})
    assert done.returncode == 0, done.stderr
    assert store.list_events("alice") == []
    bad = ready.run("purge", "--yes", env={"MFAKIT_AUDIT_RETENTION_DAYS": "forever"})
    assert bad.returncode == 3 and "MFAKIT_AUDIT_RETENTION_DAYS" in bad.stderr
