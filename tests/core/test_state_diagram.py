"""The committed challenge-state page is exactly what docs/make_state_diagram.py renders
from the transition table, so the picture cannot drift from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from mfakit.core.challenge import END_STATES, TRANSITIONS, Event, State

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCRIPT = DOCS / "make_state_diagram.py"
PAGE = DOCS / "challenge-states.md"


def load_script() -> ModuleType:
    # docs/ is not a package: load the script by path.
    spec = importlib.util.spec_from_file_location("make_state_diagram", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page() -> str:
    text: str = load_script().render()
    return text


def test_committed_page_is_up_to_date(page: str) -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert page == committed, "run python docs/make_state_diagram.py"


def test_render_is_deterministic(page: str) -> None:
    assert load_script().render() == page


def test_page_says_how_to_regenerate(page: str) -> None:
    assert "python docs/make_state_diagram.py" in page
    assert "```mermaid\nstateDiagram-v2\n" in page


@pytest.mark.parametrize("state", list(State), ids=str)
def test_page_mentions_every_state(page: str, state: State) -> None:
    assert f"`{state.value}`" in page


@pytest.mark.parametrize(
    "event", sorted({event for _, event in TRANSITIONS}, key=list(Event).index), ids=str
)
def test_page_mentions_every_event_in_the_table(page: str, event: Event) -> None:
    assert f"`{event.value}`" in page


def test_diagram_has_start_end_and_every_edge(page: str) -> None:
    assert "    [*] --> awaiting_code\n" in page
    for state in END_STATES:
        assert f"    {state.value} --> [*]\n" in page
    arrows = {
        line.strip().split(" : ")[0]: line.split(" : ")[1].split(", ")
        for line in page.splitlines()
        if " : " in line and "-->" in line
    }
    for (state, event), target in TRANSITIONS.items():
        assert event.value in arrows[f"{state.value} --> {target.value}"]


def test_table_lists_every_move_once(page: str) -> None:
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == len(TRANSITIONS)
    for (state, event), target in TRANSITIONS.items():
        assert f"| `{state.value}` | `{event.value}` | `{target.value}` |" in rows
