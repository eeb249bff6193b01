"""Effects, and the drivers that perform them (ARCHITECTURE.md rule 3).

A use case is a generator. Where it needs the outside world it yields an
*effect* (call this port method, run this CPU-heavy function) and receives the
result; it never touches a port itself. The same generator is run by
`run_sync` for [`MFA`][mfakit.MFA] and by an async driver for the async
facade, so the business logic exists once (the model is httpx's auth flows).

Inside a use case, `rec = yield from call("store", Store.get_totp, uid, fid)`
is type-checked against the port's signature and gives `rec` its type.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Concatenate, NamedTuple, TypeVar

from typing_extensions import ParamSpec

__all__ = [
    "Effect",
    "Offload",
    "Pause",
    "PortCall",
    "UseCase",
    "call",
    "offload",
    "pause",
    "run_async",
    "run_sync",
]

T = TypeVar("T")
P = ParamSpec("P")


class PortCall(NamedTuple):
    """Call `method` of the port named `port` with these arguments.

    (Named tuples: several are built per verification, and they cost a third
    of a frozen dataclass.)"""

    port: str
    method: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


class Offload(NamedTuple):
    """Run a CPU-heavy pure function (argon2); the async driver uses a thread."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]


class Pause(NamedTuple):
    """Wait `seconds` before trying again (after a lost compare-and-set race);
    the async driver sleeps without holding the event loop."""

    seconds: float


Effect = PortCall | Offload | Pause
UseCase = Generator[Effect, Any, T]


def call(
    port: str, method: Callable[Concatenate[Any, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> Generator[Effect, Any, T]:
    """Yield a call of `method` (taken from the port's Protocol) and return its result."""
    result: T = yield PortCall(port, method.__name__, args, kwargs)
    return result


def offload(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Generator[Effect, Any, T]:
    """Yield CPU-heavy work and return its result."""
    if kwargs:
        raise TypeError("offload takes positional arguments only")
    result: T = yield Offload(fn, args)
    return result


def pause(seconds: float) -> Generator[Effect, Any, None]:
    """Yield a short wait (a back-off between two tries of a unit of work)."""
    yield Pause(seconds)


def run_sync(use_case: UseCase[T], ports: Mapping[str, Any]) -> T:
    """Drive `use_case` to completion, performing each effect in this thread.

    An exception raised by a port is thrown back into the use case at the
    `yield`, so the use case can handle it exactly as async code would.
    """
    # Every public call runs this loop: the generator's methods are bound
    # once and an effect is unpacked once, not read field by field.
    send = use_case.send
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            effect = send(value) if error is None else use_case.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        error = None
        try:
            if type(effect) is PortCall:
                port, method, args, kwargs = effect
                if kwargs:
                    value = getattr(ports[port], method)(*args, **kwargs)
                else:
                    value = getattr(ports[port], method)(*args)
            elif type(effect) is Offload:
                value = effect.fn(*effect.args)
            else:
                assert isinstance(effect, Pause)
                time.sleep(effect.seconds)
                value = None
        except Exception as exc:  # handed to the use case, which decides
            value, error = None, exc


async def run_async(use_case: UseCase[T], ports: Mapping[str, Any]) -> T:
    """Drive `use_case` on the event loop: port calls are awaited (a port
    method may also be a plain function, e.g. an in-memory one), CPU-heavy work
    runs in a worker thread so other requests keep going.

    If the awaiting task is cancelled, the generator is closed where it stood.
    Every effect that changes state is one atomic port call, so a cancelled
    request leaves either the state before that call or after it, never half.
    """
    import asyncio  # here, not at import: sync users never load asyncio

    send = use_case.send
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                effect = send(value) if error is None else use_case.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            error = None
            try:
                if type(effect) is PortCall:
                    port, method, args, kwargs = effect
                    value = getattr(ports[port], method)(*args, **kwargs)
                    if isinstance(value, Awaitable):
                        value = await value
                elif type(effect) is Offload:
                    value = await asyncio.to_thread(effect.fn, *effect.args)
                else:
                    assert isinstance(effect, Pause)
                    await asyncio.sleep(effect.seconds)
                    value = None
            except Exception as exc:  # handed to the use case, which decides
                value, error = None, exc
    finally:
        use_case.close()
