"""Convert the reST roles in mfakit's docstrings to the Markdown the API reference renders.

mkdocstrings renders docstrings as Markdown, so a Sphinx role (``:meth:`MFA.verify```)
shows up literally on the site. This rewrites, in every docstring under ``src/mfakit``:

* ``:class:`X```, ``:meth:``, ``:func:``, ``:attr:``, ``:data:``, ``:mod:``, ``:exc:``
  and ``:obj:`` into an autorefs cross-reference, ``[`X`][mfakit.path.X]``, when the
  name resolves to an object the site renders, else into plain ``X`` in backticks;
* ````literal```` (reST inline literal) into Markdown code, `` `literal` ``;
* a reST literal block (a paragraph ending in ``::``, then an indented block) into a
  fenced code block (``python`` when the block parses as Python, else ``text``), its
  paragraph ending in ``:`` (a ``::`` alone is dropped), as Markdown shows no ``::``.

Names resolve the way the docs build resolves them: the package is loaded with griffe
(the loader mkdocstrings uses, from ``src`` as ``mkdocs.yml`` says), a name is looked up
in the docstring's scope (its class with inherited members, its module with its imports,
the enclosing packages), then from ``mfakit``, then as the unique suffix of an object's
path (Sphinx's ``.store.SqlStore``). ``~`` shows only the last part, and an explicit
title (``:class:`the store <SqlStore>```) is kept. The target is an anchor the built
site really has: the tool builds the site once (``mkdocs build``, not strict) and links
to the rendered heading of the same object (``MFA.begin_sign_in`` is rendered under
``mfakit.facade.Facade.begin_sign_in``). A name with no rendered heading, or outside
mfakit (``:mod:`logging```), becomes plain code, so the strict build never meets a
reference it cannot resolve.

Code is left alone: fenced blocks, doctest lines (``>>>``, ``...`` and their output)
and the indented literal block after a line ending in ``::``. A line the longer
Markdown pushes past the line length is wrapped at a space outside any link or code
span, its continuation indented as the docstring's field or list item needs.

Idempotent: a converted docstring has no role left, so a second run changes nothing.
Generated files (``aio.pyi``, ``_aio_methods.py``: ``tools/make_async_stub.py`` writes
them) are skipped.

Usage::

    python tools/docstrings_to_markdown.py            # rewrite src/mfakit in place
    python tools/docstrings_to_markdown.py --check    # exit 1 if anything would change
    python tools/docstrings_to_markdown.py --site DIR # reuse a built site for the anchors
"""

from __future__ import annotations

