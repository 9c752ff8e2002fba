"""Deadline reminders, escalations, auto-closing and the morning summary, run as the
scheduler runs them at chosen times, across a weekend and a public holiday."""

import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.domain.i18n import text
from bot.domain.lifecycle import Status
from storage import claims, inbox
from storage.db import Database
from storage.models import Ticket
from tests.conftest import AppFactory, Clock, rows
from tests.desk import AN, CHAU, CODE, GO_DAU_GROUP, OFFICE, YOUTH, Desk, desk_config, to
from tests.dialogue import onboarded, submit
from tests.fake_telegram import FakeTelegram

LOCAL = dt.timezone(dt.timedelta(hours=7))


def local(day: str, time: str) -> dt.datetime:
    """A moment given in Vietnam's time ('30/12/2026', '10:00'), in UTC."""
    moment = dt.datetime.strptime(f"{day} {time}", "%d/%m/%Y %H:%M").replace(tzinfo=LOCAL)
    return moment.astimezone(dt.UTC)


async def _question_taken(
    fake: FakeTelegram, make_app: AppFactory, clock: Clock
) -> tuple[Desk, str]:
    """A question filed on Wednesday 30/12/2026 and taken by Nguyễn Văn An.

    Three working days: Thursday 31/12, then Friday 01/01 is a holiday and the weekend
    follows, so Monday 04/01 and Tuesday 05/01: due Tuesday 05/01/2027 at 17:00.
    """
    chat = await onboarded(fake, make_app, desk_config(), YOUTH, clock=clock)
    receipt, _ = await submit(
        chat, "question", "Em muốn hỏi về việc làm thời vụ dịp Tết.", "anon:no"
    )
    assert "05/01/2027" in receipt
    match = CODE.search(receipt)
    assert match is not None
    desk = Desk(fake, chat.app)
    await desk.press(AN, f"t:take:{match.group()}", chat=AN, sends=4)
    return desk, match.group()


def _sweep(desk: Desk, clock: Clock, at: dt.datetime) -> Callable[[], Any]:
    """The scheduler's own sweep job, run at a chosen time."""
    job = desk.app.scheduler.get_job("desk-sweep")
    assert job is not None

    async def run() -> None:
        clock.now = at
        await job.func()

    return run


async def test_reminder_then_escalation_to_the_secretary_then_the_admins(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(local("30/12/2026", "10:00"))
    desk, code = await _question_taken(fake, make_app, clock)
    await desk.after(_sweep(desk, clock, local("01/01/2027", "12:00")), sends=0)
    await desk.after(_sweep(desk, clock, local("04/01/2027", "16:59")), sends=0)

    [reminder] = await desk.after(_sweep(desk, clock, local("04/01/2027", "17:00")), sends=1)
    assert reminder.params["chat_id"] == AN
    assert reminder.params["text"] == text(
        "desk.reminder", "vi", code=code, unit="Phường Gò Dầu", due="05/01/2027"
    )
    await desk.after(_sweep(desk, clock, local("04/01/2027", "17:15")), sends=0)

    [escalation] = await desk.after(_sweep(desk, clock, local("05/01/2027", "17:15")), sends=1)
    assert escalation.params["chat_id"] == CHAU, escalation.params["text"]
    assert "Nguyễn Văn An" in str(escalation.params["text"])
    await desk.after(_sweep(desk, clock, local("06/01/2027", "17:15")), sends=0)

    # Two working days after the deadline: Thursday 07/01.
    [to_admin] = await desk.after(_sweep(desk, clock, local("07/01/2027", "17:00")), sends=1)
    assert to_admin.params["chat_id"] == OFFICE
    assert code in str(to_admin.params["text"])

    await desk.app.stop()  # a restart repeats nothing
    restarted = Desk(fake, await make_app(config=desk_config(), clock=clock))
    assert (await restarted.app.jobs.sweep(local("08/01/2027", "09:00"))).nudged == 0
    await restarted.after(_sweep(restarted, clock, local("08/01/2027", "09:15")), sends=0)


async def test_a_long_outage_sends_only_the_latest_nudge(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(local("30/12/2026", "10:00"))
    desk, _ = await _question_taken(fake, make_app, clock)
    [only] = await desk.after(_sweep(desk, clock, local("11/01/2027", "08:00")), sends=1)
    assert only.params["chat_id"] == OFFICE


async def test_silent_answered_submissions_close_after_the_configured_days(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(local("30/12/2026", "10:00"))
    desk, code = await _question_taken(fake, make_app, clock)
    answer = "Bạn theo dõi trang của Trung tâm Dịch vụ việc làm tỉnh nhé."
    await desk.action(AN, "reply", code, answer, sends=4)
    await desk.after(_sweep(desk, clock, local("06/01/2027", "09:00")), sends=0)
    closed = await desk.after(_sweep(desk, clock, local("06/01/2027", "10:00")), sends=3)
    [notice] = to(closed, YOUTH)
    assert text("status.closed", "vi") in notice
    assert text("status.closed", "vi") in desk.card(GO_DAU_GROUP, code)
    [ticket] = await rows(desk.app.db, Ticket)
    assert ticket.status == Status.CLOSED


async def test_the_morning_summary_goes_out_once_on_working_days(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(local("30/12/2026", "10:00"))
    desk, _ = await _question_taken(fake, make_app, clock)
    job = desk.app.scheduler.get_job("morning-summary")
    assert job is not None
    saturday = local("02/01/2027", "07:45")
    assert await desk.app.jobs.morning_summary(saturday) == 0
    clock.now = local("04/01/2027", "07:45")
    [summary] = await desk.after(job.func, sends=1)
    assert summary.params["chat_id"] == AN
    assert summary.params["text"] == text("desk.summary", "vi", mine="1", free="0", overdue="0")
    await desk.after(job.func, sends=0)


async def test_once_only_records_refuse_a_second_claim(database_url: str) -> None:
    db = Database(database_url)
    now = local("04/01/2027", "17:00")
    try:
        with db.session() as session:
            first = inbox.record_inbound(session=session, channel="t", event_id="1", payload={})
            again = inbox.record_inbound(session=session, channel="t", event_id="1", payload={})
            claimed = claims.claim_publication(session=session, kind="remind", period="x", now=now)
            reclaimed = claims.claim_publication(
                session=session, kind="remind", period="x", now=now
            )
    finally:
        await db.dispose()
    assert (first, again, claimed, reclaimed) == (True, False, True, False)
