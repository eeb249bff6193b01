"""``Actor``: who acts, their permissions and re-authentication freshness (S20)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mfakit.core.actor import Actor, ActorKind
from mfakit.errors import InvalidInput, NotPermitted, ReauthenticationRequired

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
FIVE_MIN = timedelta(minutes=5)


def test_constructors() -> None:
    me = Actor.user("alice")
    assert (me.id, me.kind, me.impersonated, me.reauthenticated_at) == (
        "alice",
        ActorKind.SELF,
        None,
        None,
    )
    admin = Actor.admin("root", reauthenticated_at=NOW)
    assert (admin.id, admin.kind, admin.impersonated) == ("root", ActorKind.ADMIN, None)
    assert admin.reauthenticated_at == NOW
    imp = Actor.impersonating("root", "alice")
    assert (imp.id, imp.kind, imp.impersonated) == ("root", ActorKind.IMPERSONATOR, "alice")


def test_actor_is_frozen() -> None:
    actor = Actor.user("alice")
    with pytest.raises(AttributeError):
        actor.kind = ActorKind.ADMIN  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 200, id="200 chars"),
        pytest.param("a" * 129, id="129 chars"),
        pytest.param("ali\x00ce", id="nul"),
        pytest.param("alice\n", id="newline"),
        pytest.param("ali\tce", id="tab"),
        pytest.param("ali\x7fce", id="del"),
        pytest.param(" alice", id="leading space"),
        pytest.param(None, id="None"),
        pytest.param(42, id="int"),
        pytest.param(b"alice", id="bytes"),
    ],
)
@pytest.mark.parametrize("make", [Actor.user, Actor.admin], ids=["user", "admin"])
def test_invalid_ids_are_refused(make: object, bad_id: object) -> None:
    with pytest.raises(InvalidInput) as info:
        make(bad_id)  # type: ignore[operator]
    assert info.value.field == "actor.id"


def test_128_char_id_is_accepted() -> None:
    assert Actor.user("a" * 128).id == "a" * 128


@pytest.mark.parametrize("bad_id", ["", "a" * 200, "bob\r", None])
def test_invalid_impersonated_id_is_refused(bad_id: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Actor.impersonating("root", bad_id)  # type: ignore[arg-type]
    assert info.value.field == "actor.impersonated"


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(datetime(2026, 1, 1, 12, 0), id="naive"),
        pytest.param("2026-01-01T12:00:00+00:00", id="str"),
        pytest.param(1_767_268_800, id="int"),
    ],
)
def test_reauthenticated_at_must_be_an_aware_datetime(when: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Actor.user("alice", reauthenticated_at=when)  # type: ignore[arg-type]
    assert info.value.field == "actor.reauthenticated_at"


def test_kind_and_impersonated_must_agree() -> None:
    with pytest.raises(InvalidInput):
        Actor(id="root", kind=ActorKind.IMPERSONATOR)
    with pytest.raises(InvalidInput):
        Actor(id="alice", impersonated="bob")
    with pytest.raises(InvalidInput):
        Actor(id="root", kind=ActorKind.ADMIN, impersonated="bob")
    with pytest.raises(InvalidInput):
        Actor(id="alice", kind="self")  # type: ignore[arg-type]


def test_check() -> None:
    actor = Actor.user("alice")
    assert Actor.check(actor) is actor
    for value in ("alice", None, {"id": "alice"}):
        with pytest.raises(InvalidInput):
            Actor.check(value)


# --- permissions -----------------------------------------------------------------------


def test_require_self_allows_the_user() -> None:
    Actor.user("alice").require_self("alice", "set up an authenticator")
    assert Actor.user("alice").is_self("alice")


@pytest.mark.parametrize(
    "actor",
    [
        pytest.param(Actor.admin("alice"), id="admin with the same id"),
        pytest.param(Actor.admin("root"), id="admin"),
        pytest.param(Actor.impersonating("root", "alice"), id="impersonator"),
        pytest.param(Actor.impersonating("alice", "alice"), id="impersonating self"),
        pytest.param(Actor.user("bob"), id="another user"),
    ],
)
def test_require_self_refuses_others(actor: Actor) -> None:
    assert not actor.is_self("alice")
    with pytest.raises(NotPermitted) as info:
        actor.require_self("alice", "set up an authenticator")
    assert not isinstance(info.value, ReauthenticationRequired)


def test_require_may_act_for() -> None:
    Actor.user("alice").require_may_act_for("alice")
    Actor.admin("root").require_may_act_for("alice")
    Actor.impersonating("root", "alice").require_may_act_for("alice")
    with pytest.raises(NotPermitted):
        Actor.user("bob").require_may_act_for("alice")
    with pytest.raises(NotPermitted):
        Actor.impersonating("root", "bob").require_may_act_for("alice")


# --- freshness (S20) --------------------------------------------------------------------


def fresh_at(when: datetime | None) -> Actor:
    return Actor.user("alice", reauthenticated_at=when)


@pytest.mark.parametrize(
    "age",
    [timedelta(0), timedelta(seconds=1), timedelta(minutes=4, seconds=59), FIVE_MIN],
    ids=str,
)
def test_fresh_within_max_age(age: timedelta) -> None:
    fresh_at(NOW - age).require_fresh(NOW, FIVE_MIN)


@pytest.mark.parametrize(
    "age",
    [FIVE_MIN + timedelta(seconds=1), FIVE_MIN + timedelta(microseconds=1), timedelta(days=3)],
    ids=str,
)
def test_stale_reauthentication_is_refused(age: timedelta) -> None:
    with pytest.raises(ReauthenticationRequired):
        fresh_at(NOW - age).require_fresh(NOW, FIVE_MIN)


def test_missing_reauthentication_is_refused() -> None:
    with pytest.raises(ReauthenticationRequired):
        fresh_at(None).require_fresh(NOW, FIVE_MIN)
    with pytest.raises(ReauthenticationRequired):
        Actor.admin("root").require_fresh(NOW, FIVE_MIN)


@pytest.mark.parametrize(
    "ahead", [timedelta(minutes=1), timedelta(days=1), timedelta(days=3650)], ids=str
)
def test_reauthentication_in_the_future_is_refused(ahead: timedelta) -> None:
    with pytest.raises(ReauthenticationRequired):
        fresh_at(NOW + ahead).require_fresh(NOW, FIVE_MIN)


def test_reauthentication_is_a_not_permitted() -> None:
    assert issubclass(ReauthenticationRequired, NotPermitted)


def test_freshness_compares_instants_not_wall_clocks() -> None:
    paris = timezone(timedelta(hours=1))
    # 12:57 in Paris is 11:57 UTC: three minutes before NOW.
    fresh_at(datetime(2026, 1, 1, 12, 57, tzinfo=paris)).require_fresh(NOW, FIVE_MIN)
    # 12:54 in UTC+1 is 11:54 UTC: six minutes before NOW.
    with pytest.raises(ReauthenticationRequired):
        fresh_at(datetime(2026, 1, 1, 12, 54, tzinfo=paris)).require_fresh(NOW, FIVE_MIN)


@pytest.mark.parametrize("max_age", [timedelta(minutes=1), timedelta(minutes=20)], ids=str)
def test_boundary_follows_max_age(max_age: timedelta) -> None:
    fresh_at(NOW - max_age).require_fresh(NOW, max_age)
    with pytest.raises(ReauthenticationRequired):
        fresh_at(NOW - max_age - timedelta(seconds=1)).require_fresh(NOW, max_age)
