"""The Zalo Official Account channel end to end: the real app taking signed webhook events
and answering through the fake OA API (tests/fake_zalo_oa.py), its tokens from the fake
OAuth server (tests/fake_zalo_oauth.py), staff at the desk on Telegram."""

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import CauNoi
from bot.channels import zalo_oa, zalo_oa_events
from bot.channels.base import RateLimited
from bot.config import ConfigError
from bot.domain.i18n import text
from bot.domain.messages import UPLOAD_PREFIX, Rendered
from bot.uploads import NewUpload
from storage.models import ChannelIdentity, InboxEvent, OutboxMessage, Ticket, utcnow
from tests.conftest import AppFactory, Clock, config_data, rows
from tests.desk import AN, GO_DAU_GROUP, desk_config
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo_oa import (
    INVALID_TOKEN,
    OA_SECRET,
    OUTSIDE_WINDOW,
    TOO_FAST,
    FakeZaloOA,
    Sent,
    big_id,
)
from tests.fake_zalo_oauth import APP_ID, APP_SECRET, FakeZaloOAuth
from tests.webchat import Browser

CODE = re.compile(r"[A-Z]{2}-\d{4}-\d{4}")
MENU_LINE = re.compile(r"^\s*(\d+)[.)]\s+(.+?)\s*$", re.M)
UNIT = "Phường Gò Dầu"
TYPED = "Quán ăn đầu hẻm 12 bán đồ ăn ôi thiu cho học sinh suốt tuần nay."


def vi(key: str, **values: str) -> str:
    """A catalog text in Vietnamese."""
    return text(key, "vi", **values)


@pytest.fixture
def clock() -> Clock:
    """One clock for the app, the OA and its OAuth server, moved by the test."""
    return Clock(utcnow())


