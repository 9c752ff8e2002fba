"""The chat on another website in a real headless Chromium: a page of "the Union's site"
(a tiny server of this test's own, reached as http://localhost:<port> while the app is
http://127.0.0.1:<port>, so the two are different sites) carries only the one-line snippet.
Its chat button opens the chat in a panel, one can agree to the consent inside the frame,
the panel and the conversation are still there after a reload, and a site not listed in
embed_origins gets no chat in its frame."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Page, expect

from bot.app import CauNoi
from bot.domain.i18n import text
from tests.browser import PHONE, chromium, needs_chromium, screenshot
from tests.conftest import AppFactory, config_with

pytestmark = needs_chromium
DESKTOP = {"width": 1280, "height": 800}
LONGER = 30_000  # ms: the first long poll may hold the greeting back up to poll_seconds


class UnionSite:
    """A one-page website on 127.0.0.1 (port 0), reached as http://localhost:<port>; its
    page carries the snippet (set once the app's address is known)."""

    def __init__(self) -> None:
        self.snippet = ""
        self.origin = ""
        self.language = "vi"

    def page(self) -> bytes:
        """The site's page: a heading, a paragraph, and the snippet alone."""
        return (
            f'<!doctype html><html lang="{self.language}"><head><meta charset="utf-8">'
            "<title>Tỉnh đoàn Tây Ninh</title></head><body><h1>Tin tức Tỉnh đoàn Tây Ninh</h1>"
            "<p>Trang thử.</p>"
            f"{self.snippet}</body></html>"
        ).encode()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer any request with the page."""
        await reader.readuntil(b"\r\n\r\n")
        body = self.page()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()


@asynccontextmanager
async def union_site() -> AsyncIterator[UnionSite]:
    """The Union's website, served until the end of the block."""
    site = UnionSite()
    server = await asyncio.start_server(site.serve, "127.0.0.1", 0)
    site.origin = f"http://localhost:{server.sockets[0].getsockname()[1]}"
    try:
        yield site
    finally:
        server.close()
        await server.wait_closed()


def _labels(app: CauNoi, language: str = "vi") -> tuple[str, str]:
    organisation = str(getattr(app.config.raw.organisation.name, language))
    return (
        text("embed.open", language, organisation=organisation),
        text("embed.title", language, organisation=organisation),
    )


async def _started(make_app: AppFactory, site: UnionSite, **web: Any) -> CauNoi:
    """The app, whose page the site's snippet loads."""
    config = config_with({"channels": {"web": {"poll_seconds": 2, **web}}})
    app = await make_app(serve_http=True, config=config)
    site.snippet = f'<script src="{app.base_url}/chat/embed.js" async></script>'
    return app


async def _site_page(site: UnionSite, browser: Any) -> Page:
    context = await browser.new_context(viewport=DESKTOP, locale="vi-VN")
    page: Page = await context.new_page()
    await page.goto(f"{site.origin}/")
    return page


@pytest.mark.slow
async def test_the_snippet_opens_the_chat_in_a_panel_on_a_listed_site(
    make_app: AppFactory,
) -> None:
    async with union_site() as site, chromium() as browser:
        app = await _started(make_app, site, embed_origins=[site.origin])
        await _check_listed_site(app, site, browser)


async def _check_listed_site(app: CauNoi, site: UnionSite, browser: Any) -> None:
    opening, title = _labels(app)
    page = await _site_page(site, browser)
    launcher = page.get_by_role("button", name=opening)
    await expect(launcher).to_be_visible()
    await expect(launcher).to_have_css("background-color", "rgb(11, 92, 173)")  # #0b5cad
    await screenshot(page, "embed-closed")

    await page.keyboard.press("Tab")  # the only control on the page: reached by keyboard
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name=title)
    await expect(panel).to_be_visible()
    chat = page.frame_locator(f'iframe[title="{title}"]')
    consent = chat.locator('button[data-choice="consent:yes"]').last
    await expect(consent).to_be_visible(timeout=LONGER)
    await consent.click()
    asked = chat.locator(".msg.bot", has_text=text("unit.ask", "vi"))
    await expect(asked).to_be_visible(timeout=LONGER)
    await expect(chat.locator("header h1")).to_be_hidden()  # the panel's bar names us once
    await screenshot(page, "embed-open")
    await chat.locator("#text").press("Escape")  # the keys go to the frame: it tells the site
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()
    await launcher.click()
    await expect(panel).to_be_visible()

    await page.reload()  # open across page loads, and the same conversation (its cookie)
    await expect(panel).to_be_visible()
    await expect(asked).to_be_visible(timeout=LONGER)

    await page.set_viewport_size(PHONE)
    box = await panel.bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844), "full screen"
    await screenshot(page, "embed-phone")
    await page.get_by_role("button", name=text("embed.close", "vi")).first.click()
    await expect(panel).to_be_hidden()
    await page.reload()
    await expect(launcher).to_be_visible()
    await expect(panel).to_be_hidden()  # closed is remembered too


@pytest.mark.slow
async def test_a_site_not_listed_gets_no_chat_in_its_frame(make_app: AppFactory) -> None:
    async with union_site() as site, chromium() as browser:
        app = await _started(make_app, site, embed_origins=["https://tinhdoantayninh.vn"])
        site.language = "en"  # the button speaks the page's language
        opening, title = _labels(app, "en")
        page = await _site_page(site, browser)
        async with page.expect_response(f"{app.base_url}/chat?embed=1") as loaded:
            await page.get_by_role("button", name=opening).click()
        response = await loaded.value
        assert "frame-ancestors 'self' https://tinhdoantayninh.vn" in (
            await response.header_value("content-security-policy") or ""
        )
        frame = await page.locator(f'iframe[title="{title}"]').element_handle()
        assert frame is not None
        inner = await frame.content_frame()
        assert inner is not None
        await inner.wait_for_load_state()
        await expect(inner.locator("#log")).to_have_count(0)
        assert inner.url.startswith("chrome-error://"), inner.url
