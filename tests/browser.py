"""What the browser tests share: Debian's chromium, a phone-sized page, where screenshots go,
and the steps a visitor and a staff member take on the page."""

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from bot.app import CauNoi
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "build" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
COMPLAINT = "Bãi rác tự phát cạnh chợ Gò Dầu bốc mùi, <b>mong</b> Đoàn phường vào cuộc."
VISITOR_NAME = "Lê Thị Hoa"
ANSWER = "Đoàn phường đã phối hợp tổ dân phố dọn bãi rác vào sáng thứ Bảy."

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on this machine (Debian: apt-get install chromium; .ci/run does it)",
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium, headless, closed after."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def phone_page(browser: Browser) -> Page:
    """A new phone-sized page in a browser context of its own (its own cookies)."""
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    return await context.new_page()


async def screenshot(page: Page, name: str) -> None:
    """Keep what the page shows now as build/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png")


async def press(page: Page, choice: str) -> None:
    """Press the newest button with this choice id (older copies may still be on the page)."""
    await page.locator(f'button[data-choice="{choice}"]').last.click()


async def say(page: Page, words: str) -> None:
    """Type words in the composer and send them."""
    await page.fill("#text", words)
    await page.press("#text", "Enter")


async def onboard(page: Page, app: CauNoi) -> None:
    """Open the chat, agree, and give Gò Dầu as one's unit (age and work skipped)."""
    await page.goto(f"{app.base_url}/chat")
    await press(page, "consent:yes")
    await say(page, "go dau")
    unit = app.config.find_unit("Gò Dầu")
    assert unit is not None
    await press(page, f"unit:{unit.code}")
    await press(page, "age:skip")
    await press(page, "work:skip")


async def file_complaint(
    page: Page, app: CauNoi, *, words: str = COMPLAINT, name: str = VISITOR_NAME
) -> str:
    """Onboard and file a complaint with one's name through the page (the web gives none: it
    is asked once, and the contact skipped); return its code."""
    await onboard(page, app)
    await press(page, "menu:complaint")
    await page.locator('button[data-choice^="cat:"]').first.click()
    await say(page, words)
    await press(page, "att:done")
    await press(page, "anon:no")
    await expect(page.locator('button[data-choice="name:anonymous"]').last).to_be_visible()
    await say(page, name)
    await press(page, "contact:skip")
    await press(page, "preview:send")
    return await reference_code(page)


async def reference_code(page: Page) -> str:
    """The reference code of the newest receipt on the page."""
    receipt = page.locator(".msg.bot", has_text=re.compile(r"PA-\d{4}-\d{4}")).last
    await expect(receipt).to_be_visible()
    found = re.search(r"PA-\d{4}-\d{4}", await receipt.inner_text())
    assert found is not None
    return found.group()


async def sign_in_staff(browser: Browser, app: CauNoi, code: str = "nguyen-van-an") -> Page:
    """A staff member opens their one-time link in their own browser and signs in."""
    link = await app.sign_in_link(code)
    assert link is not None
    page = await phone_page(browser)
    await page.goto(link)
    await page.click("#signin-go")
    await expect(page.locator("#staff-badge")).to_be_visible()
    return page


async def answer(page: Page, code: str, words: str = ANSWER) -> None:
    """Take the new card's submission and answer it."""
    await press(page, f"t:take:{code}")
    await press(page, f"t:reply:{code}")
    await expect(page.locator(".msg.bot").last).to_contain_text(code)
    await say(page, words)
