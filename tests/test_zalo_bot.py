"""The Zalo Bot API channel end to end: the real app talking HTTP to the fake Zalo Bot API
(tests/fake_zalo_bot.py), on a channel with no buttons and no edits."""

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import CauNoi, build_application
from bot.channels import zalo_bot
from bot.channels.base import ChannelUnavailable, RateLimited, RecipientGone
from bot.config import ConfigError, parse_config
from bot.domain.i18n import text
from bot.domain.messages import UPLOAD_PREFIX, Rendered
from bot.settings import Settings
from bot.uploads import NewUpload
from storage.models import Attachment, InboxEvent, Ticket, utcnow
from tests.conftest import AppFactory, config_data, rows
from tests.fake_zalo_bot import BOT_ID, TOKEN, FakeZaloBot

CODE = re.compile(r"[A-Z]{2}-\d{4}-\d{4}")
MENU_LINE = re.compile(r"^\s*(\d+)[.)]\s+(.+?)\s*$", re.M)
UNIT = "Phường Gò Dầu"
YOUTH = "a1b2c3d4e5f60718"
STAFF = "f0e1d2c3b4a59687"
SECRET = "zalo-webhook-secret-1"


def vi(key: str, **values: str) -> str:
    """A catalog text in Vietnamese."""
    return text(key, "vi", **values)


def number_of(message: str, label: str) -> str:
    """The number a numbered menu in the message gives the choice with this label."""
    for number, shown in MENU_LINE.findall(message):
        if shown == label:
            return str(number)
    raise AssertionError(f"{label!r} is not offered in {message!r}")


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloBot]:
    """A fake Zalo Bot API on a free local port."""
    server = FakeZaloBot()
    await server.start()
    yield server
    await server.stop()


def staff_on_zalo() -> Any:
    """The shipped organisation, with Nguyễn Văn An (Gò Dầu's desk) on Zalo."""
    data = config_data({})
    for member in data["staff"]:
        if member["code"] == "nguyen-van-an":
            member["identities"] = {"zalo_bot": STAFF}
    return parse_config(data)


async def start(make_app: AppFactory, zalo: FakeZaloBot, **overrides: Any) -> CauNoi:
    """The app with the Zalo channel on, serving HTTP (photo links, the webhook)."""
    values = {
        "zalo_bot_token": TOKEN,
        "zalo_bot_api_base_url": zalo.base_url,
        "config": staff_on_zalo(),
        **overrides,
    }
    return await make_app(serve_http=True, **values)


class Chat:
    """One person's private chat with the bot on Zalo."""

    def __init__(self, zalo: FakeZaloBot, app: CauNoi, user: str) -> None:
        self.zalo, self.app, self.user = zalo, app, user

    async def until(self, typed: str, shown: str) -> str:
        """Type a text; what the bot then shows, once a message showing `shown` came and
        the outbox has nothing more."""
        return await self.after(lambda: self.zalo.text(self.user, typed), shown)

    async def after(self, act: Any, shown: str) -> str:
        """Do something; what the bot then shows (as `until`)."""
        before = len(self.zalo.texts(self.user))
        act()
        await self.zalo.wait_for(
            lambda: any(shown in t for t in self.zalo.texts(self.user)[before:])
        )
        await self.app.outbox.drain()
        return "\n".join(self.zalo.texts(self.user)[before:])


