"""Web Push for the web chat, through the real app and a fake push service that checks
VAPID and decrypts what it gets: staff notices and daily posts reach a closed page as the
code and what happened (never the answer's text); gone endpoints are dropped; the page's
subscribe route refuses bad input politely; /forget removes subscriptions."""

import contextlib
import datetime as dt
import io
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot import cli
from bot.app import CauNoi
from bot.channels.web import WebChannel
from bot.channels.web.guard import CSRF_HEADER
from bot.channels.web.push import VapidKey, _vapid, new_key_pair, notification
from bot.domain.i18n import text
from bot.domain.publishing import story_title
from storage.models import PushSubscription, WebMessage
from tests.conftest import AppFactory, Clock, rows
from tests.desk import BINH, CODE, YOUTH, Desk, desk_config
from tests.dialogue import Chat, onboard, submit
from tests.fake_push import FakePushService, Subscriber, _check_jwt
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser, signed_in_staff

KEY = new_key_pair()
COMPLAINT = "Quán ăn đầu hẻm 12 đường Hùng Vương bán đồ ăn để qua đêm, nhiều bạn bị đau bụng."
ANSWER = "Đoàn phường đã báo Đội quản lý thị trường kiểm tra quán ăn này."
QUESTION = "Bạn cho biết quán mở cửa vào giờ nào để đoàn kiểm tra đúng lúc?"
ORGANISATION = "Tỉnh đoàn Tây Ninh"
DAY = dt.timedelta(days=1)
SLOT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)  # a daily post's time, 07:30 there


@pytest.fixture
async def service() -> AsyncIterator[FakePushService]:
    """The fake push service, told the app's public key."""
    fake = FakePushService(app_key=KEY.public)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def opened() -> AsyncIterator[list[Browser]]:
    """Browsers to close at the end."""
    browsers: list[Browser] = []
    yield browsers
    for browser in browsers:
        await browser.close()


async def _app(make_app: AppFactory, **overrides: Any) -> CauNoi:
    return await make_app(serve_http=True, webpush_vapid_private_key=KEY.private, **overrides)


async def _visitor(app: CauNoi, opened: list[Browser]) -> tuple[Browser, str]:
    """A visitor who filed a complaint on the web; its reference code."""
    visitor = Browser(app)
    opened.append(visitor)
    await visitor.open()
    await onboard(visitor, app.config)
    receipt, _menu = await submit(visitor, "complaint", COMPLAINT, privacy="anon:no")
    found = CODE.search(receipt)
    assert found, receipt
    return visitor, found.group()


async def _subscribe(browser: Browser, body: Any) -> Any:
    return await browser.client.post(
        "/chat/api/push/subscribe", json=body, headers={CSRF_HEADER: browser.csrf}
    )


async def test_staff_notices_reach_a_closed_page_as_what_happened_and_the_code(
    make_app: AppFactory, service: FakePushService, opened: list[Browser]
) -> None:
    app = await _app(make_app)
    page = await opened_page(app, opened)
    assert KEY.public in page, "the page carries the public key for push.js"
    staff = await signed_in_staff(app)
    opened.append(staff)
    visitor, code = await _visitor(app, opened)
    [receipt] = [e for e in visitor.events.values() if code in e.get("text", "")]
    assert receipt.get("push_offer") is True, "the receipt is marked for the page's offer"
    phone = service.subscriber()
    answered = await _subscribe(visitor, phone.subscription())
    assert answered.status_code == 200, answered.text
    await visitor.close()  # the page is closed: only a push reaches the visitor now

    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    await staff.press(f"t:take:{code}")
    await staff.press(f"t:reply:{code}")
    await staff.send(ANSWER)
    await staff.press(f"t:ask:{code}")
    await staff.send(QUESTION)
    await service.wait_for(lambda: len(service.to(phone)) == 3)

    bodies = [push["body"] for push in service.to(phone)]
    assert bodies == [
        text("push.taken", "vi", code=code),
        text("push.reply", "vi", code=code),
        text("push.ask", "vi", code=code),
    ], "staff notices only: none for the visitor's own dialogue"
    assert all(ANSWER not in str(p) and QUESTION not in str(p) for p in service.to(phone))
    assert service.to(phone)[0]["title"] == ORGANISATION
    assert service.refused == []
    [row] = await rows(app.db, PushSubscription)
    assert row.last_used_at > row.created_at, "a push taken counts as the browser in use"


