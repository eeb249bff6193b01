"""tools/docstrings_to_markdown.py: reST roles become the cross-references the API
reference renders, resolved on the real package (griffe, as mkdocstrings loads it)
against a given set of rendered anchors; code is left alone; long lines are wrapped
outside links; a second run changes nothing. (That src/ is converted and the built
site shows no role is tests/docs/test_site.py's.)"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANCHORS = {
    "mfakit.MFA",
    "mfakit.facade.Facade",
    "mfakit.facade.Facade.begin_sign_in",
    "mfakit.facade.Facade.verify",
    "mfakit.errors.DeliveryError",
    "mfakit.errors.InvalidInput",
    "mfakit.adapters.sql.SqlStore",
    "mfakit.adapters.sql.SqlStore.from_url",
    "mfakit.Reason",
}


def _load_tool() -> Any:
    if importlib.util.find_spec("griffe") is None:
        message = "the docstring tool needs griffe (mkdocstrings[python]): pip install --group dev"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    spec = importlib.util.spec_from_file_location(
        "docstrings_to_markdown", ROOT / "tools" / "docstrings_to_markdown.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> Any:
    return _load_tool()


@pytest.fixture(scope="module")
def resolver(tool: Any) -> Any:
    return tool.Resolver(tool.load_package(), ANCHORS)


def convert(tool: Any, resolver: Any, text: str, scope: str = "mfakit.facade.Facade") -> str:
    owner = resolver.lookup(scope)
    assert owner is not None, scope
    lines = text.split("\n")
    return "\n".join(tool.convert_docstring(lines, owner, resolver))


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        # Inherited and re-exported names link to the heading that renders them.
        (":meth:`MFA.begin_sign_in`", "[`MFA.begin_sign_in`][mfakit.facade.Facade.begin_sign_in]"),
        (":meth:`verify`", "[`verify`][mfakit.facade.Facade.verify]"),
        (":class:`~mfakit.errors.DeliveryError`", "[`DeliveryError`][mfakit.errors.DeliveryError]"),
        (":exc:`InvalidInput`", "[`InvalidInput`][mfakit.errors.InvalidInput]"),
        (":class:`MFA`", "[`MFA`][mfakit.MFA]"),
        (":class:`~mfakit.Reason`", "[`Reason`][mfakit.Reason]"),
        (
            ":meth:`SqlStore.from_url`",
            "[`SqlStore.from_url`][mfakit.adapters.sql.SqlStore.from_url]",
        ),
        # Sphinx's relative form, found by its suffix.
        (":class:`~.sql.store.SqlStore`", "[`SqlStore`][mfakit.adapters.sql.SqlStore]"),
        (":class:`the store <SqlStore>`", "[`the store`][mfakit.adapters.sql.SqlStore]"),
        # Resolvable but not rendered, outside mfakit, or unknown: plain code.
        (":class:`~mfakit.core.records.Counter`", "`Counter`"),
        (":mod:`logging`", "`logging`"),
        (":func:`no_such_thing`", "`no_such_thing`"),
        ("``policy.code_ttl``", "`policy.code_ttl`"),
        ("``a\nb``", "`a\nb`"),
    ],
)
def test_roles_become_references_or_code(
    tool: Any, resolver: Any, text: str, markdown: str
) -> None:
    assert convert(tool, resolver, f"    Use {text} here.") == f"    Use {markdown} here."


def test_a_name_resolves_in_the_docstrings_scope(tool: Any, resolver: Any) -> None:
    # In the SQL store's module, SqlStore is its own class; from_url its method.
    got = convert(tool, resolver, ":meth:`from_url`", scope="mfakit.adapters.sql.store.SqlStore")
    assert got == "[`from_url`][mfakit.adapters.sql.SqlStore.from_url]"
    got = convert(tool, resolver, ":class:`Reason`", scope="mfakit.core.results")
    assert got == "[`Reason`][mfakit.Reason]"


def test_a_role_split_over_two_lines(tool: Any, resolver: Any) -> None:
    text = '    """Raises :class:`~mfakit.errors.\n    DeliveryError` when it fails."""'
    assert convert(tool, resolver, text) == (
        '    """Raises [`DeliveryError`][mfakit.errors.DeliveryError] when it fails."""'
    )


def test_code_is_left_alone(tool: Any, resolver: Any) -> None:
    text = "\n".join(
        [
            '    """Run it::',
            "",
            "        mfa.verify(``x``)  # :meth:`verify`",
            "",
            "    Then :meth:`verify` and a doctest:",
            "",
            "    >>> print(``y``)",
            "    ``y``",
            "",
            "    ```python",
            "    :class:`MFA`",
            "    ```",
            '    """',
        ]
    )
    got = convert(tool, resolver, text).split("\n")
    # The reST literal block is fenced, its text as it was (backticks: not Python).
    assert got[:5] == [
        '    """Run it:',
        "",
        "    ```text",
        "    mfa.verify(``x``)  # :meth:`verify`",
        "    ```",
    ]
    assert got[6] == "    Then [`verify`][mfakit.facade.Facade.verify] and a doctest:"
    assert got[8:10] == ["    >>> print(``y``)", "    ``y``"]
    assert got[12] == "    :class:`MFA`"


