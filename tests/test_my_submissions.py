"""Hồ sơ của tôi, settings, privacy rights and the abuse limits, end to end."""

import datetime as dt
import json

from sqlalchemy import update
from sqlmodel import Session, select

from bot.config import OrgConfig
from bot.domain.i18n import text
from storage.models import ChannelIdentity, Conversation, Person, Ticket, TicketMessage, utcnow
from tests.conftest import AppFactory, config_with, rows
from tests.dialogue import Chat, onboard, onboarded, start_draft
from tests.fake_telegram import FakeTelegram

USER = 6101
OTHER = 6102


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


async def _question(chat: Chat) -> str:
    await start_draft(
        chat, "question", "cat:jobs", "Tỉnh đoàn có giới thiệu việc làm cho thanh niên không ạ?"
    )
    await chat.press("att:done")
    await chat.press("anon:no")
    await chat.press("preview:send", replies=2)
    [ticket] = await rows(chat.app.db, Ticket)
    return ticket.code


def _answer(session: Session, code: str) -> None:
    """What the staff desk records when it answers (the desk itself is another issue)."""
    ticket = session.exec(select(Ticket).where(Ticket.code == code)).one()
    assert ticket.id is not None
    ticket.status, ticket.first_answer_at, ticket.updated_at = "answered", utcnow(), utcnow()
    session.add(ticket)
    answer = "Có bạn nhé: ngày hội việc làm 05/12."
    session.add(TicketMessage(ticket_id=ticket.id, author_role="staff", body=answer))
    note = TicketMessage(ticket_id=ticket.id, author_role="staff", internal=True, body="nội bộ")
    session.add(note)


async def test_my_submissions_thread_add_rate_close_and_reopen(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    code = await _question(chat)
    await chat.send("/mine")
    assert chat.buttons() == [f"mine:open:{code}", "menu:show"]
    [detail] = await chat.press(f"mine:open:{code}")
    assert "giới thiệu việc làm" in detail
    assert chat.buttons() == [f"mine:add:{code}", f"mine:close:{code}", "mine:list"]
    await chat.press(f"mine:add:{code}")
    await chat.send("Mình 22 tuổi, đã tốt nghiệp trung cấp điện.", replies=2)
    await app.db.run(lambda session: _answer(session, code))
    [detail] = await chat.press(f"mine:open:{code}")
    assert "Tỉnh đoàn Tây Ninh: Có bạn nhé" in detail, "staff answers show the Union's name"
    assert "nội bộ" not in detail, "internal notes stay internal"
    assert f"mine:rate:{code}" in chat.buttons()
    await chat.press(f"mine:rate:{code}")
    await chat.press("rate:5")
    await chat.send("Cảm ơn anh chị rất nhiều!", replies=2)
    [asked] = await chat.press(f"mine:close:{code}")
    assert asked == text("mine.close_ask", "vi", code=code), "one tap never closes"
    assert chat.buttons() == [f"mine:close_sure:{code}", f"mine:open:{code}"]
    await chat.press(f"mine:open:{code}")  # "No, keep it"
    [kept] = await rows(app.db, Ticket)
    assert kept.closed_at is None
    await chat.press(f"mine:close:{code}")
    [closed, _detail] = await chat.press(f"mine:close_sure:{code}", replies=2)
    assert closed == text("mine.done_close", "vi", code=code)
    [reopened, _detail] = await chat.press(f"mine:reopen:{code}", replies=2)
    assert reopened == text("mine.done_reopen", "vi", code=code)
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.rating, ticket.rating_comment) == (5, "Cảm ơn anh chị rất nhiều!")
    assert ticket.status == "new"
    assert ticket.closed_at is None
    thread = [m.body for m in await rows(app.db, TicketMessage)]
    assert "Mình 22 tuổi, đã tốt nghiệp trung cấp điện." in thread


