"""Erasure end to end: after /forget no table holds the person's name, ids or words, and
every staff-side copy (Telegram and web desk cards, notices, the story's post) is a tombstone;
a web visitor who has not agreed leaves none of their words behind."""

import datetime as dt
import json

import httpx
from sqlalchemy import select
from sqlmodel import Session, SQLModel

from bot.domain.i18n import text
from storage.models import InboxEvent, WebMessage, WebUpload
from tests.conftest import AppFactory, Clock, rows
from tests.desk import AN, BINH, CODE, GO_DAU_GROUP, Desk, desk_config
from tests.dialogue import Chat, onboard, submit
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser, signed_in_staff

PERSON = 5550001234
NAME = "Zyqvan Hoà"
# The name and contact typed in /settings, sent with named submissions (they win on cards).
GIVEN_NAME, CONTACT = "Zyqgiven Mai", "zyqmail@example.com"
NAMED = "Zyqnorth: ống nước vỡ trước nhà số 9, nước tràn ra đường mấy hôm nay."
ANONYMOUS = "Zyqsouth: em muốn hỏi thủ tục chuyển sinh hoạt Đoàn về phường."
STORY = "Zyqstory: đội bạn trẻ phường sơn lại tường trường mẫu giáo cuối tuần."
SECRETS = ("Zyqvan", "Zyqgiven", "zyqmail", "Zyqnorth", "Zyqsouth", "Zyqstory", str(PERSON))
CHANNEL = -1003
# 07:30 in Tây Ninh on Tuesday 24/11/2026 is 00:30 UTC: the daily post's slot.
SLOT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)
# Sunday 29/11/2026 at 19:00 in Tây Ninh: the weekly digest of the week the story was posted.
WEEKLY_SLOT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def _every_value(session: Session) -> list[tuple[str, str]]:
    """Every value of every table, as text (JSON as written, non-ASCII unescaped)."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                shown = json.dumps(value, ensure_ascii=False, default=str)
                found.append((f"{table.name}.{column}", shown))
    return found


async def _story(chat: Chat) -> str:
    """File a story to be published under one's name; its code."""
    return _code(await submit(chat, "story", STORY, privacy="pub:named"))


def _code(receipt: list[str]) -> str:
    found = CODE.search(receipt[0])
    assert found, receipt
    return found.group()


async def _tombstoned(fake: FakeTelegram, shown: dict[int, list[int]], tombstone: str) -> None:
    """Wait until each of these messages (chat: ids) shows the tombstone on Telegram."""
    await fake.wait_for(
        lambda: all(fake.shown(chat, m) == tombstone for chat, ids in shown.items() for m in ids)
    )


