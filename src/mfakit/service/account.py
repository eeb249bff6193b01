"""Account-level security events the host reports (L6, S23)."""

from __future__ import annotations

from ..core.actor import Actor
from ..core.audit import Action
from ..core.validation import check_id
from .context import Context
from .devices import security_changed
from .effects import UseCase
from .scope import audit, notify

__all__ = ["password_changed"]


def password_changed(ctx: Context, actor: Actor, user_id: str) -> UseCase[None]:
    """Apply the consequences of a password change or reset: every trusted
    device is revoked and older trust tokens go stale (S30), the change is
    recorded and the user told through a verified channel (S21).

    It never disables or weakens 2FA: a password reset cannot bypass the
    second step (S23).
    """
    check_id("user_id", user_id)
    Actor.check(actor).require_may_act_for(user_id)
    now = ctx.clock.now()
    yield from security_changed(ctx, user_id, now)
    yield from audit(ctx, Action.PASSWORD_CHANGED, user_id, actor_id=actor.id, at=now)
    yield from notify(ctx, user_id, "password_changed")
