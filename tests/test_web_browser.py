"""The web chat in a real headless Chromium: a visitor files a complaint on a phone-sized
page, a staff member answers from a second browser, the visitor's page shows the answer
without a reload. Screenshots of both sides go to build/screenshots/."""

import pytest
from playwright.async_api import expect

from bot.domain.i18n import text
from tests.browser import (
    ANSWER,
    answer,
    chromium,
    file_complaint,
    needs_chromium,
    phone_page,
    screenshot,
    sign_in_staff,
)
from tests.conftest import AppFactory

pytestmark = needs_chromium


@pytest.mark.slow
async def test_a_visitor_sees_the_staff_answer_without_reloading(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    async with chromium() as browser:
        staff = await sign_in_staff(browser, app)
        visitor = await phone_page(browser)
        code = await file_complaint(visitor, app)
        mine = visitor.locator(".msg.me", has_text="Bãi rác tự phát")
        await expect(mine).to_contain_text("<b>mong</b>")  # shown as typed, never as HTML
        assert await visitor.locator("#log b").count() == 0
        loads = []
        visitor.on("load", lambda page: loads.append(page.url))

        await answer(staff, code)

        answered = visitor.locator(".msg.bot", has_text=ANSWER)
        await expect(answered).to_be_visible()
        await expect(answered).to_contain_text(text("status.answered", "vi"))
        assert loads == [], "the answer arrived without a reload"
        await screenshot(visitor, "visitor")
        await screenshot(staff, "staff")
        for visitors_only in ("#another-device", "#locate"):
            await expect(staff.locator(visitors_only)).to_be_hidden()
            await expect(visitor.locator(visitors_only)).to_be_visible()
