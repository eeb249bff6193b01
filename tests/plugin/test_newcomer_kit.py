"""What a newcomer hits first in the test kit and the extras (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from mfakit import InvalidInput
from mfakit.adapters import Outbox
from mfakit.testing import FakeClock


def test_fake_clock_advances_by_seconds_or_a_timedelta() -> None:
    clock = FakeClock()
    start = clock.now()
    assert clock.advance(31) == start + timedelta(seconds=31)
    assert clock.advance(0.5) == start + timedelta(seconds=31.5)
    assert clock.advance(timedelta(minutes=1)) == start + timedelta(seconds=91.5)
    assert clock.advance(minutes=1) == start + timedelta(seconds=151.5)
    for bad in ("31", True, -1, timedelta(seconds=-1)):
        with pytest.raises(InvalidInput):
            clock.advance(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        clock.advance(5, minutes=1)


def test_outbox_last_code_skips_a_notice_sent_after_the_code() -> None:
    outbox = Outbox()
    outbox.send_sms("+14155550101", "123456 is your code")
    outbox.send_sms("+14155550101", "Your phone was changed on 2026-01-01 12:00 UTC.")
    assert outbox.last_code("+14155550101") == "123456"
    outbox.send_sms("+14155550101", "654321 is your code")
    assert outbox.last_code("+14155550101") == "654321"
    with pytest.raises(LookupError):
        outbox.last_code("+14155550199")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_sql_adapter_names_its_extra_when_sqlalchemy_is_missing() -> None:
    done = _python(
        """
        import sys
        sys.modules["sqlalchemy"] = None  # as if it were not installed
        try:
            import mfakit.adapters.sql
        except ImportError as exc:
            print(exc)
        """
    )
    assert "pip install 'mfakit[sql]'" in done.stdout, done.stderr


def test_the_async_sql_store_names_the_extras_when_greenlet_is_missing() -> None:
    # [sql] and [postgres] bring SQLAlchemy's asyncio extra (greenlet); an install
    # without it is told which of ours to use, not SQLAlchemy's own target.
    done = _python(
        """
        import sys
        sys.modules["greenlet"] = None  # as if it were not installed
        import mfakit.adapters.sql as sql
        print(sql.SqlStore.__name__)  # the sync store needs no greenlet
        try:
            from mfakit.adapters.sql import AsyncSqlStore
        except ImportError as exc:
            print(exc)
        """
    )
    assert done.stdout.startswith("SqlStore\n"), done.stdout + done.stderr
    assert "pip install 'mfakit[sql]'" in done.stdout
    assert "'mfakit[postgres]'" in done.stdout
    assert "greenlet" in done.stdout


def test_import_mfakit_loads_neither_pyotp_nor_asyncio() -> None:
    done = _python(
        """
        import sys
        import mfakit
        print(sorted(m for m in ("pyotp", "asyncio") if m in sys.modules))
        """
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
