"""The challenge state machine alone, with no I/O: the table is the whole machine."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfakit.core.challenge import END_STATES, TRANSITIONS, Event, State, next_state
from mfakit.errors import ConflictingState, MfaError

ALL_PAIRS = list(itertools.product(State, Event))
LEGAL = sorted(TRANSITIONS.items(), key=lambda item: ALL_PAIRS.index(item[0]))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


def pair_id(pair: object) -> str:
    if isinstance(pair, tuple):
        return "-".join(str(part) for part in pair)
    return str(pair)


def successors(state: State) -> set[State]:
    return {target for (source, _), target in TRANSITIONS.items() if source is state}


def reachable_from(start: State) -> set[State]:
    seen = {start}
    queue = deque([start])
    while queue:
        for target in successors(queue.popleft()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_tables_cover_every_pair() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(State) * len(Event)
    assert ILLEGAL  # the machine refuses something


@pytest.mark.parametrize(("pair", "target"), LEGAL, ids=pair_id)
def test_every_legal_move_gives_its_target(pair: tuple[State, Event], target: State) -> None:
    state, event = pair
    assert next_state(state, event) is target


@pytest.mark.parametrize("pair", ILLEGAL, ids=pair_id)
def test_every_other_move_is_refused_naming_state_and_event(pair: tuple[State, Event]) -> None:
    state, event = pair
    with pytest.raises(ConflictingState) as info:
        next_state(state, event)
    message = str(info.value)
    assert state.value in message
    assert event.value in message
    assert isinstance(info.value, MfaError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("state", sorted(END_STATES, key=list(State).index), ids=str)
def test_end_states_have_no_outgoing_transitions(state: State) -> None:
    assert successors(state) == set()
    for event in Event:
        with pytest.raises(ConflictingState):
            next_state(state, event)


def test_end_states_are_the_states_without_successors() -> None:
    assert {state for state in State if not successors(state)} == END_STATES


@pytest.mark.parametrize("state", [s for s in State if s not in END_STATES], ids=str)
def test_every_live_state_can_still_succeed(state: State) -> None:
    assert State.SUCCEEDED in reachable_from(state)


def test_every_state_is_reachable_from_the_start() -> None:
    assert reachable_from(State.AWAITING_CODE) == set(State)


@pytest.mark.parametrize("state", sorted(END_STATES, key=list(State).index), ids=str)
def test_every_end_state_is_reachable_from_each_live_state(state: State) -> None:
    for live in set(State) - END_STATES:
        assert state in reachable_from(live)


def test_only_the_security_question_events_lead_to_awaiting_answer() -> None:
    into_question = {
        event for (_, event), target in TRANSITIONS.items() if target is State.AWAITING_ANSWER
    }
    assert into_question == {
        Event.TRY_ANOTHER_WAY,
        Event.ANSWER_WRONG,
        Event.SEND,  # self-loops: the current method still works meanwhile
        Event.CODE_WRONG,
    }
    assert next_state(State.AWAITING_CODE, Event.TRY_ANOTHER_WAY) is State.AWAITING_ANSWER
    assert next_state(State.AWAITING_ANSWER, Event.ANSWER_WRONG) is State.AWAITING_ANSWER


def test_while_the_question_is_asked_only_the_current_method_works() -> None:
    with pytest.raises(ConflictingState):
        next_state(State.AWAITING_ANSWER, Event.SWITCH)
    assert next_state(State.AWAITING_ANSWER, Event.CODE_RIGHT) is State.SUCCEEDED
    assert next_state(State.AWAITING_ANSWER, Event.CODE_WRONG) is State.AWAITING_ANSWER
    assert next_state(State.AWAITING_ANSWER, Event.SEND) is State.AWAITING_ANSWER


@given(
    start=st.sampled_from(State),
    events=st.lists(st.sampled_from(Event), max_size=40),
)
def test_an_end_state_once_entered_is_never_left(start: State, events: list[Event]) -> None:
    state = start
    entered = state if state in END_STATES else None
    for event in events:
        try:
            state = next_state(state, event)
        except ConflictingState:
            assert (state, event) not in TRANSITIONS
            continue
        assert entered is None, f"{event} moved a challenge out of end state {entered}"
        if state in END_STATES:
            entered = state
    assert entered is None or state is entered