@pytest.fixture
async def oauth(clock: Clock) -> AsyncIterator[FakeZaloOAuth]:
    """A fake Zalo OAuth v4 server on a free local port."""
    server = FakeZaloOAuth(clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def oa(oauth: FakeZaloOAuth, clock: Clock) -> AsyncIterator[FakeZaloOA]:
    """A fake Zalo OA API on a free local port."""
    server = FakeZaloOA(oauth, clock=clock)
    await server.start()
    yield server
    await server.stop()


async def start(
    make_app: AppFactory,
    oa: FakeZaloOA,
    clock: Clock,
    channel: dict[str, Any] | None = None,
    **overrides: Any,
) -> CauNoi:
    """The app with the OA channel on (and staff on Telegram), serving HTTP."""
    values = {
        "zalo_oa_app_id": APP_ID,
        "zalo_oa_app_secret": APP_SECRET,
        "zalo_oa_refresh_token": oa.oauth.consent(),
        "zalo_oauth_base_url": oa.oauth.base_url,
        "zalo_oa_webhook_secret": OA_SECRET,
        "zalo_oa_api_base_url": oa.base_url,
        "config": desk_config(channels={"zalo_oa": channel or {}}),
        **overrides,
    }
    return await make_app(serve_http=True, clock=clock, **values)


class OaChat:
    """One person's chat with the OA: events posted to our webhook, what the OA sent back."""

    def __init__(self, oa: FakeZaloOA, app: CauNoi, user: str | None = None) -> None:
        self.oa, self.app, self.user = oa, app, user or big_id()
        self.url = f"http://127.0.0.1:{app.http_port}{zalo_oa.WEBHOOK_PATH}"

    async def after(self, event: dict[str, Any], shown: str) -> list[Sent]:
        """Post an event; what the OA then sent the person, once a message showing `shown`
        came and the outbox has nothing more."""
        before = len(self.oa.to(self.user))
        response = await self.oa.post(self.url, event)
        assert response.status_code == 200, response.text
        await self.oa.wait_for(lambda: any(shown in t for t in self.oa.texts(self.user)[before:]))
        await self.app.outbox.drain()
        return self.oa.to(self.user)[before:]

    async def type(self, typed: str, shown: str) -> list[Sent]:
        """The person types a text."""
        return await self.after(self.oa.text(self.user, typed), shown)

    async def choose(self, got: list[Sent], label: str, shown: str) -> list[Sent]:
        """Pick a choice from what was just sent: press its button, or type its number."""
        for sent in reversed(got):
            for button in sent.buttons:
                if button["title"] == label:
                    return await self.after(self.oa.press(self.user, button), shown)
        for sent in reversed(got):
            for number, offered in MENU_LINE.findall(sent.text):
                if offered == label:
                    return await self.type(number, shown)
        raise AssertionError(f"{label!r} is not offered in {[s.message for s in got]!r}")


async def file_complaint(chat: OaChat) -> str:
    """Follow the OA and file a complaint in Gò Dầu; its reference code."""
    greeting = await chat.after(chat.oa.follow(chat.user), vi("consent.agree"))
    await chat.choose(greeting, vi("consent.agree"), vi("unit.ask")[:20])
    units = await chat.type("go dau", UNIT)
    age = await chat.choose(units, UNIT, vi("common.skip"))
    work = await chat.choose(age, vi("common.skip"), vi("common.skip"))
    menu = await chat.choose(work, vi("common.skip"), vi("menu.complaint"))
    categories = await chat.choose(menu, vi("menu.complaint"), "Vệ sinh")
    ask = text("submit.text_ask.complaint", "vi", min="", max="")[:20]
    await chat.choose(categories, "Vệ sinh an toàn thực phẩm", ask)
    attach = await chat.type(TYPED, vi("submit.attachments_done"))
    privacy = await chat.choose(attach, vi("submit.attachments_done"), vi("submit.anonymous"))
    preview = await chat.choose(privacy, vi("submit.anonymous"), vi("submit.send"))
    receipt = await chat.choose(preview, vi("submit.send"), vi("menu.complaint"))
    found = CODE.search("\n".join(s.text for s in receipt))
    assert found is not None, receipt
    return found.group()


async def staff_answer(fake: FakeTelegram, code: str, answer: str) -> None:
    """Nguyễn Văn An answers the submission from its card on Telegram."""
    await fake.wait_for(lambda: bool(fake.message_ids(AN, f"📋 {code}")))
    before = len(fake.texts(AN))
    fake.press(AN, f"t:reply:{code}")
    await fake.wait_for(lambda: any(code in t for t in fake.texts(AN)[before:]))
    fake.message(AN, answer)


async def test_a_follower_is_greeted_and_files_a_complaint_with_buttons_answered_on_zalo(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock, fake: FakeTelegram
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    code = await file_complaint(chat)
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.text, ticket.channel) == (code, TYPED, "zalo_oa")
    pressed = [s for s in oa.to(chat.user) if s.buttons]
    assert pressed, "the choices came as template buttons"
    assert all(len(s.buttons) <= 5 for s in pressed)
    assert all(b["type"] == "oa.query.show" for s in pressed for b in s.buttons)
    answer = "Đoàn phường đã báo đội quản lý thị trường kiểm tra quán ăn này."
    await staff_answer(fake, code, answer)
    await oa.wait_for(lambda: any(answer in t for t in oa.texts(chat.user)))
    [notice] = [s for s in oa.to(chat.user) if answer in s.text]
    assert {b["title"] for b in notice.buttons} == {vi("notify.answer"), vi("notify.open")}


async def test_a_complaint_filed_by_typed_numbers_where_buttons_are_off(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock, {"max_buttons": 0})
    chat = OaChat(oa, app)
    code = await file_complaint(chat)
    assert not [s for s in oa.to(chat.user) if s.buttons]
    assert any(vi("render.reply_one", number="1")[:6] in t for t in oa.texts(chat.user))
    [ticket] = await rows(app.db, Ticket)
    assert ticket.code == code


async def test_a_pressed_button_arriving_as_its_own_event_is_the_same_choice(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    greeting = await chat.after(oa.follow(chat.user), vi("consent.agree"))
    [agree] = [b for s in greeting for b in s.buttons if b["title"] == vi("consent.agree")]
    await chat.after(oa.press(chat.user, agree, event="user_click_button"), vi("unit.ask")[:20])


async def test_an_answer_after_the_window_waits_tells_staff_and_goes_when_they_write_again(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock, fake: FakeTelegram
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    code = await file_complaint(chat)
    last_heard = clock.now
    clock.now += dt.timedelta(days=8)
    answer = "Đoàn phường đã làm việc với chủ quán; quán đã đóng cửa để khắc phục."
    before = len(fake.texts(AN))
    await staff_answer(fake, code, answer)
    undelivered = vi("held.undelivered", code=code, channel="", closed="", shown="", days="")[:12]
    await fake.wait_for(lambda: any(undelivered in t for t in fake.texts(AN)[before:]))
    await app.outbox.drain()
    [told] = [t for t in fake.texts(AN)[before:] if undelivered in t]
    closed = (last_heard + dt.timedelta(days=7)).astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert closed.strftime("%d/%m/%Y") in told
    assert vi("held.not_on_web") in told
    assert any(undelivered in t for t in fake.texts(GO_DAU_GROUP))
    assert (chat.user, OUTSIDE_WINDOW) in oa.answers
    assert not any(answer in t for t in oa.texts(chat.user))
    held = [m for m in await rows(app.db, OutboxMessage) if m.status == "held"]
    assert [m.chat_id for m in held] == [chat.user]
    waited = len(oa.to(chat.user))
    await chat.type("Cho mình hỏi phản ánh của mình đến đâu rồi ạ?", answer)
    await app.intake.drain()
    await app.outbox.drain()
    since = oa.texts(chat.user)[waited:]
    assert answer in since[0], since
    assert len(since) >= 2, "the new message is answered after what waited"
    assert not [m for m in await rows(app.db, OutboxMessage) if m.status == "held"]


async def test_a_held_answer_is_in_the_web_chat_of_someone_who_linked_one(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock, fake: FakeTelegram
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    code = await file_complaint(chat)
    [given] = await chat.type("/link", vi("link.code", code="", minutes="", until="")[:20])
    digits = re.search(r"\b(\d{4} \d{4})\b", given.text)
    assert digits is not None, given.text
    visitor = Browser(app)
    await visitor.open()
    try:
        assert await visitor.send(f"/link {digits.group(1)}") == [
            vi("link.linked", channel="Zalo OA")
        ]
        clock.now += dt.timedelta(days=8)
        answer = "Đoàn phường đã mời cơ quan y tế kiểm tra quán ăn vào thứ Hai."
        before = len(fake.texts(AN))
        await staff_answer(fake, code, answer)
        await visitor.wait_for(lambda: any(answer in t for t in visitor.texts))
        told = vi("held.on_web")
        await fake.wait_for(lambda: any(told in t for t in fake.texts(AN)[before:]))
        assert not any(answer in t for t in oa.texts(chat.user))
    finally:
        await visitor.close()


async def test_a_refused_access_token_is_refreshed_and_the_message_sent_once(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    await chat.after(oa.follow(chat.user), vi("consent.agree"))
    refreshes = oa.oauth.refreshes
    oa.oauth.expire_access_tokens()  # Zalo revoked them early: the keeper still thinks them fine
    got = await chat.type("/help", "/")
    assert [error for user, error in oa.answers if user == chat.user].count(INVALID_TOKEN) == 1
    assert oa.oauth.refreshes == refreshes + 1
    assert len({s.text for s in got}) == len(got), "nothing went twice"


async def test_a_forged_or_missing_signature_is_refused_and_stores_nothing(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    event = oa.text(chat.user, "/start")
    body = json.dumps(event).encode()
    forged = oa.signed(body, str(event["timestamp"]))
    mac = forged["X-ZEvent-Signature"]
    forged["X-ZEvent-Signature"] = mac[:-1] + ("1" if mac.endswith("0") else "0")
    other_secret = FakeZaloOA(oa.oauth, secret_key="not-the-oa-secret").signed(
        body, str(event["timestamp"])
    )
    async with httpx.AsyncClient() as client:
        missing = await client.post(chat.url, content=body)
        assert missing.status_code == 401
        for headers in (forged, other_secret):
            refused = await client.post(chat.url, content=body, headers=headers)
            assert refused.status_code == 403
        tampered = body.replace(b"/start", b"/stop!")
        moved = await client.post(chat.url, content=tampered, headers=oa.signed(body, "1"))
        assert moved.status_code == 403
    assert not [e for e in await rows(app.db, InboxEvent) if e.channel == "zalo_oa"]
    assert not oa.sent


async def test_an_event_twice_is_handled_once_and_ids_past_2_53_stay_exact(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    user = str(2**63 + 12345)  # a float would make it ...808
    chat = OaChat(oa, app, user)
    event = oa.follow(user)
    await chat.after(event, vi("consent.agree"))
    greetings = len(oa.to(user))
    again = await oa.post(chat.url, event)  # Zalo retries: the same event
    assert again.status_code == 200
    await app.intake.drain()
    await app.outbox.drain()
    assert len(oa.to(user)) == greetings
    unquoted = str(2**63 + 54321)  # an id written as a bare number must not become a float
    typed = oa.text(unquoted, "/start")
    typed["sender"]["id"] = "__NUMBER__"
    raw = json.dumps(typed).replace('"__NUMBER__"', unquoted).encode()
    async with httpx.AsyncClient() as client:
        stamp = str(typed["timestamp"])
        response = await client.post(chat.url, content=raw, headers=oa.signed(raw, stamp))
    assert response.status_code == 200
    await app.intake.drain()
    events = [e for e in await rows(app.db, InboxEvent) if e.channel == "zalo_oa"]
    assert len(events) == 2
    known = {i.external_id for i in await rows(app.db, ChannelIdentity) if i.channel == "zalo_oa"}
    assert known == {user, unquoted}
    assert {s.user_id for s in oa.sent} <= {user, unquoted}


async def test_an_unfollow_stops_sending_and_a_follow_brings_them_back(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    await chat.after(oa.follow(chat.user), vi("consent.agree"))
    gone = await oa.post(chat.url, oa.follow(chat.user, "unfollow"))
    assert gone.status_code == 200
    await app.intake.drain()
    [identity] = [i for i in await rows(app.db, ChannelIdentity) if i.channel == "zalo_oa"]
    assert not identity.reachable
    await chat.after(oa.follow(chat.user), vi("consent.agree"))
    [identity] = [i for i in await rows(app.db, ChannelIdentity) if i.channel == "zalo_oa"]
    assert identity.reachable


async def test_events_we_do_not_take_are_acknowledged_and_skipped(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    seen = oa.event("user_seen_message", chat.user)
    response = await oa.post(chat.url, seen)
    assert response.status_code == 200
    assert not [e for e in await rows(app.db, InboxEvent) if e.channel == "zalo_oa"]


def test_a_routing_group_on_the_oa_is_refused_with_a_reason() -> None:
    group = {"channel": "zalo_oa", "id": "123"}
    data = config_data({})
    data["routing"]["office"] = {"groups": [group]}
    with pytest.raises(ConfigError, match=r"routing.office.groups: zalo_oa has no groups"):
        desk_config(routing=data["routing"])


@pytest.mark.parametrize(
    ("app_id", "body", "timestamp", "secret"),
    [
        ("1", b"{}", "2", "s"),
        (APP_ID, '{"text":"Xin chào"}'.encode(), "1700000000000", OA_SECRET),
    ],
)
def test_the_signature_is_plain_sha256_over_id_body_time_and_secret(
    app_id: str, body: bytes, timestamp: str, secret: str
) -> None:
    import hashlib

    expected = hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode())
    made = zalo_oa_events.signature(app_id, body, timestamp, secret)
    assert made == f"mac={expected.hexdigest()}"


async def test_a_photo_goes_as_an_image_template_by_a_signed_link(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock)
    chat = OaChat(oa, app)
    await chat.after(oa.follow(chat.user), vi("consent.agree"))
    photo = b"\xff\xd8\xff a photo from the web chat"

    async def chunks() -> AsyncIterator[bytes]:
        yield photo

    upload_id, _ = await app.uploads.save(
        NewUpload("v-1", "anh.jpg", "image/jpeg"), chunks(), utcnow()
    )
    shown = Rendered("Ảnh kèm theo", photos=(f"{UPLOAD_PREFIX}{upload_id}",))
    await app.channels["zalo_oa"].sender.send(chat.user, shown)
    sent = oa.to(chat.user)[-1]
    assert sent.text == "Ảnh kèm theo"
    assert sent.image is not None
    async with httpx.AsyncClient() as client:
        assert (await client.get(sent.image)).content == photo
        assert (await client.get(sent.image[:-1] + "x")).status_code == 404


async def test_too_many_messages_a_second_pause_the_channel(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock, {"rate_retry_seconds": 42})
    chat = OaChat(oa, app)
    await chat.after(oa.follow(chat.user), vi("consent.agree"))
    oa.per_second = 0
    with pytest.raises(RateLimited) as waited:
        await app.channels["zalo_oa"].sender.send(chat.user, Rendered("Xin chào"))
    assert waited.value.retry_after == 42
    assert oa.answers[-1] == (chat.user, TOO_FAST)


async def test_lost_tokens_show_on_healthz(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock, zalo_oa_refresh_token="a-burned-refresh-token")
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"http://127.0.0.1:{app.http_port}/healthz")).json()
    assert health["status"] == "degraded"
    assert "zalo-oa-consent" in health["channels"]["zalo_oa"]


async def test_the_channel_runs_only_with_its_secrets_and_its_section_on(
    make_app: AppFactory, oa: FakeZaloOA, clock: Clock
) -> None:
    app = await start(make_app, oa, clock, {"enabled": False})
    assert "zalo_oa" not in app.channels
    app = await start(make_app, oa, clock, zalo_oa_webhook_secret=None)
    assert "zalo_oa" not in app.channels
    app = await start(make_app, oa, clock, zalo_oa_app_secret=None)
    assert "zalo_oa" not in app.channels
    for wrong in ({"max_buttons": 6}, {"button_type": "oa.open.url"}, {"colour": 1}):
        with pytest.raises(ConfigError, match="zalo_oa"):
            desk_config(channels={"zalo_oa": wrong})


@pytest.mark.parametrize(
    ("event", "kind", "value"),
    [
        ({"event_name": "user_send_text", "message": {"text": "Xin chào"}}, "text", "Xin chào"),
        (
            {"event_name": "user_send_text", "message": {"text": "#cn:consent:yes"}},
            "choice",
            "consent:yes",
        ),
        ({"event_name": "user_send_text", "message": {"text": "/help"}}, "command", "help"),
        ({"event_name": "follow"}, "command", "start"),
        ({"event_name": "unfollow"}, None, None),
        ({"event_name": "user_seen_message", "message": {}}, None, None),
        (
            {
                "event_name": "user_send_image",
                "message": {
                    "text": "Ảnh",
                    "attachments": [{"type": "image", "payload": {"url": "https://z/p.jpg"}}],
                },
            },
            "media",
            "https://z/p.jpg",
        ),
        (
            {
                "event_name": "user_send_file",
                "message": {
                    "attachments": [
                        {
                            "type": "file",
                            "payload": {"url": "https://z/a.pdf", "size": "2048", "name": "a.pdf"},
                        }
                    ]
                },
            },
            "media",
            "https://z/a.pdf",
        ),
        (
            {
                "event_name": "user_send_location",
                "message": {
                    "attachments": [
                        {
                            "type": "location",
                            "payload": {"coordinates": {"latitude": "11.3", "longitude": "106.1"}},
                        }
                    ]
                },
            },
            "location",
            (11.3, 106.1),
        ),
    ],
)
async def test_what_each_event_becomes(
    make_app: AppFactory,
    oa: FakeZaloOA,
    clock: Clock,
    event: dict[str, Any],
    kind: str | None,
    value: Any,
) -> None:
    app = await start(make_app, oa, clock)
    user = big_id()
    sender = (
        {"follower": {"id": user}} if "follow" in event["event_name"] else {"sender": {"id": user}}
    )
    message = event.get("message")
    full = {**event, **sender, "timestamp": "1700000000000"}
    if message is not None:
        full["message"] = {"msg_id": "m1", **message}
    decoded = app.channels["zalo_oa"].decode(full)
    if kind is None:
        assert decoded is None
        return
    assert decoded is not None
    assert (decoded.kind.value, decoded.user_id, decoded.chat_id) == (kind, user, user)
    found = {
        "text": decoded.text,
        "choice": decoded.choice,
        "command": decoded.command,
        "media": decoded.media.file_ref if decoded.media else None,
        "location": decoded.location,
    }[kind]
    assert found == value
