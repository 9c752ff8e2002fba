"""The one ticket operation as a table, on in-memory records (no SQL): every event from
every status, allowed (the change, the message, the audit entry, who is told) or refused
(nothing changes)."""

import datetime as dt
from dataclasses import dataclass, field, replace

import pytest

from bot.domain import ticket_ops
from bot.domain.desk import Change, Staff, TicketView
from bot.domain.kinds import Kind
from bot.domain.lifecycle import TRANSITIONS, Event, Status
from bot.domain.ticket_ops import SYSTEM, Request

NOW = dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)
ANH = Staff("anh", "Anh", frozenset({"staff"}), person_id=1)
BINH = Staff("binh", "Bình", frozenset({"staff"}), person_id=2)
HOLDER = "chi"


@dataclass
class MemoryTickets:
    """TicketChanges in memory: one submission, its thread and its audit."""

    tickets: dict[str, TicketView]
    messages: list[tuple[str, str, bool]] = field(default_factory=list)
    audits: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=lambda: {"anh": "Anh", "binh": "Bình"})

    def ticket(self, code: str) -> TicketView | None:
        return self.tickets.get(code)

    def change(self, code: str, *, expected: Status, change: Change, now: dt.datetime) -> bool:
        ticket = self.tickets.get(code)
        if ticket is None or ticket.status is not expected:
            return False
        holder = None if change.clear_assignee else change.assignee_code or ticket.assignee_code
        self.tickets[code] = replace(
            ticket,
            status=change.status,
            assignee_code=holder,
            assignee_name=self.names.get(holder or "", holder),
            unit_code=change.unit_code or ticket.unit_code,
            updated_at=now,
        )
        return True

    def add_message(
        self, code: str, *, author: Staff, body: str, internal: bool, now: dt.datetime
    ) -> None:
        self.messages.append((author.code, body, internal))

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
        self.audits.append((actor.code, action, before, after))


def _ticket(status: Status, assignee: str | None = HOLDER) -> TicketView:
    return TicketView(
        code="PA-2611-0001",
        kind=Kind.COMPLAINT,
        category="food-safety",
        unit_code="25654",
        status=status,
        text="…",
        attachments=0,
        created_at=NOW,
        updated_at=NOW - dt.timedelta(days=8),
        due_at=NOW,
        assignee_code=assignee,
        assignee_name=assignee,
        sender_name=None,
        anonymous=False,
        language="vi",
    )


def _request(event: Event) -> Request:
    if event is Event.TRANSFER_PERSON:
        return Request(event, target=BINH)
    if event is Event.TRANSFER_UNIT:
        return Request(event, unit_code="25459")
    return Request(event, body="Đã xử lý" if event in TEXTED else None)


TEXTED = {Event.REPLY, Event.ASK, Event.NOTE, Event.RESOLVE, Event.REJECT}
# The events the desk and the jobs act with (the sender's own go through their dialogue).
DESK_EVENTS = [e for e in Event if e not in (Event.SENDER_INFO, Event.SENDER_CLOSE)]
CASES = [(status, event) for status in Status for event in DESK_EVENTS]
# Who holds the ticket afterwards, by event (None: unchanged).
HOLDER_AFTER = {
    Event.TAKE: "anh",
    Event.REPLY: "anh",
    Event.ASK: "anh",
    Event.RESOLVE: "anh",
    Event.REJECT: "anh",
    Event.TRANSFER_PERSON: "binh",
    Event.TRANSFER_UNIT: None,
}


@pytest.mark.parametrize(("status", "event"), CASES)
def test_each_event_from_each_status(status: Status, event: Event) -> None:
    before = _ticket(status)
    records = MemoryTickets({before.code: before})
    actor = SYSTEM if event is Event.AUTO_CLOSE else ANH
    outcome = ticket_ops.apply(records, before, _request(event), actor=actor, now=NOW)
    after = records.tickets[before.code]
    if (status, event) not in TRANSITIONS:
        assert not outcome.applied
        assert after == before
        assert (records.messages, records.audits) == ([], [])
        assert not outcome.sender_told
        return
    assert outcome.applied
    assert after.status is TRANSITIONS[status, event]
    assert outcome.ticket == after
    assert after.assignee_code == HOLDER_AFTER.get(event, HOLDER)
    expected_message = [("anh", "Đã xử lý", event is Event.NOTE)] if event in TEXTED else []
    assert records.messages == expected_message
    assert records.audits == [
        (actor.code, event.value, ticket_ops.audit_state(before), ticket_ops.audit_state(after))
    ]
    assert outcome.sender_told is (event is not Event.NOTE and event is not Event.REOPEN)
    assert outcome.sender_answers is (event in (Event.REPLY, Event.ASK))
    assert outcome.new_holder == (BINH if event is Event.TRANSFER_PERSON else None)
    assert outcome.rerouted is (event is Event.TRANSFER_UNIT)


def test_a_ticket_someone_changed_meanwhile_is_refused_with_its_latest_state() -> None:
    seen = _ticket(Status.NEW, assignee=None)
    latest = _ticket(Status.ASSIGNED, assignee="binh")
    records = MemoryTickets({seen.code: latest})
    outcome = ticket_ops.apply(records, seen, Request(Event.TAKE), actor=ANH, now=NOW)
    assert not outcome.applied
    assert outcome.ticket == latest
    assert records.tickets[seen.code] == latest
    assert (records.messages, records.audits) == ([], [])


def test_the_sender_hears_from_the_organisation_when_the_clock_closes() -> None:
    before = _ticket(Status.ANSWERED)
    records = MemoryTickets({before.code: before})
    outcome = ticket_ops.apply(records, before, Request(Event.AUTO_CLOSE), actor=SYSTEM, now=NOW)
    assert outcome.applied
    assert outcome.by_system
    assert outcome.sender_told
    assert records.tickets[before.code].status is Status.CLOSED


def test_reopening_goes_back_to_nobody_when_nobody_holds_it() -> None:
    before = _ticket(Status.CLOSED, assignee=None)
    records = MemoryTickets({before.code: before})
    outcome = ticket_ops.apply(records, before, Request(Event.REOPEN), actor=ANH, now=NOW)
    assert outcome.ticket.status is Status.NEW
    assert outcome.rerouted
