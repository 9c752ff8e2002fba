"""The life of a submission: one table of which event moves which status where."""

from enum import StrEnum


class Status(StrEnum):
    """Where a submission is in its life."""

    NEW = "new"
    ASSIGNED = "assigned"
    WAITING = "waiting"
    ANSWERED = "answered"
    CLOSED = "closed"
    REJECTED = "rejected"


class Event(StrEnum):
    """Something staff, the sender or the clock does to a submission."""

    TAKE = "take"
    REPLY = "reply"
    ASK = "ask"
    NOTE = "note"
    TRANSFER_UNIT = "transfer_unit"
    TRANSFER_PERSON = "transfer_person"
    RESOLVE = "resolve"
    REJECT = "reject"
    SENDER_INFO = "sender_info"
    SENDER_CLOSE = "sender_close"
    AUTO_CLOSE = "auto_close"
    REOPEN = "reopen"


class IllegalTransition(Exception):
    """The event cannot happen to a submission in this status."""

    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{event} is not possible when the submission is {status}")
        self.status = status
        self.event = event


S, E = Status, Event
# (status, event) -> the status after it. A pair that is not here is refused.
TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (S.NEW, E.TAKE): S.ASSIGNED,
    (S.NEW, E.REPLY): S.ANSWERED,
    (S.NEW, E.ASK): S.WAITING,
    (S.NEW, E.NOTE): S.NEW,
    (S.NEW, E.TRANSFER_UNIT): S.NEW,
    (S.NEW, E.TRANSFER_PERSON): S.ASSIGNED,
    (S.NEW, E.RESOLVE): S.CLOSED,
    (S.NEW, E.REJECT): S.REJECTED,
    (S.NEW, E.SENDER_INFO): S.NEW,
    (S.NEW, E.SENDER_CLOSE): S.CLOSED,
    (S.ASSIGNED, E.REPLY): S.ANSWERED,
    (S.ASSIGNED, E.ASK): S.WAITING,
    (S.ASSIGNED, E.NOTE): S.ASSIGNED,
    (S.ASSIGNED, E.TRANSFER_UNIT): S.NEW,
    (S.ASSIGNED, E.TRANSFER_PERSON): S.ASSIGNED,
    (S.ASSIGNED, E.RESOLVE): S.CLOSED,
    (S.ASSIGNED, E.REJECT): S.REJECTED,
    (S.ASSIGNED, E.SENDER_INFO): S.ASSIGNED,
    (S.ASSIGNED, E.SENDER_CLOSE): S.CLOSED,
    (S.WAITING, E.REPLY): S.ANSWERED,
    (S.WAITING, E.ASK): S.WAITING,
    (S.WAITING, E.NOTE): S.WAITING,
    (S.WAITING, E.TRANSFER_UNIT): S.NEW,
    (S.WAITING, E.TRANSFER_PERSON): S.ASSIGNED,
    (S.WAITING, E.RESOLVE): S.CLOSED,
    (S.WAITING, E.REJECT): S.REJECTED,
    (S.WAITING, E.SENDER_INFO): S.ASSIGNED,
    (S.WAITING, E.SENDER_CLOSE): S.CLOSED,
    (S.WAITING, E.AUTO_CLOSE): S.CLOSED,
    (S.ANSWERED, E.REPLY): S.ANSWERED,
    (S.ANSWERED, E.ASK): S.WAITING,
    (S.ANSWERED, E.NOTE): S.ANSWERED,
    (S.ANSWERED, E.RESOLVE): S.CLOSED,
    (S.ANSWERED, E.SENDER_INFO): S.ASSIGNED,
    (S.ANSWERED, E.SENDER_CLOSE): S.CLOSED,
    (S.ANSWERED, E.AUTO_CLOSE): S.CLOSED,
    (S.CLOSED, E.NOTE): S.CLOSED,
    (S.CLOSED, E.REOPEN): S.ASSIGNED,
    (S.REJECTED, E.NOTE): S.REJECTED,
}
# Events after which the staff member who caused them holds the submission.
TAKES_OVER = frozenset({E.TAKE, E.REPLY, E.ASK, E.RESOLVE, E.REJECT})
# Events from the sender that put the submission back in front of whoever holds it.
BACK_TO_HOLDER = frozenset({E.SENDER_INFO, E.REOPEN})
OPEN = frozenset({S.NEW, S.ASSIGNED, S.WAITING, S.ANSWERED})


def can_happen(status: Status, event: Event) -> bool:
    """Whether the event is possible in this status."""
    return (status, event) in TRANSITIONS


def next_status(status: Status, event: Event, *, assigned: bool) -> Status:
    """The status after the event, or IllegalTransition.

    A submission goes back to a person only if someone holds it; otherwise it is new again.
    """
    after = TRANSITIONS.get((status, event))
    if after is None:
        raise IllegalTransition(status, event)
    if event in BACK_TO_HOLDER and after is Status.ASSIGNED and not assigned:
        return Status.NEW
    return after
