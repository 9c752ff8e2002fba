"""Publishing good news end to end: moderators' decisions and the author's notices, the daily
post fired at chosen times (the right story, credit and photo, the empty pool, the low-pool
warning, once per day, a missed slot caught up once or skipped), and /pool and /digest."""

import datetime as dt
import json
from xml.etree import ElementTree as ET

import httpx
from sqlmodel import Session, select

from bot.domain.i18n import text
from bot.domain.publishing import StoryState
from bot.news import ATOM
from storage.models import Publication, Story
from tests.conftest import AppFactory, Clock, rows
from tests.desk import AN, BINH, CODE, GO_DAU_GROUP, OFFICE, YOUTH, Desk, desk_config, to
from tests.dialogue import Chat, onboard
from tests.fake_telegram import Call, FakeTelegram, file_content

CHANNEL = -1003
YOUTH2 = 6002
# 07:30 in Tây Ninh on Tuesday 24/11/2026 is 00:30 UTC.
SLOT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _config() -> object:
    return desk_config(channels={"telegram": {"public_channel_id": CHANNEL}})


def _photo(file_id: str) -> list[dict[str, object]]:
    return [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 800, "height": 600}]


async def _file_story(chat: Chat, body: str, credit: str, photo: str | None = None) -> str:
    """File a good-news story from the menu; return its code."""
    await chat.press("menu:story")
    await chat.press(chat.buttons()[0])
    await chat.send(body)
    if photo is not None:
        await chat.send(None, photo=_photo(photo))
    await chat.press("att:done")
    await chat.press(f"pub:{credit}")
    receipt, _menu = await chat.press("preview:send", replies=2)
    found = CODE.search(receipt)
    assert found, receipt
    return found.group()


async def _youth(fake: FakeTelegram, desk: Desk, user: int, unit: str) -> Chat:
    chat = Chat(fake, desk.app, user)
    await onboard(chat, desk.app.config, unit=unit)
    return chat


async def test_each_moderation_decision_and_what_the_author_hears(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=_config())
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    first = await _file_story(chat, "Bạn Minh nhặt được ví và trả lại người mất.", "named", "ph1")
    second = await _file_story(chat, "Đội tình nguyện sửa xe miễn phí cho học sinh.", "anonymous")
    third = await _file_story(chat, "Câu lạc bộ đọc sách mở cửa mỗi tối thứ Bảy.", "named")
    await app.outbox.drain()
    assert "🌟 " + first in fake.shown(BINH, fake.message_ids(BINH, "🌟 " + first)[0])

    approved = await desk.press(BINH, f"m:ok:{first}", sends=3)
    assert to(approved, YOUTH) == [text("publish.approved_notice", "vi", code=first)]
    hidden = await desk.press(BINH, f"m:hide:{first}", sends=2)
    assert to(hidden, BINH)[0] == text("publish.done_hide", "vi", code=first)

    await desk.press(BINH, f"m:edit:{second}", sends=1)
    edited_text = "Đội thanh niên tình nguyện phường sửa xe đạp miễn phí cho học sinh."
    await desk.say(BINH, edited_text, sends=2)

    await desk.press(BINH, f"m:no:{third}", sends=1)
    reason = "Nội dung cần thêm thông tin để kiểm chứng."
    rejected = await desk.say(BINH, reason, sends=3)
    [notice] = to(rejected, YOUTH)
    assert reason in notice
    assert third in notice

    too_late = await desk.press(BINH, f"m:ok:{third}", sends=1)
    state = text("publish.state_rejected", "vi")
    assert to(too_late, BINH) == [text("publish.too_late", "vi", code=third, state=state)]
    for outsider in (YOUTH, AN):  # a young person, and staff who do not moderate
        [refused] = await desk.press(outsider, f"m:ok:{second}", sends=1)
        assert refused.params["text"] == text("desk.not_allowed", "vi")

    stories = {s.text: s for s in await rows(app.db, Story)}
    assert stories["Bạn Minh nhặt được ví và trả lại người mất."].state == StoryState.APPROVED
    assert stories["Bạn Minh nhặt được ví và trả lại người mất."].photo_hidden
    assert stories[edited_text].state == StoryState.PENDING
    assert stories["Câu lạc bộ đọc sách mở cửa mỗi tối thứ Bảy."].reason == reason


