"""Finding 5.6 of the 0.1.0 attack review: lone UTF-16 surrogates.

``"\\ud800"`` is valid JSON (``"\\ud800"`` decodes to it) but not encodable as
UTF-8, so before the fix it escaped as ``UnicodeEncodeError`` from about twenty
entry points: at hashing, at the SQL driver, at rendering. Every public method
of the facade is found by introspection (as in ``tests/invariants/test_fuzz``)
and each of its text parameters is given a lone surrogate while the others stay
valid: the answer is a typed refusal (S36), and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import mfakit
from mfakit import MFA, Actor, InvalidInput, RequestContext
from mfakit.adapters import MemoryAuditLog, MemoryStore, Outbox
from mfakit.adapters.sql import SqlStore
from mfakit.core.validation import check_id, check_label, check_role, check_text
from mfakit.errors import StorageError
from mfakit.passwords import check_new_password, hash_password, verify_password
from mfakit.testing import FakeClock, authenticator_code, fast_hasher
from tests.helpers import snapshot
from tests.invariants.test_fuzz import (
    CASES,
    VALID,
    template,
    valid_kwargs,
    world,
)

KEY = "80effbd8ac1b41bafae2f170fc5561cf62da41d0d051ef14976b51e87aaf5924"
SURROGATES = ["\ud800", "alice\udfff", "+1415555\ud8000101", "a\ud83d@example.org"]


def text_cases() -> list[tuple[str, str]]:
    """Every (method, parameter) whose valid value is text, plus the ones that
    take text among other types (method, kind, secret, code...)."""
    t = template()
    out = []
    for name, param in CASES:
        if param in ("actor", "context", "trust_device", "limit", "before"):
            continue
        value = VALID[param](t)
        if value is None or isinstance(value, (str, mfakit.Method)) or param in ("secret",):
            out.append((name, param))
    return out


TEXT_CASES = text_cases()


@pytest.mark.parametrize(("name", "param"), TEXT_CASES, ids=[f"{n}-{p}" for n, p in TEXT_CASES])
def test_a_lone_surrogate_is_refused_with_a_typed_error(name: str, param: str) -> None:
    for value in SURROGATES:
        w = world()
        kwargs = valid_kwargs(name, template())
        if name == "begin_contact_change" and param == "phone":
            kwargs["email"] = None
        kwargs[param] = value
        before = snapshot(w.store)
        try:
            getattr(w.mfa, name)(**kwargs)
        except InvalidInput:
            pass
        except Exception as exc:  # the finding: UnicodeEncodeError, or an untyped error
            pytest.fail(f"{name}({param}={value!r}) raised {type(exc).__name__}: {exc}")
        else:
            pytest.fail(f"{name}({param}={value!r}) was accepted")
        assert snapshot(w.store) == before


def test_the_validators_refuse_surrogates() -> None:
    for check in (
        lambda v: check_id("user_id", v),
        lambda v: check_text("label", v, max_length=64),
        check_label,
        check_role,
        lambda v: Actor.user(v),
        lambda v: Actor.admin(v),
        lambda v: RequestContext(ip=v),
        lambda v: RequestContext(user_agent=v),
        mfakit.normalize_email,
        mfakit.normalize_phone,
        lambda v: mfakit.StaticPolicies({v: mfakit.Policy()}),
        lambda v: check_new_password("old password", v, v),
        lambda v: check_new_password(v, "new password", "new password"),
        hash_password,
        lambda v: verify_password(hash_password("x"), v),
    ):
        for value in SURROGATES:
            with pytest.raises(InvalidInput):
                check(value)


def test_configuration_refuses_surrogates() -> None:
    with pytest.raises(mfakit.ConfigurationError):
        MFA(store=MemoryStore(), secret_key=KEY, issuer="Acme\ud800")


@pytest.fixture
def sql_mfa(tmp_path: Any) -> Iterator[tuple[MFA, SqlStore, Outbox, FakeClock]]:
    store = SqlStore.from_url(f"sqlite:///{tmp_path}/s.db")
    outbox, clock = Outbox(), FakeClock()
    mfa = MFA(
        store=store,
        secret_key=KEY,
        issuer="Acme",
        email=outbox,
        sms=outbox,
        clock=clock,
        hasher=fast_hasher(),
        audit=MemoryAuditLog(),
    )
    yield mfa, store, outbox, clock
    store.close()


def test_the_sql_store_maps_encoding_errors_to_storage_error(
    sql_mfa: tuple[MFA, SqlStore, Outbox, FakeClock],
) -> None:
    """Below the validators, a store given such text answers StorageError."""
    from mfakit.core.records import QuestionRecord

    _, store, _, clock = sql_mfa
    with pytest.raises(StorageError):
        store.put_question(
            QuestionRecord(
                user_id="bob\ud800", question="Q?", answer_hash="$h", created_at=clock.now()
            )
        )


def test_sql_facade_refuses_surrogates_before_the_store(
    sql_mfa: tuple[MFA, SqlStore, Outbox, FakeClock],
) -> None:
    mfa, _store, _, clock = sql_mfa
    actor = Actor.user("alice", reauthenticated_at=clock.now())
    setup = mfa.begin_totp_setup(actor, "alice", account_name="alice@example.org")
    assert mfa.confirm_totp_setup(actor, setup.id, authenticator_code(setup.uri, clock.now())).ok
    for call in (
        lambda: mfa.begin_sign_in("alice\ud800"),
        lambda: mfa.verify_totp("alice", "12345\ud800"),
        lambda: mfa.begin_email_enrolment(actor, "alice", "a\ud800@example.org"),
        lambda: mfa.rename_authenticator(actor, "alice", setup.id, "Phone\ud800"),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_the_async_sql_store_maps_encoding_errors_to_storage_error(tmp_path: Any) -> None:
    import asyncio

    from mfakit.adapters.sql import AsyncSqlStore
    from mfakit.core.records import QuestionRecord

    async def run() -> None:
        store = AsyncSqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path}/a.db")
        try:
            await store.create_all()
            record = QuestionRecord(
                user_id="bob\ud800", question="Q?", answer_hash="$h", created_at=FakeClock().now()
            )
            with pytest.raises(StorageError):
                await store.put_question(record)
        finally:
            await store.close()

    asyncio.run(run())
