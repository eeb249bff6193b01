"""The application's own users and settings, in SQLite through :mod:`sqlite3`.

mfakit does not own users, passwords or sessions: the host does. This module is
the host's side of that line, kept as small as it can be. Passwords are hashed
with :func:`mfakit.passwords.hash_password` (argon2id).

Each call opens its own short connection, which is simple and safe with the
threaded development server. The tables live in the same SQLite file as
mfakit's own (``mfa_*``) tables when the SQL store is used.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from mfakit.passwords import hash_password, verify_password

__all__ = ["ROLES", "EmailTaken", "User", "Users"]

ROLES = ("staff", "client")
"""The roles a practice's policy can require 2FA for (seed 002)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    phone TEXT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class EmailTaken(Exception):
    """Another account already uses this email address."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    role: str
    is_admin: bool
    phone: str | None
    password_hash: str

    def check_password(self, password: str) -> bool:
        return verify_password(self.password_hash, password)


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        is_admin=bool(row["is_admin"]),
        phone=row["phone"],
        password_hash=row["password_hash"],
    )


class Users:
    """The ``app_users`` and ``app_settings`` tables."""

    def __init__(self, path: str) -> None:
        self._path = path
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # ``with conn`` commits or rolls back; ``closing`` closes the connection.
        with closing(sqlite3.connect(self._path, timeout=10)) as conn, conn:
            conn.row_factory = sqlite3.Row
            yield conn

    # --- users ------------------------------------------------------------
    def add(
        self,
        *,
        email: str,
        name: str,
        password: str,
        role: str,
        is_admin: bool = False,
        phone: str | None = None,
    ) -> User:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        user_id = "u_" + secrets.token_urlsafe(9)
        hashed = hash_password(password)
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO app_users (id, email, name, role, is_admin, phone,"
                    " password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        user_id,
                        email,
                        name,
                        role,
                        int(is_admin),
                        phone,
                        hashed,
                        datetime.now(timezone.utc).isoformat(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise EmailTaken(email) from None
        user = self.get(user_id)
        assert user is not None
        return user

    def get(self, user_id: str) -> User | None:
        with self._db() as db:
            return _user(db.execute("SELECT * FROM app_users WHERE id = ?", (user_id,)).fetchone())

    def by_email(self, email: str) -> User | None:
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM app_users WHERE lower(email) = lower(?)", (email.strip(),)
            ).fetchone()
            return _user(row)

    def all(self) -> list[User]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM app_users ORDER BY is_admin DESC, name").fetchall()
            return [u for u in map(_user, rows) if u is not None]

    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM app_users").fetchone()[0])

    def set_name(self, user_id: str, name: str) -> None:
        with self._db() as db:
            db.execute("UPDATE app_users SET name = ? WHERE id = ?", (name, user_id))

    def set_phone(self, user_id: str, phone: str | None) -> None:
        with self._db() as db:
            db.execute("UPDATE app_users SET phone = ? WHERE id = ?", (phone, user_id))

    def set_email(self, user_id: str, email: str) -> None:
        try:
            with self._db() as db:
                db.execute("UPDATE app_users SET email = ? WHERE id = ?", (email, user_id))
        except sqlite3.IntegrityError:
            raise EmailTaken(email) from None

    def set_password(self, user_id: str, password: str) -> None:
        hashed = hash_password(password)
        with self._db() as db:
            db.execute("UPDATE app_users SET password_hash = ? WHERE id = ?", (hashed, user_id))

    # --- settings -----------------------------------------------------------
    def setting(self, key: str, default: str) -> str:
        with self._db() as db:
            row = db.execute("SELECT value FROM app_settings WHERE key = ?", (key,)).fetchone()
            return default if row is None else str(row["value"])

    def set_setting(self, key: str, value: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO app_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
