"""The documentation site, built as ``scripts/check`` builds it (``mkdocs build
--strict``), works offline and its API reference is on the way to plain Markdown:

- no page loads a script or a stylesheet from another host (no CDN, no web fonts);
- the challenge state diagram is in its page, with the bundled Mermaid that draws it;
- no reST role (``:meth:`MFA.verify```) nor a literal block's ``::`` shows literally
  in the built HTML (mkdocstrings renders neither): the docstrings are Markdown, their
  cross-references ``[`MFA.verify`][mfakit.facade.Facade.verify]`` and their examples
  fenced code blocks, written by ``tools/docstrings_to_markdown.py``, which finds
  nothing left to convert in src/.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Literal reST roles in the built HTML: 181 on 2026-12-03, none since the docstrings
# were converted (python tools/docstrings_to_markdown.py). It must stay so.
ROLES_TODAY = 0
ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc):(?:`|<code>)")

EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"(?:https?:)?//", re.I)
LINK = re.compile(r"<link\b[^>]*>", re.I)


def is_external_stylesheet(tag: str) -> bool:
    return bool(re.search(r"rel=\"?stylesheet", tag, re.I)) and bool(
        re.search(r"href=\"(?:https?:)?//", tag, re.I)
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        message = "building the site needs mkdocs and its plugins: pip install -e '.[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def pages(site: Path) -> list[Path]:
    found = sorted(site.rglob("*.html"))
    assert len(found) > 20
    return found


def test_no_page_loads_a_script_or_stylesheet_from_another_host(site: Path) -> None:
    offenders = []
    for page in pages(site):
        html = page.read_text(encoding="utf-8")
        offenders += [f"{page.relative_to(site)}: script" for _ in EXTERNAL_SCRIPT.finditer(html)]
        offenders += [
            f"{page.relative_to(site)}: {tag}"
            for tag in LINK.findall(html)
            if is_external_stylesheet(tag)
        ]
    assert not offenders, "\n".join(offenders)


def test_the_offline_check_catches_a_cdn() -> None:
    assert EXTERNAL_SCRIPT.search('<script src="https://unpkg.com/mermaid@11/dist/mermaid.min.js">')
    assert EXTERNAL_SCRIPT.search('<script defer src="//cdn.example/x.js">')
    assert not EXTERNAL_SCRIPT.search('<script src="../assets/mermaid/mermaid.min.js">')
    assert is_external_stylesheet(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
    )
    assert not is_external_stylesheet('<link rel="stylesheet" href="../assets/main.css">')
    assert not is_external_stylesheet('<link rel="preconnect" href="https://fonts.gstatic.com">')


def test_the_state_diagram_is_drawn_from_bundled_files(site: Path) -> None:
    html = (site / "challenge-states" / "index.html").read_text(encoding="utf-8")
    diagram = re.search(r"<pre class=\"mermaid\"><code>(.*?)</code></pre>", html, re.S)
    assert diagram is not None, "the diagram is missing from the built page"
    assert diagram[1].startswith("stateDiagram-v2")
    assert "awaiting_code --&gt; awaiting_answer : try_another_way" in diagram[1]
    scripts = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", html)
    mermaid = [src for src in scripts if src.endswith("mermaid.min.js")]
    assert mermaid, f"no Mermaid script on the page: {scripts}"
    bundled = (site / "challenge-states" / mermaid[0]).resolve()
    assert bundled.is_file() and bundled.is_relative_to(site.resolve())
    # Material for MkDocs fetches Mermaid from a CDN unless `mermaid` is already defined.
    assert 'globalThis["mermaid"]' in bundled.read_text(encoding="utf-8")[-2000:]


def test_no_literal_rest_role_is_left(site: Path) -> None:
    counts = {
        str(page.relative_to(site)): len(ROLE.findall(page.read_text(encoding="utf-8")))
        for page in pages(site)
    }
    total = sum(counts.values())
    worst = sorted(((n, name) for name, n in counts.items() if n), reverse=True)[:5]
    assert total == ROLES_TODAY == 0, (
        f"{total} literal reST roles (:class:`...`, :meth:`...`) in the built site: write"
        " Markdown cross-references ([`MFA`][mfakit.MFA]) instead, or run"
        f" python tools/docstrings_to_markdown.py. Most in: {worst}"
    )


# A reST literal block's marker, left in a rendered paragraph ("Example::").
LITERAL_MARKER = re.compile(r"::</p>")


def test_no_rest_literal_block_marker_is_left(site: Path) -> None:
    offenders = [
        f"{page.relative_to(site)}: {len(LITERAL_MARKER.findall(html))}"
        for page in pages(site)
        if LITERAL_MARKER.search(html := page.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "reST literal blocks (a paragraph ending in '::') in the built site: write a fenced"
        " code block, or run python tools/docstrings_to_markdown.py: " + ", ".join(offenders)
    )
    assert LITERAL_MARKER.search("<p>Example::</p>")
    assert not LITERAL_MARKER.search('<p>Example:</p><div class="highlight">')


def test_the_docstring_tool_finds_nothing_left_to_convert(site: Path) -> None:
    """Every docstring in src/ is Markdown already: the converter, reading this
    site's anchors, would change nothing (and so the next role written is caught
    here even where the site does not render it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    tool = ROOT / "tools" / "docstrings_to_markdown.py"
    result = subprocess.run(
        [sys.executable, str(tool), "--check", "--site", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        "run python tools/docstrings_to_markdown.py:\n" + result.stdout + result.stderr
    )


def test_the_role_count_reads_rendered_and_raw_roles() -> None:
    assert len(ROLE.findall("see :meth:<code>MFA.verify</code> and :class:`Policy`")) == 2
    assert not ROLE.findall("a plain <code>MFA.verify</code> link")
