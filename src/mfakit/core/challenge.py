"""The challenge state machine: one table owns every state change.

Theory of operation
-------------------
A *challenge* asks a user to prove a second factor for one purpose (signing
in, proving possession of a destination being enrolled, approving a contact
change, re-authenticating). It starts in `AWAITING_CODE` with a chosen method;
out-of-band methods (SMS, voice, email) have a code sent, whose keyed hash is
the only trace of it kept.

"Try another way" moves to `AWAITING_ANSWER` when the policy makes the
security question guard the other methods (seed 000); the right answer unlocks
them and returns to `AWAITING_CODE`. Meanwhile the current method still
works: its code may be resent and submitted. Every wrong code or answer counts
toward `max_attempts`; the last one allowed moves to `LOCKED`. A right code
moves to `SUCCEEDED`. Time moves any live challenge to `EXPIRED`; the host
may `CANCEL` it. The four end states accept no further event.

The table `TRANSITIONS` maps `(state, event)` to the next state; a pair
missing from it is an illegal move, and `next_state` raises
[`ConflictingState`][mfakit.errors.ConflictingState] naming both. Whether an event is
*allowed now* (cooldown, quotas, attempts) is decided by the pure functions
below the table and reported as values, never by the table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ..errors import ConflictingState

__all__ = [
    "END_STATES",
    "OPEN_STATES",
    "TRANSITIONS",
    "Event",
    "Purpose",
    "State",
    "next_state",
]


class State(str, enum.Enum):
    AWAITING_CODE = "awaiting_code"
    AWAITING_ANSWER = "awaiting_answer"
    SUCCEEDED = "succeeded"
    LOCKED = "locked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Event(str, enum.Enum):
    SEND = "send"
    """A code is sent (or re-sent) for the current method."""
    SWITCH = "switch"
    """Another method is chosen (an out-of-band one also sends)."""
    TRY_ANOTHER_WAY = "try_another_way"
    """The user asks for the other methods, which the security question guards."""
    ANSWER_RIGHT = "answer_right"
    ANSWER_WRONG = "answer_wrong"
    CODE_RIGHT = "code_right"
    CODE_WRONG = "code_wrong"
    LOCK = "lock"
    """The last allowed wrong code or answer."""
    EXPIRE = "expire"
    CANCEL = "cancel"

    def __str__(self) -> str:
        return self.value


class Purpose(str, enum.Enum):
    SIGN_IN = "sign_in"
    ENROL_CONTACT = "enrol_contact"
    CONTACT_CHANGE = "contact_change"
    REAUTHENTICATE = "reauthenticate"

    def __str__(self) -> str:
        return self.value


_A, _Q = State.AWAITING_CODE, State.AWAITING_ANSWER

TRANSITIONS: Mapping[tuple[State, Event], State] = {
    (_A, Event.SEND): _A,
    (_A, Event.SWITCH): _A,
    (_A, Event.TRY_ANOTHER_WAY): _Q,
    (_A, Event.CODE_RIGHT): State.SUCCEEDED,
    (_A, Event.CODE_WRONG): _A,
    (_A, Event.LOCK): State.LOCKED,
    (_A, Event.EXPIRE): State.EXPIRED,
    (_A, Event.CANCEL): State.CANCELLED,
    (_Q, Event.ANSWER_RIGHT): _A,
    (_Q, Event.ANSWER_WRONG): _Q,
    # A late SMS still counts while the question is asked: the current method's
    # code may be resent and submitted; the others stay locked.
    (_Q, Event.SEND): _Q,
    (_Q, Event.CODE_RIGHT): State.SUCCEEDED,
    (_Q, Event.CODE_WRONG): _Q,
    (_Q, Event.LOCK): State.LOCKED,
    (_Q, Event.EXPIRE): State.EXPIRED,
    (_Q, Event.CANCEL): State.CANCELLED,
}
"""Every legal move. Read it as the whole machine."""

END_STATES = frozenset({State.SUCCEEDED, State.LOCKED, State.EXPIRED, State.CANCELLED})
OPEN_STATES = frozenset(State) - END_STATES
"""The states in which a challenge still takes a code or an answer."""


def next_state(state: State, event: Event) -> State:
    """The state after `event`; raises [`ConflictingState`][mfakit.errors.ConflictingState] for an
    illegal move."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise ConflictingState(f"a challenge in state {state} cannot take event {event}") from None
