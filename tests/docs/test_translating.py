"""The "Translating mfakit" page runs as written: its Python blocks in order, in a
folder holding the Italian catalog compiled (with Babel, as the page says) from the
page's own ``po`` block, each ``print`` giving the output in the comment under it."""

from __future__ import annotations

import io
import itertools
import os
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "translating.md"
PYTHON = re.compile(r"```python\n(.*?)```", re.S)
PO = re.compile(r"```po\n(.*?)```", re.S)
HEADER = (
    'msgid ""\nmsgstr ""\n'
    '"Content-Type: text/plain; charset=utf-8\\n"\n'
    '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
)


def expected_output(block: str) -> list[str]:
    """The comment lines right under each ``print(...)`` line."""
    return [
        line[2:]
        for before, line in itertools.pairwise(block.splitlines())
        if line.startswith("# ") and before.lstrip().startswith("print(")
    ]


def codes_hidden(text: str) -> str:
    return re.sub(r"\b[0-9]{6}\b", "<code>", text)


@pytest.fixture
def italian_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    mofile = pytest.importorskip("babel.messages.mofile")
    pofile = pytest.importorskip("babel.messages.pofile")
    (po_block,) = PO.findall(PAGE.read_text(encoding="utf-8"))
    catalog = pofile.read_po(io.StringIO(HEADER + po_block), locale="it")
    assert len(catalog) == 3
    folder = tmp_path / "translations" / "it" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "mfakit.mo").open("wb") as fp:
        mofile.write_mo(fp, catalog)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_translating_page_runs_as_written(
    italian_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert Path(os.getcwd()) == italian_catalog
    blocks = PYTHON.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "translating_page"}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"translating.md block {number}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"translating.md block {number} failed: {type(exc).__name__}: {exc}")
        printed = capsys.readouterr().out.splitlines()
        expected = expected_output(block)
        assert expected, f"block {number} shows no output"
        assert [codes_hidden(line) for line in printed] == [
            codes_hidden(line) for line in expected
        ], f"block {number}"
