"""Account-level security events the host reports (L6, S23)."""

from __future__ import annotations

from ..core.actor import Actor
from ..core.audit import Action
from ..core.validation import check_id
from ..ports.storage import Store
from .context import Context
from .devices import devices_revoked, security_writes
from .effects import UseCase, call
from .notices import deliver, notice, notice_target, queue
from .scope import event
from .work import commit, contended

__all__ = ["password_changed"]


def password_changed(ctx: Context, actor: Actor, user_id: str) -> UseCase[None]:
    """Apply the consequences of a password change or reset: every trusted
    device is revoked and older trust tokens go stale (S30), the change is
    recorded and the user told through a verified channel (S21), all in one
    unit of work (the notice queued, then sent).

    It never disables or weakens 2FA: a password reset cannot bypass the
    second step (S23).
    """
    check_id("user_id", user_id)
    Actor.check(actor).require_may_act_for(user_id)
    now = ctx.clock.now()
    contacts = yield from call("store", Store.get_contacts, user_id)
    target = notice_target(ctx, contacts)
    notices, queued = queue([notice(ctx, user_id, "password_changed", target, now)])
    writes = [*security_writes(user_id, now), *queued]
    changed = event(ctx, Action.PASSWORD_CHANGED, user_id, actor_id=actor.id, at=now)
    results = yield from commit(ctx, writes, [changed])
    if results is None:  # pragma: no cover - nothing in the batch is conditional
        raise contended("the user's security state")
    yield from devices_revoked(ctx, user_id, results[1], now)
    yield from deliver(ctx, notices)
