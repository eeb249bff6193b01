"""AsyncMFA's typed stub is generated from the facade and must not drift."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from unittest.mock import create_autospec

import pytest

import mfakit
from mfakit.facade import Facade

ROOT = Path(__file__).resolve().parents[2]


def _load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_async_stub", ROOT / "tools" / "make_async_stub.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stub_matches_the_facade() -> None:
    committed = (ROOT / "src" / "mfakit" / "aio.pyi").read_text(encoding="utf-8")
    assert _load_tool().render() == committed, "run: python tools/make_async_stub.py"


def test_committed_async_methods_match_the_facade() -> None:
    committed = (ROOT / "src" / "mfakit" / "_aio_methods.py").read_text(encoding="utf-8")
    assert _load_tool().render_methods() == committed, "run: python tools/make_async_stub.py"


def test_every_async_method_is_a_coroutine_function() -> None:
    for name, member in vars(Facade).items():
        if name.startswith("_") or isinstance(member, property):
            continue
        method = getattr(mfakit.AsyncMFA, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method).parameters.keys() == (
            inspect.signature(member).parameters.keys()
        ), name
        assert not inspect.iscoroutinefunction(getattr(mfakit.MFA, name)), name


@pytest.mark.asyncio
async def test_an_autospec_of_async_mfa_can_be_awaited() -> None:
    """A host's test mocks AsyncMFA with create_autospec and awaits its methods."""
    mock = create_autospec(mfakit.AsyncMFA, instance=True)
    mock.verify_totp.return_value = mfakit.VerifyResult(ok=True)
    result = await mock.verify_totp("alice", "123456")
    assert result.ok
    mock.verify_totp.assert_awaited_once_with("alice", "123456")
    with pytest.raises(TypeError):  # the spec keeps the real signature
        await mock.verify_totp("alice", "123456", "extra")


def test_both_facades_offer_the_same_methods() -> None:
    public = {n for n in vars(Facade) if not n.startswith("_")}
    assert public
    for name in public:
        if isinstance(vars(Facade)[name], property):
            assert getattr(mfakit.MFA, name) is getattr(mfakit.AsyncMFA, name)
        else:
            assert hasattr(mfakit.AsyncMFA, name), name
    stub = (ROOT / "src" / "mfakit" / "aio.pyi").read_text(encoding="utf-8")
    for name, member in vars(Facade).items():
        if name.startswith("_"):
            continue
        if inspect.isfunction(member):
            assert f"    async def {name}(" in stub


def test_exported_names_are_complete() -> None:
    """Everything ``__all__`` names exists, and every public class is exported."""
    for name in mfakit.__all__:
        assert hasattr(mfakit, name), name
    assert sorted(mfakit.__all__) == sorted(set(mfakit.__all__))