async def test_forget_leaves_no_name_id_or_text_in_any_table(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(SLOT - dt.timedelta(hours=2))
    # The staff member's web session lasts the week the test spans.
    web = {"staff_session_hours": 7 * 24}
    config = desk_config(channels={"telegram": {"public_channel_id": CHANNEL}, "web": web})
    app = await make_app(config=config, clock=clock, serve_http=True)
    desk, web_staff = Desk(fake, app), await signed_in_staff(app)
    fake.names[PERSON] = NAME
    chat = Chat(fake, app, PERSON)
    await onboard(chat, config)
    await chat.press("set:name")
    await chat.press("set:name:change")
    await chat.send(GIVEN_NAME, replies=2)
    await chat.press("set:name:contact")
    await chat.send(CONTACT, replies=2)
    named = _code(await submit(chat, "complaint", NAMED, privacy="anon:no"))
    anonymous = _code(await submit(chat, "question", ANONYMOUS, privacy="anon:yes"))
    story = await _story(chat)
    await desk.cards_reach(named, GO_DAU_GROUP, AN)
    await desk.cards_reach(anonymous, GO_DAU_GROUP, AN)
    assert GIVEN_NAME in desk.card(GO_DAU_GROUP, named), "staff saw the sender's name"
    assert CONTACT in desk.card(GO_DAU_GROUP, named), "and how to reach them"
    await desk.press(AN, f"t:take:{named}", sends=4)
    await desk.press(AN, f"t:thread:{named}", sends=2)  # the thread quotes the text
    await web_staff.wait_for(lambda: any(NAMED in t for t in web_staff.texts))
    await desk.press(BINH, f"m:ok:{story}", sends=3)
    clock.now = SLOT
    assert await app.publisher.daily(clock.now) == story
    await fake.wait_for(lambda: bool(fake.message_ids(CHANNEL, "Zyqstory")))
    [post] = fake.message_ids(CHANNEL, "Zyqstory")
    clock.now = WEEKLY_SLOT
    assert await app.publisher.weekly(clock.now) is not None
    await fake.wait_for(lambda: len(fake.message_ids(CHANNEL, "Zyqstory")) == 2)  # the digest
    await app.outbox.drain()
    everything = await app.db.run(_every_value)
    assert any("Zyqnorth" in v for _, v in everything), "the scan sees the texts"

    await chat.send("/forget")
    [forgotten] = await chat.press("forget:yes")
    assert forgotten == text("privacy.forgotten", "vi")
    tombstone = text("privacy.tombstone", "vi")
    shown = {
        GO_DAU_GROUP: [desk.card_id(GO_DAU_GROUP, c) for c in (named, anonymous)],
        AN: [desk.card_id(AN, c) for c in (named, anonymous)],
        BINH: fake.message_ids(BINH, f"🌟 {story}"),
        CHANNEL: [post],  # the digest quotes other stories too: only our copy is replaced
    }
    await _tombstoned(fake, shown, tombstone)
    await app.outbox.drain()
    await web_staff.wait_for(lambda: web_staff.texts.count(tombstone) == 2)
    assert not any("Zyq" in t for t in web_staff.texts), "the web desk shows tombstones"
    left = [(where, v) for where, v in await app.db.run(_every_value) if _secret(v)]
    assert left == [], "nothing of the person is left"
    await web_staff.close()


def _secret(value: str) -> bool:
    return any(s in value for s in SECRETS)


async def test_words_typed_before_consent_are_not_kept(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    visitor = Browser(app)
    await visitor.open()
    await visitor.send("/start", replies=2)
    typed = "Zyqearly: mình chỉ xem thử thôi"
    answer = await visitor.post("/chat/api/send", json={"id": "early1", "text": typed})
    assert answer.json() == {"ok": True, "shown": typed}, "the page shows it, the server not"
    await visitor.wait_for(lambda: len(visitor.texts) == 4)  # a nudge, and the question again
    refused = await visitor.client.post(
        "/chat/api/upload",
        content=b"\xff\xd8" + b"1" * 100,
        headers={"X-CSRF-Token": visitor.csrf, "X-File-Name": "Zyqearly.jpg", "X-Event-Id": "u1"},
    )
    assert refused.status_code == 403, "a file is refused before consent"
    await visitor.press("consent:no")
    assert await rows(app.db, WebUpload) == [], "nor is a file sent before consent"
    again = Browser(app)
    again.client.cookies = visitor.client.cookies  # the same browser, reloaded
    await again.open()
    await again.catch_up()
    assert typed not in again.mine, "a reload does not bring back what was typed"
    assert "/start" not in again.mine
    assert again.texts[-1] == text("consent.declined", "vi"), "the dialogue still answered"
    assert not [m for m in await rows(app.db, WebMessage) if "Zyqearly" in json.dumps(m.body)]
    assert all(e.payload == {} for e in await rows(app.db, InboxEvent)), "payloads go once handled"
    await visitor.close()
    await again.close()


async def test_telegram_words_before_consent_leave_no_trace(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    chat = Chat(fake, app, PERSON)
    await chat.send("/start", replies=2)
    await chat.send("Zyqearly: mình chỉ xem thử thôi", replies=2)
    [declined] = await chat.press("consent:no")
    assert declined == text("consent.declined", "vi")
    left = [(where, v) for where, v in await app.db.run(_every_value) if "Zyqearly" in v]
    assert left == [], "the update's payload went once it was handled"


async def test_words_typed_after_consent_stay_in_the_chat(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    visitor = Browser(app)
    await visitor.open()
    await onboard(visitor, app.config)
    response: httpx.Response = await visitor.post(
        "/chat/api/send", json={"id": "later1", "text": "/help"}
    )
    assert response.json() == {"ok": True}
    await visitor.wait_for(lambda: "/help" in visitor.mine)
    await visitor.close()
