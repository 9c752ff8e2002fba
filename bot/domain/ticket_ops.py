"""The one way a submission changes at the desk, for staff buttons, the web desk and the
jobs alike: check the life cycle, change it only if nobody changed it meanwhile, record the
message and the audit entry, and say who must hear of it.

The operation returns what happened, not messages: cards and notices need the organisation's
names, time zone and routes and each chat's language, which are the handlers' rendering; one
renderer (handlers/cards.py `told`) turns an Outcome into replies for every caller."""

import datetime as dt
from dataclasses import dataclass

from bot.domain.desk import Change, Staff, TicketChanges, TicketView
from bot.domain.lifecycle import TAKES_OVER, Event, Status, can_happen, next_status

# The clock (or the system) acting on its own, e.g. closing a silent submission.
SYSTEM = Staff(code="cau-noi", name="Cầu Nối", roles=frozenset())
# Events the sender hears of (a note is internal; the sender's own events are theirs).
SENDER_TOLD = frozenset(
    {
        Event.TAKE,
        Event.REPLY,
        Event.ASK,
        Event.TRANSFER_UNIT,
        Event.TRANSFER_PERSON,
        Event.RESOLVE,
        Event.REJECT,
        Event.AUTO_CLOSE,
    }
)
# Events after which the sender is invited to answer.
SENDER_ANSWERS = frozenset({Event.REPLY, Event.ASK})


@dataclass(frozen=True)
class Request:
    """What someone asks to do to a submission: the event and what it needs."""

    event: Event
    body: str | None = None
    target: Staff | None = None
    unit_code: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What an operation did and who must be told.

    `ticket` is the submission after the change, or as it is now when refused. When
    applied, every chat showing its card gets the new card, and so do the new holder's
    chats (`new_holder`) or, when it went back to nobody, its route's (`rerouted`).
    """

    applied: bool
    event: Event
    actor: Staff
    ticket: TicketView
    body: str | None = None
    new_holder: Staff | None = None
    rerouted: bool = False

    @property
    def sender_told(self) -> bool:
        """Whether the sender hears of this change."""
        return self.applied and self.event in SENDER_TOLD

    @property
    def sender_answers(self) -> bool:
        """Whether the sender's notice invites an answer."""
        return self.event in SENDER_ANSWERS

    @property
    def by_system(self) -> bool:
        """Whether nobody at the desk did it (the notice is then signed by the organisation)."""
        return self.actor is SYSTEM


def audit_state(ticket: TicketView) -> dict[str, str]:
    """The fields an audit entry records before and after an action."""
    return {
        "status": ticket.status.value,
        "assignee": ticket.assignee_name or "",
        "unit": ticket.unit_code or "",
    }


def change_for(ticket: TicketView, request: Request, actor: Staff) -> Change:
    """The change an allowed request makes to a submission."""
    event = request.event
    holder = actor.code if event in TAKES_OVER else None
    if request.target is not None:
        holder = request.target.code
    return Change(
        status=next_status(ticket.status, event, assigned=ticket.assignee_code is not None),
        assignee_code=holder,
        clear_assignee=event is Event.TRANSFER_UNIT,
        unit_code=request.unit_code,
        answered=event in (Event.REPLY, Event.RESOLVE),
    )


def apply(
    records: TicketChanges,
    ticket: TicketView,
    request: Request,
    *,
    actor: Staff,
    now: dt.datetime,
) -> Outcome:
    """Apply a request to a submission as last seen; refused (nothing changes) when the life
    cycle does not allow it or someone changed the submission meanwhile."""
    refused = Outcome(applied=False, event=request.event, actor=actor, ticket=ticket)
    if not can_happen(ticket.status, request.event):
        return refused
    change = change_for(ticket, request, actor)
    if not records.change(ticket.code, expected=ticket.status, change=change, now=now):
        latest = records.ticket(ticket.code)
        return refused if latest is None else Outcome(False, request.event, actor, latest)
    if request.body is not None:
        internal = request.event is Event.NOTE
        records.add_message(
            ticket.code, author=actor, body=request.body, internal=internal, now=now
        )
    after = records.ticket(ticket.code)
    assert after is not None, "a submission that just changed exists"
    records.audit(
        ticket.code,
        actor=actor,
        action=request.event.value,
        before=audit_state(ticket),
        after=audit_state(after),
        now=now,
    )
    return Outcome(
        applied=True,
        event=request.event,
        actor=actor,
        ticket=after,
        body=request.body,
        new_holder=request.target,
        rerouted=request.target is None
        and after.status is Status.NEW
        and after.assignee_code is None,
    )
