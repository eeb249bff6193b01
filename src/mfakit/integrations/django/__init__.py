"""mfakit for Django (`pip install 'mfakit[django]'`).

Add `"mfakit.integrations.django"` to `INSTALLED_APPS`, an `MFAKIT`
setting (see `conf`), run `manage.py migrate`, then:

```python
from mfakit.integrations.django import get_mfa

mfa = get_mfa()   # one MFA per process, on DjangoStore, built from MFAKIT
```

What is here: the models and migrations (`models`), the store on the
ORM, which is also the audit log (`store.DjangoStore`), an email
sender over Django's email backend (`mail.DjangoEmailSender`), the
`MFAKIT` setting and `get_mfa` (`conf`), the pages
(`views`, `urls`: `path("account/2fa/",
include("mfakit.integrations.django.urls"))`) and their templates, the
middleware (`middleware`), the `@mfa_required` and
`@recent_mfa_required` decorators (`decorators`), the
`security_event` signal (`signals`), the admin (`admin`), system
checks (`checks`) and the management commands `mfakit_purge`,
`mfakit_unlock` and `mfakit_status`.

Nothing is imported until used: this package can be listed in
`INSTALLED_APPS` before Django's app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import django as _django
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "mfakit.integrations.django needs Django: pip install 'mfakit[django]'"
    ) from exc

if TYPE_CHECKING:
    from ...mfa import MFA
    from .mail import DjangoEmailSender as DjangoEmailSender
    from .store import DjangoStore as DjangoStore

__all__ = ["DjangoEmailSender", "DjangoStore", "get_mfa", "reset_mfa"]

del _django


def get_mfa() -> MFA:
    """The project's [`MFA`][mfakit.MFA], built once from `settings.MFAKIT`."""
    from .conf import get_mfa as get

    return get()


def reset_mfa() -> None:
    """Forget the built MFA (the next `get_mfa` builds it again)."""
    from .conf import reset

    reset()


def __getattr__(name: str) -> Any:
    if name == "DjangoStore":
        from .store import DjangoStore

        return DjangoStore
    if name == "DjangoEmailSender":
        from .mail import DjangoEmailSender

        return DjangoEmailSender
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