async def test_a_story_makes_one_card_the_moderators_unless_kept_private(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(SLOT)
    app = await make_app(config=_config(), clock=clock)
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    public = await _file_story(chat, "Bạn Minh nhặt được ví và trả lại người mất.", "named")
    private = await _file_story(chat, "Cô giáo dạy miễn phí cho các em nhỏ.", "no")
    await app.outbox.drain()
    cards = {
        chat: len(fake.message_ids(chat, f"📋 {public}") + fake.message_ids(chat, f"🌟 {public}"))
        for chat in (OFFICE, AN, BINH, GO_DAU_GROUP)
    }
    assert cards == {OFFICE: 0, AN: 0, BINH: 1, GO_DAU_GROUP: 0}
    assert fake.message_ids(BINH, f"🌟 {public}"), "the one card is the moderation card"
    # Nobody moderates a story its author keeps private: the desk reads it, as before.
    assert fake.message_ids(OFFICE, "📋 " + private)
    assert not fake.message_ids(BINH, "🌟 " + private)
    [queue] = await desk.say(OFFICE, "/queue", sends=1)
    assert private in str(queue.params["reply_markup"])
    assert public not in str(queue.params["reply_markup"]), "nor is it in the desk's queue"
    sweep = app.scheduler.get_job("desk-sweep")
    assert sweep is not None
    clock.now += 30 * DAY  # long past both deadlines: only the private one is chased
    chased = await desk.after(sweep.func, sends=1)
    assert private in str(chased[0].params["text"])


async def test_the_daily_post_day_by_day(fake: FakeTelegram, make_app: AppFactory) -> None:
    clock = Clock(SLOT - 2 * DAY - dt.timedelta(hours=1))
    app = await make_app(config=_config(), clock=clock)
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    reader = await _youth(fake, desk, YOUTH2, "Phường Tân Ninh")
    await reader.press("set:sub:daily")
    named = await _file_story(chat, "Bạn Minh nhặt được ví và trả lại người mất.", "named", "ph1")
    anonymous = await _file_story(chat, "Đội tình nguyện sửa xe miễn phí.", "anonymous")
    other_unit = await _file_story(
        reader, "Ba bạn trẻ dạy bơi miễn phí cho thiếu nhi.", "anonymous"
    )
    for code in (named, anonymous, other_unit):
        clock.now += dt.timedelta(minutes=5)
        await desk.press(BINH, f"m:ok:{code}", sends=3)

    clock.now = SLOT
    day_one = await desk.after(lambda: app.publisher.daily(clock.now), sends=5)
    [post] = [c for c in day_one if c.params["chat_id"] == CHANNEL]
    assert (post.method, post.params["photo"]) == ("sendPhoto", "ph1")
    assert "Bạn Minh nhặt được ví" in post.params["caption"]
    assert f"User{YOUTH}" in post.params["caption"], "credited by name, as the author chose"
    assert to(day_one, YOUTH2) == [post.params["caption"]], "the daily subscriber gets it"
    assert to(day_one, YOUTH) == [text("publish.published_notice_plain", "vi", code=named)]
    assert text("publish.pool_low", "vi", count="2", min="3") in to(day_one, BINH)
    await desk.after(lambda: app.publisher.daily(clock.now + dt.timedelta(hours=1)), sends=0)

    clock.now = SLOT + DAY
    day_two = await desk.after(lambda: app.publisher.daily(clock.now), sends=5)
    [second_post] = to(day_two, CHANNEL)
    assert "dạy bơi" in second_post, "not Gò Dầu twice in a row while another unit waits"
    assert text("publish.credit_anonymous", "vi", unit="Phường Tân Ninh") in second_post
    assert "User" not in second_post

    clock.now = SLOT + 2 * DAY
    day_three = await desk.after(lambda: app.publisher.daily(clock.now), sends=5)
    assert "sửa xe" in to(day_three, CHANNEL)[0]
    assert (
        text("publish.credit_anonymous", "vi", unit="Phường Gò Dầu") in to(day_three, CHANNEL)[0]
    )

    clock.now = SLOT + 3 * DAY
    await desk.after(lambda: app.publisher.daily(clock.now), sends=0)  # the pool is empty
    posts = await rows(app.db, Publication)
    days = [p.period for p in posts if p.kind == "daily" and p.status == "posted"]
    assert days == ["2026-11-24", "2026-11-25", "2026-11-26"]


async def test_a_missed_slot_is_posted_once_on_return_or_skipped_when_too_old(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(SLOT - DAY + dt.timedelta(hours=12))  # the afternoon before
    app = await make_app(config=_config(), clock=clock)
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    first = await _file_story(chat, "Bạn Minh nhặt được ví và trả lại người mất.", "named")
    second = await _file_story(chat, "Đội tình nguyện sửa xe miễn phí.", "named")
    for code in (first, second):
        await desk.press(BINH, f"m:ok:{code}", sends=3)
    await app.stop()

    clock.now = SLOT + dt.timedelta(hours=2)  # back two hours after the slot: within the grace
    again = await make_app(config=_config(), clock=clock)
    desk = Desk(fake, again)
    await fake.wait_for(lambda: any("nhặt được ví" in t for t in fake.texts(CHANNEL)))
    await again.outbox.drain()
    await desk.after(lambda: again.publisher.daily(clock.now), sends=0)

    clock.now = SLOT + DAY + dt.timedelta(hours=7)  # the next day's slot is 7 hours old
    await desk.after(lambda: again.publisher.daily(clock.now), sends=0)
    statuses = {p.period: p.status for p in await rows(again.db, Publication) if p.kind == "daily"}
    assert statuses == {"2026-11-23": "skipped", "2026-11-24": "posted", "2026-11-25": "skipped"}
    assert [s.state for s in await rows(again.db, Story)] == ["published", "approved"]


async def test_pool_and_digest_commands(fake: FakeTelegram, make_app: AppFactory) -> None:
    app = await make_app(config=_config(), clock=Clock(SLOT - dt.timedelta(hours=1)))
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    codes = [
        await _file_story(chat, f"Câu chuyện đẹp số {n} của phường Gò Dầu.", "named")
        for n in (1, 2)
    ]
    [empty] = await desk.say(OFFICE, "/digest preview daily", sends=1)
    assert empty.params["text"] == text("publish.pool_empty", "vi")
    for code in codes:
        await desk.press(BINH, f"m:ok:{code}", sends=3)
    [pool] = await desk.say(OFFICE, "/pool", sends=1)
    assert pool.params["text"] == text("publish.pool", "vi", count="2", codes=", ".join(codes))
    heading, preview = await desk.say(OFFICE, "/digest preview daily", sends=2)
    assert heading.params["text"] == text("publish.preview", "vi", code=codes[0])
    assert "Câu chuyện đẹp số 1" in preview.params["text"]

    posted = await desk.say(OFFICE, "/digest post daily", sends=5)
    assert to(posted, OFFICE)[0] == text("publish.posted", "vi", code=codes[0])
    assert "Câu chuyện đẹp số 1" in to(posted, CHANNEL)[0]
    [refused] = await desk.say(OFFICE, "/digest post daily", sends=1)
    assert "/digest post daily force" in refused.params["text"]
    forced = await desk.say(OFFICE, "/digest post daily force", sends=4)
    assert "Câu chuyện đẹp số 2" in to(forced, CHANNEL)[0]
    [usage] = await desk.say(OFFICE, "/digest", sends=1)
    assert usage.params["text"] == text("publish.usage_digest", "vi")
    [not_for_youth] = await desk.say(YOUTH, "/pool", sends=1)
    assert not_for_youth.params["text"] != pool.params["text"]


# Sunday 29/11/2026 19:00 in Tây Ninh: the weekly digest of 22/11 19:00 to 29/11 19:00.
WEEKLY_SLOT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


async def _idea(chat: Chat, body: str) -> str:
    await chat.press("menu:idea")
    await chat.press(chat.buttons()[0])
    await chat.send(body)
    await chat.press("att:done")
    await chat.press("pub:named")
    receipt, _menu = await chat.press("preview:send", replies=2)
    found = CODE.search(receipt)
    assert found, receipt
    return found.group()


async def test_weekly_digest_public_page_and_atom_feed(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC))  # Monday 08:00
    app = await make_app(config=_config(), clock=clock, serve_http=True)
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    reader = await _youth(fake, desk, YOUTH2, "Phường Tân Ninh")
    [settings] = await reader.press("set:sub:weekly")
    assert "Nhận bản tin câu chuyện đẹp mỗi tuần: bật" in settings
    found = await _file_story(
        chat, "Nhặt được ví <b>trả lại</b>\nBạn Minh trả ví cho bà cụ.", "named", "ph1"
    )
    repaired = await _file_story(
        chat, "Sửa xe miễn phí\nĐội tình nguyện sửa xe cho học sinh.", "anonymous", "ph2"
    )
    idea = await _idea(chat, "Tủ sách dùng chung ở nhà văn hoá\nMỗi khu phố một tủ sách.")
    for code in (found, repaired, idea):
        await desk.press(BINH, f"m:ok:{code}", sends=3)
    await chat.press("menu:complaint")
    await chat.press(chat.buttons()[0])
    await chat.send("Đèn đường hẻm 5 hư đã hai tuần, buổi tối rất tối.")
    await chat.press("att:done")
    await chat.press("anon:no")
    receipt, _ = await chat.press("preview:send", replies=2)
    filed = CODE.search(receipt)
    assert filed is not None
    complaint = filed.group()
    clock.now += dt.timedelta(hours=3)
    await desk.press(AN, f"t:take:{complaint}", sends=4)
    await desk.press(AN, f"t:reply:{complaint}", sends=1)
    await desk.say(AN, "Đoàn phường đã báo điện lực sửa đèn.", sends=4)

    for day in (1, 2):
        clock.now = SLOT + (day - 1) * DAY
        daily = await desk.after(lambda: app.publisher.daily(clock.now), sends=4)
    [notice] = to(daily, YOUTH)
    assert notice == text(
        "publish.published_notice", "vi", code=repaired, link=f"{app.base_url}/news#{repaired}"
    )

    clock.now = WEEKLY_SLOT
    digest = await desk.after(lambda: app.publisher.weekly(clock.now), sends=4)
    album, post = [c for c in digest if c.params["chat_id"] != YOUTH2]
    theirs = [c for c in digest if c.params["chat_id"] == YOUTH2]
    assert [c.method for c in theirs] == ["sendMediaGroup", "sendMessage"], "the subscriber's"
    assert theirs[1].params["text"] == post.params["text"]
    assert album.method == "sendMediaGroup"
    assert [m["media"] for m in _media(album)] == ["ph1", "ph2"]
    body = str(post.params["text"])
    assert ("22/11/2026" in body, "29/11/2026" in body) == (True, True)
    assert "Nhặt được ví <b>trả lại</b>: Bạn Minh trả ví cho bà cụ." in body
    assert text("publish.credit_anonymous", "vi", unit="Phường Gò Dầu") in body
    assert "Tủ sách dùng chung ở nhà văn hoá" in body
    complaints = text("kinds.complaint", "vi")
    hours = text("publish.duration_hours", "vi", hours="3")
    assert f"{complaints}: nhận 1, đã trả lời 1; " in body
    assert hours in body
    assert f"{text('kinds.story', 'vi')}: nhận 2, đã trả lời 0" in body
    await desk.after(lambda: app.publisher.weekly(clock.now + dt.timedelta(hours=1)), sends=0)

    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get("/news")
        feed = await client.get("/news/feed.xml")
        photo = await client.get(f"/news/photo/{found}")
        not_published = await client.get(f"/news/photo/{idea}")
        no_such = await client.get("/news/photo/PA-0000-0000")
    assert page.status_code == 200
    assert f'id="{found}"' in page.text
    assert f'<img src="/news/photo/{found}"' in page.text
    assert (photo.status_code, photo.headers["content-type"]) == (200, "image/jpeg")
    assert photo.content == file_content("files/ph1"), "fetched from the Bot API"
    assert (not_published.status_code, no_such.status_code) == (404, 404)
    assert "&lt;b&gt;trả lại&lt;/b&gt;" in page.text
    assert "<b>" not in page.text
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    entries = root.findall(f"{{{ATOM}}}entry")
    titles = [e.findtext(f"{{{ATOM}}}title") for e in entries]
    assert len(entries) == 3
    assert titles[0] is not None
    assert titles[0].startswith("📰")
    assert [e.findtext(f"{{{ATOM}}}id") for e in entries][1:] == [
        f"{app.base_url}/news#{repaired}",
        f"{app.base_url}/news#{found}",
    ]


def _media(call: Call) -> list[dict[str, object]]:
    media = call.params["media"]
    items = json.loads(media) if isinstance(media, str) else media
    assert isinstance(items, list)
    return items


async def test_control_characters_never_reach_the_story_or_break_the_feed(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(SLOT - dt.timedelta(hours=1))
    app = await make_app(config=_config(), clock=clock, serve_http=True)
    desk = Desk(fake, app)
    chat = await _youth(fake, desk, YOUTH, "Phường Gò Dầu")
    code = await _file_story(chat, "Bạn Minh\x0b\x1b\x7f nhặt được ví\u202e và trả lại.", "named")
    await desk.press(BINH, f"m:ok:{code}", sends=3)
    [story] = await rows(app.db, Story)
    assert story.text == "Bạn Minh nhặt được ví và trả lại.", "cleaned at the edge"
    clock.now = SLOT
    await desk.after(lambda: app.publisher.daily(clock.now), sends=4)

    def stored_before_cleaning(session: Session) -> None:
        """A post as it could be stored before input was cleaned."""
        [post] = session.exec(select(Publication).where(Publication.period == code)).all()
        dirty = {"text": "Tin\x0b\x1b\x7f tốt\ufffe\nBạn Minh\x08 trả ví.", "title": "Tin\x1b tốt"}
        post.payload = {**post.payload, **dirty}
        session.add(post)

    await app.db.run(stored_before_cleaning)
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get("/news")
        feed = await client.get("/news/feed.xml")
    entry = ET.fromstring(feed.content).find(f"{{{ATOM}}}entry")
    assert entry is not None
    assert entry.findtext(f"{{{ATOM}}}title") == "Tin tốt"
    assert entry.findtext(f"{{{ATOM}}}content") == "Tin tốt\nBạn Minh trả ví."
    assert page.status_code == 200
    assert "Tin tốt\nBạn Minh trả ví." in page.text
    assert not any(ord(c) < 9 or 0x7F <= ord(c) <= 0x9F or c == "\ufffe" for c in page.text)