async def file_complaint(chat: Chat, typed: str, photo: dict[str, Any] | None = None) -> str:
    """File a complaint in Gò Dầu by typing numbers (described by a text, or by a photo's
    caption); the receipt."""
    greeting = await chat.until("/start", vi("consent.agree"))
    await chat.until(number_of(greeting, vi("consent.agree")), vi("unit.ask")[:20])
    units = await chat.until("go dau", UNIT)
    age = await chat.until(number_of(units, UNIT), vi("common.skip"))
    work = await chat.until(number_of(age, vi("common.skip")), vi("common.skip"))
    menu = await chat.until(number_of(work, vi("common.skip")), vi("menu.complaint"))
    categories = await chat.until(number_of(menu, vi("menu.complaint")), "2.")
    first = MENU_LINE.findall(categories)[0][0]
    await chat.until(first, text("submit.text_ask.complaint", "vi", min="", max="")[:20])
    done_shown = f". {vi('submit.attachments_done')}\n"
    if photo is None:
        attach = await chat.until(typed, done_shown)
    else:
        attach = await chat.after(lambda: chat.zalo.push(photo), done_shown)
    done = number_of(attach, vi("submit.attachments_done"))
    privacy = await chat.until(done, vi("submit.anonymous"))
    preview = await chat.until(number_of(privacy, vi("submit.anonymous")), vi("submit.send"))
    return await chat.until(number_of(preview, vi("submit.send")), vi("menu.complaint"))


async def test_a_complaint_filed_by_numbers_is_answered_by_staff_on_zalo_in_pieces(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo)
    youth, staff = Chat(zalo, app, YOUTH), Chat(zalo, app, STAFF)
    typed = "Đèn đường ở khu phố 3 bị hỏng hai tuần nay, tối rất nguy hiểm."
    receipt = await file_complaint(youth, typed)
    found = CODE.search(receipt)
    assert found is not None, receipt
    code = found.group()
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.text) == (code, typed)
    await zalo.wait_for(lambda: any(f"📋 {code}" in t for t in zalo.texts(STAFF)))
    card = next(t for t in zalo.texts(STAFF) if f"📋 {code}" in t)
    prompt = await staff.until(number_of(card, vi("desk.button_reply")), code)
    assert code in prompt
    sentences = [
        f"Câu trả lời số {n} về đèn đường ở khu phố 3 đã được ghi nhận." for n in range(40)
    ]
    answer = " ".join(sentences)
    assert len(answer) > zalo_bot.MAX_TEXT
    before = len(zalo.texts(YOUTH))
    zalo.text(STAFF, answer)
    await zalo.wait_for(lambda: "số 39 " in " ".join(zalo.texts(YOUTH)[before:]))
    got = zalo.texts(YOUTH)[before:]
    pieces = [t for t in got if "Câu trả lời số" in t]
    assert len(pieces) >= 2, got
    assert all(len(piece) <= zalo_bot.MAX_TEXT for piece in pieces)
    assert all(piece.rstrip().endswith(".") or "\n" in piece for piece in pieces[:-1])
    for sentence in (sentences[0], sentences[-1]):
        assert sentence in "\n".join(got)
    assert not zalo.sent("editMessageText")


async def test_a_photo_with_a_caption_becomes_an_attachment_the_desk_can_show(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo)
    photo_url = f"{app.base_url}/healthz"  # stands for a photo on Zalo's servers
    caption = "Bãi rác tự phát cạnh trường học, bốc mùi suốt tuần nay."
    photo = zalo.update(YOUTH, "message.image.received", photo_url=photo_url, caption=caption)
    receipt = await file_complaint(Chat(zalo, app, YOUTH), "", photo)
    assert CODE.search(receipt) is not None, receipt
    [ticket] = await rows(app.db, Ticket)
    assert ticket.text == caption
    [attachment] = await rows(app.db, Attachment)
    assert (attachment.channel, attachment.media_kind) == ("zalo_bot", "photo")
    assert attachment.file_ref == photo_url
    source = app.channels["zalo_bot"].files
    assert source is not None
    fetched = await source(photo_url)  # what the desk shows staff
    assert fetched is not None
    assert b"status" in fetched[1]


