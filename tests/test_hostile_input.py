"""Hostile and odd input over real HTTP: every route answers it politely (4xx, a catalog
message in the person's language where the page shows one), never with a 500."""

from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.domain.i18n import text
from storage.models import InboxEvent, Ticket, WebSession
from tests.conftest import AppFactory, config_with, rows
from tests.dialogue import onboard
from tests.webchat import Browser

HUGE = "99999999999999999999999"
TOKEN = "a" * 20
SURROGATE_CODE = b'{"token": "%s", "code": "\\ud800"}' % TOKEN.encode()
# (method, path, request arguments, status, catalog key of the JSON error or None)
CASES: list[tuple[str, str, dict[str, Any], int, str | None]] = [
    ("POST", "/chat/api/send", {"content": b"[" * 50_000}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"content": b"{" * 50_000}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"content": b"\xff\xfe"}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"content": b"null"}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"json": [1, 2]}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"json": "text"}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"json": {"text": 5}}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"json": {"id": 5, "text": "hi"}}, 400, "web.bad_request"),
    ("POST", "/chat/api/send", {"json": {"id": "x1", "text": 5}}, 400, "web.empty"),
    ("POST", "/chat/api/send", {"json": {"id": "x2", "text": None}}, 400, "web.empty"),
    ("POST", "/chat/api/send", {"json": {"id": "x3", "choice": 5}}, 400, "web.empty"),
    ("POST", "/chat/api/send", {"json": {"id": "x4", "text": ["a"]}}, 400, "web.empty"),
    ("POST", "/chat/api/send", {"content": b'{"id": "x5", "text": 1e999}'}, 400, "web.empty"),
    ("POST", "/chat/api/language", {"json": {"id": "l1", "language": ["vi"]}}, 400, None),
    ("POST", "/chat/api/language", {"json": {"id": "l2", "language": {"a": 1}}}, 400, None),
    ("POST", "/chat/api/language", {"json": {"language": "en"}}, 400, "web.bad_request"),
    ("POST", "/chat/api/resume", {"json": {"token": 5, "code": "x"}}, 400, "web.resume_failed"),
    ("POST", "/chat/api/resume", {"json": {"token": TOKEN, "code": ["PA"]}}, 400, None),
    ("POST", "/chat/api/resume", {"json": {"token": TOKEN, "code": "PA\x00"}}, 403, None),
    ("POST", "/chat/api/resume", {"content": SURROGATE_CODE}, 403, "web.resume_failed"),
    (
        "POST",
        "/chat/api/send",
        {"content": b'{"id": "s1", "choice": "\\ud800\\u0000"}'},
        200,
        None,
    ),
    ("POST", "/chat/api/resume", {"json": []}, 400, "web.bad_request"),
    ("POST", "/chat/api/signin", {"json": {"token": {"a": 1}}}, 400, "web.signin_failed"),
    ("POST", "/chat/api/signin", {"json": {"token": "inv_\x00\x00\x00\x00"}}, 400, None),
    ("POST", "/chat/api/signin", {"content": b"[" * 50_000}, 400, "web.bad_request"),
    ("GET", f"/chat/api/updates?after={HUGE}", {}, 400, "web.bad_request"),
    ("GET", "/chat/api/updates?after=-1", {}, 400, "web.bad_request"),
    ("GET", "/chat/api/updates?after=%D9%A3", {}, 400, "web.bad_request"),
    ("GET", "/chat/api/updates?after=1e5", {}, 400, "web.bad_request"),
    ("GET", f"/chat/api/file/{HUGE}", {}, 404, "web.no_file"),
    ("GET", "/chat/api/file/0", {}, 404, "web.no_file"),
    ("GET", "/chat/api/file/-1", {}, 404, "web.no_file"),
    ("GET", "/chat/api/file/abc", {}, 404, "web.no_file"),
    ("GET", "/chat/api/file/%00", {}, 404, "web.no_file"),
    ("GET", "/chat/static/%00", {}, 404, None),
    ("GET", "/news/photo/%00", {}, 404, None),
    ("GET", f"/news/photo/PA-2611-{HUGE}", {}, 404, None),
    ("GET", "/news/photo/PA-2611-0001%C0", {}, 404, None),
    ("GET", "/chat?x=%00&after=%FF", {}, 200, None),
]


@pytest.mark.parametrize(("method", "path", "sent", "status", "key"), CASES)
async def test_odd_requests_get_a_polite_refusal_never_a_500(
    make_app: AppFactory,
    method: str,
    path: str,
    sent: dict[str, Any],
    status: int,
    key: str | None,
) -> None:
    app = await make_app(serve_http=True)
    browser = Browser(app, language="en")
    browser.client.cookies.set("caunoi_lang", "en")  # chosen on the page: refusals follow it
    await browser.open()
    headers = {"Origin": browser.base}
    if method == "POST":
        answer = await browser.post(path, headers=headers, **sent)
    else:
        answer = await browser.client.get(path)
    await browser.close()
    assert answer.status_code == status, answer.text
    if key is not None:
        assert answer.json() == {"error": text(key, "en")}
    assert not [e for e in await rows(app.db, InboxEvent) if e.status != "done"]


async def test_a_session_cookie_of_any_shape_is_no_session(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    odd = ["%00", "a" * 5000, "x;y", TOKEN]
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        for value in odd:
            client.cookies.set("caunoi_session", value, path="/chat")
            answer = await client.get("/chat/api/updates")
            assert answer.status_code == 401, value
            assert answer.json() == {"error": text("web.expired", "vi")}


async def test_only_invisible_characters_are_too_short_on_the_web_too(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    visitor = Browser(app)
    await visitor.open()
    await onboard(visitor, app.config)
    await visitor.press("menu:complaint")
    await visitor.press(visitor.buttons()[0])
    [refused] = await visitor.send("\u200b" * 12)
    assert refused == text("submit.too_short", "vi", min="10", count="0")
    [ask_files] = await visitor.send("Đèn\x00 đường\u202e hẻm 5\x1b hư đã hai tuần.\u200b")
    assert visitor.mine[-1] == "Đèn đường hẻm 5 hư đã hai tuần.", "the chat shows it clean"
    await visitor.close()
    assert ask_files.startswith(text("submit.attachments_ask", "vi", max="5", mb="20", count="0"))
    assert await rows(app.db, Ticket) == []


async def test_pages_without_a_cookie_open_few_sessions_per_address(
    make_app: AppFactory,
) -> None:
    config = config_with({"channels": {"web": {"sessions_per_hour_address": 3}}})
    app = await make_app(serve_http=True, config=config)
    answers = []
    for _ in range(5):  # a new client each time: no cookie is ever sent back
        async with httpx.AsyncClient(base_url=app.base_url) as client:
            answers.append(await client.get("/chat"))
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert text("web.slow_down", "vi") in answers[-1].text
    assert "set-cookie" not in answers[-1].headers
    opened = await app.db.run(lambda s: len(s.exec(select(WebSession)).all()))
    assert opened == 3, "no session row beyond the cap"
