"""Every fenced ``python`` block of every documentation page runs.

The pages are ``docs/*.md`` and ``README.md``. Each page's blocks run in order, in one
namespace, in a fresh working directory that is also on ``sys.path`` (as a reader's
project folder is), with the system clock wherever the page uses it. The environment
variables the pages read are set to throwaway values, as the reader sets them:
``MFA_SECRET_KEY`` (32 random bytes), ``SESSION_SECRET_KEY``, ``FLASK_SECRET_KEY``,
``SMTP_PASSWORD``, ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``. Nothing a block
builds reaches the network: the pages construct senders, but only send through an
``Outbox`` or the console.

**Printed output.** A top-level ``print(...)`` line with a comment after it states what
it prints: ``print(result.ok, result.reason)  # False replayed``. So do the comment
lines right under a top-level statement that prints (a ``print`` or a ``for`` loop),
one comment line per output line. The test checks both. A comment is the output, or
the output, a colon and a remark (``# 10: her first factor comes with backup codes``);
``…`` in the output stands for any text (a random code, a key id).

A top-level ``await`` is allowed, as in ``python -m asyncio``: the page's blocks share
one event loop.

**Files of the reader's project.** A block whose first line is a comment naming a file,
``# myapp.py``, is that file: it is written into the working directory. A plain module
is also run in the page's namespace; ``conftest.py`` and ``test_*.py`` files are run by
pytest (in a subprocess, with mfakit's pytest plugin) once the page's blocks have run,
and every one of their tests must pass.

**Opting a block out.** A block runs unless the line right before its fence (blank
lines aside) is the marker::

    <!-- not-run: REASON -->

where REASON says why, in words: ``<!-- not-run: needs a running PostgreSQL server
-->``. A marker without a reason fails this test, and so does a marker that is not
followed by a ``python`` block. The marker is an HTML comment, so the built site does
not show it.

**Pages with their own runner.** A few pages check more than "it runs" (printed output,
a catalog compiled from the page, a contract suite): ``OWN_RUNNER`` names the test that
runs all their blocks. Those pages carry no marker, so every block of every page is run
by exactly one test.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

# page name -> the test module that runs every python block of that page
OWN_RUNNER = {
    "quickstart.md": "tests/docs/test_snippets.py",
    "translating.md": "tests/docs/test_translating.py",
    "providers.md": "tests/docs/test_providers_page.py",
    "passkeys.md": "tests/passkeys/test_docs_page.py",
    "step-up.md": "tests/docs/test_snippets.py",
    "django.md": "tests/django/test_docs.py",
    "operating.md": "tests/docs/test_operating_page.py",
}

MARKER = re.compile(r"<!--\s*not-run\b(?P<rest>.*?)-->", re.S)
FENCE = re.compile(r"^```(?P<info>[\w+-]*)\s*$")
PRINTED = re.compile(r"^print\(.*\)  # (?P<comment>.+)$")
FILE_HEADER = re.compile(r"#\s*(?P<name>[A-Za-z_][\w]*\.py)\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    info: str
    code: str
    skip_reason: str | None  # the marker's reason; None: no marker

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def file_name(self) -> str | None:
        first = self.code.split("\n", 1)[0]
        match = FILE_HEADER.fullmatch(first)
        return match["name"] if match else None


def parse(path: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a page, and the problems with its markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, str] | None = None  # (line, reason) of a marker awaiting its block
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence:
            start = index
            index += 1
            body: list[str] = []
            while index < len(lines) and lines[index].rstrip() != "```":
                body.append(lines[index])
                index += 1
            info = fence["info"]
            reason = None
            if pending is not None:
                if info != "python":
                    problems.append(
                        f"{path.name}:{pending[0]}: not-run marker before a {info or 'plain'}"
                        " block; it only opts out a python block"
                    )
                reason = pending[1]
                pending = None
            blocks.append(Block(path.name, start + 1, info, "\n".join(body) + "\n", reason))
        else:
            marker = MARKER.fullmatch(line.strip())  # a line of its own, not prose about it
            if marker:
                if pending is not None:
                    problems.append(f"{path.name}:{pending[0]}: not-run marker without a block")
                rest = marker["rest"].strip()
                reason = rest[1:].strip() if rest.startswith(":") else ""
                if len(reason.split()) < 2:
                    problems.append(
                        f"{path.name}:{index + 1}: not-run marker gives no reason; write"
                        " <!-- not-run: why this block cannot run -->"
                    )
                pending = (index + 1, reason)
            elif line.strip() and pending is not None:
                problems.append(f"{path.name}:{pending[0]}: not-run marker not before a block")
                pending = None
        index += 1
    if pending is not None:
        problems.append(f"{path.name}:{pending[0]}: not-run marker without a block")
    return blocks, problems


def python_blocks(path: Path) -> list[Block]:
    return [block for block in parse(path)[0] if block.info == "python"]


def test_the_pages_are_found() -> None:
    names = {page.name for page in PAGES}
    assert {"index.md", "quickstart.md", "sign-in.md", "README.md"} <= names
    assert sum(len(python_blocks(page)) for page in PAGES) > 100


@pytest.mark.parametrize("doc", PAGES, ids=lambda doc: doc.name)
def test_markers_are_well_formed(doc: Path) -> None:
    _, problems = parse(doc)
    assert not problems, "\n".join(problems)


def test_the_marker_check_catches_bad_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- not-run -->\n```python\nx = 1\n```\n\n"
        "<!-- not-run: -->\n```python\nx = 2\n```\n\n"
        "<!-- not-run: needs a running PostgreSQL server -->\n```sh\nls\n```\n\n"
        "<!-- not-run: needs a running PostgreSQL server -->\nSome text.\n\n"
        "<!-- not-run: needs a running PostgreSQL server -->\n\n```python\nx = 3\n```\n",
        encoding="utf-8",
    )
    blocks, problems = parse(page)
    assert len(problems) == 4, problems
    assert [block.skip_reason for block in blocks if block.info == "python"] == [
        "",
        "",
        "needs a running PostgreSQL server",
    ]


def test_the_output_check_catches_a_false_comment() -> None:
    assert shows("enrollment_required", "enrollment_required")
    assert shows("True: no factor, no code sent", "True")
    assert shows("Keyring(primary='…', keys=2): only key ids", "Keyring(primary='ab12', keys=2)")
    assert not shows("satisfied", "enrollment_required")
    assert not shows("True 9 False", "True 9")
    block = Block("page.md", 1, "python", 'print("enrollment_required")  # satisfied\n', None)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(AssertionError, match="the comment says 'satisfied'"):
            run_block(block, {}, loop)
    finally:
        loop.close()


@pytest.mark.parametrize("doc", sorted(OWN_RUNNER))
def test_pages_with_their_own_runner_are_run_there(doc: str) -> None:
    runner = (ROOT / OWN_RUNNER[doc]).read_text(encoding="utf-8")
    assert f'"{doc}"' in runner, f"{OWN_RUNNER[doc]} does not read {doc}"
    blocks = python_blocks(ROOT / "docs" / doc)
    assert blocks, f"{doc} has no python block"
    skipped = [block.where for block in blocks if block.skip_reason is not None]
    assert not skipped, f"{OWN_RUNNER[doc]} runs every block of {doc}: drop the markers"


@pytest.fixture
def reader_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The working directory and environment of a reader following a page."""
    values = {
        "MFA_SECRET_KEY": secrets.token_urlsafe(32),
        "FLASK_SECRET_KEY": secrets.token_hex(32),
        "SMTP_PASSWORD": "docs-test-smtp-password",
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "SESSION_SECRET_KEY": secrets.token_urlsafe(32),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def shows(comment: str, printed: str) -> bool:
    """Whether a ``print`` line's comment states what it printed (see the docstring)."""
    candidates = [comment] + [comment[: match.start()] for match in re.finditer(": ", comment)]
    for expected in candidates:
        pattern = ".*".join(re.escape(part) for part in expected.split("…"))
        if re.fullmatch(pattern, printed, re.S):
            return True
    return False


def output_groups(code: str) -> list[tuple[int, int, list[str]]]:
    """Top-level statements that print, followed right away by comment lines: their
    first and last line, and the comment lines, which state the output line by line."""
    lines = code.splitlines()
    groups = []
    for statement in ast.parse(code).body:
        end = statement.end_lineno or statement.lineno
        source = "\n".join(lines[statement.lineno - 1 : end])
        if "print(" not in source or PRINTED.match(lines[statement.lineno - 1]):
            continue
        comments = []
        for line in lines[end:]:
            if not line.startswith("# "):
                break
            comments.append(line[2:])
        if comments:
            groups.append((statement.lineno, end, comments))
    return groups


def run_block(block: Block, namespace: dict[str, object], loop: asyncio.AbstractEventLoop) -> None:
    """Run one block; then check what its commented ``print`` lines printed."""
    filename = f"{block.where} (python block)"
    expected = {
        number: match["comment"]
        for number, line in enumerate(block.code.splitlines(), start=1)
        if (match := PRINTED.match(line))
    }
    printed: list[tuple[int, str]] = []  # (line in the block, text), in order

    def recording_print(*args: object, sep: str | None = " ", **kwargs: Any) -> None:
        frame = sys._getframe(1)
        if frame.f_code.co_filename == filename and kwargs.get("file") is None:
            printed.append((frame.f_lineno, (sep or " ").join(map(str, args))))
        print(*args, sep=sep, **kwargs)

    namespace["print"] = recording_print
    code = compile(block.code, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    outcome = eval(code, namespace)  # noqa: S307 - the page's own code, as the reader runs it
    if inspect.iscoroutine(outcome):
        loop.run_until_complete(outcome)
    for number, comment in expected.items():
        line = f"{block.page}:{block.line + number}"
        texts = [text for at, text in printed if at == number]
        assert texts, f"{line}: this print line never ran"
        assert shows(comment, texts[0]), (
            f"{line}: the comment says {comment!r}, the code printed {texts[0]!r}"
        )
    for first, last, comments in output_groups(block.code):
        line = f"{block.page}:{block.line + first}"
        output = [out for at, text in printed if first <= at <= last for out in text.splitlines()]
        assert len(output) == len(comments) and all(map(shows, comments, output)), (
            f"{line}: the comments under it say\n"
            + "\n".join(comments)
            + "\nthe code printed\n"
            + "\n".join(output)
        )


def run_test_files(folder: Path, files: list[str], page: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(folder)])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-W",
            "error",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--rootdir",
            str(folder),
            "-c",
            os.devnull,
            *files,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{page}: the page's tests fail\n{result.stdout}{result.stderr}"
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout


RUN_HERE = [page for page in PAGES if page.name not in OWN_RUNNER and python_blocks(page)]


@pytest.mark.parametrize("doc", RUN_HERE, ids=lambda doc: doc.name)
def test_page_runs_as_written(doc: Path, reader_environment: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_page_{doc.stem.replace('-', '_')}"}
    test_files: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        for block in python_blocks(doc):
            if block.skip_reason is not None:
                continue
            name = block.file_name
            if name is not None:
                (reader_environment / name).write_text(block.code, encoding="utf-8")
                if name == "conftest.py" or name.startswith("test_"):
                    if name.startswith("test_"):
                        test_files.append(name)
                    continue
            try:
                run_block(block, namespace, loop)
            except AssertionError:
                raise
            except Exception as exc:  # pragma: no cover - the message is the point
                pytest.fail(
                    f"{block.where}: the python block raised {type(exc).__name__}: {exc}\n"
                    "Fix the block, or opt it out with <!-- not-run: why --> right before it."
                )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    if test_files:
        run_test_files(reader_environment, test_files, doc.name)
