"""The async in-memory adapter runs the shared storage contract through the
blocking bridge (its racing threads become concurrent tasks on one loop)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfakit.adapters.memory_async import AsyncMemoryStore
from mfakit.testing.contract import BlockingStore, StoreContract, totp_record


class TestAsyncMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[BlockingStore]:
        with BlockingStore(AsyncMemoryStore()) as bridge:
            yield bridge


def test_the_bridge_offers_only_storage_methods() -> None:
    with BlockingStore(AsyncMemoryStore()) as bridge:
        assert bridge.add_totp(totp_record(), limit=5, now=totp_record().created_at)
        assert bridge.run(bridge.store.get_totp("alice", "f1")) == totp_record()
        with pytest.raises(AttributeError):
            bridge.sync  # noqa: B018  # AsyncMemoryStore has it; the bridge does not pass it on
    with pytest.raises(RuntimeError, match="closed"):
        bridge.get_totp("alice", "f1")
    bridge.close()  # twice is fine
