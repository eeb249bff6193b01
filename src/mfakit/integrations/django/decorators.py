"""Guards for the host's own views: `@mfa_required` and `@recent_mfa_required`.

```python
from mfakit.integrations.django.decorators import mfa_required, recent_mfa_required

@mfa_required
def patients(request): ...

@recent_mfa_required(max_age=300)  # a factor proven in the last 5 minutes
def export_records(request): ...
```

`mfa_required`: the user signed in with a second step (or on a device
they trusted with one); a user without 2FA is sent to set it up.
`recent_mfa_required`: on top of that, a factor was proven in this session
within `max_age` (seconds or a `timedelta`); otherwise the user proves
one on the step-up page and comes back. Class-based views use
`MfaRequiredMixin` and `RecentMfaRequiredMixin`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from ...errors import InvalidInput
from . import web
from .conf import get_mfa

__all__ = [
    "MfaRequiredMixin",
    "RecentMfaRequiredMixin",
    "mfa_required",
    "recent_mfa_required",
]

V = TypeVar("V", bound=Callable[..., HttpResponseBase])

PASSED = frozenset({"mfa", "trusted"})
"""How a session passed sign-in with 2FA (see `web`)."""


def _here(request: HttpRequest) -> str:
    if request.method == "GET":
        return request.get_full_path()
    return web.safe_next(request, request.META.get("HTTP_REFERER"), reverse("mfakit:index"))


def _refuse(request: HttpRequest, max_age: timedelta | None) -> HttpResponseBase | None:
    """None if the request may go on, else where to send it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
    if request.session.get(web.AUTH) not in PASSED:
        messages.warning(request, _("Set up two-step verification to open this page."))
        return HttpResponseRedirect(reverse("mfakit:index"))
    if max_age is None:
        return None
    at = web.verified_at(request)
    if at is not None and get_mfa().clock.now() - at <= max_age:
        return None
    query = urlencode({"next": _here(request)})
    return HttpResponseRedirect(f"{reverse('mfakit:step_up')}?{query}")


def _age(max_age: object) -> timedelta:
    if isinstance(max_age, timedelta):
        age = max_age
    elif isinstance(max_age, int) and not isinstance(max_age, bool):
        age = timedelta(seconds=max_age)
    else:
        raise InvalidInput("max_age", "must be seconds (an int) or a timedelta")
    if age <= timedelta(0):
        raise InvalidInput("max_age", "must be positive")
    return age


def mfa_required(view: V) -> V:
    """The view needs a user who signed in with two-step verification."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = _refuse(request, None)
        return refused if refused is not None else view(request, *args, **kwargs)

    return cast(V, wrapper)


def recent_mfa_required(max_age: int | timedelta) -> Callable[[V], V]:
    """The view needs a factor proven in this session within `max_age`."""
    age = _age(max_age)

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            refused = _refuse(request, age)
            return refused if refused is not None else view(request, *args, **kwargs)

        return cast(V, wrapper)

    return decorate


class MfaRequiredMixin:
    """`@mfa_required` for class-based views (put it first in the bases)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = _refuse(request, None)
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]


class RecentMfaRequiredMixin:
    """`@recent_mfa_required` for class-based views: set `mfa_max_age`."""

    mfa_max_age: int | timedelta = 300

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refused = _refuse(request, _age(self.mfa_max_age))
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]
