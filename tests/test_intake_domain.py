"""Pure rules of intake: deadlines, codes, the unit search, routing, what a sender may do."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.config import OrgConfig
from bot.domain.kinds import Kind
from bot.domain.lifecycle import Status
from bot.domain.routing import Routes, Rule
from bot.domain.sla import add_working_days, due_at
from bot.domain.tickets import (
    SenderAction,
    TicketSummary,
    allowed,
    sequence_name,
    status_after,
    ticket_code,
)
from bot.domain.units import UnitName, search_units

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
HOLIDAYS = {dt.date(2027, 4, 30), dt.date(2027, 5, 3)}


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (dt.date(2026, 11, 23), 1, dt.date(2026, 11, 24)),  # Monday -> Tuesday
        (dt.date(2026, 11, 27), 1, dt.date(2026, 11, 30)),  # Friday -> Monday
        (dt.date(2026, 11, 28), 1, dt.date(2026, 11, 30)),  # Saturday -> Monday
        (dt.date(2026, 11, 23), 7, dt.date(2026, 12, 2)),  # over a weekend
        (dt.date(2027, 4, 29), 1, dt.date(2027, 5, 4)),  # holiday, weekend, holiday
        (dt.date(2027, 4, 28), 3, dt.date(2027, 5, 5)),
    ],
)
def test_deadlines_skip_weekends_and_holidays(start: dt.date, days: int, due: dt.date) -> None:
    assert add_working_days(start, days, HOLIDAYS) == due


def test_due_time_is_the_local_end_of_day_in_utc() -> None:
    # 23:30 on Sunday 22/11 in Vietnam is 16:30 UTC; the local day counts, not the UTC one.
    received = dt.datetime(2026, 11, 22, 16, 30, tzinfo=dt.UTC)
    assert due_at(received, 1, set(), ZONE) == dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_codes_carry_kind_month_and_number() -> None:
    sequence = sequence_name(Kind.COMPLAINT, dt.date(2026, 11, 22))
    assert ticket_code(sequence, 42) == "PA-2611-0042"
    assert sequence_name(Kind.CONFIDENTIAL, dt.date(2027, 1, 3)) == "BC-2701"


UNITS = [
    UnitName("1", "Phường Gò Dầu"),
    UnitName("2", "Xã Phước Thạnh"),
    UnitName("3", "Phường Tân An"),
    UnitName("4", "Xã Tân An Hội"),
    UnitName("5", "Đoàn trường THPT chuyên Hoàng Lê Kha"),
    UnitName("6", "Xã Thạnh Đức"),
]


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("go dau", ["1"]),
        ("GÒ DẦU", ["1"]),
        ("  Go   Dau ", ["1"]),
        ("tan an", ["3", "4"]),  # the exact name first
        ("thanh", ["6", "2"]),  # a name starting with it before one containing it
        ("hoang le kha", ["5"]),
        ("an", ["3", "4"]),  # word starts only: not "Thạnh"
        ("x", []),  # too short to search
        ("ha noi", []),
    ],
)
def test_unit_search(query: str, codes: list[str]) -> None:
    found, total = search_units(UNITS, query)
    assert [u.code for u in found] == codes
    assert total == len(codes)


def test_unit_search_shows_at_most_eight_of_many() -> None:
    many = [UnitName(str(i), f"Xã Tân {i}") for i in range(20)]
    found, total = search_units(many, "tan")
    assert (len(found), total) == (8, 20)


ROUTES = Routes(
    rules=[
        Rule(
            "food in Gò Dầu",
            kinds=frozenset({"complaint"}),
            categories=frozenset({"food"}),
            units=frozenset({"1"}),
            groups=(("telegram", "-1"),),
        ),
        Rule("all stories", kinds=frozenset({"story"}), staff=("editor",)),
    ],
    office=Rule("office", staff=("office",)),
    inspection=Rule("inspection", staff=("inspector",)),
)


@pytest.mark.parametrize(
    ("kind", "category", "unit", "rule"),
    [
        ("complaint", "food", "1", "food in Gò Dầu"),
        ("complaint", "food", "2", "office"),  # another unit
        ("complaint", "roads", "1", "office"),  # another category
        ("story", "anything", None, "all stories"),
        ("question", "jobs", "1", "office"),
        ("confidential", "food", "1", "inspection"),  # never by an ordinary rule
    ],
)
def test_routing_takes_the_first_matching_rule(
    kind: str, category: str, unit: str | None, rule: str
) -> None:
    assert ROUTES.choose(kind, category, unit).name == rule


def test_shipped_routes_resolve_unit_names(org_config: OrgConfig) -> None:
    go_dau = org_config.unit("go dau") or org_config.unit("Phường Gò Dầu")
    assert go_dau is not None
    assert org_config.routes.choose("complaint", "environment", go_dau.code).staff == (
        "nguyen-van-an",
    )


NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)


def _ticket(
    status: Status,
    *,
    answered: bool = False,
    closed_days_ago: int | None = None,
    rating: int | None = None,
    assigned: bool = False,
) -> TicketSummary:
    closed = NOW - dt.timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    return TicketSummary(
        "PA-2611-0001",
        Kind.COMPLAINT,
        "x",
        status,
        NOW,
        NOW,
        None,
        NOW if answered else None,
        closed,
        rating,
        assigned,
    )


@pytest.mark.parametrize(
    ("ticket", "action", "ok"),
    [
        (_ticket(Status.NEW), SenderAction.ADD_INFO, True),
        (_ticket(Status.CLOSED, closed_days_ago=1), SenderAction.ADD_INFO, False),
        (_ticket(Status.REJECTED), SenderAction.CLOSE, False),
        (_ticket(Status.ANSWERED, answered=True), SenderAction.CLOSE, True),
        (_ticket(Status.NEW), SenderAction.RATE, False),  # nothing to rate yet
        (_ticket(Status.ANSWERED, answered=True), SenderAction.RATE, True),
        (_ticket(Status.ANSWERED, answered=True, rating=4), SenderAction.RATE, False),
        (_ticket(Status.CLOSED, closed_days_ago=14), SenderAction.REOPEN, True),
        (_ticket(Status.CLOSED, closed_days_ago=15), SenderAction.REOPEN, False),
        (_ticket(Status.ANSWERED, answered=True), SenderAction.REOPEN, False),
    ],
)
def test_what_a_sender_may_do(ticket: TicketSummary, action: SenderAction, ok: bool) -> None:
    assert allowed(action, ticket, NOW, reopen_days=14) is ok


@pytest.mark.parametrize(
    ("ticket", "action", "status"),
    [
        (_ticket(Status.WAITING, assigned=True), SenderAction.ADD_INFO, Status.ASSIGNED),
        (_ticket(Status.ANSWERED, answered=True), SenderAction.ADD_INFO, Status.NEW),
        (_ticket(Status.NEW), SenderAction.ADD_INFO, Status.NEW),
        (_ticket(Status.ANSWERED, answered=True), SenderAction.CLOSE, Status.CLOSED),
        (
            _ticket(Status.CLOSED, closed_days_ago=1, assigned=True),
            SenderAction.REOPEN,
            Status.ASSIGNED,
        ),
        (_ticket(Status.ANSWERED, answered=True), SenderAction.RATE, Status.ANSWERED),
    ],
)
def test_status_after_the_senders_action(
    ticket: TicketSummary, action: SenderAction, status: Status
) -> None:
    assert status_after(action, ticket) is status
