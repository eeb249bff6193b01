"""What PyPI shows and what ``pip install`` brings, read from pyproject.toml:

- the development tools are a dependency group, never a published extra;
- the ``docs`` extra brings every theme, plugin and Markdown extension mkdocs.yml uses;
- the project URLs (home, documentation, changelog, issues) agree with the docs site;
- one classifier per supported Python version, from ``requires-python`` up to the one
  running these tests, and ``Typing :: Typed`` with the ``py.typed`` marker shipped.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def group(pyproject: dict[str, Any], name: str) -> list[str]:
    """The requirements of a dependency group, its ``include-group`` entries expanded."""
    out: list[str] = []
    for entry in pyproject["dependency-groups"][name]:
        out += group(pyproject, entry["include-group"]) if isinstance(entry, dict) else [entry]
    return out


class _AnyTagLoader(yaml.SafeLoader):
    """mkdocs.yml names Python objects (``!!python/name:``): read them as plain text."""


_AnyTagLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/", lambda loader, suffix, node: str(node.value)
)


def mkdocs_config() -> dict[str, Any]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    config: dict[str, Any] = yaml.load(text, Loader=_AnyTagLoader)  # noqa: S506 (safe loader)
    return config


def names(entries: list[Any]) -> list[str]:
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def test_the_development_tools_are_a_group_not_an_extra(pyproject: dict[str, Any]) -> None:
    extras = pyproject["project"]["optional-dependencies"]
    assert "dev" not in extras
    assert "dev" in pyproject["dependency-groups"]
    dev = {requirement_name(r) for r in group(pyproject, "dev")}
    # The tools the checks run come with the group.
    assert {"pytest", "mypy", "ruff", "mkdocs", "mkdocs-material", "mkdocstrings"} <= dev
    # What scripts/django-matrix installs for the Django app's tests is part of it.
    assert {requirement_name(r) for r in group(pyproject, "django-tests")} <= dev
    assert {"pytest", "pytest-django"} <= dev


def test_the_docs_extra_brings_what_mkdocs_yml_uses(pyproject: dict[str, Any]) -> None:
    docs = {requirement_name(r) for r in pyproject["project"]["optional-dependencies"]["docs"]}
    config = mkdocs_config()
    modules = {"mkdocs", config["theme"]["name"]}
    # `search` is MkDocs' own plugin; the others are modules of their own.
    modules |= {name for name in names(config["plugins"]) if name != "search"}
    # Extensions without a dot (tables, toc, admonition) ship with Markdown, a
    # dependency of MkDocs; the dotted ones are a package's.
    modules |= {name.split(".")[0] for name in names(config["markdown_extensions"]) if "." in name}
    distributions = metadata.packages_distributions()
    missing = {}
    for module in sorted(modules):
        provided_by = {requirement_name(d) for d in distributions.get(module, [])}
        assert provided_by, f"no installed distribution provides {module!r}"
        if not provided_by & docs:
            missing[module] = sorted(provided_by)
    assert not missing, f"the docs extra lacks the distributions of {missing}"


def test_the_project_urls_point_at_the_project_and_its_site(pyproject: dict[str, Any]) -> None:
    urls = pyproject["project"]["urls"]
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values()), urls
    home = urls["Homepage"].rstrip("/")
    assert urls["Issues"] == f"{home}/issues"
    assert urls["Changelog"].startswith(f"{home}/") and urls["Changelog"].endswith("CHANGELOG.md")
    assert urls["Documentation"] == mkdocs_config()["site_url"]


def test_a_classifier_for_each_supported_python(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    floor = re.fullmatch(r">=\s*3\.(\d+)", project["requires-python"])
    assert floor is not None, project["requires-python"]
    listed = sorted(
        int(m[1])
        for c in project["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c))
    )
    assert listed, "no Python version classifiers"
    # From the oldest supported version up, without a gap, to at least the one
    # running these tests (the one CI runs).
    assert listed == list(range(int(floor[1]), listed[-1] + 1)), listed
    assert sys.version_info.minor in listed, f"3.{sys.version_info.minor} is not listed"
    assert "Programming Language :: Python :: 3 :: Only" in project["classifiers"]
    assert pyproject["tool"]["mypy"]["python_version"] == f"3.{listed[0]}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py3{listed[0]}"


def test_typed_and_the_marker_ships(pyproject: dict[str, Any]) -> None:
    assert "Typing :: Typed" in pyproject["project"]["classifiers"]
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["mfakit"]
    assert (ROOT / "src" / "mfakit" / "py.typed").is_file()


def requirement_extras(requirement: str) -> set[str]:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*\[([^\]]*)\]", requirement)
    return {extra.strip() for extra in match[1].split(",")} if match else set()


@pytest.mark.parametrize(
    ("extra", "driver"),
    [("sql", "aiosqlite"), ("postgres", "psycopg")],
)
def test_each_sql_extra_brings_what_its_async_store_needs(
    pyproject: dict[str, Any], extra: str, driver: str
) -> None:
    """``pip install 'mfakit[postgres]'`` alone runs AsyncSqlStore on PostgreSQL:
    SQLAlchemy with its ``asyncio`` extra (greenlet, for the bridge the async store
    runs its statements through), the async-capable driver, and Alembic for the
    schema. So does ``[sql]`` on SQLite."""
    requirements = pyproject["project"]["optional-dependencies"][extra]
    names = {requirement_name(r) for r in requirements}
    assert {"sqlalchemy", "alembic", driver} <= names, names
    sqlalchemy_extras = set().union(
        *(requirement_extras(r) for r in requirements if requirement_name(r) == "sqlalchemy")
    )
    assert "asyncio" in sqlalchemy_extras, requirements
    # ... and SQLAlchemy's asyncio extra is what brings greenlet (read from its metadata).
    brought = metadata.requires("SQLAlchemy") or []
    assert any(requirement_name(r) == "greenlet" and 'extra == "asyncio"' in r for r in brought), (
        brought
    )
