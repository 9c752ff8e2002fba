"""The chat page in a real headless Chromium, as a young person meets it on a phone: the
greeting at once, links that open and links that stay text, buttons that stay used after a
reload, and the reference code copied with one tap."""

import time

import pytest
from playwright.async_api import expect

from bot.domain.i18n import text
from tests.browser import (
    answer,
    chromium,
    file_complaint,
    needs_chromium,
    phone_page,
    press,
    say,
    screenshot,
    sign_in_staff,
)
from tests.conftest import AppFactory

pytestmark = needs_chromium
GREETING_SECONDS = 5  # well under the long poll's 25 s the page used to wait before greeting
SAFE = "https://example.org/tin-tuc?id=7"
ANSWER_WITH_LINKS = f"Xem thêm tại {SAFE}. Đừng mở javascript:alert(1) hay data:text/html,hi nhé."


@pytest.mark.slow
async def test_the_page_greets_at_once_and_keeps_pressed_buttons_used(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    async with chromium() as browser:
        page = await phone_page(browser)
        started = time.monotonic()
        await page.goto(f"{app.base_url}/chat")
        agree = page.locator('button[data-choice="consent:yes"]')
        await expect(agree).to_be_visible(timeout=GREETING_SECONDS * 1000)
        waited = time.monotonic() - started
        assert waited < GREETING_SECONDS, f"the greeting took {waited:.1f} s"
        greeting = text("welcome.greeting", "vi", organisation="Tỉnh đoàn Tây Ninh")
        await expect(page.locator(".msg.bot").first).to_contain_text(greeting.split("\n")[0])
        await expect(page.locator(".msg.me")).to_have_count(0)
        await screenshot(page, "greeting")

        await press(page, "consent:yes")
        await expect(agree).to_be_disabled()
        await say(page, "go dau")
        unit = page.locator('button[data-choice^="unit:"]').first
        await expect(unit).to_be_enabled()

        await page.reload()
        await expect(unit).to_be_enabled()  # the open question can still be answered
        await expect(agree).to_be_disabled()
        await expect(agree).to_have_class("pressed")
        await expect(page.locator('button[data-choice="consent:no"]')).to_be_disabled()
        await expect(page.locator('button[data-choice="lang:en"]')).to_be_disabled()
        await page.reload()
        await expect(page.locator('button[data-choice="consent:yes"]')).to_have_count(1)
        greeted = page.locator(".msg.bot", has_text=greeting.split("\n")[0])
        await expect(greeted).to_have_count(1)  # greeted once, not on every reload


@pytest.mark.slow
async def test_links_open_safely_and_the_code_is_copied_with_one_tap(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    async with chromium() as browser:
        staff = await sign_in_staff(browser, app)
        visitor = await phone_page(browser)
        await visitor.context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=app.base_url
        )
        code = await file_complaint(visitor, app)

        copy = visitor.locator(f'button.code[data-code="{code}"]').last
        await expect(copy).to_have_css("white-space", "nowrap")
        await copy.click()
        await expect(copy).to_have_text(text("web.code_copied", "vi"))
        assert await visitor.evaluate("navigator.clipboard.readText()") == code

        await answer(staff, code, ANSWER_WITH_LINKS)
        answered = visitor.locator(".msg.bot", has_text="Xem thêm tại").last
        await expect(answered).to_be_visible()
        link = answered.locator("a", has_text=SAFE)
        await expect(link).to_have_attribute("href", SAFE)  # the full stop after it left out
        await expect(link).to_have_attribute("target", "_blank")
        await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        assert await answered.locator("a").count() == 1, "javascript: and data: stay text"
        await expect(answered).to_contain_text("javascript:alert(1)")
        await screenshot(visitor, "links-and-code")
