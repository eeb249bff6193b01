"""`import mfakit` loads nothing of the library (issue 13: 80-180 ms); each public
name is imported from its module on first use, and is the same object there."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mfakit

INIT = Path(mfakit.__file__)


def _type_checking_imports() -> dict[str, str]:
    """The names the `if TYPE_CHECKING:` block of mfakit/__init__.py imports."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    found[alias.asname or alias.name] = "." * stmt.level + (stmt.module or "")
    return found


def test_the_lazy_table_matches_the_imports_type_checkers_see() -> None:
    assert _type_checking_imports() == mfakit._EXPORTS
    assert sorted(mfakit._EXPORTS) == sorted(mfakit.__all__)


@pytest.mark.parametrize("name", sorted(mfakit.__all__))
def test_every_public_name_is_its_modules_object(name: str) -> None:
    module = importlib.import_module(mfakit._EXPORTS[name], "mfakit")
    assert getattr(mfakit, name) is getattr(module, name)


def test_import_mfakit_loads_none_of_its_modules() -> None:
    code = "import json, sys, mfakit; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = [m for m in json.loads(out.stdout) if m.startswith("mfakit.")]
    assert loaded == []


def test_a_submodule_reads_as_an_attribute_and_a_typo_is_an_attribute_error() -> None:
    assert mfakit.errors.StorageError is mfakit.StorageError
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = mfakit.NoSuchName  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = mfakit._private  # type: ignore[attr-defined]
    assert "MFA" in dir(mfakit)
