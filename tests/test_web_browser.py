"""The web chat in a real headless Chromium: a visitor files a complaint on a phone-sized
page, a staff member answers from a second browser, the visitor's page shows the answer
without a reload. Screenshots of both sides go to build/screenshots/."""

import re
import shutil

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from bot.app import CauNoi
from bot.domain.i18n import text
from tests.conftest import ROOT, AppFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "build" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
COMPLAINT = "Bãi rác tự phát cạnh chợ Gò Dầu bốc mùi, <b>mong</b> Đoàn phường vào cuộc."
ANSWER = "Đoàn phường đã phối hợp tổ dân phố dọn bãi rác vào sáng thứ Bảy."

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on this machine (Debian: apt-get install chromium; .ci/run does it)",
)


async def _press(page: Page, choice: str) -> None:
    """Press the newest button with this choice id (older copies may still be on the page)."""
    await page.locator(f'button[data-choice="{choice}"]').last.click()


async def _say(page: Page, words: str) -> None:
    await page.fill("#text", words)
    await page.press("#text", "Enter")


async def _file_complaint(page: Page, app: CauNoi) -> str:
    """Onboard and file a complaint through the page, as a visitor would; return its code."""
    await page.goto(f"{app.base_url}/chat")
    await _press(page, "consent:yes")
    await _say(page, "go dau")
    unit = app.config.find_unit("Gò Dầu")
    assert unit is not None
    await _press(page, f"unit:{unit.code}")
    await _press(page, "age:skip")
    await _press(page, "work:skip")
    await _press(page, "menu:complaint")
    await page.locator('button[data-choice^="cat:"]').first.click()
    await _say(page, COMPLAINT)
    await _press(page, "att:done")
    await _press(page, "anon:no")
    await _press(page, "preview:send")
    receipt = page.locator(".msg.bot", has_text=re.compile(r"PA-\d{4}-\d{4}")).last
    await expect(receipt).to_be_visible()
    found = re.search(r"PA-\d{4}-\d{4}", await receipt.inner_text())
    assert found is not None
    return found.group()


async def _sign_in_staff(browser: Browser, app: CauNoi) -> Page:
    """Nguyễn Văn An opens his one-time link in his own browser and signs in."""
    link = await app.sign_in_link("nguyen-van-an")
    assert link is not None
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    page = await context.new_page()
    await page.goto(link)
    await page.click("#signin-go")
    await expect(page.locator("#staff-badge")).to_be_visible()
    return page


async def _answer(page: Page, code: str) -> None:
    """Take the new card's submission and answer it."""
    await _press(page, f"t:take:{code}")
    await _press(page, f"t:reply:{code}")
    await expect(page.locator(".msg.bot").last).to_contain_text(code)
    await _say(page, ANSWER)


@pytest.mark.slow
async def test_a_visitor_sees_the_staff_answer_without_reloading(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            staff = await _sign_in_staff(browser, app)
            visitor = await (await browser.new_context(viewport=PHONE, locale="vi-VN")).new_page()
            code = await _file_complaint(visitor, app)
            mine = visitor.locator(".msg.me", has_text="Bãi rác tự phát")
            await expect(mine).to_contain_text("<b>mong</b>")  # shown as typed, never as HTML
            assert await visitor.locator("#log b").count() == 0
            loads = []
            visitor.on("load", lambda page: loads.append(page.url))

            await _answer(staff, code)

            answered = visitor.locator(".msg.bot", has_text=ANSWER)
            await expect(answered).to_be_visible()
            await expect(answered).to_contain_text(text("status.answered", "vi"))
            assert loads == [], "the answer arrived without a reload"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await visitor.screenshot(path=SCREENSHOTS / "visitor.png")
            await staff.screenshot(path=SCREENSHOTS / "staff.png")
        finally:
            await browser.close()
