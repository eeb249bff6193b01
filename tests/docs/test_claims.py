"""Claims the guide makes about the code, checked against the code: the policy table's
defaults and bounds, the SQL table list, the extras, the plugin's clock."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import mfakit
from mfakit.adapters.sql.schema import TABLES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

ROW = re.compile(r"^\| `(?P<name>\w+)` \|(?P<default>[^|]*)\|(?P<bounds>[^|]*)\|", re.M)
UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "day": "days"}


def policy_rows() -> dict[str, tuple[str, str]]:
    text = (DOCS / "policies.md").read_text(encoding="utf-8")
    table = text[: text.index("`mfa.policy` is the default policy")]  # the settings table
    return {m["name"]: (m["default"].strip(), m["bounds"].strip()) for m in ROW.finditer(table)}


def duration(text: str) -> timedelta:
    number, unit = text.split()
    return timedelta(**{UNITS[unit]: int(number)})


def test_the_policy_table_lists_every_field_but_the_passkey_ones() -> None:
    documented = set(policy_rows())
    expected = {f.name for f in fields(mfakit.Policy) if not f.name.startswith(("webauthn_",))}
    expected -= {"passkey_passwordless", "max_passkeys"}  # on the passkeys page
    assert expected <= documented, sorted(expected - documented)


@pytest.mark.parametrize("name", sorted(policy_rows()))
def test_the_policy_table_gives_the_default(name: str) -> None:
    default, _ = policy_rows()[name]
    value = getattr(mfakit.Policy(), name)
    if default.startswith("`"):
        assert default.strip("`") == (f'"{value}"' if isinstance(value, str) else str(value))
    elif isinstance(value, timedelta):
        assert duration(default) == value
    elif name == "security_questions":
        assert default == f"{len(value)} questions"
    elif name == "require_for_roles":
        assert default == "empty" and value == frozenset()
    elif name == "allowed_methods":
        assert default == "every `Method`" and value == frozenset(mfakit.Method)
    else:  # pragma: no cover - a new kind of row
        pytest.fail(f"{name}: cannot read the default {default!r}")


INT_RANGE = re.compile(r"(\d+)-(\d+)")
UP_TO = re.compile(r"up to (\d+ \w+)")


@pytest.mark.parametrize("name", sorted(policy_rows()))
def test_the_policy_table_gives_the_bounds(name: str) -> None:
    _, bounds = policy_rows()[name]
    default = getattr(mfakit.Policy(), name)
    if isinstance(default, int) and not isinstance(default, bool) and INT_RANGE.fullmatch(bounds):
        low, high = map(int, INT_RANGE.fullmatch(bounds).groups())  # type: ignore[union-attr]
        # the bounds of the settings another one depends on
        extra = {
            "lockout_after": {"free_failures": 1},
            "backup_code_lockout_after": {"backup_code_free_failures": 1},
            "backup_code_count": {"backup_codes_low_at": 0},
        }.get(name, {})
        mfakit.Policy(**{name: low, **extra})
        mfakit.Policy(**{name: high, **extra})
        with pytest.raises(mfakit.InvalidInput):
            mfakit.Policy(**{name: low - 1, **extra})
        with pytest.raises(mfakit.InvalidInput):
            mfakit.Policy(**{name: high + 1, **extra})
    elif isinstance(default, timedelta) and UP_TO.fullmatch(bounds):
        high = duration(UP_TO.fullmatch(bounds)[1])  # type: ignore[index]
        mfakit.Policy(**{name: high})
        with pytest.raises(mfakit.InvalidInput):
            mfakit.Policy(**{name: high + timedelta(seconds=1)})


def test_the_sql_page_lists_every_table() -> None:
    text = (DOCS / "sql.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`mfa_(\w+)`", text))
    assert set(TABLES) <= listed, sorted(set(TABLES) - listed)


def test_the_install_section_lists_every_published_extra() -> None:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # dev: the project's own tools; example: the example app; docs: building this site.
    published = set(project["optional-dependencies"]) - {"dev", "example", "docs"}
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    install = text[text.index("## Install") : text.index("## Where to go next")]
    first_cells = re.findall(r"^\| ([^|]+) \|", install, re.M)
    names = {name for cell in first_cells for name in re.findall(r"`([\w-]+)`", cell)}
    assert published <= names, sorted(published - names)


def test_the_plugin_clock_starts_where_the_testing_page_says() -> None:
    from mfakit.testing import FakeClock

    text = (DOCS / "testing.md").read_text(encoding="utf-8")
    assert "a `FakeClock`, starting at 2026-01-01 12:00 UTC" in text
    assert FakeClock().now() == datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def field_table(page: str, after: str) -> list[str]:
    """The names in the first column of the first table after ``after`` on ``page``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    table = rest[rest.index("|") :]  # from the header row
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1])
    return [name for cell in rows for name in re.findall(r"`([\w.]+)`", cell)]


@pytest.mark.parametrize(
    ("page", "after", "kind"),
    [
        ("sign-in.md", "The fields of `ChallengeRequired`", mfakit.ChallengeRequired),
        ("sign-in.md", "What a `Challenge` holds", mfakit.Challenge),
        ("audit.md", "Each event is a frozen `mfakit.AuditRecord`", mfakit.AuditRecord),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_field_tables_name_real_fields(page: str, after: str, kind: type) -> None:
    names = field_table(page, after)
    assert names, f"no table after {after!r} in {page}"
    missing = [name for name in names if not hasattr(kind, name)]
    assert not missing, f"{page} documents fields {kind.__name__} does not have: {missing}"


def test_the_audit_page_lists_every_action() -> None:
    listed = set(field_table("audit.md", "| `action` | Recorded when |"))
    assert {action.value for action in mfakit.Action} == listed


def test_the_sign_in_page_lists_every_sign_in_reason() -> None:
    listed = set(field_table("sign-in.md", "## Every refusal, and what to show"))
    assert listed, "no Reason table"
    assert listed <= {reason.name for reason in mfakit.Reason}, listed
