"""The staff desk's domain: who may see and act on a submission, and the records port."""

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import Status
from bot.domain.messages import Recipient, SharedFile
from bot.domain.routing import Routes
from bot.domain.tickets import ThreadEntry

DESK_ROLES = frozenset({Role.STAFF, Role.SECRETARY, Role.INSPECTION, Role.ADMIN})
CARD_PREFIX = "card:"


def card_key(code: str) -> str:
    """The key that makes a submission's card one message per chat, edited as it changes."""
    return f"{CARD_PREFIX}{code}"


@dataclass(frozen=True)
class Staff:
    """A staff member as the desk checks them: roles and the units and categories they cover.

    Empty units or categories mean all of them.
    """

    code: str
    name: str
    roles: frozenset[str]
    units: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    person_id: int | None = None
    active: bool = True

    def has(self, role: Role) -> bool:
        """Whether this member holds a role (and has not been revoked)."""
        return self.active and role in self.roles

    def covers(self, unit_code: str | None, category: str) -> bool:
        """Whether a unit and a category fall in this member's scope."""
        return (not self.units or unit_code in self.units) and (
            not self.categories or category in self.categories
        )


@dataclass(frozen=True)
class TicketView:
    """A submission as staff see it: never with the identity of an anonymous sender."""

    code: str
    kind: Kind
    category: str
    unit_code: str | None
    status: Status
    text: str
    attachments: int
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    assignee_code: str | None
    assignee_name: str | None
    sender_name: str | None
    anonymous: bool
    language: str
    # The call-back contact a named sender gave (never set for an anonymous one).
    sender_contact: str | None = None


def routed_to(ticket: TicketView, routes: Routes) -> frozenset[str]:
    """The staff the routing rule that matches a submission names."""
    return frozenset(routes.choose(ticket.kind, ticket.category, ticket.unit_code).staff)


def visible(staff: Staff, ticket: TicketView, routes: Routes) -> bool:
    """Whether a staff member may see a submission, with the routes it is checked against."""
    return can_see(staff, ticket, routed_to(ticket, routes))


def can_see(staff: Staff, ticket: TicketView, routed: frozenset[str]) -> bool:
    """Confidential reports: the inspection committee only. Others: admins, the holder,
    staff the routing named (`routed`), and staff or secretaries whose scope covers it."""
    if not staff.active:
        return False
    if ticket.kind is Kind.CONFIDENTIAL:
        return staff.has(Role.INSPECTION)
    if staff.has(Role.ADMIN) or ticket.assignee_code == staff.code:
        return True
    if not (staff.has(Role.STAFF) or staff.has(Role.SECRETARY)):
        return False
    return staff.code in routed or staff.covers(ticket.unit_code, ticket.category)


def handles(staff: Staff) -> bool:
    """Whether a person works at the desk at all."""
    return staff.active and bool(staff.roles & DESK_ROLES)


@dataclass(frozen=True)
class AuditLine:
    """One recorded staff or admin action."""

    at: dt.datetime
    actor: str
    action: str
    before: dict[str, str]
    after: dict[str, str]


@dataclass(frozen=True)
class Change:
    """What a staff action does to a submission; None leaves a field as it is."""

    status: Status
    assignee_code: str | None = None
    clear_assignee: bool = False
    unit_code: str | None = None
    answered: bool = False


class TicketChanges(Protocol):
    """What a ticket operation reads and writes (bot/domain/ticket_ops.py)."""

    def ticket(self, code: str) -> TicketView | None:
        """A submission by code."""
        ...

    def change(self, code: str, *, expected: Status, change: Change, now: dt.datetime) -> bool:
        """Apply a change if the submission is still in the expected status."""
        ...

    def add_message(
        self, code: str, *, author: Staff, body: str, internal: bool, now: dt.datetime
    ) -> None:
        """Add a staff message or internal note to a submission's thread."""
        ...

    def audit(
        self,
        code: str,
        *,
        actor: Staff,
        action: str,
        before: dict[str, str],
        after: dict[str, str],
        now: dt.datetime,
    ) -> None:
        """Record a staff action."""
        ...


class DeskRecords(TicketChanges, Protocol):
    """What the desk reads and writes; storage implements it on the event's transaction."""

    def staff(self, code: str) -> Staff | None:
        """A staff member by code, active or not."""
        ...

    def staff_of_person(self, person_id: int) -> Staff | None:
        """The active staff member a person is, if any."""
        ...

    def all_staff(self) -> list[Staff]:
        """Every active staff member."""
        ...

    def open_tickets(self, unit_codes: frozenset[str] | None, limit: int) -> list[TicketView]:
        """Open submissions the desk works on (not stories offered for publication: the
        moderators' work), in these units or all, earliest deadline first."""
        ...

    def thread(self, code: str, *, internal: bool) -> list[ThreadEntry]:
        """A submission's messages, internal notes included when asked."""
        ...

    def files(self, code: str) -> list[SharedFile]:
        """The files and locations the sender attached to a submission, oldest first."""
        ...

    def audit_log(self, code: str) -> list[AuditLine]:
        """The recorded actions on a submission, oldest first."""
        ...

    def sender(self, code: str) -> Recipient | None:
        """Where the sender of a submission can be reached, in their language."""
        ...

    def card_chats(self, code: str) -> list[tuple[str, str]]:
        """The (channel, chat) pairs that show a card of this submission."""
        ...

    def card_replied_to(self, channel: str, chat_id: str, message_id: str) -> str | None:
        """The code of the submission whose card is this message, if it is one."""
        ...

    def chats_of(self, code: str) -> list[tuple[str, str]]:
        """The reachable (channel, chat) pairs of a staff member."""
        ...

    def create_invite(
        self, *, token: str, roles: list[str], units: list[str], by: Staff, expires: dt.datetime
    ) -> None:
        """Store a one-time invitation."""
        ...

    def accept_invite(
        self, *, token: str, person_id: int, name: str, now: dt.datetime
    ) -> Staff | None:
        """Turn an unused, unexpired invitation into a staff member; None if it is not valid."""
        ...

    def revoke(self, code: str) -> bool:
        """Take a staff member's roles away; False if there is no such active member."""
        ...

    def set_banned(self, code: str, *, banned: bool) -> bool:
        """Ban or unban the sender of a submission; False if it has no sender any more."""
        ...