async def opened_page(app: CauNoi, opened: list[Browser]) -> str:
    """The chat page's HTML as a new browser gets it."""
    browser = Browser(app)
    opened.append(browser)
    return (await browser.open()).text


async def test_a_gone_endpoint_is_dropped_and_a_busy_service_is_tried_again(
    make_app: AppFactory, service: FakePushService, opened: list[Browser]
) -> None:
    app = await _app(make_app)
    staff = await signed_in_staff(app)
    opened.append(staff)
    visitor, code = await _visitor(app, opened)
    gone, busy = service.subscriber(), service.subscriber()
    for phone in (gone, busy):
        assert (await _subscribe(visitor, phone.subscription())).status_code == 200
    service.answer(gone, 410)
    service.answer(busy, 429, 503)
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    await staff.press(f"t:take:{code}")
    await service.wait_for(lambda: len(service.to(busy)) == 1)
    assert service.to(busy)[0]["body"] == text("push.taken", "vi", code=code)
    web = app.channels["web"]
    assert isinstance(web, WebChannel)
    assert web.pusher is not None
    await web.pusher.drain()  # the gone one's answer handled too
    assert service.to(gone) == []
    assert [s.endpoint for s in await rows(app.db, PushSubscription)] == [busy.endpoint]


async def test_an_unreachable_service_is_logged_without_the_endpoints_secret(
    make_app: AppFactory, opened: list[Browser], caplog: pytest.LogCaptureFixture
) -> None:
    app = await _app(make_app)
    staff = await signed_in_staff(app)
    opened.append(staff)
    visitor, code = await _visitor(app, opened)
    with socket.socket() as closed:  # a port nobody listens on once closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    secret = "s3cr3t-path-of-this-browser"
    unreachable = FakePushService().subscriber_at(f"http://127.0.0.1:{port}/push/{secret}")
    assert (await _subscribe(visitor, unreachable.subscription())).status_code == 200
    web = app.channels["web"]
    assert isinstance(web, WebChannel)
    assert web.pusher is not None
    web.pusher.backoff = 0.01  # its pauses between attempts are seconds otherwise
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    await staff.press(f"t:take:{code}")
    await app.outbox.drain()
    await web.pusher.drain()
    [failed] = [r for r in caplog.records if r.getMessage() == "push failed"]
    assert failed.__dict__["service"] == f"127.0.0.1:{port}"
    assert all(secret not in r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert len(await rows(app.db, PushSubscription)) == 1, "kept: the service may come back"


async def test_the_daily_post_reaches_a_subscriber_with_its_title(
    fake: FakeTelegram,
    make_app: AppFactory,
    service: FakePushService,
    opened: list[Browser],
) -> None:
    clock = Clock(SLOT - dt.timedelta(hours=1))
    app = await _app(make_app, config=desk_config(), clock=clock)
    desk = Desk(fake, app)
    author = Chat(fake, app, YOUTH)
    await onboard(author, app.config)
    reader = Browser(app)
    opened.append(reader)
    await reader.open()
    await onboard(reader, app.config)
    await reader.press("set:sub:daily")
    phone = service.subscriber()
    assert (await _subscribe(reader, phone.subscription())).status_code == 200
    story = "Bạn Minh nhặt được ví và trả lại người mất.\nCả xóm đều khen bạn."
    await author.press("menu:story")
    await author.press(author.buttons()[0])
    await author.send(story)
    await author.press("att:done")
    await author.press("pub:anonymous")
    receipt, _menu = await author.press("preview:send", replies=2)
    found = CODE.search(receipt)
    assert found, receipt
    await desk.press(BINH, f"m:ok:{found.group()}", sends=3)

    clock.now = SLOT
    await app.publisher.daily(clock.now)
    await service.wait_for(lambda: len(service.to(phone)) == 1)
    [push] = service.to(phone)
    title = story_title(story)  # as the news page titles it
    assert title.startswith("Bạn Minh nhặt được ví")
    assert push["body"] == text("push.daily_post", "vi", title=title)
    assert "Cả xóm" not in push["body"]


async def test_forgetting_removes_the_subscriptions(
    make_app: AppFactory, service: FakePushService, opened: list[Browser]
) -> None:
    app = await _app(make_app)
    visitor, _code = await _visitor(app, opened)
    other, _ = await _visitor(app, opened)
    for browser in (visitor, other):
        assert (await _subscribe(browser, service.subscriber().subscription())).status_code == 200
    await visitor.send("/forget")
    await visitor.press("forget:yes")
    left = await rows(app.db, PushSubscription)
    assert [s.chat_id for s in left] == [other.visitor_id]
    assert [m for m in await rows(app.db, WebMessage) if m.chat_id == visitor.visitor_id]


async def test_retention_drops_subscriptions_long_unused(
    make_app: AppFactory, service: FakePushService, opened: list[Browser]
) -> None:
    start = dt.datetime(2026, 11, 2, 3, tzinfo=dt.UTC)
    clock = Clock(start)
    app = await _app(make_app, clock=clock)
    visitor = Browser(app)
    opened.append(visitor)
    await visitor.open()
    stale, renewed = service.subscriber(), service.subscriber()
    for phone in (stale, renewed):
        assert (await _subscribe(visitor, phone.subscription())).status_code == 200
    clock.now = start + 20 * DAY  # the page loaded again in this browser: it says so
    assert (await _subscribe(visitor, renewed.subscription())).status_code == 200
    retention = app.scheduler.get_job("retention")
    assert retention is not None

    clock.now = start + 29 * DAY
    await retention.func()
    assert len(await rows(app.db, PushSubscription)) == 2, "day 29: both kept"
    clock.now = start + 31 * DAY
    await retention.func()
    assert [s.endpoint for s in await rows(app.db, PushSubscription)] == [renewed.endpoint]


def _bad_subscriptions(phone: Subscriber) -> list[Any]:
    good = phone.subscription()
    keys = good["keys"]
    return [
        {},
        {"endpoint": good["endpoint"]},
        {"endpoint": 12, "keys": keys},
        {"endpoint": "javascript:alert(1)", "keys": keys},
        {"endpoint": "https://10.0.0.5/push/x", "keys": keys},
        {"endpoint": "https://localhost/push/x", "keys": keys},
        {"endpoint": "https://user:pw@fcm.googleapis.com/x", "keys": keys},
        {"endpoint": "https://fcm.googleapis.com/" + "x" * 1000, "keys": keys},
        {"endpoint": good["endpoint"], "keys": {"p256dh": "AAAA", "auth": keys["auth"]}},
        {"endpoint": good["endpoint"], "keys": {"p256dh": keys["p256dh"], "auth": "c2hvcnQ"}},
        {"endpoint": good["endpoint"], "keys": {"p256dh": "B" + "A" * 86, "auth": keys["auth"]}},
        {"endpoint": good["endpoint"], "keys": {"p256dh": "../../etc", "auth": keys["auth"]}},
    ]


async def test_wrong_input_to_subscribe_is_refused_politely(
    make_app: AppFactory, service: FakePushService, opened: list[Browser]
) -> None:
    app = await _app(make_app)
    visitor = Browser(app)
    opened.append(visitor)
    await visitor.open()
    phone = service.subscriber()
    polite = text("push.bad_subscription", "vi")
    for body in _bad_subscriptions(phone):
        answered = await _subscribe(visitor, body)
        assert (answered.status_code, answered.json()) == (400, {"error": polite}), body
    not_an_object = await _subscribe(visitor, [phone.subscription()])
    assert not_an_object.json() == {"error": text("web.bad_request", "vi")}
    no_token = await visitor.client.post("/chat/api/push/subscribe", json=phone.subscription())
    assert no_token.status_code == 403
    elsewhere = await visitor.client.post(
        "/chat/api/push/subscribe",
        json=phone.subscription(),
        headers={CSRF_HEADER: visitor.csrf, "Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    assert await rows(app.db, PushSubscription) == []
    assert (await _subscribe(visitor, phone.subscription())).status_code == 200
    gone = await visitor.client.post(
        "/chat/api/push/unsubscribe",
        json={"endpoint": phone.endpoint},
        headers={CSRF_HEADER: visitor.csrf},
    )
    assert gone.status_code == 200
    assert await rows(app.db, PushSubscription) == []


async def test_without_a_key_push_is_off_and_the_page_offers_nothing(
    make_app: AppFactory, opened: list[Browser]
) -> None:
    app = await make_app(serve_http=True)  # Telegram on, no key: not a try-out
    page = await opened_page(app, opened)
    assert 'data-push=""' in page
    visitor = opened[0]
    answered = await _subscribe(visitor, {"endpoint": "https://fcm.googleapis.com/x"})
    assert answered.status_code == 404
    assert answered.json() == {"error": text("push.off", "vi")}
    sw = await visitor.client.get("/chat/sw.js")
    assert sw.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in sw.text


async def test_the_try_out_makes_a_key_once_and_keeps_it(
    make_app: AppFactory, tmp_path: Any, opened: list[Browser]
) -> None:
    kept = tmp_path / "keys" / "vapid.key"
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        first = await make_app(serve_http=True, telegram_bot_token=None, webpush_key_file=kept)
    assert "WEBPUSH_VAPID_PRIVATE_KEY" in printed.getvalue()
    assert kept.stat().st_mode & 0o777 == 0o600
    page_one = await opened_page(first, opened)
    await first.stop()
    again = io.StringIO()
    with contextlib.redirect_stderr(again):
        second = await make_app(serve_http=True, telegram_bot_token=None, webpush_key_file=kept)
    assert "WEBPUSH_VAPID_PRIVATE_KEY" not in again.getvalue(), "printed once, when made"
    page_two = await opened_page(second, opened)
    key = VapidKey(kept.read_text().strip(), "").public
    assert key in page_one
    assert key in page_two, "the same key after a restart"


def test_the_cli_prints_a_working_key_pair() -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["vapid-keys"]) == 0
    lines = dict(
        line.split("=", 1) for line in printed.getvalue().splitlines() if line.startswith("WEB")
    )
    pair = VapidKey(lines["WEBPUSH_VAPID_PRIVATE_KEY"], "mailto:office@example.org")
    assert pair.public in printed.getvalue()
    claims: dict[str, str | int] = {
        "aud": "https://fcm.googleapis.com",
        "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 3600,
        "sub": pair.subject,
    }
    header = _vapid(pair.private).sign(claims)["Authorization"]
    token = dict(p.split("=", 1) for p in header.split(" ", 1)[1].split(","))
    assert token["k"] == pair.public
    assert _check_jwt(token["t"], token["k"], "https://fcm.googleapis.com") is None


@pytest.mark.parametrize(
    ("said", "gist", "language", "body"),
    [
        ("notify.reply", {"code": "PA-2611-0003"}, "vi", "Cán bộ Đoàn đã trả lời PA-2611-0003"),
        ("notify.reply", {"code": "PA-2611-0003"}, "en", "Union staff have answered PA-2611-0003"),
        ("notify.rejected", {"code": "PA-1"}, "vi", "Có phản hồi về PA-1 của bạn"),
        ("notify.auto_closed", {"code": "HD-2"}, "en", "Your HD-2 has been closed"),
        (
            "publish.daily_post",
            {"title": "Nhặt được ví"},
            "vi",
            "Mỗi ngày một tin tốt: Nhặt được ví",
        ),
        ("notify.reply", {"code": "BC-2611-0001"}, "vi", "Bạn có tin nhắn mới trên Cầu Nối"),
        ("notify.resolved", {"code": "BC-2611-0001"}, "en", "You have a new message on Cầu Nối"),
        ("notify.transferred", {"code": "PA-1"}, "vi", None),
        ("submit.received.complaint", {"code": "PA-1"}, "vi", None),
        ("menu.main", {}, "vi", None),
        ("notify.reply", {"code": "PA-1"}, "fr", None),
    ],
)
def test_what_a_notification_says(
    said: str, gist: dict[str, str], language: str, body: str | None
) -> None:
    shown = notification(said, gist, language, ORGANISATION)
    assert (shown["body"] if shown else None) == body