def test_a_rest_literal_block_becomes_a_fenced_block(tool: Any, resolver: Any) -> None:
    text = "\n".join(
        [
            '"""A module.',
            "",
            "::",
            "",
            "    await amfa.begin_sign_in(user_id)",
            "",
            "The tree ::",
            "",
            "    MfaError",
            "    └── InvalidInput   see ``x``",
            "",
            "    class Foo:",
            "        pass",
            "",
            "Example::",
            "",
            "    x = 1",
            '"""',
        ]
    )
    got = convert(tool, resolver, text, scope="mfakit.errors").split("\n")
    assert got == [
        '"""A module.',
        "",
        "```python",  # a top-level await parses: it is Python
        "await amfa.begin_sign_in(user_id)",
        "```",
        "",
        "The tree",  # "text ::" loses the marker, colon and all (reST's rule)
        "",
        "```text",  # not Python: plain text, its literals left as written
        "MfaError",
        "└── InvalidInput   see ``x``",
        "",
        "class Foo:",
        "    pass",
        "```",
        "",
        "Example:",
        "",
        "```python",
        "x = 1",
        "```",
        '"""',
    ]
    assert convert(tool, resolver, "\n".join(got), scope="mfakit.errors").split("\n") == got


def test_long_lines_wrap_outside_links_and_join_the_paragraph(tool: Any, resolver: Any) -> None:
    text = "\n".join(
        [
            '        """Start adding an authenticator app; confirm it with'
            " :meth:`MFA.begin_sign_in`. Needs",
            "        the user personally, re-authenticated within ``policy.reauth_max_age``.",
            "",
            "        :raises ~mfakit.errors.DeliveryError: when the sender fails; see"
            " :class:`~mfakit.errors.DeliveryError`.",
            '        """',
        ]
    )
    got = convert(tool, resolver, text).split("\n")
    assert all(len(line) <= tool.LINE_LENGTH for line in got), got
    joined = " ".join(line.strip() for line in got)
    assert "[`MFA.begin_sign_in`][mfakit.facade.Facade.begin_sign_in]" in joined
    assert "[`DeliveryError`][mfakit.errors.DeliveryError]" in joined
    # The link did not fit: the line was cut before it, and the overflow joined the
    # next line of its paragraph. A field's continuation is indented.
    assert got[0].endswith("confirm it with")
    assert got[1].startswith("        [`MFA.begin_sign_in`][")
    assert got[1].endswith("Needs the user personally,")
    field = next(i for i, line in enumerate(got) if line.lstrip().startswith(":raises"))
    assert got[field + 1].startswith("            ")
    assert not got[field + 1].lstrip().startswith(":")


def test_a_second_run_changes_nothing(tool: Any, resolver: Any) -> None:
    text = "\n".join(
        [
            '    """See :meth:`MFA.begin_sign_in` and ``x``, :class:`~mfakit.errors.DeliveryError`'
            " and :mod:`logging`, then :class:`MFA` at length in a long line.",
            '    """',
        ]
    )
    once = convert(tool, resolver, text)
    assert once != text
    assert convert(tool, resolver, once) == once


def test_the_anchors_are_mkdocstrings_object_headings(tool: Any, tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        '<h3 id="mfakit.MFA" class="doc doc-heading">MFA</h3>'
        '<h5 id="mfakit.core.webauthn--theory">Theory</h5>'
        '<h2 id="mfakit">mfakit</h2>'
        '<h4 id="mfakit.facade.Facade.verify" class="doc doc-heading">verify</h4>',
        encoding="utf-8",
    )
    assert tool.site_anchors(tmp_path) == {"mfakit.MFA", "mfakit.facade.Facade.verify"}
