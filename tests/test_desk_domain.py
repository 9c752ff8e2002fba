"""The desk's rules as tables: every (status, event) pair, who sees what, which route
matches and why, when nudges fall due; and the route command."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.domain.desk import Staff, TicketView, visible
from bot.domain.kinds import Kind
from bot.domain.lifecycle import Event, IllegalTransition, Status, next_status
from bot.domain.routing import Routes, Rule, explain
from bot.domain.sla import Nudge, NudgePolicy

# One row per status; one column per event, in this order:
EVENTS = "take reply ask note transfer_unit transfer_person resolve reject "
EVENTS += "sender_info sender_close auto_close reopen"
# The status after each event; "-" where the event is refused.
EXPECTED = {
    "new": "assigned answered waiting new new assigned closed rejected new closed - -",
    "assigned": "- answered waiting assigned new assigned closed rejected assigned closed - -",
    "waiting": "- answered waiting waiting new assigned closed rejected assigned closed closed -",
    "answered": "- answered waiting answered - - closed - assigned closed closed -",
    "closed": "- - - closed - - - - - - - assigned",
    "rejected": "- - - rejected - - - - - - - -",
}
PAIRS = [
    (Status(status), Event(event), after)
    for status, row in EXPECTED.items()
    for event, after in zip(EVENTS.split(), row.split(), strict=True)
]


def test_the_table_covers_every_status_and_event() -> None:
    assert {s for s, _, _ in PAIRS} == set(Status)
    assert {e for _, e, _ in PAIRS} == set(Event)
    assert len(PAIRS) == len(Status) * len(Event)


@pytest.mark.parametrize(("status", "event", "after"), PAIRS)
def test_every_status_and_event(status: Status, event: Event, after: str) -> None:
    if after == "-":
        with pytest.raises(IllegalTransition):
            next_status(status, event, assigned=True)
    else:
        assert next_status(status, event, assigned=True) == Status(after)


@pytest.mark.parametrize(
    ("status", "event", "after"),
    [
        (Status.CLOSED, Event.REOPEN, Status.NEW),
        (Status.WAITING, Event.SENDER_INFO, Status.NEW),
        (Status.NEW, Event.TRANSFER_PERSON, Status.ASSIGNED),
        (Status.NEW, Event.TAKE, Status.ASSIGNED),
    ],
)
def test_the_sender_goes_back_to_nobody_when_nobody_holds_it(
    status: Status, event: Event, after: Status
) -> None:
    assert next_status(status, event, assigned=False) == after


NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
GO_DAU, TAN_NINH = "25654", "25459"


def _ticket(kind: Kind = Kind.COMPLAINT, **changes: object) -> TicketView:
    values: dict[str, object] = {
        "code": "PA-2611-0001",
        "kind": kind,
        "category": "food-safety",
        "unit_code": GO_DAU,
        "status": Status.NEW,
        "text": "…",
        "attachments": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "due_at": NOW,
        "assignee_code": None,
        "assignee_name": None,
        "sender_name": None,
        "anonymous": False,
        "language": "vi",
    }
    return TicketView(**{**values, **changes})  # type: ignore[arg-type]


def _staff(roles: str, units: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> Staff:
    return Staff("s", "S", frozenset(roles.split()), frozenset(units), frozenset(categories))


@pytest.mark.parametrize(
    ("staff", "ticket", "sees"),
    [
        (_staff("admin staff"), _ticket(), True),
        (_staff("admin staff"), _ticket(Kind.CONFIDENTIAL), False),
        (_staff("inspection"), _ticket(Kind.CONFIDENTIAL), True),
        (_staff("inspection"), _ticket(), False),
        (_staff("staff", (GO_DAU,)), _ticket(), True),
        (_staff("staff", (TAN_NINH,)), _ticket(), False),
        (_staff("staff", (GO_DAU,), ("jobs",)), _ticket(), False),
        (_staff("staff", (TAN_NINH,)), _ticket(assignee_code="s"), True),
        (_staff("staff", (TAN_NINH,)), _ticket(category="routed-to-s"), True),
        (_staff("admin staff"), _ticket(Kind.CONFIDENTIAL, category="routed-to-s"), False),
        (_staff("secretary", (GO_DAU,)), _ticket(), True),
        (_staff("moderator"), _ticket(), False),
        (Staff("s", "S", frozenset({"admin"}), active=False), _ticket(), False),
    ],
)
def test_who_sees_a_submission(staff: Staff, ticket: TicketView, sees: bool) -> None:
    assert visible(staff, ticket, TO_S) is sees


# Names staff "s" for one category: they see it whatever their scope, but never a
# confidential report (that goes by the inspection committee's role alone).
TO_S = Routes(
    rules=[Rule("to-s", categories=frozenset({"routed-to-s"}), staff=("s",))],
    office=Rule("office"),
    inspection=Rule("inspection", staff=("s",)),
)


ROUTES = Routes(
    rules=[
        Rule("env", kinds=frozenset({"complaint"}), categories=frozenset({"environment"})),
        Rule("go-dau", kinds=frozenset({"complaint", "question"}), units=frozenset({GO_DAU})),
        Rule("stories", kinds=frozenset({"story"})),
    ],
    office=Rule("office"),
    inspection=Rule("inspection"),
)


@pytest.mark.parametrize(
    ("kind", "category", "unit", "tried", "failed_fields"),
    [
        ("complaint", "environment", GO_DAU, ["env"], []),
        ("complaint", "food-safety", GO_DAU, ["env", "go-dau"], [["category"]]),
        (
            "question",
            "jobs",
            TAN_NINH,
            ["env", "go-dau", "stories", "office"],
            [["kind", "category"], ["unit"], ["kind"]],
        ),
        (
            "story",
            "volunteering",
            None,
            ["env", "go-dau", "stories"],
            [["kind", "category"], ["kind", "unit"]],
        ),
        ("confidential", "finance", GO_DAU, ["inspection"], []),
    ],
)
def test_routing_explains_each_rule_it_tried(
    kind: str, category: str, unit: str | None, tried: list[str], failed_fields: list[list[str]]
) -> None:
    verdicts = explain(ROUTES, kind, category, unit)
    assert [v.rule.name for v in verdicts] == tried
    assert [[m.field for m in v.failed] for v in verdicts if not v.matched] == failed_fields
    assert verdicts[-1].matched
    assert ROUTES.choose(kind, category, unit).name == tried[-1]


ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
POLICY = NudgePolicy(
    remind_before=1, admin_after=2, holidays=frozenset({dt.date(2027, 1, 1)}), zone=ZONE
)
# Due Tuesday 05/01/2027 17:00: the working day before is Monday 04/01 (the weekend and the
# New Year holiday do not count); two working days after is Thursday 07/01.
DUE = dt.datetime(2027, 1, 5, 17, 0, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("moment", "nudge"),
    [
        (dt.datetime(2027, 1, 1, 17, 0, tzinfo=ZONE), None),
        (dt.datetime(2027, 1, 4, 16, 59, tzinfo=ZONE), None),
        (dt.datetime(2027, 1, 4, 17, 0, tzinfo=ZONE), Nudge.REMIND),
        (dt.datetime(2027, 1, 5, 17, 0, tzinfo=ZONE), Nudge.ESCALATE),
        (dt.datetime(2027, 1, 7, 16, 59, tzinfo=ZONE), Nudge.ESCALATE),
        (dt.datetime(2027, 1, 7, 17, 0, tzinfo=ZONE), Nudge.ESCALATE_ADMIN),
    ],
)
def test_nudges_fall_due_in_working_days(moment: dt.datetime, nudge: Nudge | None) -> None:
    assert POLICY.latest(DUE.astimezone(dt.UTC), moment.astimezone(dt.UTC)) == nudge


def test_the_route_command_explains_the_match(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "--kind", "question", "--category", "jobs", "--unit", "long an"]) == 0
    out = capsys.readouterr().out
    assert "unit Phường Long An is not one of: Phường Gia Lộc, Phường Gò Dầu" in out
    assert "office: MATCHES -> staff van-phong" in out
    assert main(["route", "--kind", "complaint", "--category", "nope"]) == 2
    assert "food-safety" in capsys.readouterr().out
