"""The chat on the Union's website over real HTTP: /chat/embed.js, who may frame the chat page
(and that nobody may frame the others), the framed chat's session cookie, the embed_origins
setting, and the /news items' own titles with their link to the chat."""

import datetime as dt
import re
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from bot.config import ConfigError, parse_config
from bot.domain.i18n import text
from bot.domain.publishing import TITLE_CHARS, story_title
from bot.news import ATOM
from tests.conftest import AppFactory, Clock, config_data, config_with
from tests.desk import BINH, CODE, YOUTH, Desk, desk_config
from tests.dialogue import Chat, onboard
from tests.fake_telegram import FakeTelegram

SITE = "https://tinhdoantayninh.vn"
FRAMED = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}  # as Chromium sends
SESSION = re.compile(r"caunoi_session=([^;]+)")
CSRF = re.compile(r'data-csrf="([^"]+)"')
# 07:30 in Tây Ninh on Tuesday 24/11/2026: the daily post's slot.
SLOT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)


def _web(**web: Any) -> Any:
    return config_with({"channels": {"web": web}})


def _frame_ancestors(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    found = re.search(r"frame-ancestors ([^;]+)", policy)
    assert found, policy
    return found.group(1).strip()


async def test_the_embed_script_is_javascript_cached_an_hour_with_both_languages_labels(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        script = await client.get("/chat/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=3600"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in script.headers, "loading the script opens no session"
    names = app.config.raw.organisation.name
    for language, name in (("vi", names.vi), ("en", names.en)):
        label = text("embed.open", language, organisation=name)
        assert f'"open": "{label}"' in script.text
    assert "__CAUNOI_LABELS__" not in script.text
    assert "innerHTML" not in script.text
    assert "insertAdjacentHTML" not in script.text
    assert "document.currentScript" in script.text, "it finds our origin in its own src"


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        ([], "'self'"),
        ([SITE], f"'self' {SITE}"),
        ([SITE, "http://localhost:8000"], f"'self' {SITE} http://localhost:8000"),
    ],
)
async def test_only_our_pages_and_the_listed_sites_may_frame_the_chat(
    make_app: AppFactory, origins: list[str], expected: str
) -> None:
    app = await make_app(serve_http=True, config=_web(embed_origins=origins))
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get("/chat")
    assert page.status_code == 200
    assert _frame_ancestors(page) == expected
    assert "x-frame-options" not in page.headers, "DENY would block the listed sites"
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/chat/resume", "/chat/signin", "/news"])
async def test_no_other_page_may_be_framed_even_by_a_listed_site(
    make_app: AppFactory, path: str
) -> None:
    app = await make_app(serve_http=True, config=_web(embed_origins=[SITE]))
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get(path)
    assert page.status_code == 200
    assert _frame_ancestors(page) == "'none'"
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("public_url", "headers", "flags", "absent"),
    [
        # Framed on another site over https: the only cookie a browser sends in that frame.
        ("https://caunoi.example.org", FRAMED, ["SameSite=None", "Secure", "Partitioned"], []),
        # The direct page keeps Lax.
        ("https://caunoi.example.org", {}, ["SameSite=lax", "Secure"], ["Partitioned"]),
        # Over plain http no browser keeps a Secure cookie: Lax (the panel cannot keep a
        # session there, which only a test or a demo would do).
        ("http://caunoi.example.org", FRAMED, ["SameSite=lax"], ["Secure", "Partitioned"]),
        # This machine counts as secure for browsers, so a framed test gets the real thing.
        (None, FRAMED, ["SameSite=None", "Secure", "Partitioned"], []),
    ],
)
async def test_a_framed_chat_gets_a_cookie_its_frame_sends_back(
    make_app: AppFactory,
    public_url: str | None,
    headers: dict[str, str],
    flags: list[str],
    absent: list[str],
) -> None:
    app = await make_app(serve_http=True, public_url=public_url)
    local = f"http://127.0.0.1:{app.http_port}"
    async with httpx.AsyncClient(base_url=local) as client:
        page = await client.get("/chat", headers=headers)
    cookie = page.headers["set-cookie"]
    for flag in ["HttpOnly", "Path=/chat", *flags]:
        assert flag in cookie, cookie
    for flag in absent:
        assert flag not in cookie, cookie


async def test_the_framed_chat_talks_to_its_own_origin_and_a_framing_sites_origin_is_refused(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True, config=_web(embed_origins=[SITE]))
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get("/chat?embed=1")
        token, csrf = SESSION.search(page.headers["set-cookie"]), CSRF.search(page.text)
        assert token
        assert csrf
        # httpx keeps no Secure cookie over http (browsers do on 127.0.0.1): sent by hand.
        session = {"Cookie": f"caunoi_session={token.group(1)}", "X-CSRF-Token": csrf.group(1)}
        start = {"id": "embed-start", "text": "/start"}
        # Inside the frame, the page's requests come from the frame's origin: ours.
        ours = await client.post(
            "/chat/api/send", json=start, headers={**session, "Origin": app.base_url}
        )
        theirs = await client.post(
            "/chat/api/send", json={**start, "id": "e2"}, headers={**session, "Origin": SITE}
        )
        news = await client.get("/chat/api/updates", headers=session)
    assert ours.status_code == 200
    assert (theirs.status_code, theirs.json()["error"]) == (403, text("web.forbidden", "vi"))
    greeting = text("welcome.greeting", "vi", organisation=app.config.raw.organisation.name.vi)
    assert next(e["text"] for e in news.json()["events"] if e["outgoing"]) == greeting