async def test_a_photo_sent_to_zalo_goes_by_a_signed_expiring_link(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo)
    channel = app.channels["zalo_bot"]
    assert isinstance(channel, zalo_bot.ZaloBotChannelAdapter)
    photo = b"\xff\xd8\xff a photo from the web chat"

    async def chunks() -> AsyncIterator[bytes]:
        yield photo

    upload = NewUpload("visitor-1", "anh.jpg", "image/jpeg")
    upload_id, _ = await app.uploads.save(upload, chunks(), utcnow())
    shown = Rendered("Ảnh kèm theo", photos=(f"{UPLOAD_PREFIX}{upload_id}",))
    await channel.sender.send(YOUTH, shown)
    [sent] = zalo.sent("sendPhoto", YOUTH)
    assert sent["caption"] == "Ảnh kèm theo"
    assert zalo.fetched == [photo]
    link = str(sent["photo"])
    tampered = link[:-1] + ("0" if link[-1] != "0" else "1")
    async with httpx.AsyncClient() as client:
        assert (await client.get(tampered)).status_code == 404
        assert (await client.get(link)).content == photo


async def test_a_sticker_gets_the_polite_reply_and_withheld_content_the_web_chat_link(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo)
    chat = Chat(zalo, app, YOUTH)
    greeting = await chat.until("/start", vi("consent.agree"))
    await chat.until(number_of(greeting, vi("consent.agree")), vi("unit.ask")[:20])
    sticker = zalo.update(YOUTH, "message.sticker.received", sticker="s-123")
    said = await chat.after(lambda: zalo.push(sticker), vi("zalo_bot.sticker")[:30])
    assert vi("zalo_bot.sticker") in said
    withheld = zalo.update(YOUTH, "message.unsupported.received")
    said = await chat.after(lambda: zalo.push(withheld), f"{app.base_url}/chat")
    assert vi("zalo_bot.withheld", link=f"{app.base_url}/chat") in said


async def test_echoes_and_bots_are_dropped_and_a_duplicate_is_handled_once(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    zalo.webhook = {"url": "https://old.example/hook", "secret_token": SECRET}  # an earlier run's
    app = await start(make_app, zalo)
    chat = Chat(zalo, app, YOUTH)
    echo = zalo.update(BOT_ID, "message.text.received", text="/start")
    other_bot = zalo.update("0bb0", "message.text.received", is_bot=True, text="/start")
    zalo.push(echo)
    zalo.push(other_bot)
    hello = zalo.update(YOUTH, "message.text.received", text="/start")
    await chat.after(lambda: zalo.push(hello), vi("consent.agree"))
    greetings = len(zalo.texts(YOUTH))
    zalo.push(hello)  # Zalo delivers it again: no offset to confirm it with
    await zalo.wait_for(lambda: zalo.taken() >= 4)
    await app.intake.drain()
    await app.outbox.drain()
    assert len(zalo.texts(YOUTH)) == greetings
    assert not zalo.sent("sendMessage", BOT_ID)
    assert not zalo.sent("sendMessage", "0bb0")
    events = await rows(app.db, InboxEvent)
    assert sorted(e.event_id for e in events if e.channel == "zalo_bot") == sorted(
        u["message"]["message_id"] for u in (echo, other_bot, hello)
    )


async def test_a_webhook_without_the_right_secret_is_refused_and_stores_nothing(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo, webhook_url="https://caunoi.example/", webhook_secret=SECRET)
    assert zalo.webhook == {
        "url": "https://caunoi.example/zalo/bot/webhook",
        "secret_token": SECRET,
    }
    url = f"http://127.0.0.1:{app.http_port}{zalo_bot.WEBHOOK_PATH}"
    update = zalo.update(YOUTH, "message.text.received", text="/start")
    async with httpx.AsyncClient() as client:
        for headers in ({}, {zalo_bot.SECRET_HEADER: "wrong-secret"}):
            refused = await client.post(url, json=update, headers=headers)
            assert refused.status_code == 401
        assert not [e for e in await rows(app.db, InboxEvent) if e.channel == "zalo_bot"]
        right = {zalo_bot.SECRET_HEADER: SECRET}
        wrapped = await client.post(url, json={"ok": True, "result": update}, headers=right)
        assert wrapped.status_code == 200
        flat = await client.post(url, json=update, headers=right)  # seen flat: the same one
        assert flat.status_code == 200
    await zalo.wait_for(lambda: any(vi("consent.agree") in t for t in zalo.texts(YOUTH)))
    await app.intake.drain()
    stored = [e for e in await rows(app.db, InboxEvent) if e.channel == "zalo_bot"]
    assert len(stored) == 1
    assert not [c for c in zalo.calls if c.method == "getUpdates"]


async def test_a_refused_token_is_reported_once_and_retried_slowly(
    make_app: AppFactory, zalo: FakeZaloBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.channels.zalo_bot")
    app = await start(make_app, zalo, zalo_bot_token=f"{BOT_ID}:a-reset-token")
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"http://127.0.0.1:{app.http_port}/healthz")).json()
    assert health["status"] == "degraded"
    assert "ZALO_BOT_TOKEN" in health["channels"]["zalo_bot"]
    await zalo.wait_for(lambda: len([c for c in zalo.calls if c.method == "getUpdates"]) >= 2)
    polls = [c.at for c in zalo.calls if c.method == "getUpdates"]
    assert polls[1] - polls[0] >= 0.9 * zalo_bot.FIRST_RETRY_SECONDS
    refused = [r for r in caplog.records if r.getMessage() == "zalo bot unavailable"]
    assert len(refused) == 1
    assert TOKEN.split(":")[1] not in caplog.text
    assert "a-reset-token" not in caplog.text


