"""Who may give and take away each role, row by row, and who may ban whose sender."""

import datetime as dt

import pytest

from bot.domain.desk import Staff, TicketView
from bot.domain.grants import Grant, grants_any, may_ban, may_grant
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import Status
from bot.domain.routing import Routes, Rule

# One row per actor role; one column per granted role, in this order:
GRANTED = "staff secretary inspection moderator admin"
# "y" where the actor may do it, "-" where it is refused.
EXPECTED = {
    Grant.INVITE: {
        "staff": "- - - - -",
        "secretary": "- - - - -",
        "inspection": "- - y - -",
        "moderator": "- - - - -",
        "admin": "y y - y y",
    },
    Grant.REVOKE: {
        "staff": "- - - - -",
        "secretary": "- - - - -",
        "inspection": "- - y - -",
        "moderator": "- - - - -",
        "admin": "y y - y y",
    },
}
ROWS = [
    (Role(actor), Role(granted), action, allowed == "y")
    for action, table in EXPECTED.items()
    for actor, row in table.items()
    for granted, allowed in zip(GRANTED.split(), row.split(), strict=True)
]


def _member(*roles: str, active: bool = True) -> Staff:
    return Staff(code="x", name="X", roles=frozenset(roles), active=active)


def test_the_table_covers_every_actor_role_granted_role_and_action() -> None:
    assert len({(a, g, action) for a, g, action, _ in ROWS}) == len(Role) ** 2 * len(Grant)


@pytest.mark.parametrize(("actor", "granted", "action", "allowed"), ROWS)
def test_who_may_invite_and_revoke_whom(
    actor: Role, granted: Role, action: Grant, allowed: bool
) -> None:
    assert may_grant(_member(actor), [granted], action) is allowed


@pytest.mark.parametrize(
    ("actor", "granted", "allowed"),
    [
        (_member("staff", "admin"), ["staff"], True),
        (_member("admin", "inspection"), ["inspection"], True),
        (_member("admin"), ["staff", "inspection"], False),  # revoking takes every role
        (_member("inspection"), ["staff", "inspection"], False),
        (_member("admin", "inspection"), ["staff", "inspection"], True),
        (_member("admin", active=False), ["staff"], False),
        (_member("admin"), [], False),
        (_member("admin"), ["chairman"], False),
    ],
)
def test_several_roles_at_once(actor: Staff, granted: list[str], allowed: bool) -> None:
    assert may_grant(actor, granted, Grant.REVOKE) is allowed


@pytest.mark.parametrize(
    ("roles", "expected"),
    [(("staff",), False), (("moderator", "secretary"), False), (("inspection",), True)],
)
def test_who_grants_anything_at_all(roles: tuple[str, ...], expected: bool) -> None:
    assert grants_any(_member(*roles)) is expected


NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def _ticket(kind: Kind) -> TicketView:
    return TicketView(
        code="PA-2611-0001",
        kind=kind,
        category="food-safety",
        unit_code="25654",
        status=Status.NEW,
        text="…",
        attachments=0,
        created_at=NOW,
        updated_at=NOW,
        due_at=NOW,
        assignee_code=None,
        assignee_name=None,
        sender_name=None,
        anonymous=True,
        language="vi",
    )


@pytest.mark.parametrize(
    ("roles", "kind", "allowed"),
    [
        (("admin",), Kind.COMPLAINT, True),
        (("admin",), Kind.CONFIDENTIAL, False),  # they may not learn it exists
        (("inspection",), Kind.CONFIDENTIAL, True),
        (("inspection",), Kind.COMPLAINT, False),
        (("staff",), Kind.COMPLAINT, False),
        (("secretary",), Kind.QUESTION, False),
        (("moderator",), Kind.STORY, False),
    ],
)
def test_who_may_ban_the_sender_of_what(roles: tuple[str, ...], kind: Kind, allowed: bool) -> None:
    routes = Routes(rules=[], office=Rule("office"), inspection=Rule("inspection"))
    assert may_ban(_member(*roles), _ticket(kind), routes) is allowed
