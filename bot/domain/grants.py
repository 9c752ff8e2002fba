"""Who may give and take away each staff role at the desk, and who may ban a sender.

config.yaml and the server's command line stand outside these rules: they are the
organisation itself, and seat the first members of every role.
"""

from collections.abc import Iterable
from enum import StrEnum

from bot.domain.desk import Staff, TicketView, visible
from bot.domain.kinds import Role
from bot.domain.routing import Routes


class Grant(StrEnum):
    """What one staff member does to another's roles."""

    INVITE = "invite"
    REVOKE = "revoke"


ADMINS = frozenset({Role.ADMIN})
COMMITTEE = frozenset({Role.INSPECTION})

# The one table: for each role and action, the roles whose holders may do it. The inspection
# committee checks everyone else, admins included, so it alone seats and unseats its members
# (an admin who could would read every confidential report); admins run the rest of the desk,
# other admins included; staff, secretaries and moderators grant nothing.
GRANTED_BY: dict[tuple[str, Grant], frozenset[Role]] = {
    (Role.STAFF, Grant.INVITE): ADMINS,
    (Role.STAFF, Grant.REVOKE): ADMINS,
    (Role.SECRETARY, Grant.INVITE): ADMINS,
    (Role.SECRETARY, Grant.REVOKE): ADMINS,
    (Role.MODERATOR, Grant.INVITE): ADMINS,
    (Role.MODERATOR, Grant.REVOKE): ADMINS,
    (Role.ADMIN, Grant.INVITE): ADMINS,
    (Role.ADMIN, Grant.REVOKE): ADMINS,
    (Role.INSPECTION, Grant.INVITE): COMMITTEE,
    (Role.INSPECTION, Grant.REVOKE): COMMITTEE,
}


def may_grant(actor: Staff, roles: Iterable[str], action: Grant) -> bool:
    """Whether a staff member may give (or take away) every one of these roles."""
    wanted = list(roles)
    return bool(wanted) and all(
        any(actor.has(holder) for holder in GRANTED_BY.get((role, action), ())) for role in wanted
    )


def grants_any(actor: Staff) -> bool:
    """Whether a staff member may invite or revoke anyone at all."""
    return any(actor.has(holder) for holders in GRANTED_BY.values() for holder in holders)


def may_ban(actor: Staff, ticket: TicketView, routes: Routes) -> bool:
    """Whether a staff member may ban the sender of a submission: admins for what they see,
    the inspection committee for confidential reports (which admins never see)."""
    return visible(actor, ticket, routes) and (actor.has(Role.ADMIN) or actor.has(Role.INSPECTION))
