"""`AsyncMFA`: the asynchronous facade, for FastAPI, Starlette, Quart and
async Django (P5).

It offers every method of [`MFA`][mfakit.MFA], with the same names,
arguments, results and errors, awaitable. Both run the same use cases
(`mfakit.service`): here `run_async`
awaits each port call and runs argon2 in a worker thread, so a sign-in never
stalls the event loop. Every method is a coroutine function (`async def`,
in `_aio_methods.py`) and its typed signatures are in `aio.pyi`, both
generated from [`Facade`][mfakit.facade.Facade] by `tools/make_async_stub.py`.

Ports may be async ([`AsyncStore`][mfakit.ports.storage.AsyncStore],
[`AsyncMemoryStore`][mfakit.adapters.memory_async.AsyncMemoryStore], the async SQL store,
`AsyncSmtpEmailSender`) or in-memory sync ones that never block (`MemoryStore`,
`Outbox`, `ConsoleSender`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._aio_methods import AsyncMethods
from .facade import Facade
from .service.effects import UseCase, run_async

__all__ = ["AsyncMFA"]

T = TypeVar("T")


class AsyncMFA(AsyncMethods, Facade):
    """Two-factor authentication for an async application; see [`MFA`][mfakit.MFA].

    Example:

    ```python
    store = AsyncSqlStore.from_url("sqlite+aiosqlite:///mfa.db")
    await store.create_all()  # or include its tables in your migrations
    amfa = AsyncMFA(store=store, secret_key=os.environ["MFA_SECRET_KEY"],
                    issuer="Aesthetix CRM")
    start = await amfa.begin_sign_in("user-42", role="staff")
    ```
    """

    def _run(  # type: ignore[override]  # awaitable results: see aio.pyi
        self,
        use_case: Callable[..., UseCase[T]],
        *args: object,
        tenant: object = None,
        context: object = None,
        **kwargs: object,
    ) -> Coroutine[Any, Any, T]:
        return run_async(self._use_case(use_case, args, kwargs, tenant, context), self._ports)
