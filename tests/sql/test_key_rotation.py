"""Key rotation on SQLite (a file, as from_url sets it up) and PostgreSQL:
eight threads verify codes while two rotations re-seal the same rows
(tests/rotation_race.py says what must hold); and the async facade's rotation
on the async SQL store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from mfakit import AsyncMFA, Keyring, generate_secret_key
from mfakit.adapters import MemoryAuditLog
from mfakit.adapters.sql import AsyncSqlStore, SqlStore
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests import rotation_race
from tests.helpers import fresh


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_rotation_while_eight_threads_verify(
    make_store: Callable[[str], SqlStore], backend: str
) -> None:
    outcome = rotation_race.run(make_store(backend), users=48, batch=4)
    rotation_race.assert_sound(outcome, 48)


@pytest.mark.parametrize("backend", ["sqlite-file", "postgres"])
def test_a_pending_setup_is_resealed_and_confirmed_under_the_new_key(
    make_store: Callable[[str], SqlStore], backend: str
) -> None:
    rotation_race.pending_setup_survives(make_store(backend))


def test_async_rotation_on_the_async_store(tmp_path: Path) -> None:
    old, new = generate_secret_key(), generate_secret_key()

    async def main() -> None:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
        await store.create_all()
        clock = FakeClock()

        def app(*keys: str) -> AsyncMFA:
            return AsyncMFA(
                store=store,
                secret_key=list(keys),
                issuer="R",
                clock=clock,
                hasher=fast_hasher(),
                audit=MemoryAuditLog(),
            )

        before = app(old)
        for user in ("alice", "bob", "carol"):
            actor = fresh(clock, user, secret=old)
            setup = await before.begin_totp_setup(actor, user, account_name=f"{user}@x.org")
            code = authenticator_code(setup.secret, clock.now())
            assert (await before.confirm_totp_setup(actor, setup.id, code)).ok
        after = app(new, old)
        seen: list[int] = []
        result = await after.rotate_keys(batch=2, progress=lambda r: seen.append(r.resealed))
        assert (result.resealed, result.done, seen) == (3, True, [2, 3])
        assert await after.unused_keys() == (Keyring(old).primary_id,)
        usage = await after.key_usage()
        assert usage.of(Keyring(new).primary_id).authenticators == 3  # type: ignore[union-attr]
        await store.close()

    asyncio.run(main())