async def test_someone_elses_submission_cannot_be_opened(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    app = await make_app()
    owner, other = Chat(fake, app, USER), Chat(fake, app, OTHER)
    await onboard(owner, org_config)
    code = await _question(owner)
    await onboard(other, org_config)
    for action in ("open", "add", "close", "rate"):
        [refused] = await other.press(f"mine:{action}:{code}")
        assert refused == text("errors.stale_choice", "vi")
    [empty] = await other.send("/mine")
    assert empty == text("mine.empty", "vi")


async def test_reopening_ends_after_the_configured_days(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    clock = Clock()
    chat = await onboarded(fake, make_app, org_config, USER, clock=clock)
    code = await _question(chat)
    await chat.press(f"mine:close:{code}")
    await chat.press(f"mine:close_sure:{code}", replies=2)
    clock.now += dt.timedelta(days=15)
    await chat.press(f"mine:open:{code}")
    assert f"mine:reopen:{code}" not in chat.buttons()
    [refused, _detail] = await chat.press(f"mine:reopen:{code}", replies=2)
    assert refused == text("mine.not_now", "vi", code=code)


async def test_mydata_sends_a_file_and_forget_erases_the_person(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    code = await _question(chat)
    fake.message(USER, "/mydata")
    await fake.wait_for(lambda: len(fake.sent("sendDocument", USER)) == 1)
    [sent] = fake.sent("sendDocument", USER)
    data = json.loads(sent["document"]["content"])
    assert sent["caption"] == text("privacy.my_data", "vi")
    assert data["submissions"][0]["code"] == code
    assert data["person"]["unit"] == "Phường Gò Dầu"
    await chat.send("/forget")
    [forgotten] = await chat.press("forget:yes")
    assert forgotten == text("privacy.forgotten", "vi")
    assert await rows(app.db, Person) == []
    assert await rows(app.db, ChannelIdentity) == []
    assert await rows(app.db, Conversation) == []
    assert await rows(app.db, TicketMessage) == []
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.author_id, ticket.text, ticket.kind) == (None, "", "question"), "a count only"
    greeting, _consent = await chat.send("/start", replies=2)
    assert greeting.startswith("Xin chào"), "a stranger again"


async def test_forget_can_be_called_off(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await chat.send("/forget")
    [kept] = await chat.press("forget:no")
    assert kept == text("privacy.forget_kept", "vi")
    assert len(await rows(app.db, Person)) == 1


async def test_daily_limit_keeps_the_draft(fake: FakeTelegram, make_app: AppFactory) -> None:
    config = config_with({"limits": {"submissions_per_day": 1}})
    chat = await onboarded(fake, make_app, config, USER)
    app = chat.app
    await _question(chat)
    await start_draft(
        chat, "idea", "cat:digital", "Làm bản đồ số các điểm sinh hoạt thanh thiếu nhi trong tỉnh."
    )
    await chat.press("att:done")
    await chat.press("pub:named")
    [limited] = await chat.press("preview:send")
    assert limited == text("submit.limit_reached", "vi", max="1")
    assert len(await rows(app.db, Ticket)) == 1
    [conversation] = await rows(app.db, Conversation)
    assert conversation.draft["submission"]["kind"] == "idea"


async def test_flood_guard_answers_once_then_lets_the_person_go_on(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock()
    config = config_with({"limits": {"messages_per_minute": 3}})
    app = await make_app(config=config, clock=clock)
    chat = Chat(fake, app, USER)
    await chat.send("/help")
    await chat.send("/help")
    await chat.send("/help")
    assert await chat.send("/help") == [text("errors.flood", "vi")]
    fake.message(USER, "/help")  # beyond the warning: silence
    # Buttons are not counted; handled after the silent /help, so its reply would show here.
    changed = [text("language.changed", "en"), text("consent.ask", "en")]
    assert await chat.press("lang:en", replies=2) == changed
    clock.now += dt.timedelta(minutes=2)
    assert await chat.send("/help", replies=2) == [text("help.body", "en"), changed[1]]
    assert len(chat.texts) == 8


async def test_a_long_silence_ends_the_dialogue_but_keeps_the_draft(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    clock = Clock()
    chat = await onboarded(fake, make_app, org_config, USER, clock=clock)
    await start_draft(
        chat, "complaint", "cat:environment", "Bãi rác tự phát ở đầu hẻm 12 bốc mùi."
    )
    clock.now += dt.timedelta(hours=3)
    [expired] = await chat.send(
        None, photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]
    )
    assert expired.startswith("Đã lâu bạn chưa trả lời")
    assert chat.buttons() == ["draft:resume", "draft:discard"]
    [resumed] = await chat.press("draft:resume")
    assert resumed.startswith("Bạn có thể gửi kèm")


async def test_a_banned_person_is_refused_politely_but_keeps_data_rights(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await app.db.run(lambda s: s.exec(update(Person).values(banned=True)))
    assert await chat.press("menu:complaint") == [text("errors.banned", "vi")]
    [notice] = await chat.send("/privacy")
    assert notice.startswith("Chính sách dữ liệu cá nhân")


async def test_settings_change_unit_and_toggles(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    [summary] = await chat.send("/settings")
    assert "Đơn vị: Phường Gò Dầu" in summary
    await chat.press("set:unit")
    await chat.send("trang bang")
    trang_bang = org_config.unit("Phường Trảng Bàng")
    assert trang_bang is not None
    _chosen, summary = await chat.press(f"unit:{trang_bang.code}", replies=2)
    assert "Đơn vị: Phường Trảng Bàng" in summary
    [summary] = await chat.press("set:anonymous")
    assert "Luôn gửi ẩn danh: bật" in summary
    [summary] = await chat.press("set:sub:daily")
    assert "Nhận tin tốt mỗi ngày: bật" in summary
    [person] = await rows(app.db, Person)
    assert person.unit_code == trang_bang.code
    assert person.always_anonymous
    assert person.subscriptions == ["announcements", "daily"]
    # Always anonymous: a complaint skips the question and is filed anonymously.
    await start_draft(chat, "complaint", "cat:environment", "Khói từ lò gạch làm cả xóm khó thở.")
    [preview] = await chat.press("att:done")
    assert text("submit.anonymous", "vi") in preview
