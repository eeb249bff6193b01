"""`mfakit`: the operator's command (`pip install 'mfakit[cli]'`).

```text
mfakit db upgrade | db check
mfakit keys generate | keys status [--json] | keys rotate [--batch N]
mfakit user status USER [--json] | user unlock USER | user disable-2fa USER --reason TEXT
mfakit devices revoke USER
mfakit purge [--before DATE] [--audit-days N]
mfakit audit tail [--user USER] [--limit N] [--json]
```

Configuration comes from `MFAKIT_*` environment variables or a TOML file
(`config`). Every command that changes something asks first (`--yes`
skips the question), records an audit event whose actor is
`cli:<operator>` (`--operator`, by default the OS user) and prints what it
did. Exit codes: `EXIT_OK` 0, `EXIT_REFUSED` 1 (refused, not
found, declined, or `db check` found a difference), `EXIT_USAGE` 2,
`EXIT_CONFIG` 3, `EXIT_STORAGE` 4. See `docs/operating.md`.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import click
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the mfakit command needs click: pip install 'mfakit[cli]'") from exc

from ..core.actor import Actor
from ..core.audit import Action
from ..core.keys import Keyring
from ..core.records import AuditRecord
from ..core.results import KeyRotation, KeyUsage
from ..errors import ConfigurationError, InvalidInput, MfaError, StorageError
from ..keygen import generate_secret_key
from ..service import operator
from ..service.retention import MIN_AGE
from .config import Settings, load_settings

if TYPE_CHECKING:
    from ..adapters.sql import SqlStore
    from ..mfa import MFA

__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "cli",
    "main",
]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_STORAGE = 4

T = TypeVar("T")


class Env:
    """What every command gets: the settings and who operates."""

    def __init__(self, settings: Settings, operator_name: str) -> None:
        self.settings = settings
        self.operator = operator_name
        self._store: SqlStore | None = None

    @property
    def actor(self) -> Actor:
        return Actor.admin(f"cli:{self.operator}", reauthenticated_at=datetime.now(timezone.utc))

    def store(self) -> SqlStore:
        if self._store is None:
            from ..adapters.sql import SqlStore

            self._store = SqlStore.from_url(
                self.settings.require_url(),
                table_prefix=self.settings.table_prefix,
                create=False,
            )
        return self._store

    def mfa(self, *, keys_needed: bool = True, audit_retention_days: int | None = None) -> MFA:
        """The facade on the configured store, which is also its audit log.
        Maintenance commands (purge, upgrade) seal nothing: without configured
        keys they run on a throwaway key."""
        from ..core.policy import Policy
        from ..mfa import MFA

        keys = self.settings.secret_keys
        if not keys:
            if keys_needed:
                self.settings.require_keys()
            keys = (generate_secret_key(),)
        store = self.store()
        days = audit_retention_days or self.settings.audit_retention_days
        return MFA(
            store=store,
            audit=store,
            secret_key=Keyring(*keys),
            issuer=self.settings.issuer,
            policy=Policy(audit_retention_days=days),
        )

    def run(self, mfa: MFA, use_case: Callable[..., Any], *args: object, **kwargs: object) -> Any:
        """Run one of `mfakit.service.operator`'s use cases on `mfa`."""
        return mfa._run(use_case, *args, **kwargs)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
        return ""


def _confirm(yes: bool, question: str) -> None:
    if not yes:
        click.confirm(question, abort=True)


yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML config file (else MFAKIT_CONFIG); MFAKIT_* variables override it.",
)
@click.option(
    "--operator",
    envvar="MFAKIT_OPERATOR",
    default=_default_operator,
    show_default="the OS user",
    help="Your name, recorded in the audit trail as cli:<name>.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, operator: str) -> None:
    """Operate mfakit: migrate its tables, rotate keys, unlock users, purge, read the audit trail.

    \b
    Exit codes: 0 ok, 1 refused / not found / declined, 2 usage,
    3 configuration, 4 storage.
    """
    if not operator or not operator.strip():
        raise ConfigurationError("no operator name: pass --operator NAME")
    env = Env(load_settings(config_path), operator.strip())
    ctx.call_on_close(env.close)
    ctx.obj = env


# --- db -----------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """The SQL store's schema: migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="The revision to reach.")
@yes_option
@click.pass_obj
def db_upgrade(env: Env, revision: str, yes: bool) -> int:
    """Create or upgrade mfakit's tables (Alembic, version table <prefix>alembic_version)."""
    from ..adapters.sql import migrate

    url, prefix = env.settings.require_url(), env.settings.table_prefix
    before = migrate.current(url, table_prefix=prefix)
    target = migrate.HEAD if revision == "head" else revision
    if before == target:
        click.echo(f"mfakit's tables ({prefix}...) are at revision {target}: nothing to do")
        return EXIT_OK
    _confirm(yes, f"Upgrade mfakit's tables ({prefix}...) from {before or 'none'} to {target}?")
    # Read again under the upgrade's lock: another job may have upgraded meanwhile.
    before, reached = migrate.upgrade_steps(url, table_prefix=prefix, revision=revision)
    if before == reached:
        click.echo(f"mfakit's tables ({prefix}...) are at revision {reached}: nothing to do")
        return EXIT_OK
    mfa = env.mfa(keys_needed=False)
    details = {"from": before or "none", "to": reached or "none"}
    env.run(mfa, operator.record_maintenance, env.actor, Action.SCHEMA_UPGRADED, details=details)
    click.echo(f"Upgraded mfakit's tables ({prefix}...) from {before or 'none'} to {reached}")
    return EXIT_OK


@db.command("check")
@click.pass_obj
def db_check(env: Env) -> int:
    """Exit 0 if the tables are at this release's revision and match its models."""
    from ..adapters.sql import migrate

    problems = migrate.check(env.settings.require_url(), table_prefix=env.settings.table_prefix)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        return EXIT_REFUSED
    click.echo(f"mfakit's tables are up to date (revision {migrate.HEAD})")
    return EXIT_OK


# --- keys ---------------------------------------------------------------------------------
@cli.group()
def keys() -> None:
    """Secret keys (MFAKIT_SECRET_KEYS)."""


@keys.command("generate")
def keys_generate() -> int:
    """Print a fresh random secret key (`mfakit.generate_secret_key()`: 32 random
    bytes with a random key id)."""
    click.echo(generate_secret_key())
    return EXIT_OK


def _usage_lines(usage: KeyUsage) -> list[str]:
    lines = []
    for use in usage.keys:
        role = (
            "primary"
            if use.key_id == usage.primary
            else "NOT IN THE KEYRING"
            if use.key_id in usage.unknown
            else "unused: can be removed"
            if use.key_id in usage.unused
            else "older"
        )
        lines.append(
            f"{use.key_id}  {role:<22} authenticators={use.authenticators} "
            f"security_answers={use.security_answers} open_challenges={use.open_challenges}"
        )
    return lines


@keys.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def keys_status(env: Env, as_json: bool) -> int:
    """Which keys the stored values still need (by key id, never the key).

    Exit 1 if the store names a key the keyring lacks."""
    usage: KeyUsage = env.mfa().key_usage()
    if as_json:
        data = {
            "primary": usage.primary,
            "unused": list(usage.unused),
            "unknown": list(usage.unknown),
            "keys": [dict(asdict(use), total=use.total) for use in usage.keys],
        }
        click.echo(json.dumps(data, sort_keys=True))
    else:
        click.echo("\n".join(_usage_lines(usage)))
    return EXIT_REFUSED if usage.unknown else EXIT_OK


@keys.command("rotate")
@click.option(
    "--batch", default=100, show_default=True, help="Authenticators re-sealed a transaction."
)
@yes_option
@click.pass_obj
def keys_rotate(env: Env, batch: int, yes: bool) -> int:
    """Re-seal every authenticator secret under the first key of MFAKIT_SECRET_KEYS.

    \b
    Safe while the application runs (each record is re-sealed by a
    compare-and-set on its old ciphertext) and resumable: run it again after
    an interruption. Every application server must have the new key first in
    its keyring before you run it. Exit 1 if some records could not be
    opened (their key is missing from the keyring)."""
    if not 1 <= batch <= 10_000:
        raise click.BadParameter("must be 1 to 10000", param_hint="--batch")
    mfa = env.mfa()
    before: KeyUsage = mfa.key_usage()
    todo = sum(u.authenticators for u in before.keys if u.key_id != before.primary)
    if todo:
        _confirm(yes, f"Re-seal {todo} authenticator secrets under key {before.primary}?")
        done = 0
        with click.progressbar(length=todo, label="Re-sealing", file=sys.stderr) as bar:

            def progress(report: KeyRotation) -> None:
                nonlocal done
                bar.update(report.seen - done)
                done = report.seen

            result = mfa.rotate_keys(batch=batch, progress=progress)
        details = {
            "key": result.key_id,
            "resealed": str(result.resealed),
            "changed": str(result.changed),
            "unreadable": str(result.unreadable),
        }
        env.run(mfa, operator.record_maintenance, env.actor, Action.KEYS_ROTATED, details=details)
        click.echo(
            f"Re-sealed {result.resealed} authenticator secrets under key {result.key_id}"
            f" ({result.changed} changed meanwhile, {result.unreadable} unreadable)"
            f" (audit: by {env.actor.id})"
        )
    else:
        click.echo(f"Every authenticator secret is sealed under key {before.primary} already")
    after: KeyUsage = mfa.key_usage()
    click.echo("\n".join(_usage_lines(after)))
    if after.unused:
        click.echo(
            f"Nothing needs {', '.join(after.unused)} any more: remove it from"
            " MFAKIT_SECRET_KEYS and from every application server's keyring"
        )
    waiting = [u for u in after.keys if u.key_id != after.primary and u.total]
    if waiting and not after.unknown:
        click.echo(
            "Still needed: security answers are re-keyed at their user's next right answer,"
            " open challenges expire within minutes"
        )
    if after.unknown:
        click.echo(
            f"The store names keys the keyring lacks ({', '.join(after.unknown)}): what they"
            " sealed cannot be read; add them back to MFAKIT_SECRET_KEYS and run again",
            err=True,
        )
        return EXIT_REFUSED
    return EXIT_OK


# --- user ---------------------------------------------------------------------------------
@cli.group()
def user() -> None:
    """One user's 2FA: status, unlock, turn off."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


@user.command("status")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def user_status(env: Env, user_id: str, as_json: bool) -> int:
    """Show USER_ID's factors, lock-out and devices (destinations masked)."""
    status: operator.UserStatus = env.run(env.mfa(), operator.user_status, user_id)
    fields = {k: _jsonable(v) for k, v in asdict(status).items()}
    if as_json:
        click.echo(json.dumps(fields, sort_keys=True, ensure_ascii=False))
        return EXIT_OK
    lock = (
        "locked out (run: mfakit user unlock)"
        if status.locked
        else f"backing off for {int(status.retry_after.total_seconds())} s"
        if status.retry_after
        else "not locked"
    )
    lines = [
        f"user:               {status.user_id}",
        f"2FA:                {'on' if status.two_factor_on else 'off'}",
        f"authenticators:     {status.authenticators}"
        + (f" (+{status.pending_authenticators} pending)" if status.pending_authenticators else ""),
        f"phone:              {_contact(status.phone, status.phone_verified)}",
        f"email:              {_contact(status.email, status.email_verified)}",
        f"backup codes left:  {status.backup_codes_left}",
        f"security question:  {'set' if status.security_question else 'none'}",
        f"preferred method:   {status.preferred_method or 'default'}",
        f"failures:           {status.failures}: {lock}",
        f"trusted devices:    {status.trusted_devices}",
        f"security version:   {status.security_version}",
    ]
    click.echo("\n".join(lines))
    return EXIT_OK


def _contact(value: str | None, verified: bool) -> str:
    if value is None:
        return "none"
    return f"{value} ({'verified' if verified else 'unverified'})"


@user.command("unlock")
@click.argument("user_id")
@yes_option
@click.pass_obj
def user_unlock(env: Env, user_id: str, yes: bool) -> int:
    """Lift USER_ID's lock-out or back-off (clears the consecutive failures)."""
    mfa = env.mfa()
    status: operator.UserStatus = env.run(mfa, operator.user_status, user_id)
    if not status.failures:
        click.echo(f"{user_id} has no failures recorded: nothing to unlock")
        return EXIT_OK
    state = "locked out" if status.locked else "backing off" if status.retry_after else "counting"
    _confirm(yes, f"Unlock {user_id} ({status.failures} consecutive failures, {state})?")
    actor = env.actor
    mfa.unlock_second_step(actor, user_id)
    click.echo(f"Unlocked {user_id}: {status.failures} failures cleared (audit: by {actor.id})")
    return EXIT_OK


@user.command("disable-2fa")
@click.argument("user_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@yes_option
@click.pass_obj
def user_disable_2fa(env: Env, user_id: str, reason: str, yes: bool) -> int:
    """Turn USER_ID's 2FA off: authenticators and backup codes deleted, devices revoked."""
    mfa = env.mfa()
    status: operator.UserStatus = env.run(mfa, operator.user_status, user_id)
    if not status.two_factor_on:
        click.echo(f"two-step verification is not on for {user_id}", err=True)
        return EXIT_REFUSED
    _confirm(
        yes,
        f"Turn 2FA off for {user_id} ({status.authenticators} authenticators, "
        f"{status.backup_codes_left} backup codes, {status.trusted_devices} trusted devices)?",
    )
    actor = env.actor
    env.run(mfa, operator.disable_two_factor, actor, user_id, reason=reason)
    click.echo(
        f"Turned 2FA off for {user_id}: authenticators and backup codes deleted, phone and "
        f"email unverified, trusted devices revoked (audit: by {actor.id})"
    )
    return EXIT_OK


# --- devices ------------------------------------------------------------------------------
@cli.group()
def devices() -> None:
    """Trusted devices."""


@devices.command("revoke")
@click.argument("user_id")
@yes_option
@click.pass_obj
def devices_revoke(env: Env, user_id: str, yes: bool) -> int:
    """Stop trusting every device of USER_ID (their next sign-in asks for 2FA)."""
    mfa = env.mfa()
    _confirm(yes, f"Revoke every trusted device of {user_id}?")
    actor = env.actor
    count = mfa.revoke_all_devices(actor, user_id)
    click.echo(f"Revoked {count} trusted devices of {user_id} (audit: by {actor.id})")
    return EXIT_OK


# --- purge --------------------------------------------------------------------------------
def _parse_before(value: str | None) -> datetime:
    now = datetime.now(timezone.utc)
    if value is None:
        return now - MIN_AGE
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("an ISO date or date-time, e.g. 2026-01-31") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


@cli.command("purge")
@click.option(
    "--before",
    metavar="DATE",
    help="Purge what ended before DATE (ISO; UTC unless given). Default: a day ago.",
)
@click.option("--batch", default=1000, show_default=True, help="Rows of each kind a round.")
@click.option(
    "--audit-days",
    type=click.IntRange(1, 36_500),
    metavar="N",
    help="Also delete audit events older than N days (default: MFAKIT_AUDIT_RETENTION_DAYS;"
    " without either, the audit trail is kept).",
)
@yes_option
@click.pass_obj
def purge(env: Env, before: str | None, batch: int, audit_days: int | None, yes: bool) -> int:
    """Delete expired challenges, idle counters, revoked and expired devices, used codes,
    stale notices, and audit events past their retention.

    Never lifts a lock-out. Run it daily (or hourly) from a scheduler.
    """
    when = _parse_before(before)
    mfa = env.mfa(keys_needed=False, audit_retention_days=audit_days)
    days = mfa.policy.audit_retention_days
    audit_note = "" if days is None else f", and audit events older than {days} days"
    _confirm(yes, f"Purge what expired, was revoked or used before {when.isoformat()}{audit_note}?")
    total = 0
    with click.progressbar(
        _rounds(env, mfa, when, batch),
        label="Purging",
        item_show_func=lambda n: None if n is None else f"{total} rows",
        file=sys.stderr,
    ) as rounds:
        for gone in rounds:
            total += gone
    details = {"rows": str(total), "before": when.isoformat()}
    if days is not None:
        details["audit_days"] = str(days)
    env.run(mfa, operator.record_maintenance, env.actor, Action.DATA_PURGED, details=details)
    click.echo(f"Purged {total} rows that ended before {when.isoformat()}{audit_note}")
    return EXIT_OK


def _rounds(env: Env, mfa: MFA, before: datetime, batch: int) -> Iterator[int]:
    while True:
        gone: int = env.run(mfa, operator.purge_batch, before=before, batch=batch)
        if not gone:
            return
        yield gone


# --- audit --------------------------------------------------------------------------------
@cli.group()
def audit() -> None:
    """The audit trail (kept in the store)."""


@audit.command("tail")
@click.option("--user", "user_id", help="Only this user's events.")
@click.option("--limit", "-n", default=20, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_obj
def audit_tail(env: Env, user_id: str | None, limit: int, as_json: bool) -> int:
    """The newest audit events, oldest first (like tail)."""
    if not 1 <= limit <= 1000:
        raise click.BadParameter("must be 1 to 1000", param_hint="--limit")
    if user_id is not None:
        events = env.mfa(keys_needed=False).list_events(user_id, limit=limit)
    else:
        events = _newest_events(env.store(), limit)
    for event in reversed(events):
        click.echo(_event_json(event) if as_json else _event_line(event))
    return EXIT_OK


def _newest_events(store: SqlStore, limit: int) -> list[AuditRecord]:
    """Every subject's newest events (the port lists one user's only)."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from ..adapters import rows
    from ..adapters.sql.operations import storage_error

    table = store.metadata.tables[store.table_prefix + "audit_events"]
    try:
        with store.engine.connect() as conn:
            found = conn.execute(select(table).order_by(table.c.seq.desc()).limit(limit))
            return [rows.audit_from(row._mapping) for row in found]
    except SQLAlchemyError as exc:
        raise storage_error("cli", "audit_tail", exc) from exc


def _event_json(e: AuditRecord) -> str:
    data = {k: _jsonable(v) for k, v in asdict(e).items()}
    data["details"] = dict(e.details)
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _event_line(e: AuditRecord) -> str:
    parts = [e.at.isoformat(timespec="seconds"), e.action, e.outcome, f"user={e.subject_id}"]
    for name in ("actor_id", "method", "reason", "ip"):
        value = getattr(e, name)
        if value:
            parts.append(f"{name.removesuffix('_id')}={value}")
    parts.extend(f"{k}={v}" for k, v in e.details)
    return "  ".join(parts)


# --- entry point --------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the command, map errors to the exit codes."""
    code = run(argv)
    sys.exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    """Run `mfakit` with `argv`; the exit code (see the module docs)."""
    try:
        result = cli.main(args=argv, prog_name="mfakit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted: nothing changed.", err=True)
        return EXIT_REFUSED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_REFUSED
    except ConfigurationError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        return EXIT_CONFIG
    except StorageError as exc:
        click.echo(f"storage error: {exc}", err=True)
        return EXIT_STORAGE
    except InvalidInput as exc:
        click.echo(f"invalid input: {exc}", err=True)
        return EXIT_USAGE
    except MfaError as exc:
        click.echo(f"refused: {exc}", err=True)
        return EXIT_REFUSED
    return result if isinstance(result, int) else EXIT_OK
