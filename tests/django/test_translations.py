"""The Django app's pages in German, Spanish, French and Brazilian Portuguese:
every text of its templates and views is in each catalog, translated, and the
compiled ``.mo`` files say what the ``.po`` files say."""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

babel_pofile = pytest.importorskip("babel.messages.pofile")

APP = Path(__file__).resolve().parents[2] / "src" / "mfakit" / "integrations" / "django"
LANGUAGES = ("de", "es", "fr", "pt_BR")


def catalog(language: str) -> Any:
    path = APP / "locale" / language / "LC_MESSAGES" / "django.po"
    with path.open("rb") as f:
        return babel_pofile.read_po(f)


def msgids(po: Any) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated_and_compiled(language: str) -> None:
    po = catalog(language)
    mo_path = APP / "locale" / language / "LC_MESSAGES" / "django.mo"
    with mo_path.open("rb") as f:
        mo = gettext.GNUTranslations(f)
    assert len(msgids(po)) > 100
    for message in po:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        if isinstance(message.id, str):
            assert message.string, f"{language}: {message.id!r} is not translated"
            assert mo.gettext(message.id) == message.string, f"{language}: recompile the .mo"
        else:
            assert all(message.string), f"{language}: {message.id[0]!r} is not translated"
            assert mo.ngettext(message.id[0], message.id[1], 5) in message.string


def test_the_catalogs_hold_every_text_of_the_pages(tmp_path: Path) -> None:
    """makemessages over a copy of the app finds no text the catalogs lack."""
    if shutil.which("xgettext") is None:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("CI=true but xgettext is missing: apt-get install -y gettext")
        pytest.skip("makemessages needs GNU gettext: apt-get install -y gettext")
    copy = tmp_path / "app"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    (copy / "locale").mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(APP.parents[2]),
        "DJANGO_SETTINGS_MODULE": "mfakit.integrations.django.typing_settings",
    }
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "de", "--no-location"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (copy / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as f:
        wanted = msgids(babel_pofile.read_po(f))
    for language in LANGUAGES:
        assert wanted == msgids(catalog(language)), f"update {language}: makemessages"


def test_the_pages_speak_the_request_language(client: Any, settings: Any) -> None:
    settings.LANGUAGE_CODE = "de"
    page = client.get("/account/2fa/login/").content.decode()
    assert "<title>Anmelden</title>" in page and 'lang="de"' in page
    settings.LANGUAGE_CODE = "pt-br"
    page = client.get("/account/2fa/login/").content.decode()
    assert "<title>Entrar</title>" in page
