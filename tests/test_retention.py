"""Retention, as the nightly job runs it at chosen times: delivered texts kept on day 29 and
gone on day 31, a closed submission whole at 23 months and anonymous counts at 25, an open
one never touched; the privacy notice quotes the configured periods."""

import datetime as dt

import pytest
from sqlmodel import Session

from bot.app import CauNoi
from bot.domain.i18n import text
from bot.domain.retention import Cutoffs, cutoffs, months_before
from storage.desk import SqlDeskRecords
from storage.models import (
    Attachment,
    InboxEvent,
    OutboxMessage,
    Ticket,
    TicketMessage,
    WebMessage,
    WebUpload,
    utcnow,
)
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.desk import AN, CODE, Desk, desk_config
from tests.dialogue import TYPED_NAME, Chat, onboard, send_named, submit
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser, signed_in_staff

DAY = dt.timedelta(days=1)
CLOSED_TEXT = "Đèn đường ở hẻm 14 hỏng cả tháng nay, tối đi học rất nguy hiểm."
OPEN_TEXT = "Em muốn hỏi lịch sinh hoạt chi đoàn khu phố trong tháng tới ạ?"
PHOTO = b"\xff\xd8" + b"1" * 500


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        ("2026-11-24T01:00", 24, "2024-11-24T01:00"),
        ("2026-03-31T12:00", 1, "2026-02-28T12:00"),
        ("2028-03-31T12:00", 1, "2028-02-29T12:00"),
        ("2026-01-15T00:00", 13, "2024-12-15T00:00"),
        ("2026-12-31T23:59", 12, "2025-12-31T23:59"),
    ],
)
def test_months_before_counts_calendar_months(moment: str, months: int, expected: str) -> None:
    start = dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC)
    assert months_before(start, months) == dt.datetime.fromisoformat(expected).replace(
        tzinfo=dt.UTC
    )


def test_cutoffs_from_the_configured_periods() -> None:
    now = dt.datetime(2026, 11, 24, 20, 30, tzinfo=dt.UTC)
    assert cutoffs(now, delivery_days=30, closed_months=24) == Cutoffs(
        delivered=dt.datetime(2026, 10, 25, 20, 30, tzinfo=dt.UTC),
        closed=dt.datetime(2024, 11, 24, 20, 30, tzinfo=dt.UTC),
    )


async def _prune(app: CauNoi, clock: Clock, now: dt.datetime) -> None:
    """Fire the scheduler's own retention job at a chosen moment."""
    clock.now = now
    job = app.scheduler.get_job("retention")
    assert job is not None
    await job.func()


async def _filed(app: CauNoi) -> tuple[Browser, str, str]:
    """A web visitor files a complaint (then closes it) and a question (left open)."""
    visitor = Browser(app)
    await visitor.open()
    await onboard(visitor, app.config)
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    await visitor.send(CLOSED_TEXT)
    await visitor.upload("đèn hỏng.jpg", PHOTO, "image/jpeg")
    closed = await send_named(visitor)
    still_open = CODE.search((await submit(visitor, "question", OPEN_TEXT, "anon:no"))[0])
    assert still_open
    await visitor.press(f"mine:close:{closed}")
    await visitor.press(f"mine:close_sure:{closed}", replies=2)
    return visitor, closed, still_open.group()


async def test_delivered_texts_are_kept_29_days_and_gone_after_31(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    start = utcnow()
    clock = Clock(start)
    app = await make_app(config=desk_config(), clock=clock, serve_http=True)
    staff = await signed_in_staff(app)  # the cards show on the web desk too
    visitor, closed, still_open = await _filed(app)
    sent = [m for m in await rows(app.db, OutboxMessage) if m.status == "sent"]
    assert any(m.message_key for m in sent), "staff cards were sent, under their keys"
    inbound, web = len(await rows(app.db, InboxEvent)), len(await rows(app.db, WebMessage))

    await _prune(app, clock, start + 29 * DAY)
    assert await rows(app.db, OutboxMessage) == sent, "day 29: every delivery kept"
    assert (len(await rows(app.db, InboxEvent)), len(await rows(app.db, WebMessage))) == (
        inbound,
        web,
    )

    clock.now = start + 30 * DAY  # the open question is taken: its cards are edited
    await Desk(fake, app).press(AN, f"t:take:{still_open}", sends=3)
    await _prune(app, clock, start + 31 * DAY)
    kept = [m for m in await rows(app.db, OutboxMessage) if m.created_at < start + DAY]
    assert kept, "a card's row stays, so the next change still edits it"
    assert all(m.message_key and m.payload == {} for m in kept), "day 31: no texts"
    old_events = [e for e in await rows(app.db, InboxEvent) if e.received_at < start + DAY]
    assert old_events == [], "handled events gone (redelivery is long over)"
    chats = await rows(app.db, WebMessage)
    edited = {m.replaces for m in chats if m.replaces is not None}
    old_web = [m for m in chats if m.created_at < start + DAY]
    assert old_web, "the web desk's card edited on day 30 stays whole"
    assert all(m.id in edited or m.replaces in edited for m in old_web), "the rest went"
    [ticket, _open] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.text) == (closed, CLOSED_TEXT), "a month is not two years"
    await visitor.close()
    await staff.close()


async def test_closed_submissions_keep_only_counts_after_the_configured_months(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    start = utcnow()
    clock = Clock(start)
    app = await make_app(config=desk_config(), clock=clock, serve_http=True)
    visitor, closed, still_open = await _filed(app)
    before = {t.code: t for t in await rows(app.db, Ticket)}

    await _prune(app, clock, months_before(start, -23))
    after = {t.code: t for t in await rows(app.db, Ticket)}
    assert after == before, "23 months after closing: kept whole"
    assert len(await rows(app.db, WebUpload)) == 1

    await _prune(app, clock, months_before(start, -25))
    after = {t.code: t for t in await rows(app.db, Ticket)}
    gone, kept = after[closed], before[closed]
    assert (gone.author_id, gone.text, gone.rating_comment) == (None, "", None)
    counted = ("kind", "category", "unit_code", "status", "created_at", "closed_at", "rating")
    assert [getattr(gone, f) for f in counted] == [getattr(kept, f) for f in counted]
    assert after[still_open] == before[still_open], "an open submission is never anonymised"
    senders = await app.db.run(lambda s: _senders(s, closed, still_open))
    assert senders == (None, TYPED_NAME), "the typed name no longer goes with the closed one"
    thread = [m for m in await rows(app.db, TicketMessage) if m.ticket_id == gone.id]
    assert thread == []
    assert await rows(app.db, Attachment) == [], "the photo's row is gone"
    assert await rows(app.db, WebUpload) == [], "and so is the file"
    await _prune(app, clock, months_before(start, -26))
    assert {t.code: t for t in await rows(app.db, Ticket)} == after, "a second run changes nothing"
    await visitor.close()


def _senders(session: Session, *codes: str) -> tuple[str | None, ...]:
    """The sender's name staff see on each submission."""
    desk = SqlDeskRecords(session=session)
    return tuple(view.sender_name if (view := desk.ticket(c)) else None for c in codes)


async def test_the_privacy_notice_states_the_configured_periods(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = config_with({"retention": {"delivery_days": 45, "closed_months": 18}})
    app = await make_app(config=config)
    chat = Chat(fake, app, 6201)
    await onboard(chat, config)
    [notice] = await chat.send("/privacy")
    assert "45 ngày" in notice
    assert "18 tháng" in notice
    assert notice == text(
        "privacy.notice",
        "vi",
        organisation="Tỉnh đoàn Tây Ninh",
        delivery_days="45",
        closed_months="18",
    )
