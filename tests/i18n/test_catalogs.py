"""The catalogs cannot drift from the source: ``scripts/catalogs check`` (run by
``scripts/check``) passes on the committed files and fails, on a temporary copy,
for each way they can go wrong; ``update`` and ``compile`` bring them back.
Babel is a development tool: these tests skip without it, except under CI=true."""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "catalogs"
LANGUAGES = ("de", "es", "fr", "pt_BR")


@pytest.fixture(scope="module")
def babel() -> Any:
    try:
        import babel.messages.pofile
    except ImportError:  # pragma: no cover - depends on the environment
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("CI=true but Babel is missing: pip install -e '.[dev]'")
        pytest.skip("Babel is not installed (pip install -e '.[dev]')")
    import babel as module

    return module


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path, babel: Any) -> Path:
    """A copy of the package (source and catalogs) to break."""
    shutil.copytree(
        REPO / "src" / "mfakit",
        tmp_path / "src" / "mfakit",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


def po_path(root: Path, language: str) -> Path:
    return root / "src" / "mfakit" / "locale" / language / "LC_MESSAGES" / "mfakit.po"


def edit_po(root: Path, language: str, change: Callable[[Any], None]) -> None:
    from babel.messages.pofile import read_po, write_po

    path = po_path(root, language)
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=language)
    change(catalog)
    out = io.BytesIO()
    write_po(out, catalog, width=100, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(out.getvalue())


def add_to_source(root: Path, code: str) -> None:
    texts = root / "src" / "mfakit" / "core" / "texts.py"
    texts.write_text(texts.read_text(encoding="utf-8") + code, encoding="utf-8")


def test_the_committed_catalogs_pass(babel: Any) -> None:
    result = run(REPO, "check")
    assert result.returncode == 0, result.stderr
    assert "4 languages, complete and compiled" in result.stdout


def test_the_copy_passes_before_it_is_broken(tree: Path) -> None:
    assert run(tree, "check").returncode == 0


def test_a_new_message_missing_from_the_catalogs_fails_until_translated(tree: Path) -> None:
    add_to_source(tree, '\nBRAND_NEW = N_("A brand new message.")\n')
    result = run(tree, "check")
    assert result.returncode == 1
    for language in LANGUAGES:
        assert f"{language}/LC_MESSAGES/mfakit.po: missing message 'A brand new message.'" in (
            result.stderr
        )
    assert "mfakit.pot: missing message 'A brand new message.'" in result.stderr

    # update adds it, untranslated: still a failure.
    assert run(tree, "update").returncode == 0
    result = run(tree, "check")
    assert result.returncode == 1
    assert "missing message" not in result.stderr
    assert result.stderr.count("untranslated message 'A brand new message.'") == 4

    # Translated and compiled: the check passes, and the new .mo carries it.
    def translate(catalog: Any) -> None:
        catalog["A brand new message."].string = "Eine ganz neue Nachricht."

    for language in LANGUAGES:
        edit_po(tree, language, translate)
    assert "differs from its .po compiled" in run(tree, "check").stderr
    assert run(tree, "compile").returncode == 0
    assert run(tree, "check").returncode == 0
    import gettext

    mo = po_path(tree, "de").with_suffix(".mo")
    with mo.open("rb") as fp:
        assert gettext.GNUTranslations(fp).gettext("A brand new message.") == (
            "Eine ganz neue Nachricht."
        )


def test_a_message_gone_from_the_source_is_stale(tree: Path) -> None:
    texts = tree / "src" / "mfakit" / "core" / "texts.py"
    source = texts.read_text(encoding="utf-8")
    old = "That did not work. Please try again."
    texts.write_text(source.replace(old, "That did not work, sorry."), encoding="utf-8")
    result = run(tree, "check")
    assert result.returncode == 1
    assert result.stderr.count(f"stale message {old!r}") == 5  # four .po and the .pot
    assert result.stderr.count("missing message 'That did not work, sorry.'") == 5
    # update keeps the old translation as a fuzzy hint: a translator must review it.
    assert run(tree, "update").returncode == 0
    result = run(tree, "check")
    assert result.returncode == 1
    assert "stale" not in result.stderr and "missing" not in result.stderr
    assert result.stderr.count("fuzzy message 'That did not work, sorry.'") == 4


def test_a_plural_changed_in_the_source_fails(tree: Path) -> None:
    texts = tree / "src" / "mfakit" / "core" / "texts.py"
    source = texts.read_text(encoding="utf-8")
    texts.write_text(source.replace('"{n} tries left."', '"{n} attempts left."'), "utf-8")
    result = run(tree, "check")
    assert result.returncode == 1
    assert "message '{n} try left.' has another plural form in the source" in result.stderr


def test_a_fuzzy_entry_fails(tree: Path) -> None:
    def fuzz(catalog: Any) -> None:
        catalog["Backup codes"].flags.add("fuzzy")

    edit_po(tree, "es", fuzz)
    result = run(tree, "check")
    assert result.returncode == 1
    assert "es/LC_MESSAGES/mfakit.po: fuzzy message 'Backup codes'" in result.stderr


@pytest.mark.parametrize("plural", [False, True])
def test_an_untranslated_entry_fails(tree: Path, plural: bool) -> None:
    key = "{n} try left." if plural else "Backup codes"

    def clear(catalog: Any) -> None:
        message = catalog[key]
        message.string = ("Noch {n} Versuch.", "") if plural else ""

    edit_po(tree, "de", clear)
    result = run(tree, "check")
    assert result.returncode == 1
    assert f"de/LC_MESSAGES/mfakit.po: untranslated message {key!r}" in result.stderr


def test_a_missing_plural_form_fails(tree: Path) -> None:
    def drop(catalog: Any) -> None:
        message = catalog["{n} try left."]
        message.string = message.string[:2]  # French needs three (CLDR: one, many, other)

    edit_po(tree, "fr", drop)
    result = run(tree, "check")
    assert result.returncode == 1
    # Babel reads the missing form as empty: an untranslated message.
    assert "fr/LC_MESSAGES/mfakit.po: untranslated message '{n} try left.'" in result.stderr


def test_a_mo_that_is_not_its_po_compiled_fails(tree: Path) -> None:
    def reword(catalog: Any) -> None:
        catalog["Backup codes"].string = "Codes de secours (nouveau)"

    edit_po(tree, "fr", reword)
    result = run(tree, "check")
    assert result.returncode == 1
    assert "fr/LC_MESSAGES/mfakit.mo: differs from its .po compiled" in result.stderr
    assert run(tree, "compile").returncode == 0
    assert run(tree, "check").returncode == 0
    po_path(tree, "pt_BR").with_suffix(".mo").unlink()
    assert "pt_BR/LC_MESSAGES/mfakit.mo: missing" in run(tree, "check").stderr


def test_a_new_language_starts_untranslated(tree: Path) -> None:
    assert run(tree, "init", "it").returncode == 0
    result = run(tree, "check")
    assert result.returncode == 1
    assert "it/LC_MESSAGES/mfakit.po: untranslated message" in result.stderr
    assert "it/LC_MESSAGES/mfakit.mo: missing" in result.stderr


def test_the_runtime_reads_the_catalogs_without_babel() -> None:
    code = (
        "import sys\n"
        "sys.modules['babel'] = None  # importing Babel now fails\n"
        "import mfakit\n"
        "print(mfakit.texts('de').tries_left(2))\n"
        "print(any(m == 'babel' or m.startswith('babel.') for m in sys.modules if sys.modules[m]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.splitlines() == ["Noch 2 Versuche.", "False"]


def test_importing_mfakit_loads_no_catalog() -> None:
    code = (
        "import mfakit, mfakit.i18n\n"
        "print(mfakit.i18n.load_catalog.cache_info().currsize)\n"
        "mfakit.texts('fr')\n"
        "print(mfakit.i18n.load_catalog.cache_info().currsize)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["0", "1"]


def test_the_package_data_ships_every_catalog_file() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11 and later")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["mfakit"]
    package = REPO / "src" / "mfakit"
    files = [p.relative_to(package).as_posix() for p in (package / "locale").rglob("*")]
    files = [f for f in files if (package / f).is_file()]
    assert {f.rsplit(".", 1)[-1] for f in files} == {"pot", "po", "mo"}
    assert len(files) == 1 + 2 * len(LANGUAGES)
    for name in files:
        assert any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns), name
