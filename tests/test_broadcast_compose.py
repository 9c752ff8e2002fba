"""/broadcast and /broadcasts through the real app, the fake Bot API, the web desk and real
SQL: composing with its preview and counts, who may send to whom, a time chosen in advance,
cancelling before and during sending, and the progress message; the typed checks as tables."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from bot.app import CauNoi
from bot.domain.broadcast_ops import parse_when, too_long
from bot.domain.i18n import text
from storage.broadcast_desk import CANCELLED
from storage.broadcasts import DONE
from storage.models import AuditEntry, Broadcast, ChannelIdentity, OutboxMessage, Person
from storage.topics import keep_topics
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.desk import AN, CHAU, OFFICE, YOUTH, Desk, desk_config
from tests.fake_telegram import FakeTelegram
from tests.webchat import signed_in_staff

FIRST = 60_000
START = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)  # 09:00 in Vietnam
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
BODY = "Ngày hội việc làm cho thanh niên, 8 giờ sáng Chủ nhật tại Nhà văn hóa."
LINK = "https://example.org/viec-lam"


def _unit(config: Any, name: str) -> str:
    unit = config.unit(name)
    assert unit is not None
    return str(unit.code)


def _add_people(session: Session, users: range, unit: str, topic: str) -> None:
    """Young people on Telegram subscribed to a topic, in one unit (chat = user id)."""
    for user in users:
        person = Person(language="vi", unit_code=unit, consent_at=START, subscriptions=[topic])
        session.add(person)
        session.flush()
        assert person.id is not None
        keep_topics(session=session, person_id=person.id, topics=[topic])
        chat = str(user)
        session.add(
            ChannelIdentity(
                channel="telegram", external_id=chat, chat_id=chat, person_id=person.id
            )
        )


async def _people(app: CauNoi, users: range, unit: str, topic: str = "announcements") -> None:
    await app.db.run(lambda session: _add_people(session, users, unit, topic))


def _shown(fake: FakeTelegram, user: int) -> list[str]:
    """The texts and photo captions sent to one chat."""
    captions = [str(p.get("caption")) for p in fake.sent("sendPhoto", user)]
    return fake.texts(user) + captions


def _got(fake: FakeTelegram, users: range, words: str) -> list[int]:
    """Which of these users received a message (or a photo) with these words."""
    return [u for u in users if any(words in t for t in _shown(fake, u))]


async def _compose_to_when(
    desk: Desk, who: int, unit_query: str, unit_code: str, *, photo: str | None = None
) -> None:
    """/broadcast up to the question of when: text, a photo or none, a link, the
    announcements topic, one unit found by typing, every age group, language and channel."""
    [ask] = await desk.say(who, "/broadcast", sends=1)
    assert ask.params["text"] == text("broadcast.ask_text", "vi")
    await desk.say(who, BODY, sends=1)
    if photo is None:
        await desk.press(who, "bc:skip", sends=1)
    else:
        [refused] = await desk.say(who, "ảnh đây", sends=1)
        assert refused.params["text"] == text("broadcast.photo_only", "vi")
        await desk.photo(who, photo, sends=1)
    await desk.say(who, LINK, sends=1)
    await desk.press(who, "bc:topic:announcements", sends=1)
    [found] = await desk.say(who, unit_query, sends=1)
    assert f"bc:unit:{unit_code}" in str(found.params["reply_markup"])
    await desk.press(who, f"bc:unit:{unit_code}", sends=1)
    for done in ("bc:units:done", "bc:age:done", "bc:lang:done", "bc:ch:done"):
        await desk.press(who, done, sends=1)


async def test_an_admin_previews_counts_and_sends_and_follows_the_progress(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(START)
    config = desk_config()
    app = await make_app(config=config, clock=clock)
    go_dau, tan_ninh = _unit(config, UNIT_NAME), _unit(config, "Phường Tân Ninh")
    await _people(app, range(FIRST, FIRST + 3), go_dau)
    await _people(app, range(FIRST + 3, FIRST + 5), tan_ninh)
    desk = Desk(fake, app)
    await _compose_to_when(desk, OFFICE, "go dau", go_dau, photo="poster")
    preview, confirm = await desk.press(OFFICE, "bc:now", sends=2)
    assert (preview.method, preview.params["photo"]) == ("sendPhoto", "poster")
    assert BODY in preview.params["caption"]
    assert LINK in preview.params["caption"]
    assert "Telegram (3" in preview.params["caption"]
    unsubscribe = text("topics.unsubscribe", "vi")
    assert unsubscribe in str(preview.params["reply_markup"]), "as recipients see it"
    [inert] = await desk.press(OFFICE, "bc:previewed", sends=1)
    assert inert.params["text"] == text("broadcast.preview_button", "vi")
    assert "Telegram: 3" in confirm.params["text"]
    assert "Phường Gò Dầu" in confirm.params["text"]
    assert _got(fake, range(FIRST, FIRST + 5), BODY) == [], "nothing before the confirmation"
    fake.press(OFFICE, "bc:send")
    await fake.wait_for(lambda: len(_got(fake, range(FIRST, FIRST + 5), BODY)) == 3)
    assert _got(fake, range(FIRST, FIRST + 5), BODY) == list(range(FIRST, FIRST + 3))
    assert [p["photo"] for p in fake.sent("sendPhoto", FIRST)] == ["poster"]
    created = text("broadcast.created", "vi", id="1", when=text("broadcast.now", "vi"))
    assert created in fake.texts(OFFICE)
    await fake.wait_for(lambda: bool(fake.message_ids(OFFICE, "📣 Tin #1")))
    [progress_id] = fake.message_ids(OFFICE, "📣 Tin #1")
    await app.outbox.drain()
    assert not fake.sent("editMessageText", OFFICE), "never more often than every few seconds"
    clock.now += dt.timedelta(seconds=6)
    app.broadcasts.wake()
    await fake.wait_for(lambda: any(t.startswith("✅ Tin #1") for t in fake.texts(OFFICE)))
    assert "đã gửi 3/3" in fake.shown(OFFICE, progress_id), "edited in place to the end"
    [report] = [t for t in fake.texts(OFFICE) if t.startswith("✅ Tin #1")]
    assert "Đã nhận: 3" in report
    assert "(Zalo OA: 7 ngày): 0" in report
    [stored] = await rows(app.db, Broadcast)
    assert (stored.status, stored.sent, stored.report_chat_id) == (DONE, 3, str(OFFICE))
    audits = [a for a in await rows(app.db, AuditEntry) if a.action == "broadcast.create"]
    assert [a.after["by"] for a in audits] == ["van-phong"]


async def test_the_web_desk_composes_a_broadcast_for_telegram(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = desk_config()
    app = await make_app(config=config, serve_http=True)
    go_dau = _unit(config, "Phường Gò Dầu")
    await _people(app, range(FIRST, FIRST + 2), go_dau, topic="jobs")
    await _people(app, range(FIRST + 2, FIRST + 3), go_dau)  # announcements only
    browser = await signed_in_staff(app, "van-phong")
    try:
        await browser.send("/broadcast")
        long = "Thông báo. " * 410  # over Telegram's limit, within the web chat's
        [refused] = await browser.send(long)
        values = {"count": str(len(long.strip())), "max": "4096", "channel": "Telegram"}
        assert refused == text("broadcast.too_long", "vi", **values)
        await browser.send(BODY)
        await browser.press("bc:skip")
        await browser.press("bc:skip")
        assert "bc:topic:jobs" in browser.buttons()
        await browser.press("bc:topic:jobs")
        await browser.press("bc:units:done")
        for done in ("bc:age:done", "bc:lang:done", "bc:ch:done"):
            await browser.press(done)
        preview, confirm = await browser.press("bc:now", replies=2)
        assert "Telegram (2" in preview
        assert BODY in preview
        assert "tất cả đơn vị" in confirm
        # The reply and the first progress message come together: wait for both.
        await browser.post("/chat/api/send", json={"id": "send-1", "choice": "bc:send"})
        await browser.wait_for(
            lambda: (
                any(t.startswith("Đã ghi nhận tin #1") for t in browser.texts)
                and any(t.startswith("📣 Tin #1") for t in browser.texts)
            )
        )
    finally:
        await browser.close()
    await fake.wait_for(lambda: len(_got(fake, range(FIRST, FIRST + 2), BODY)) == 2)
    await app.outbox.drain()
    assert _got(fake, range(FIRST, FIRST + 3), BODY) == [FIRST, FIRST + 1], "the topic's only"


async def test_a_broadcast_set_for_later_goes_at_its_time_unless_cancelled(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(START)
    config = desk_config()
    app = await make_app(config=config, clock=clock)
    go_dau = _unit(config, "Phường Gò Dầu")
    users = range(FIRST, FIRST + 2)
    await _people(app, users, go_dau)
    desk = Desk(fake, app)
    for _ in range(2):
        await _compose_to_when(desk, OFFICE, "go dau", go_dau)
        [past] = await desk.say(OFFICE, "03/12/2026 08:00", sends=1)
        assert past.params["text"] == text("broadcast.past_time", "vi", at="08:00 03/12/2026")
        [bad] = await desk.say(OFFICE, "mai 8 giờ", sends=1)
        assert bad.params["text"] == text("broadcast.bad_time", "vi", typed="mai 8 giờ")
        _, confirm = await desk.say(OFFICE, "03/12/2026 11:00", sends=2)
        assert "11:00 03/12/2026" in confirm.params["text"]
        await desk.press(OFFICE, "bc:send", sends=1)
    [listed] = await desk.say(OFFICE, "/broadcasts", sends=1)
    assert listed.params["text"].count(text("broadcast.status_scheduled", "vi")) == 2
    assert "bc:stop:1" in str(listed.params["reply_markup"])
    stopped, _ = await desk.press(OFFICE, "bc:stop:1", sends=2)
    assert stopped.params["text"].startswith("Đã dừng tin #1")
    await app.broadcasts.step()
    assert _got(fake, users, BODY) == [], "not before its time"
    clock.now = START + dt.timedelta(hours=2)  # 11:00 in Vietnam
    app.broadcasts.wake()
    await fake.wait_for(lambda: len(_got(fake, users, BODY)) == 2)
    await app.outbox.drain()
    assert all(sum(BODY in t for t in fake.texts(u)) == 1 for u in users), "#2 only"
    first, second = await rows(app.db, Broadcast)
    assert (first.status, first.cancelled_by, first.planned) == (CANCELLED, "van-phong", 0)
    assert second.planned == 2
    cancels = [a for a in await rows(app.db, AuditEntry) if a.action == "broadcast.cancel"]
    assert [a.after["broadcast_id"] for a in cancels] == [1]


async def test_a_running_broadcast_is_cancelled_with_its_unsent_messages(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(START)
    config = desk_config(channels={"telegram": {"bulk_rate_per_second": 4}})
    app = await make_app(config=config, clock=clock)
    go_dau = _unit(config, "Phường Gò Dầu")
    users = range(FIRST, FIRST + 6)
    await _people(app, users, go_dau)
    desk = Desk(fake, app)
    await _compose_to_when(desk, OFFICE, "go dau", go_dau)
    await desk.press(OFFICE, "bc:now", sends=2)
    fake.press(OFFICE, "bc:send")
    await fake.wait_for(lambda: bool(fake.message_ids(OFFICE, "📣 Tin #1")))
    fake.fail("sendMessage", 429, retry_after=30)  # the bulk lane pauses with all queued
    await fake.wait_for(lambda: any(c.status == 429 for c in fake.calls))
    await app.outbox.drain()
    [cancelled, report] = await desk.say(OFFICE, "/broadcasts cancel 1", sends=2)
    sent_before = _got(fake, users, BODY)
    assert len(sent_before) < 6, "cancelled while running"
    [stored] = await rows(app.db, Broadcast)
    values = {"id": "1", "sent": str(stored.sent), "planned": "6"}
    assert cancelled.params["text"] == text("broadcast.cancelled", "vi", **values)
    assert report.method == "editMessageText", "the progress message says so"
    assert report.params["text"] == text("broadcast.report_cancelled", "vi", **values)
    clock.now += dt.timedelta(seconds=31)
    app.outbox.wake()
    app.broadcasts.wake()
    await app.outbox.drain()
    assert _got(fake, users, BODY) == sent_before, "nobody more after the cancel"
    bulk = [m for m in await rows(app.db, OutboxMessage) if m.recipient_id is not None]
    assert {(m.status, m.error) for m in bulk if m.status != "sent"} == {("dropped", CANCELLED)}
    [again] = await desk.say(OFFICE, "/broadcasts cancel 1", sends=1)
    assert again.params["text"] == text("broadcast.not_running", "vi", id="1")


UNIT_NAME = "Phường Gò Dầu"


def _secretaries(may: bool) -> Any:
    return desk_config(broadcasts={"secretaries_may_send": may})


async def test_a_secretary_sends_only_to_their_own_units_and_only_when_allowed(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = _secretaries(True)
    app = await make_app(config=config)
    go_dau, tan_ninh = _unit(config, UNIT_NAME), _unit(config, "Phường Tân Ninh")
    desk = Desk(fake, app)
    await desk.say(CHAU, "/broadcast", sends=1)
    await desk.say(CHAU, BODY, sends=1)
    await desk.press(CHAU, "bc:skip", sends=1)
    await desk.press(CHAU, "bc:skip", sends=1)
    [units] = await desk.press(CHAU, "bc:topic:announcements", sends=1)
    assert f"✅ {UNIT_NAME}" in str(units.params["reply_markup"]), "their own, chosen already"
    await desk.press(CHAU, f"bc:unit:{go_dau}", sends=1)  # off: nothing chosen
    refused, _ = await desk.press(CHAU, "bc:units:done", sends=2)
    assert refused.params["text"] == text("audience.refused_all_units", "vi")
    await desk.say(CHAU, "tan ninh", sends=1)
    await desk.press(CHAU, f"bc:unit:{tan_ninh}", sends=1)
    refused, _ = await desk.press(CHAU, "bc:units:done", sends=2)
    assert refused.params["text"] == text("audience.refused_other_units", "vi")
    await desk.press(CHAU, f"bc:unit:{tan_ninh}", sends=1)  # off again
    await desk.press(CHAU, f"bc:unit:{go_dau}", sends=1)
    [ages] = await desk.press(CHAU, "bc:units:done", sends=1)
    assert ages.params["text"] == text("broadcast.ask_ages", "vi")
    [left] = await desk.say(CHAU, "/cancel", sends=1)
    assert left.params["text"] == text("broadcast.cancelled_draft", "vi")
    [stale] = await desk.press(CHAU, "bc:age:done", sends=1)
    assert stale.params["text"] == text("errors.stale_choice", "vi"), "the draft is gone"
    assert await rows(app.db, Broadcast) == []


async def test_only_admins_and_allowed_secretaries_have_the_commands(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=_secretaries(False))
    desk = Desk(fake, app)
    for who in (CHAU, AN):
        for command in ("/broadcast", "/broadcasts cancel 1"):
            [refused] = await desk.say(who, command, sends=1)
            assert refused.params["text"] == text("broadcast.not_allowed", "vi")
        [refused] = await desk.press(who, "bc:stop:1", sends=1)
        assert refused.params["text"] == text("broadcast.not_allowed", "vi")
    fake.message(YOUTH, "/broadcast")
    await fake.wait_for(lambda: bool(fake.texts(YOUTH)))  # as for any command not theirs
    await app.outbox.drain()
    assert text("broadcast.ask_text", "vi") not in fake.texts(YOUTH)
    assert await rows(app.db, Broadcast) == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("24/12/2026 08:30", dt.datetime(2026, 12, 24, 1, 30, tzinfo=dt.UTC)),
        ("1/2/2027 7h05", dt.datetime(2027, 2, 1, 0, 5, tzinfo=dt.UTC)),
        ("  24/12/2026   23:59 ", dt.datetime(2026, 12, 24, 16, 59, tzinfo=dt.UTC)),
        ("31/02/2027 08:00", None),  # no such day
        ("24/12/2026 25:00", None),
        ("2026-12-24 08:30", None),
        ("mai", None),
    ],
)
def test_a_typed_time_is_read_in_vietnam_time(typed: str, expected: dt.datetime | None) -> None:
    assert parse_when(typed, ZONE) == expected


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (2000, None),
        (2001, ("zalo_bot", 2000)),
        (5000, ("zalo_bot", 2000)),  # the strictest named
        (30_000, ("zalo_bot", 2000)),
    ],
)
def test_a_text_too_long_names_the_strictest_channel(
    length: int, expected: tuple[str, int] | None
) -> None:
    limits = {"telegram": 4096, "web": 20_000, "zalo_bot": 2000}
    assert too_long(length, limits) == expected


def test_secretaries_may_not_send_unless_configured() -> None:
    assert config_with({}).raw.broadcasts.secretaries_may_send is False
