"""The web chat over real HTTP: the same dialogue as Telegram, the desk for staff signed in
with a one-time link, the resume link, and the page's protections."""

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.app import CauNoi
from bot.domain.i18n import text
from bot.domain.lifecycle import Status
from storage.models import InboxEvent, Ticket, WebMessage, WebSession, WebUpload
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.desk import AN, CODE, GO_DAU_GROUP, Desk, desk_config
from tests.dialogue import Chat, onboard, send_named, submit
from tests.fake_telegram import FakeTelegram, file_content
from tests.webchat import Browser

COMPLAINT = "Quán ăn đầu hẻm 12 đường Hùng Vương bán đồ ăn để qua đêm, nhiều bạn bị đau bụng."
BrowserFactory = Callable[..., Coroutine[Any, Any, Browser]]


@pytest.fixture
async def browsers() -> AsyncIterator[BrowserFactory]:
    """Open browsers on an app; closed at the end of the test."""
    opened: list[Browser] = []

    async def open_browser(app: CauNoi, language: str = "vi", path: str = "/chat") -> Browser:
        browser = Browser(app, language=language)
        await browser.open(path)
        opened.append(browser)
        return browser

    yield open_browser
    for browser in opened:
        await browser.close()


async def _visitor_with_complaint(app: CauNoi, browsers: BrowserFactory) -> tuple[Browser, str]:
    """A visitor who went through onboarding on the web and filed a complaint in Gò Dầu."""
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    receipt, _menu = await submit(visitor, "complaint", COMPLAINT, privacy="anon:no")
    found = CODE.search(receipt)
    assert found, receipt
    return visitor, found.group()


async def _staff(app: CauNoi, browsers: BrowserFactory, code: str = "nguyen-van-an") -> Browser:
    """A staff member signed in on the web with a one-time link."""
    link = await app.sign_in_link(code)
    assert link is not None
    browser = await browsers(app, path="/chat/signin")
    token = link.split("#", 1)[1]
    response = await browser.client.post(
        "/chat/api/signin", json={"token": token}, headers={"Origin": browser.base}
    )
    assert response.status_code == 200, response.text
    await browser.open()
    await browser.wait_for(lambda: len(browser.texts) == 2)  # the welcome and the desk's help
    return browser


async def test_the_web_dialogue_is_the_telegram_dialogue(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor, code = await _visitor_with_complaint(app, browsers)
    assert visitor.texts[0].startswith("Xin chào bạn!")
    assert COMPLAINT in visitor.mine, "the visitor's own words are in their chat"
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.kind, ticket.text) == (code, "complaint", COMPLAINT)
    assert ticket.unit_code == app.config.find_unit("Gò Dầu").code  # type: ignore[union-attr]


