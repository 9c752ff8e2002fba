"""The chat page as a browser gets it over real HTTP: installable (manifest, icons, favicon,
cached static files), greeting a new visitor at once, and remembering pressed buttons."""

import asyncio
import json
import secrets
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import CauNoi
from bot.domain.i18n import text
from storage.models import WebMessage
from tests.conftest import AppFactory, rows
from tests.dialogue import onboard
from tests.webchat import Browser

ORGANISATION = "Tỉnh đoàn Tây Ninh"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def app(make_app: AppFactory) -> CauNoi:
    """The app with its HTTP port open."""
    return await make_app(serve_http=True)


@pytest.fixture
async def http(app: CauNoi) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client on the app."""
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        yield client


@pytest.fixture
async def visitor(app: CauNoi) -> AsyncIterator[Browser]:
    """A browser that has opened the chat page (a new session, nothing sent)."""
    browser = Browser(app)
    await browser.open()
    yield browser
    await browser.close()


def png_size(content: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    assert content.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", content[16:24])
    return width, height


async def hello(browser: Browser) -> dict[str, Any]:
    """What the page posts when it opens."""
    response = await browser.post("/chat/api/hello", json={})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# ---- installable ------------------------------------------------------------------------


async def test_the_manifest_names_the_chat_and_its_icons(http: httpx.AsyncClient) -> None:
    response = await http.get("/chat/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["name"] == text("web.title", "vi", organisation=ORGANISATION)
    assert (manifest["short_name"], manifest["lang"]) == ("Cầu Nối", "vi")
    assert (manifest["start_url"], manifest["display"]) == ("/chat", "standalone")
    assert manifest["theme_color"] == "#0b5cad"
    purposes = {icon["sizes"]: icon.get("purpose", "any") for icon in manifest["icons"]}
    assert purposes.keys() == {"192x192", "512x512"}
    assert "maskable" in [icon.get("purpose") for icon in manifest["icons"]]
    for icon in manifest["icons"]:
        served = await http.get(icon["src"])
        assert (served.status_code, served.headers["content-type"]) == (200, "image/png")
        width, height = png_size(served.content)
        assert f"{width}x{height}" == icon["sizes"], icon["src"]


@pytest.mark.parametrize(
    ("path", "content_type", "size"),
    [
        ("/chat/static/apple-touch-icon.png", "image/png", (180, 180)),
        ("/chat/static/icon-32.png", "image/png", (32, 32)),
        ("/favicon.ico", "image/x-icon", None),
    ],
)
async def test_icons_are_served_as_images(
    http: httpx.AsyncClient, path: str, content_type: str, size: tuple[int, int] | None
) -> None:
    response = await http.get(path)
    assert (response.status_code, response.headers["content-type"]) == (200, content_type)
    if size is None:
        assert response.content.startswith(b"\x00\x00\x01\x00"), "an ICO file"
    else:
        assert png_size(response.content) == size
    assert response.headers["cache-control"] == "public, max-age=604800"


async def test_the_page_links_its_manifest_icons_and_theme(visitor: Browser) -> None:
    page = (await visitor.client.get("/chat")).text
    assert '<link rel="manifest" href="/chat/manifest.webmanifest">' in page
    assert '<link rel="icon" href="/favicon.ico"' in page
    assert '<link rel="apple-touch-icon" href="/chat/static/apple-touch-icon.png">' in page
    assert '<meta name="theme-color" content="#0b5cad">' in page


async def test_static_files_are_cached_and_revalidated(http: httpx.AsyncClient) -> None:
    script = await http.get("/chat/static/chat.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=3600"
    assert script.headers["x-content-type-options"] == "nosniff"
    again = await http.get(
        "/chat/static/chat.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    icon = await http.get("/chat/static/icon-192.png")
    assert icon.headers["etag"] != script.headers["etag"]
    assert (await http.get("/chat/static/../config.py")).status_code == 404
    assert (await http.get("/chat/static/page.html")).status_code == 404


# ---- the greeting -------------------------------------------------------------------------


async def test_a_new_visitor_is_greeted_without_typing_anything(visitor: Browser) -> None:
    assert await hello(visitor) == {"ok": True, "greeted": True}
    await visitor.wait_for(lambda: len(visitor.texts) == 2)
    greeting, consent = visitor.texts
    assert greeting == text("welcome.greeting", "vi", organisation=ORGANISATION)
    assert consent == text("consent.ask", "vi")
    assert "consent:yes" in visitor.buttons()
    assert visitor.mine == [], "nothing shows as typed by the visitor"


async def test_reloads_and_a_second_tab_greet_only_once(app: CauNoi, visitor: Browser) -> None:
    await asyncio.gather(hello(visitor), hello(visitor))  # two tabs opened at once
    await visitor.wait_for(lambda: len(visitor.texts) >= 2)
    await app.outbox.drain()
    assert len(await rows(app.db, WebMessage)) == 2, "one greeting and one consent question"
    await visitor.open()  # a reload, before answering the consent question
    assert await hello(visitor) == {"ok": True, "greeted": False}
    await app.outbox.drain()
    assert len(await rows(app.db, WebMessage)) == 2, "the greeting was not sent again"


async def test_a_returning_visitor_is_not_greeted_again(app: CauNoi, visitor: Browser) -> None:
    await onboard(visitor, app.config)
    said = len(visitor.texts)
    await visitor.open()
    assert await hello(visitor) == {"ok": True, "greeted": False}
    await app.outbox.drain()
    await visitor.catch_up()
    assert len(visitor.texts) == said


async def test_hello_needs_the_session_and_its_token(app: CauNoi, visitor: Browser) -> None:
    no_token = await visitor.client.post("/chat/api/hello", json={})
    async with httpx.AsyncClient(base_url=app.base_url) as stranger:
        no_session = await stranger.post("/chat/api/hello", json={})
    assert (no_token.status_code, no_session.status_code) == (403, 401)
    assert no_session.json()["error"] == text("web.expired", "vi")
    assert await rows(app.db, WebMessage) == []


# ---- pressed buttons ----------------------------------------------------------------------


async def press_on(browser: Browser, message: Any, choice: str) -> None:
    """Press a button as the page does: with the id of the message it is under."""
    body = {"id": secrets.token_hex(8), "choice": choice, "message": message}
    response = await browser.post("/chat/api/send", json=body)
    assert response.status_code == 200, response.text


async def test_the_pressed_button_is_kept_with_its_message(app: CauNoi, visitor: Browser) -> None:
    await hello(visitor)
    await visitor.wait_for(lambda: len(visitor.texts) == 2)
    consent_id = max(visitor.events)
    await press_on(visitor, consent_id, "consent:yes")
    await visitor.wait_for(lambda: len(visitor.texts) > 2)

    reloaded = Browser(app)
    reloaded.client.cookies = visitor.client.cookies
    await reloaded.open()
    await reloaded.poll()  # the whole chat, as after a reload
    assert reloaded.events[consent_id]["pressed"] == "consent:yes"
    assert all("pressed" not in e for first, e in reloaded.events.items() if first != consent_id)
    await reloaded.close()


@pytest.mark.parametrize(
    ("message", "choice"),
    [
        ("own", "consent:nonsense"),  # not a button of that message
        ("other", "consent:yes"),  # a message of another chat
        ("missing", "consent:yes"),  # no such message
        ("text", "consent:yes"),  # not a number
        ("huge", "consent:yes"),  # larger than any row id
    ],
)
async def test_a_press_marks_only_a_button_of_ones_own_message(
    app: CauNoi, visitor: Browser, message: str, choice: str
) -> None:
    other = Browser(app)
    await other.open()
    await hello(other)
    await other.wait_for(lambda: len(other.texts) == 2)
    await hello(visitor)
    await visitor.wait_for(lambda: len(visitor.texts) == 2)
    ids = {
        "own": max(visitor.events),
        "other": max(other.events),
        "missing": 10**9,
        "huge": 10**30,
    }
    await press_on(visitor, ids.get(message, "12"), choice)
    await app.outbox.drain()
    assert [m.id for m in await rows(app.db, WebMessage) if "pressed" in m.body] == []
    await other.close()
