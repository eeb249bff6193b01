"""The core does no I/O and imports nothing outward (ARCHITECTURE.md); importing
mfakit does no work (rule 8)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mfakit.core

CORE_DIR = Path(mfakit.core.__file__).parent
CORE_MODULES = sorted(CORE_DIR.glob("*.py"))

# Layers the core may not reach, and standard or third-party modules that do
# I/O, read the clock or draw randomness.
FORBIDDEN_MODULES = {
    "mfakit.ports",
    "mfakit.service",
    "mfakit.adapters",
    "mfakit.testing",
    "mfakit.mfa",
    "os",
    "socket",
    "time",
    "secrets",
    "random",
    "uuid",
    "subprocess",
    "pathlib",
    "shutil",
    "tempfile",
    "logging",
    "asyncio",
    "threading",
    "smtplib",
    "http",
    "urllib.request",
    "ssl",
    "requests",
    "httpx",
    "sqlalchemy",
}
FORBIDDEN_CALL_ATTRS = {"now", "utcnow", "today", "time", "monotonic", "urandom", "token_bytes"}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}
# Modules reached through an attribute (``secrets.token_bytes``); a local
# variable may carry one of these names, so a bare name is not flagged.
FORBIDDEN_BASES = {"secrets", "random", "os", "time", "socket", "sys", "uuid", "io"}


# otpauth renders QR codes into in-memory buffers; nothing else from io.
IN_MEMORY_IO = {"BytesIO", "StringIO"}


def module_name(path: Path) -> str:
    return "mfakit.core" if path.stem == "__init__" else f"mfakit.core.{path.stem}"


def imported_modules(tree: ast.AST, current: str, is_package: bool) -> set[str]:
    """Absolute names of every module an AST imports, relative imports resolved.

    ``from X import y`` yields both ``X`` and ``X.y`` (y may be a submodule).
    """
    package = current if is_package else current.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(base_parts)
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES)


def violations(source: str, current: str, is_package: bool = False) -> list[str]:
    tree = ast.parse(source)
    found = [f"import {m}" for m in imported_modules(tree, current, is_package) if is_forbidden(m)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALL_ATTRS:
                found.append(f"call .{func.attr}() at line {node.lineno}")
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"call {func.id}() at line {node.lineno}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in FORBIDDEN_BASES
            and not (node.value.id == "io" and node.attr in IN_MEMORY_IO)
        ):
            found.append(f"use of {node.value.id}.{node.attr} at line {node.lineno}")
    return sorted(set(found))


def test_core_modules_exist() -> None:
    names = {p.stem for p in CORE_MODULES}
    assert {"otp", "otpauth", "backup_codes", "keys", "policy", "limits", "actor"} <= names


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert violations(source, module_name(path), path.stem == "__init__") == []


# The checker must be able to fail: each snippet below is a violation it has to see.
@pytest.mark.parametrize(
    "snippet",
    [
        "from ..ports import clock",
        "from ..ports.storage import Store",
        "from .. import service",
        "from ..service.factors import enrol",
        "from ..adapters.memory import MemoryStore",
        "from mfakit.testing import FakeClock",
        "import mfakit.service.factors",
        "import os",
        "import os.path",
        "from os import urandom",
        "import socket",
        "import time",
        "from time import time as now",
        "import secrets",
        "from secrets import token_bytes",
        "import random",
        "import urllib.request",
        "from http import client",
        "import sqlalchemy",
        "x = datetime.now(timezone.utc)",
        "x = datetime.utcnow()",
        "x = date.today()",
        "x = time.time()",
        "x = os.urandom(8)",
        "x = secrets.token_bytes(8)",
        "x = random.random()",
        "x = random.choice",
        "x = sys.stdin",
        "x = io.open('f')",
        "x = uuid.uuid4()",
        "open('f')",
        "print('code', code)",
    ],
)
def test_checker_detects(snippet: str) -> None:
    assert violations(snippet, "mfakit.core.example"), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "from ..errors import InvalidInput",
        "from .validation import check_id",
        "from . import otpauth",
        "from datetime import datetime, timedelta",
        "import hmac",
        "from urllib.parse import quote",
        "import io",
        "x = now - then",
        "out = io.BytesIO()",
        "for secret in secrets: pass",
    ],
)
def test_checker_allows(snippet: str) -> None:
    assert violations(snippet, "mfakit.core.example") == []


def test_relative_import_resolution() -> None:
    tree = ast.parse("from ..ports import clock\nfrom . import otp\nfrom .keys import Keyring")
    found = imported_modules(tree, "mfakit.core.otp", is_package=False)
    assert "mfakit.ports" in found
    assert "mfakit.ports.clock" in found
    assert "mfakit.core.otp" in found
    assert "mfakit.core.keys" in found
    pkg = imported_modules(ast.parse("from ..ports import clock"), "mfakit.core", is_package=True)
    assert "mfakit.ports" in pkg


# --- import mfakit does no work ---------------------------------------------------------

HEAVY = ["sqlalchemy", "segno", "smtplib", "http.client", "requests", "httpx", "psycopg"]


def loaded_after(statement: str) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, bool] = json.loads(out.stdout)
    return result


def test_import_mfakit_loads_nothing_heavy() -> None:
    loaded = loaded_after("import mfakit")
    assert not any(loaded.values()), loaded


def test_import_core_modules_loads_nothing_heavy() -> None:
    statement = "; ".join(f"import {module_name(p)}" for p in CORE_MODULES)
    loaded = loaded_after(statement)
    assert not any(loaded.values()), loaded


def test_the_subprocess_check_can_fail() -> None:
    # segno is installed: importing it must show up.
    assert loaded_after("import segno")["segno"] is True
