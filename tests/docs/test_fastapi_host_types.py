"""A FastAPI host written from the docs alone type-checks under ``mypy --strict``
with no ignore (issue 14).

The host is the ``# fastapi_host.py`` block of docs/async.md, taken from the page as
a reader copies it; tests/docs/test_every_block.py runs it (and drives it over HTTP).
Here mypy, strict, checks it against the mfakit under test, and two edits a reader
could make show that the check has teeth: reading the challenge without narrowing
``begin_sign_in``'s outcome, and a bare ``dict`` result (what this page used to show).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.test_every_block import python_blocks
from tests.examples.test_sign_in_outcomes_type_check import mypy_strict

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "async.md"


@pytest.fixture(scope="module")
def host() -> str:
    pytest.importorskip("fastapi", reason="the FastAPI host needs fastapi installed")
    blocks = [block for block in python_blocks(PAGE) if block.file_name == "fastapi_host.py"]
    assert len(blocks) == 1, "docs/async.md has no (or more than one) # fastapi_host.py block"
    assert blocks[0].skip_reason is None, "the FastAPI host block must run"
    return blocks[0].code


def test_the_docs_fastapi_host_type_checks_strictly(tmp_path: Path, host: str) -> None:
    assert "ignore" not in host  # no `# type: ignore`, no mypy option turned off
    assert "Any" not in host.replace("Annotated", "")  # nothing escapes the checker
    output, status = mypy_strict(tmp_path, "fastapi_host", host)
    assert status == 0, output
    assert "Success" in output


def test_reading_the_challenge_without_narrowing_fails_the_check(tmp_path: Path, host: str) -> None:
    narrowed = 'request.session["challenge_id"] = challenge.id'
    assert narrowed in host
    unnarrowed = host.replace(
        "        match start:",
        '        request.session["first"] = start.challenge.id\n        match start:',
        1,
    )
    assert unnarrowed != host
    output, status = mypy_strict(tmp_path, "fastapi_host", unnarrowed)
    assert status == 1
    assert 'Item "None" of "Challenge | None" has no attribute "id"' in output


def test_a_bare_dict_result_fails_the_check(tmp_path: Path, host: str) -> None:
    loose = host.replace(
        "async def submit_code(form: CodeForm, request: Request, response: Response) -> Answer:",
        "async def submit_code(form: CodeForm, request: Request, response: Response) -> dict:",
    )
    assert loose != host
    output, status = mypy_strict(tmp_path, "fastapi_host", loose)
    assert status == 1
    assert '"dict"  [type-arg]' in output  # strict: no implicit dict[Any, Any]
