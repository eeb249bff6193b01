"""The `mfakit` command's configuration: a TOML file, then the environment.

Settings (environment variable, or key in the file's `[mfakit]` table):

- `MFAKIT_DATABASE_URL` / `database_url`: SQLAlchemy URL of the store (required).
- `MFAKIT_SECRET_KEYS` / `secret_keys`: the keyring, newest first;
  comma-separated in the environment, a list in the file (needed for the user
  and key commands).
- `MFAKIT_TABLE_PREFIX` / `table_prefix`: table prefix (default `mfa_`).
- `MFAKIT_ISSUER` / `issuer`: the issuer name (default `mfakit`).
- `MFAKIT_AUDIT_RETENTION_DAYS` / `audit_retention_days`: days `purge`
  keeps audit events (`Policy.audit_retention_days`; default: forever).

The file is `--config PATH` or `MFAKIT_CONFIG`; the environment wins over
it. Secrets never appear in output or errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

__all__ = ["ENV", "Settings", "load_settings"]

ENV = {
    "database_url": "MFAKIT_DATABASE_URL",
    "secret_keys": "MFAKIT_SECRET_KEYS",
    "table_prefix": "MFAKIT_TABLE_PREFIX",
    "issuer": "MFAKIT_ISSUER",
    "audit_retention_days": "MFAKIT_AUDIT_RETENTION_DAYS",
}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    table_prefix: str = "mfa_"
    issuer: str = "mfakit"
    audit_retention_days: int | None = None

    def require_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError(
                "no database: set MFAKIT_DATABASE_URL or database_url in the config file"
            )
        return self.database_url

    def require_keys(self) -> tuple[str, ...]:
        if not self.secret_keys:
            raise ConfigurationError(
                "no secret keys: set MFAKIT_SECRET_KEYS (comma-separated, newest first) "
                "or secret_keys in the config file"
            )
        return self.secret_keys


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ImportError("config files need tomli on 3.10: pip install 'mfakit[cli]'") from exc
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"the config file {path} is not valid TOML: {exc}") from exc
    table = data.get("mfakit", data)
    if not isinstance(table, dict):
        raise ConfigurationError(f"the config file {path}: [mfakit] must be a table")
    unknown = set(table) - set(ENV)
    if unknown:
        raise ConfigurationError(
            f"the config file {path} has unknown keys: {', '.join(sorted(unknown))}"
        )
    return table


def _keys(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        parts = [k.strip() for k in value.split(",")]
    elif isinstance(value, list) and all(isinstance(k, str) for k in value):
        parts = [k.strip() for k in value]
    else:
        raise ConfigurationError(f"{where} must be a string or a list of strings")
    return tuple(k for k in parts if k)


def _days(value: object, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is not int or not 1 <= value <= 36_500:
        raise ConfigurationError(f"{where} must be a number of days from 1 to 36500")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a string")
    return value.strip()


def load_settings(config: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from `config` (or `MFAKIT_CONFIG`), overridden by the
    environment."""
    env = os.environ if environ is None else environ
    path = (
        config
        if config is not None
        else Path(env["MFAKIT_CONFIG"])
        if env.get("MFAKIT_CONFIG")
        else None
    )
    values: dict[str, Any] = _read_toml(path) if path is not None else {}
    where = {key: f"{key} in {path}" for key in values}
    for key, name in ENV.items():
        if env.get(name, "").strip():
            values[key] = env[name]
            where[key] = name
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key == "secret_keys":
            kwargs[key] = _keys(value, where[key])
        elif key == "audit_retention_days":
            kwargs[key] = _days(value, where[key])
        else:
            kwargs[key] = _text(value, where[key])
    return Settings(**kwargs)
