"""Every passkey flow through MFA on DjangoStore: SQLite and PostgreSQL.

The script is `tests/passkeys/every_flow.py`, the same one the SQL stores run
sync and async: register, second step, passwordless with conditional UI and
its replay, step-up, a second key, list, rename, remove.
"""

from __future__ import annotations

import pytest

from mfakit import MFA
from mfakit.integrations.django.store import DjangoStore
from mfakit.testing import FakeClock
from tests.passkeys.every_flow import config, run_every_flow

from .settings import MFAKIT_ONLY

pytestmark = pytest.mark.django_db(databases="__all__", available_apps=MFAKIT_ONLY)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_passkey_flow_on_django(backend: str, request: pytest.FixtureRequest) -> None:
    alias = str(request.getfixturevalue("postgres_alias")) if backend == "postgres" else "default"
    clock = FakeClock()
    run_every_flow(MFA(store=DjangoStore(alias), **config(clock)), clock)