import argparse
import ast
import html
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "mfakit"
LINE_LENGTH = 100
GENERATED = {SRC / PACKAGE / "aio.pyi", SRC / PACKAGE / "_aio_methods.py"}

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|data|mod|exc|obj|const):`(?P<body>[^`]+)`"
)
LITERAL = re.compile(r"(?<![`\\])``(?P<text>[^`]+?)``(?!`)")
TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
# mkdocstrings' object headings: <h3 id="mfakit.MFA" class="doc doc-heading">.
ANCHOR = re.compile(
    r'\bid="(' + PACKAGE + r'(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"[^>]*\bclass="doc doc-heading"'
)
# What starts a line in a way Markdown or the Sphinx field parser would read as
# structure: a wrapped line must not begin with one of these.
BLOCK_START = re.compile(r"(?:[-*+]\s|#|>|\d+[.)]\s|:|=|\||\[\^)")
FIELD = re.compile(r":[a-zA-Z]+(?:\s[^:]*)?:\s")
LIST_ITEM = re.compile(r"(?:[-*+]|\d+[.)])\s+")


# --- the anchors the site renders -------------------------------------------------------
def build_site(out: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"mkdocs build failed:\n{result.stdout}{result.stderr}")


def site_anchors(site: Path) -> set[str]:
    """Every object heading id (``mfakit.x.Y``) of the built site."""
    found: set[str] = set()
    for page in site.rglob("*.html"):
        found.update(html.unescape(m) for m in ANCHOR.findall(page.read_text(encoding="utf-8")))
    return found


# --- the package as griffe sees it ------------------------------------------------------
def load_package() -> Any:
    import griffe

    loader = griffe.GriffeLoader(search_paths=[str(SRC)])
    package = loader.load(PACKAGE)
    loader.resolve_aliases(implicit=True, external=False)
    return package


def final(obj: Any) -> Any | None:
    """The object an alias stands for (None when it leaves the package or is broken)."""
    if not obj.is_alias:
        return obj
    try:
        return obj.final_target
    except Exception:  # griffe's AliasResolutionError, CyclicAliasError
        return None


def members(obj: Any) -> dict[str, Any]:
    if obj.is_class:
        try:
            return dict(obj.all_members)
        except Exception:  # an unresolvable base class
            return dict(obj.members)
    return dict(obj.members)


def walk(package: Any) -> Iterator[Any]:
    """Every object defined in the package (aliases are other objects' names)."""
    stack = [package]
    while stack:
        obj = stack.pop()
        yield obj
        stack.extend(m for m in obj.members.values() if not m.is_alias)


@dataclass
class Resolver:
    package: Any
    anchors: set[str]

    def __post_init__(self) -> None:
        self.objects = {obj.path: obj for obj in walk(self.package)}
        # Rendered anchors by the path of the object they render.
        self.rendered: dict[str, list[str]] = {}
        for anchor in sorted(self.anchors, key=lambda a: (a.count("."), a)):
            obj = self.lookup(anchor)
            if obj is not None:
                self.rendered.setdefault(obj.path, []).append(anchor)

    def lookup(self, path: str) -> Any | None:
        parts = path.split(".")
        if parts[0] != PACKAGE:
            return None
        return self.descend(self.package, parts[1:])

    def descend(self, obj: Any, parts: list[str]) -> Any | None:
        current: Any | None = obj
        for part in parts:
            assert current is not None
            found = members(current).get(part)
            current = None if found is None else final(found)
            if current is None:
                return None
        return current

    def resolve(self, name: str, scope: Any) -> Any | None:
        """The object ``name`` means in a docstring of ``scope``."""
        relative = name.startswith(".")
        name = name.lstrip(".").removesuffix("()")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            return None
        parts = name.split(".")
        if not relative:
            here = scope if (scope.is_class or scope.is_module) else scope.parent
            while here is not None:
                found = self.descend(here, parts)
                if found is not None:
                    return found
                here = here.parent
            for absolute in (name, f"{PACKAGE}.{name}"):
                found = self.lookup(absolute)
                if found is not None:
                    return found
        return self.by_suffix(name, scope)

    def by_suffix(self, name: str, scope: Any) -> Any | None:
        matches = {
            obj.path: obj
            for path, obj in self.objects.items()
            if path == name or path.endswith("." + name)
        }
        if len(matches) == 1:
            return next(iter(matches.values()))
        if not matches:
            return None

        # Several: the one nearest the docstring (the longest common module path).
        def nearness(path: str) -> int:
            common = 0
            for a, b in zip(path.split("."), scope.path.split("."), strict=False):
                if a != b:
                    break
                common += 1
            return common

        ranked = sorted(matches, key=nearness, reverse=True)
        if nearness(ranked[0]) == nearness(ranked[1]):
            return None  # ambiguous: no guess
        return matches[ranked[0]]

    def anchor(self, name: str, scope: Any) -> str | None:
        """The rendered anchor ``name`` links to in a docstring of ``scope``."""
        obj = self.resolve(name, scope)
        if obj is None:
            return None
        anchors = self.rendered.get(obj.path)
        if not anchors:
            return None
        written = name.lstrip(".").removesuffix("()")
        for candidate in (written, f"{PACKAGE}.{written}"):
            if candidate in anchors:
                return candidate
        return anchors[0]


# --- rewriting one docstring ------------------------------------------------------------
def convert_text(text: str, scope: Any, resolver: Resolver) -> str:
    def role(match: re.Match[str]) -> str:
        body = " ".join(match["body"].split())
        titled = TITLED.match(body)
        if titled:
            title, target = titled["title"], titled["target"]
        else:
            title, target = None, body
        # A name the docstring wrapped (``mfakit.errors.\n DeliveryError``) is one name.
        target = "".join(target.split())
        short = target.startswith("~")
        target = target.lstrip("~")
        if title:
            shown = title
        elif short:
            shown = target.removesuffix("()").rsplit(".", 1)[-1]
        else:
            shown = target.lstrip(".")
        anchor = resolver.anchor(target, scope)
        if anchor is None:
            return f"`{shown}`"
        return f"[`{shown}`][{anchor}]"

    text = ROLE.sub(role, text)
    return LITERAL.sub(lambda m: f"`{m['text']}`", text)


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def code_lines(lines: list[str]) -> list[bool]:
    """Which lines of a docstring are code: fenced, doctest, or a ``::`` literal block."""
    code = [False] * len(lines)
    fence: str | None = None
    literal_base: int | None = None  # the indent of the paragraph ending in "::"
    in_literal = False
    doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        content = re.sub(r'^\s*(?:[rRuUbB]{0,2})?(?:"""|\'\'\')', "", line).strip()
        if fence is not None:
            code[i] = True
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            code[i] = True
            continue
        if in_literal:
            if stripped and indent_of(line) <= (literal_base or 0):
                in_literal = False
                literal_base = None
            else:
                code[i] = True
                continue
        if literal_base is not None and stripped:
            if indent_of(line) > literal_base:
                in_literal = True
                code[i] = True
                continue
            literal_base = None
        if content.startswith((">>>", "... ")) or content == "...":
            doctest = True
        elif not stripped:
            doctest = False
        if doctest:
            code[i] = True
            continue
        if stripped.endswith("::") and not stripped.endswith(":::"):
            literal_base = indent_of(line)
    return code


LINK = re.compile(r"\[`[^`]*`\]\[[^\]]*\]")


def scan(line: str, inside: int) -> tuple[list[bool], int]:
    """Which characters of ``line`` lie in a link or a code span, given the length of
    the backtick run of a span still open from the line before (0: none); and the
    same at the end of the line. A line is never cut inside either."""
    mask = [False] * len(line)
    i = 0
    while i < len(line):
        link = LINK.match(line, i) if not inside else None
        if link is not None:
            mask[i : link.end()] = [True] * (link.end() - i)
            i = link.end()
            continue
        if line[i] == "`":
            run = len(line[i:]) - len(line[i:].lstrip("`"))
            if not inside:
                inside = run
            elif run == inside:
                inside = 0
            mask[i : i + run] = [True] * run
            i += run
            continue
        mask[i] = bool(inside)
        i += 1
    return mask, inside


def wrap(line: str, mask: list[bool], limit: int = LINE_LENGTH) -> list[str]:
    """``line`` cut at spaces outside links and code, so each piece fits if it can."""
    out: list[str] = []
    while len(line) > limit:
        indent = indent_of(line)
        body = re.sub(r'^(?:[rRuUbB]{0,2})?(?:"""|\'\'\')', "", line[indent:])
        marker = FIELD.match(body) or LIST_ITEM.match(body)
        lead = indent
        if marker is not None:
            lead = indent + (4 if FIELD.match(body) else len(marker[0]))
        cut = None
        for position in range(min(limit, len(line) - 1), indent, -1):
            if line[position] != " " or mask[position]:
                continue
            rest = line[position + 1 :].lstrip(" ")
            if not rest or BLOCK_START.match(rest) or not line[:position].strip(" \"'"):
                continue
            cut = position
            break
        if cut is None:
            break  # no good place: leave it long rather than break the markup
        out.append(line[:cut].rstrip())
        skipped = len(line[cut + 1 :]) - len(line[cut + 1 :].lstrip(" "))
        mask = [False] * lead + mask[cut + 1 + skipped :]
        line = " " * lead + line[cut + 1 + skipped :]
    out.append(line)
    return out


def continues(line: str, lead: int) -> bool:
    """Whether ``line`` goes on with the paragraph of a line wrapped at ``lead``."""
    body = line.strip()
    return (
        bool(body)
        and indent_of(line) == lead
        and not BLOCK_START.match(body)
        and not re.fullmatch(r"[rRuUbB]{0,2}(?:\"\"\"|\'\'\')", body)
    )


def reflow(before: list[str], after: list[str]) -> list[str]:
    """The converted lines, each one that changed and grew too long wrapped; what
    a cut leaves over joins the next line of the same paragraph."""
    out: list[str] = []
    inside = 0
    carry: tuple[int, str] | None = None
    for new in after:
        changed = new not in before
        if carry is not None:
            lead, rest = carry
            carry = None
            if continues(new, lead):
                new = " " * lead + rest + " " + new.lstrip(" ")
                changed = True
            else:
                piece = " " * lead + rest
                out.append(piece)
                inside = scan(piece, inside)[1]
        if not changed or len(new) <= LINE_LENGTH:
            out.append(new)
            inside = scan(new, inside)[1]
            continue
        mask, _ = scan(new, inside)
        pieces = wrap(new, mask)
        for piece in pieces[:-1]:
            out.append(piece)
            inside = scan(piece, inside)[1]
        last = pieces[-1]
        if len(pieces) > 1:
            carry = (indent_of(last), last.lstrip(" "))
        else:
            out.append(last)
            inside = scan(last, inside)[1]
    if carry is not None:
        out.append(" " * carry[0] + carry[1])
    return out


def is_python(block: list[str]) -> bool:
    source = textwrap.dedent("\n".join(block))
    try:
        compile(source, "<docstring>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return False
    return True


def fence_literal_blocks(lines: list[str]) -> list[str]:
    """Each reST literal block (``Example::``, a blank line, an indented block) as a
    fenced code block at its paragraph's indent; the paragraph ends in ``:``."""
    code = code_lines(lines)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        opens = not code[i] and stripped.endswith("::") and not stripped.endswith(":::")
        # The block: the blank lines, then the indented lines code_lines marks as code.
        j = i + 1
        while opens and j < len(lines) and not lines[j].strip():
            j += 1
        k = j
        while opens and k < len(lines) and (code[k] or not lines[k].strip()):
            k += 1
        while k > j and not lines[k - 1].strip():
            k -= 1  # trailing blank lines stay outside the fence
        if not opens or k == j or lines[k - 1].rstrip().endswith(('"""', "'''")):
            out.append(line)
            i += 1
            continue
        base = " " * indent_of(line)
        text = line.rstrip()[:-2]
        if text.strip() in ("", '"""', "'''", 'r"""'):
            if text.strip():
                out.append(text.rstrip())  # the docstring's opening quotes stay
                out.append("")
            elif not out or out[-1].strip():
                out.append("")
            # else: a "::" of its own after a blank line goes, with its blank lines
        else:
            out.append(text.rstrip() + ("" if text.endswith(" ") else ":"))
            out.extend(lines[i + 1 : j])
        block = lines[j:k]
        body = textwrap.dedent("\n".join(block)).split("\n")
        out.append(f"{base}```{'python' if is_python(block) else 'text'}")
        out.extend(f"{base}{piece}" if piece.strip() else "" for piece in body)
        out.append(f"{base}```")
        i = k
    return out


def convert_docstring(lines: list[str], scope: Any, resolver: Resolver) -> list[str]:
    lines = fence_literal_blocks(lines)
    code = code_lines(lines)
    out: list[str] = []
    i = 0
    while i < len(lines):
        if code[i]:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and not code[j]:
            j += 1
        before = lines[i:j]
        # A role may wrap onto the next line: convert the run of prose as one text.
        after = convert_text("\n".join(before), scope, resolver).split("\n")
        out.extend(before if after == before else reflow(before, after))
        i = j
    return out


def docstrings(package: Any) -> dict[Path, list[tuple[int, int, Any]]]:
    """The docstrings to convert, by file: (first line, last line, owner), 1-based."""
    found: dict[Path, list[tuple[int, int, Any]]] = {}
    for obj in walk(package):
        doc = obj.docstring
        if doc is None or doc.lineno is None or doc.endlineno is None:
            continue
        path = Path(str(obj.filepath)).resolve() if obj.filepath else None
        if path is None or path in GENERATED or path.suffix != ".py":
            continue
        found.setdefault(path, []).append((doc.lineno, doc.endlineno, obj))
    return found


def convert_file(path: Path, spans: list[tuple[int, int, Any]], resolver: Resolver) -> str:
    lines = path.read_text(encoding="utf-8").split("\n")
    # From the bottom up, so a docstring that grows leaves the line numbers above it.
    for first, last, owner in sorted(set(spans), key=lambda s: s[0], reverse=True):
        lines[first - 1 : last] = convert_docstring(lines[first - 1 : last], owner, resolver)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if due")
    parser.add_argument("--site", type=Path, help="a built site to read the anchors from")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(SRC))
    if args.site is not None:
        anchors = site_anchors(args.site)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build_site(Path(tmp))
            anchors = site_anchors(Path(tmp))
    if not anchors:
        raise SystemExit("the site has no API reference anchors: is mkdocstrings configured?")
    resolver = Resolver(load_package(), anchors)
    changed = []
    for path, spans in sorted(docstrings(resolver.package).items()):
        before = path.read_text(encoding="utf-8")
        after = convert_file(path, spans, resolver)
        if after != before:
            changed.append(path)
            if not args.check:
                path.write_text(after, encoding="utf-8")
    for path in changed:
        print(f"{'would convert' if args.check else 'converted'} {path.relative_to(ROOT)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