async def test_an_english_browser_gets_vietnamese_with_a_switch(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor = await browsers(app, language="en-US,en;q=0.9")
    greeting, _consent = await visitor.send("/start", replies=2)
    assert greeting == text("welcome.greeting", "vi", organisation="Tỉnh đoàn Tây Ninh")
    assert visitor.buttons(back=2) == ["lang:en"]
    assert await visitor.press("lang:en", replies=2) == [
        text("language.changed", "en"),
        text("consent.ask", "en"),
    ]


async def test_staff_work_the_desk_on_the_web_and_the_visitor_sees_it_live(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    staff = await _staff(app, browsers)
    assert staff.texts[0] == text(
        "desk.welcome", "vi", name="Nguyễn Văn An", roles=text("roles.staff", "vi")
    )
    visitor, code = await _visitor_with_complaint(app, browsers)
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    assert f"t:take:{code}" in staff.buttons()

    await staff.press(f"t:take:{code}")
    await visitor.wait_for(lambda: text("status.assigned", "vi") in visitor.texts[-1])
    [card] = [t for t in staff.texts if code in t and "Người xử lý" in t]
    assert "Người xử lý: Nguyễn Văn An" in card, "the card was edited in place"

    await staff.press(f"t:reply:{code}")
    answer = "Đoàn phường đã báo Đội quản lý thị trường kiểm tra quán ăn này."
    await staff.send(answer)
    await visitor.wait_for(lambda: answer in visitor.texts[-1])
    assert f"mine:open:{code}" in visitor.buttons()

    await visitor.press(f"mine:open:{code}")
    await visitor.press(f"mine:rate:{code}")
    await visitor.press("rate:5")
    await visitor.send("Cảm ơn anh chị!", replies=2)
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.status, ticket.rating) == (Status.ANSWERED, 5)

    queue = await staff.send("/queue")  # the header; the card itself is edited in place
    assert queue == [text("desk.queue", "vi", mine="1", free="0", shown="1")]


async def test_staff_on_the_web_typing_with_nothing_pending_keep_their_answer(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    staff = await _staff(app, browsers)
    assert await staff.send("chao moi nguoi") == [text("desk.idle_hint", "vi")]
    visitor, code = await _visitor_with_complaint(app, browsers)
    await staff.wait_for(lambda: f"t:take:{code}" in staff.buttons())
    await staff.press(f"t:take:{code}")
    await visitor.wait_for(lambda: text("status.assigned", "vi") in visitor.texts[-1])
    answer = "Đoàn phường đã báo Đội quản lý thị trường kiểm tra quán ăn này."
    assert await staff.send(answer) == [text("desk.idle_offer", "vi", code=code, text=answer)]
    yes, _no = staff.buttons()
    assert yes.startswith(f"t:send:{code}:")
    await staff.press(yes)
    await visitor.wait_for(lambda: answer in visitor.texts[-1])
    assert text("status.answered", "vi") in visitor.texts[-1]


async def test_a_sign_in_link_works_once(make_app: AppFactory, browsers: BrowserFactory) -> None:
    app = await make_app(serve_http=True)
    link = await app.sign_in_link("van-phong")
    assert link is not None
    token = link.split("#", 1)[1]
    first, second = await browsers(app), await browsers(app)
    origin = {"Origin": first.base}
    used = await first.client.post("/chat/api/signin", json={"token": token}, headers=origin)
    again = await second.client.post("/chat/api/signin", json={"token": token}, headers=origin)
    assert used.status_code == 200
    assert again.status_code == 403
    assert again.json()["error"] == text("web.signin_failed", "vi")
    unknown = await app.sign_in_link("nobody")
    assert unknown is None


async def test_the_private_link_and_the_code_restore_the_chat_elsewhere(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor, code = await _visitor_with_complaint(app, browsers)
    made = await visitor.post("/chat/api/resume-link", json={})
    link = made.json()["link"]
    assert link.startswith(f"{app.base_url}/chat/resume#")
    token = link.split("#", 1)[1]

    phone = await browsers(app, path="/chat/resume")
    origin = {"Origin": phone.base}
    wrong = await phone.client.post(
        "/chat/api/resume", json={"token": token, "code": "PA-0000-0000"}, headers=origin
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"] == text("web.resume_failed", "vi")
    right = await phone.client.post(
        "/chat/api/resume", json={"token": token, "code": code.lower()}, headers=origin
    )
    assert right.status_code == 200
    await phone.open()
    assert phone.visitor_id == visitor.visitor_id
    await phone.poll()
    assert any(code in t for t in phone.texts), "the earlier conversation is there"


async def test_state_changes_need_the_session_its_csrf_token_and_our_origin(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor = await browsers(app)
    body = {"id": "a1", "text": "/start"}
    no_token = await visitor.client.post("/chat/api/send", json=body)
    wrong_origin = await visitor.post(
        "/chat/api/send", json=body, headers={"Origin": "https://evil.example"}
    )
    async with httpx.AsyncClient(base_url=app.base_url) as stranger:
        no_session = await stranger.post("/chat/api/send", json=body)
    assert (no_token.status_code, wrong_origin.status_code) == (403, 403)
    assert no_token.json()["error"] == text("web.forbidden", "vi")
    assert no_session.status_code == 401
    assert no_session.json()["error"] == text("web.expired", "vi")
    assert await rows(app.db, InboxEvent) == [], "refused requests leave no trace"


async def test_bad_input_gets_a_polite_answer_and_loses_nothing(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor = await browsers(app, language="en")
    assert await visitor.choose_language("en") == [
        text("language.changed", "en"),
        text("consent.ask", "en"),
    ]
    await onboard(visitor, app.config)
    empty = await visitor.post("/chat/api/send", json={"id": "e1", "text": "   "})
    assert (empty.status_code, empty.json()["error"]) == (400, text("web.empty", "en"))
    garbage = await visitor.post("/chat/api/send", content=b"{not json", headers={})
    assert (garbage.status_code, garbage.json()["error"]) == (400, text("web.bad_request", "en"))
    huge = await visitor.post("/chat/api/send", json={"id": "h1", "text": "x" * 20_001})
    assert huge.status_code == 413
    forged = await visitor.press("t:take:PA-9999-9999")
    assert forged == [text("desk.not_allowed", "en")]
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    [too_long] = await visitor.send("y" * 10_000)
    assert too_long == text("submit.too_long", "en", max="4000", count="10000")
    assert "y" * 10_000 in visitor.mine, "what was typed stays in the visitor's chat"


async def test_uploads_are_attached_within_the_limits(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    config = config_with({"limits": {"attachment_max_mb": 1}})
    app = await make_app(serve_http=True, config=config)
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    await visitor.send(COMPLAINT)
    [added] = await visitor.upload("ảnh.jpg", b"\xff\xd8" + b"0" * 1000, "image/jpeg")
    assert added == text("submit.attachment_added", "vi", count="1", max="5")
    assert text("web.attached", "vi", name="ảnh.jpg") in visitor.mine
    too_big = await visitor.post(
        "/chat/api/upload",
        content=b"0" * (1024 * 1024 + 1),
        headers={"X-Event-Id": "big1", "Content-Type": "image/png"},
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"] == text("web.too_big", "vi", mb="1")
    [upload] = await rows(app.db, WebUpload)
    assert (upload.name, upload.size_bytes, upload.content_type) == ("ảnh.jpg", 1002, "image/jpeg")


async def test_sending_too_fast_is_slowed_down(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    config = config_with({"channels": {"web": {"requests_per_minute_session": 5}}})
    app = await make_app(serve_http=True, config=config)
    visitor = await browsers(app)
    answers = [
        await visitor.post("/chat/api/send", json={"id": f"r{i}", "text": "/help"})
        for i in range(6)
    ]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[-1].json()["error"] == text("web.slow_down", "vi")


async def test_sessions_expire_and_cookies_are_guarded(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    now = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    clock = Clock(now)
    app = await make_app(serve_http=True, clock=clock, public_url="https://caunoi.example.org")
    local = f"http://127.0.0.1:{app.http_port}"  # behind the HTTPS proxy of PUBLIC_URL
    visitor = httpx.AsyncClient(base_url=local)
    page = await visitor.get("/chat")
    cookie = page.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/chat"):
        assert flag in cookie
    assert "default-src 'self'" in page.headers["content-security-policy"]
    token = re.search(r"caunoi_session=([^;]+)", cookie)
    assert token is not None
    visitor.cookies.set("caunoi_session", token.group(1))
    clock.now = now + dt.timedelta(days=29)
    alive = await visitor.get("/chat")
    clock.now = now + dt.timedelta(days=29 + 31)
    expired = await visitor.get("/chat/api/updates")
    await visitor.aclose()
    assert "set-cookie" not in alive.headers, "a session in use stays open"
    assert expired.status_code == 401
    assert expired.json()["error"] == text("web.expired", "vi")
    before = await app.db.run(_sessions)
    await app.scheduler.get_job("web-sessions").func()
    assert (before, await app.db.run(_sessions)) == (1, 0), "the nightly job clears it"


async def test_forgetting_deletes_the_web_chat(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    before = [m for m in await rows(app.db, WebMessage) if m.chat_id == visitor.visitor_id]
    await visitor.send("/forget")
    await visitor.press("forget:yes")
    kept = [m for m in await rows(app.db, WebMessage) if m.chat_id == visitor.visitor_id]
    assert len(before) > 5
    assert [m.body["text"] for m in kept] == [text("privacy.forgotten", "vi")]


def _sessions(session: Session) -> int:
    return len(session.exec(select(WebSession)).all())


PHOTO = b"\xff\xd8" + b"1" * 500


async def _complaint_with_photo(app: CauNoi, browsers: BrowserFactory) -> tuple[Browser, str]:
    """A visitor who filed a complaint in Gò Dầu with a photo uploaded from the page."""
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    await visitor.send(COMPLAINT)
    await visitor.upload("bằng chứng.jpg", PHOTO, "image/jpeg")
    return visitor, await send_named(visitor)


async def test_staff_open_the_files_a_visitor_uploaded_and_no_one_else_can(
    make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    staff = await _staff(app, browsers)
    visitor, code = await _complaint_with_photo(app, browsers)
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    [card] = [e for e in staff.events.values() if code in e["text"] and e.get("choices")]
    assert f"t:files:{code}" in [c for row in card["choices"] for c, _ in row]

    [shown] = await staff.press(f"t:files:{code}")
    assert shown == text("desk.file", "vi", code=code, kind="ảnh", number="1/1")
    [message] = [e for e in staff.events.values() if e["text"] == shown]
    page = await staff.client.get("/chat/api/updates", params={"after": message["id"] - 1})
    assert page.json()["events"][0]["file"] == {"kind": "photo"}, "no stored reference leaks"
    download = await staff.client.get(f"/chat/api/file/{message['id']}")
    assert download.status_code == 200
    assert download.content == PHOTO
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    elsewhere = await visitor.client.get(f"/chat/api/file/{message['id']}")
    assert elsewhere.status_code == 404, "a file is only for the chat it was shown in"
    assert elsewhere.json()["error"] == text("web.no_file", "vi")


async def test_a_photo_uploaded_on_the_web_reaches_telegram_staff_as_a_photo(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True, config=desk_config())
    _visitor, code = await _complaint_with_photo(app, browsers)
    desk = Desk(fake, app)
    await desk.cards_reach(code, GO_DAU_GROUP, AN)
    [shown] = await desk.press(AN, f"t:files:{code}", sends=1)
    assert shown.method == "sendPhoto"
    assert shown.params["caption"] == text("desk.file", "vi", code=code, kind="ảnh", number="1/1")
    uploaded = shown.params["photo"]
    assert uploaded["filename"] == "bằng chứng.jpg"
    assert uploaded["content"] == PHOTO.decode("utf-8", "replace")
    [again] = await desk.press(AN, f"t:files:{code}", chat=GO_DAU_GROUP, sends=1)
    assert again.params["photo"].startswith("uploaded-"), "uploaded once, then by Telegram's id"


async def test_staff_on_the_web_open_a_photo_sent_through_telegram(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    staff = await _staff(app, browsers)
    youth = Chat(fake, app, 6100)
    await onboard(youth, app.config)
    await youth.press("menu:complaint")
    await youth.press(youth.buttons()[0])
    await youth.send(COMPLAINT)
    photo = [{"file_id": "tg-photo", "file_unique_id": "u1", "width": 800, "height": 600}]
    await youth.send(None, photo=photo)
    code = await send_named(youth)
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    [shown] = await staff.press(f"t:files:{code}")
    assert shown == text("desk.file", "vi", code=code, kind="ảnh", number="1/1")
    [message] = [e for e in staff.events.values() if e["text"] == shown]
    download = await staff.client.get(f"/chat/api/file/{message['id']}")
    assert download.status_code == 200
    assert download.content == file_content("files/tg-photo"), "fetched from the Bot API"
    assert [c.params["file_id"] for c in fake.calls if c.method == "getFile"] == ["tg-photo"]