@pytest.mark.parametrize(
    "origin",
    [
        "tinhdoantayninh.vn",
        "https://tinhdoantayninh.vn/",
        "https://tinhdoantayninh.vn/chat",
        "https://*.tinhdoantayninh.vn",
        "ftp://tinhdoantayninh.vn",
        "https://tinhdoantayninh.vn; script-src *",
        "https://user@tinhdoantayninh.vn",
        "'self'",
        "",
    ],
)
def test_config_refuses_anything_but_an_origin_and_names_the_key(origin: str) -> None:
    data = config_data({"channels": {"web": {"embed_origins": [origin]}}})
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    message = str(refused.value)
    assert message.startswith("channels.web.embed_origins: ")
    assert "is not a website's origin" in message
    assert "https://tinhdoantayninh.vn" in message


def test_config_takes_origins_with_ports_and_keeps_them_lowercase() -> None:
    given = ["https://TinhDoanTayNinh.vn", "http://localhost:8000", "https://10.0.0.5:8443"]
    config = _web(embed_origins=given)
    assert config.raw.channels.web.embed_origins == (
        "https://tinhdoantayninh.vn",
        "http://localhost:8000",
        "https://10.0.0.5:8443",
    )
    assert _web().raw.channels.web.embed_origins == (), "none by default"


LONG = "Đội thanh niên tình nguyện phường Gò Dầu sửa xe đạp miễn phí cho học sinh nghèo mỗi sáng"


@pytest.mark.parametrize(
    ("story", "title"),
    [
        ("Bạn Minh nhặt được ví và trả lại. Bà cụ cảm ơn.", "Bạn Minh nhặt được ví và trả lại."),
        ("Nhặt được ví\nBạn Minh trả ví cho bà cụ.", "Nhặt được ví"),
        ("\n\n  Sửa xe   miễn phí!  Mỗi sáng.", "Sửa xe miễn phí!"),
        ("Có ai giúp không? Có chứ.", "Có ai giúp không?"),
        (LONG, "Đội thanh niên tình nguyện phường Gò Dầu sửa xe đạp miễn…"),
        ("x" * 100, "x" * (TITLE_CHARS - 1) + "…"),
        ("", ""),
    ],
)
def test_a_storys_title_is_its_first_line_up_to_its_first_sentence(story: str, title: str) -> None:
    assert story_title(story) == title
    assert len(story_title(story)) <= TITLE_CHARS


async def _published_story(fake: FakeTelegram, make_app: AppFactory, body: str) -> Any:
    """A story filed on Telegram, approved by a moderator and posted at the daily slot."""
    clock = Clock(SLOT - dt.timedelta(hours=1))
    config = desk_config(channels={"telegram": {"public_channel_id": -1003}})
    app = await make_app(config=config, clock=clock, serve_http=True)
    desk = Desk(fake, app)
    chat = Chat(fake, app, YOUTH)
    await onboard(chat, app.config, unit="Phường Gò Dầu")
    await chat.press("menu:story")
    await chat.press(chat.buttons()[0])
    await chat.send(body)
    await chat.press("att:done")
    await chat.press("pub:named")
    receipt, _menu = await chat.press("preview:send", replies=2)
    code = CODE.search(receipt)
    assert code, receipt
    await desk.press(BINH, f"m:ok:{code.group()}", sends=3)
    clock.now = SLOT
    await desk.after(lambda: app.publisher.daily(clock.now), sends=4)
    return app


async def test_news_items_carry_their_storys_title_and_a_link_to_tell_yours(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    body = "Bạn Minh nhặt được ví và trả lại. Bà cụ cảm ơn cả đoàn phường."
    app = await _published_story(fake, make_app, body)
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = await client.get("/news")
        feed = await client.get("/news/feed.xml")
    title = "Bạn Minh nhặt được ví và trả lại."
    tell = text("embed.tell_yours", "vi")
    assert page.status_code == 200
    assert f"<h2>{title}</h2>" in page.text
    assert f'<a class="tell" href="/chat">{tell}</a></article>' in page.text, "on each item"
    assert page.text.count(f">{tell}</a>") == 2, "the item's and the header's"
    entry = ET.fromstring(feed.content).find(f"{{{ATOM}}}entry")
    assert entry is not None
    assert entry.findtext(f"{{{ATOM}}}title") == title, "not the heading every post shares"
