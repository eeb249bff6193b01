"""`MfaMiddleware`: no session gets past mfakit's sign-in without its second step.

Add it after Django's `AuthenticationMiddleware` and
`MessageMiddleware`:

```python
MIDDLEWARE = [
    ...,
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "mfakit.integrations.django.middleware.MfaMiddleware",
]
```

It enforces two rules on every request of a signed-in user:

* A session that was logged in some other way than mfakit's sign-in (the
  admin's own login form, another login view) has not passed the second
  step: it is logged out and sent to `mfakit:login`, which runs it.
* A user whose role requires 2FA (`Policy.require_for_roles`: their Django
  groups, or `MFAKIT["ROLE"]`) and who has none yet was let in at sign-in
  only to set it up (seed 002): until they have, every page but mfakit's
  own account pages sends them to the setup page (the team pages too: an
  admin manages others' 2FA only after setting up their own).

Pages under `STATIC_URL` pass. Sensitive views add `@mfa_required` or
`@recent_mfa_required` (`decorators`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from . import web

__all__ = ["MfaMiddleware"]

NAMESPACE = "mfakit"
TEAM_PAGES = "team_"
"""URL names of the "manage team member" pages (`team.py`), closed to an
admin who has yet to set up their own 2FA."""


class MfaMiddleware:
    """See the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        static = getattr(settings, "STATIC_URL", None)
        if static and request.path.startswith(str(static)):
            return None
        match = request.resolver_match
        ours = match is not None and NAMESPACE in match.namespaces
        team = ours and match is not None and str(match.url_name).startswith(TEAM_PAGES)
        how = request.session.get(web.AUTH)
        if how is None:
            # Logged in without mfakit's second step: start it properly.
            logout(request)
            if ours:
                return None
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('mfakit:login')}?{query}")
        if how == "enrol" and (team or not ours):
            messages.warning(request, _("Set up two-step verification to continue."))
            return HttpResponseRedirect(reverse("mfakit:index"))
        return None
