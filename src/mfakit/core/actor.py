"""`Actor`: who is acting, and how recently they proved their password.

mfakit does not own users or sessions; the host tells it who acts on each
call. Three shapes exist (seed 001):

* the user themselves ([`Actor.user`][mfakit.Actor.user]);
* an admin acting *for* a team member from the admin's own session
  ([`Actor.admin`][mfakit.Actor.admin]);
* an admin *impersonating* the user ("login as",
  [`Actor.impersonating`][mfakit.Actor.impersonating]).

Only the user themselves, not impersonated, may set up an authenticator.

`step_up` carries the step-up grant (S32) the host kept from a successful
[`MFA.verify`][mfakit.facade.Facade.verify] of a step-up (or sign-in) challenge; calls that remove
or bind a factor need it when the user has an active factor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..errors import InvalidInput, NotPermitted, ReauthenticationRequired
from .step_up import MAX_GRANT_LENGTH
from .validation import check_aware, check_id

__all__ = ["Actor", "ActorKind"]


class ActorKind(str, enum.Enum):
    SELF = "self"
    ADMIN = "admin"
    IMPERSONATOR = "impersonator"


@dataclass(frozen=True, kw_only=True, slots=True)
class Actor:
    """Who performs an operation.

    `id` is the acting person's user id (the admin's, for admins);
    `reauthenticated_at` is when they last re-entered their password, if the
    host knows (an aware `datetime`); `step_up` is the step-up grant from
    [`VerifyResult.step_up`][mfakit.VerifyResult.step_up], if the session holds one (hidden from
    `repr`).
    """

    id: str
    kind: ActorKind = ActorKind.SELF
    impersonated: str | None = None
    reauthenticated_at: datetime | None = None
    step_up: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_id("actor.id", self.id)
        if not isinstance(self.kind, ActorKind):
            raise InvalidInput("actor.kind", "must be an ActorKind")
        if self.kind is ActorKind.IMPERSONATOR:
            check_id("actor.impersonated", self.impersonated)
        elif self.impersonated is not None:
            raise InvalidInput("actor.impersonated", "only an impersonating actor names one")
        if self.reauthenticated_at is not None:
            check_aware("actor.reauthenticated_at", self.reauthenticated_at)
        if self.step_up is not None and (
            not isinstance(self.step_up, str)
            or not 0 < len(self.step_up) <= MAX_GRANT_LENGTH
            or not self.step_up.isascii()
        ):
            raise InvalidInput(
                "actor.step_up", f"must be a grant string of at most {MAX_GRANT_LENGTH} characters"
            )

    @classmethod
    def user(
        cls,
        user_id: str,
        *,
        reauthenticated_at: datetime | None = None,
        step_up: str | None = None,
    ) -> Actor:
        """The user acting on their own account."""
        return cls(id=user_id, reauthenticated_at=reauthenticated_at, step_up=step_up)

    @classmethod
    def admin(
        cls,
        admin_id: str,
        *,
        reauthenticated_at: datetime | None = None,
        step_up: str | None = None,
    ) -> Actor:
        """An admin acting for a team member from their own session. Whether the
        admin may edit that member is the host's decision, made before calling."""
        return cls(
            id=admin_id,
            kind=ActorKind.ADMIN,
            reauthenticated_at=reauthenticated_at,
            step_up=step_up,
        )

    @classmethod
    def impersonating(
        cls,
        admin_id: str,
        user_id: str,
        *,
        reauthenticated_at: datetime | None = None,
        step_up: str | None = None,
    ) -> Actor:
        """An admin logged in as `user_id`."""
        return cls(
            id=admin_id,
            kind=ActorKind.IMPERSONATOR,
            impersonated=user_id,
            reauthenticated_at=reauthenticated_at,
            step_up=step_up,
        )

    @staticmethod
    def check(value: object) -> Actor:
        """`value` if it is an Actor, else [`InvalidInput`][mfakit.errors.InvalidInput]."""
        if not isinstance(value, Actor):
            raise InvalidInput("actor", "must be an mfakit.Actor")
        return value

    def is_self(self, user_id: str) -> bool:
        """True when this is `user_id` acting personally (not impersonated)."""
        return self.kind is ActorKind.SELF and self.id == user_id

    def require_self(self, user_id: str, what: str) -> None:
        """Refuse unless `user_id` acts personally (seed 001: no "login as")."""
        if not self.is_self(user_id):
            raise NotPermitted(f"only the user themselves may {what}")

    def require_may_act_for(self, user_id: str) -> None:
        """Refuse a SELF actor touching someone else's account, or an impersonator
        acting on another user than the one impersonated."""
        if self.kind is ActorKind.SELF and self.id != user_id:
            raise NotPermitted("a user may only act on their own account")
        if self.kind is ActorKind.IMPERSONATOR and self.impersonated != user_id:
            raise NotPermitted("an impersonating admin may only act on the impersonated user")

    def require_manager(self, user_id: str, what: str) -> None:
        """Refuse unless this is the user, or an admin from the admin's own
        session: impersonating admins may not weaken the account's security."""
        if self.kind is ActorKind.IMPERSONATOR:
            raise NotPermitted(f"an impersonating admin may not {what}")
        self.require_may_act_for(user_id)

    def require_fresh(self, now: datetime, max_age: timedelta) -> None:
        """Refuse unless the password was re-entered within `max_age` (S20).

        A re-authentication time in the future (beyond a second of skew) is
        treated as missing: it cannot have happened.
        """
        at = self.reauthenticated_at
        if at is None or at > now + timedelta(seconds=1) or now - at > max_age:
            raise ReauthenticationRequired(
                f"re-enter the password first (within {int(max_age.total_seconds())} s)"
            )
