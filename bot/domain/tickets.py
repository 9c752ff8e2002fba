"""Submissions as the sender sees them: codes, statuses, what the sender may do, and the
records port that storage implements."""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.kinds import Kind
from bot.domain.lifecycle import Event, Status, can_happen, next_status
from bot.domain.linking import LinkCode
from bot.domain.messages import Recipient

CODE_PREFIX = {
    Kind.COMPLAINT: "PA",
    Kind.QUESTION: "HD",
    Kind.IDEA: "YT",
    Kind.STORY: "TT",
    Kind.CONFIDENTIAL: "BC",
}


class SenderAction(StrEnum):
    """What the sender may do to their own submission."""

    ADD_INFO = "add_info"
    CLOSE = "close"
    REOPEN = "reopen"
    RATE = "rate"


def sequence_name(kind: Kind, local_day: dt.date) -> str:
    """The counter a code is numbered from: one per kind and month, e.g. 'PA-2611'."""
    return f"{CODE_PREFIX[kind]}-{local_day:%y%m}"


def ticket_code(sequence: str, number: int) -> str:
    """'PA-2611-0042': kind, year and month, then the number within that month."""
    return f"{sequence}-{number:04d}"


@dataclass(frozen=True)
class AttachmentRef:
    """A file or location the sender attached, as a reference on their channel."""

    media_kind: str
    file_ref: str
    size_bytes: int | None = None


@dataclass(frozen=True)
class Submission:
    """Everything the sender confirmed on the preview."""

    code: str
    kind: Kind
    category: str
    unit_code: str | None
    text: str
    attachments: tuple[AttachmentRef, ...]
    anonymous: bool
    publish: str | None
    language: str
    display_name: str | None
    due_at: dt.datetime


@dataclass(frozen=True)
class TicketSummary:
    """One of the sender's submissions, for the list and the detail view."""

    code: str
    kind: Kind
    category: str
    status: Status
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    first_answer_at: dt.datetime | None
    closed_at: dt.datetime | None
    rating: int | None
    assigned: bool


@dataclass(frozen=True)
class ThreadEntry:
    """A message in a submission's thread that the sender may read."""

    from_staff: bool
    body: str
    at: dt.datetime
    attachments: int = 0
    internal: bool = False


@dataclass(frozen=True)
class StaffCopy:
    """A message about an erased submission in someone else's chat, by its key there: it is
    replaced with a tombstone where the channel can edit."""

    channel: str
    chat_id: str
    key: str


SENDER_EVENTS = {
    SenderAction.ADD_INFO: Event.SENDER_INFO,
    SenderAction.CLOSE: Event.SENDER_CLOSE,
    SenderAction.REOPEN: Event.REOPEN,
}


def allowed(
    action: SenderAction, ticket: TicketSummary, now: dt.datetime, reopen_days: int
) -> bool:
    """Whether the sender may take this action on their submission now."""
    if action is SenderAction.RATE:
        return ticket.first_answer_at is not None and ticket.rating is None
    if not can_happen(ticket.status, SENDER_EVENTS[action]):
        return False
    closed = ticket.closed_at
    return action is not SenderAction.REOPEN or (
        closed is not None and now - closed <= dt.timedelta(days=reopen_days)
    )


def status_after(action: SenderAction, ticket: TicketSummary) -> Status:
    """The status a submission takes after the sender's action."""
    if action is SenderAction.RATE:
        return ticket.status
    return next_status(ticket.status, SENDER_EVENTS[action], assigned=ticket.assigned)


class YouthRecords(Protocol):
    """What the youth dialogue reads and writes, scoped to the one person it talks to."""

    def next_number(self, sequence: str) -> int:
        """The next number of a code sequence (never handed out twice)."""
        ...

    def submit(self, submission: Submission, *, now: dt.datetime) -> None:
        """File a submission with its attachments."""
        ...

    def submissions_since(self, since: dt.datetime) -> int:
        """How many submissions this person filed since a moment."""
        ...

    def my_tickets(self, limit: int) -> list[TicketSummary]:
        """This person's latest submissions, most recently active first."""
        ...

    def my_ticket(self, code: str) -> TicketSummary | None:
        """One of this person's submissions; None for anyone else's."""
        ...

    def thread(self, code: str) -> list[ThreadEntry]:
        """The messages of this person's submission that they may read, oldest first."""
        ...

    def add_to_ticket(
        self,
        code: str,
        text: str,
        attachments: tuple[AttachmentRef, ...],
        status: Status,
        now: dt.datetime,
    ) -> None:
        """Append the sender's message to their submission."""
        ...

    def set_status(self, code: str, status: Status, now: dt.datetime) -> None:
        """Close or reopen this person's submission."""
        ...

    def rate(self, code: str, rating: int, comment: str | None, now: dt.datetime) -> None:
        """Record the sender's rating of the answer."""
        ...

    def export(self) -> dict[str, Any]:
        """Everything we hold about this person, for them to take away."""
        ...

    def forget(self, now: dt.datetime, *, tombstone: str) -> list[StaffCopy]:
        """Delete this person's data, keeping only anonymous counts of their submissions;
        every stored copy that quoted them becomes `tombstone`. The copies to edit where
        they are shown."""
        ...

    def new_link_code(self, code: str, *, expires: dt.datetime, now: dt.datetime) -> bool:
        """Give this person `code` for linking, told in this account's chat (replacing any
        earlier code of theirs); False when someone else's live code is the same."""
        ...

    def link_code(self, code: str) -> LinkCode | None:
        """The stored code these digits are, whoever's it is."""
        ...

    def join(self, code: str, *, now: dt.datetime) -> Recipient:
        """Move this account's person, with all their accounts and submissions, to the
        maker of a live code, and use the code up; the chat it was given in, to be told."""
        ...

    def unlink(self) -> bool:
        """Give this account a new person of its own (the submissions stay); False when it
        is its person's only account."""
        ...
