"""In real headless Chromium: a visitor files a complaint with their name, types the name when
the page asks for it (the web gives none), and the staff member's page shows the card with
that name. Screenshot: build/screenshots/named-card.png."""

import pytest
from playwright.async_api import expect

from bot.domain.i18n import text
from tests.browser import (
    chromium,
    file_complaint,
    needs_chromium,
    phone_page,
    screenshot,
    sign_in_staff,
)
from tests.conftest import AppFactory

pytestmark = needs_chromium
NAME = "Võ Thị Ngọc Hân"


@pytest.mark.slow
async def test_the_staff_card_shows_the_name_the_visitor_typed(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    async with chromium() as browser:
        staff = await sign_in_staff(browser, app)
        visitor = await phone_page(browser)
        code = await file_complaint(visitor, app, name=NAME)
        asked = visitor.locator(".msg.bot", has_text=text("profile_name.ask", "vi"))
        await expect(asked).to_have_count(1)
        await expect(visitor.locator(".msg.me", has_text=NAME)).to_be_visible()

        card = staff.locator(".msg.bot", has_text=code).last
        await expect(card).to_contain_text(NAME)
        await expect(card).not_to_contain_text(text("staff.sender_unnamed", "vi"))
        await card.scroll_into_view_if_needed()
        await screenshot(staff, "named-card")