async def test_a_blocked_user_is_not_sent_to_and_a_used_up_quota_waits(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await start(make_app, zalo)
    channel = app.channels["zalo_bot"]
    zalo.blocked.add(YOUTH)
    with pytest.raises(RecipientGone):
        await channel.sender.send(YOUTH, Rendered("Xin chào"))
    zalo.quota_left = 0
    with pytest.raises(RateLimited) as waited:
        await channel.sender.send(STAFF, Rendered("Xin chào"))
    assert waited.value.retry_after == app.config.raw.channels.zalo_bot.quota_retry_seconds


def test_a_photo_link_past_its_time_or_for_another_token_opens_nothing() -> None:
    fresh = zalo_bot.PhotoLinks(TOKEN, 60)
    link = fresh.make("web", "web:1")
    token = link.rsplit("/", 1)[-1]
    assert fresh.read(token) == ("web", "web:1")
    assert zalo_bot.PhotoLinks(f"{BOT_ID}:another-token", 60).read(token) is None
    expired = zalo_bot.PhotoLinks(TOKEN, -1)
    assert expired.read(expired.make("web", "web:1").rsplit("/", 1)[-1]) is None


def test_the_section_is_validated_and_can_turn_the_channel_off() -> None:
    for wrong in ({"mode": "both"}, {"poll_seconds": 0}, {"max_in_flight": 0}, {"colour": 1}):
        with pytest.raises(ConfigError, match="zalo_bot"):
            parse_config(config_data({"channels": {"zalo_bot": wrong}}))
    section = parse_config(config_data({})).raw.channels.zalo_bot
    assert (section.mode, section.enabled) == ("auto", True)


async def test_the_channel_runs_only_with_a_token_and_its_section_on(
    make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    off = parse_config(config_data({"channels": {"zalo_bot": {"enabled": False}}}))
    app = await start(make_app, zalo, config=off)
    assert "zalo_bot" not in app.channels
    app = await start(make_app, zalo, zalo_bot_token=None)
    assert "zalo_bot" not in app.channels
    assert not zalo.calls


async def test_webhook_mode_without_a_webhook_url_stops_the_start_with_a_reason(
    zalo: FakeZaloBot, database_url: str, tmp_path: Path
) -> None:
    forced = parse_config(config_data({"channels": {"zalo_bot": {"mode": "webhook"}}}))
    settings = Settings(
        zalo_bot_token=TOKEN,
        zalo_bot_api_base_url=zalo.base_url,
        database_url=database_url,
        file_store_url=str(tmp_path / "files"),
    )
    app = build_application(settings, forced)
    try:
        with pytest.raises(ChannelUnavailable, match="WEBHOOK_URL"):
            await app.channels[zalo_bot.CHANNEL].start(app.intake, app.base_url)
    finally:
        await app.db.dispose()
    assert not zalo.calls
