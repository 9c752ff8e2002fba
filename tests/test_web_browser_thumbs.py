"""Photos and locations on the chat page in a real headless Chromium: a thumbnail on both
sides (the visitor's and the staff desk's), and a location shared from the browser."""

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Geolocation, Locator, Page, expect

from bot.app import CauNoi
from bot.domain.i18n import text
from tests.browser import (
    COMPLAINT,
    PHONE,
    VISITOR_NAME,
    chromium,
    needs_chromium,
    onboard,
    press,
    reference_code,
    say,
    screenshot,
    sign_in_staff,
)
from tests.conftest import AppFactory
from tests.test_web_thumbs import photo_with_gps

pytestmark = needs_chromium
TAY_NINH: Geolocation = {"latitude": 11.3101, "longitude": 106.0983}


async def located_page(browser: Browser, *, allowed: bool) -> Page:
    """A phone-sized page whose browser knows where it is, and may tell the page or not."""
    context = await browser.new_context(
        viewport=PHONE,
        locale="vi-VN",
        geolocation=TAY_NINH,
        permissions=["geolocation"] if allowed else [],
    )
    return await context.new_page()


async def expect_drawn(image: Locator) -> None:
    """The image has loaded and has pixels (a broken one has naturalWidth 0)."""
    await expect(image).to_be_visible()
    await image.evaluate("img => img.decode()")
    assert await image.evaluate("img => img.naturalWidth") > 0
    assert await image.evaluate("img => [img.width, img.height]") == [160, 120]


async def attach_photo_and_location(page: Page, app: CauNoi, photo: Path) -> str:
    """Onboard, write a complaint, attach a photo and the location, file it; its code."""
    await onboard(page, app)
    await press(page, "menu:complaint")
    await page.locator('button[data-choice^="cat:"]').first.click()
    await say(page, COMPLAINT)
    await expect(page.locator('button[data-choice="att:done"]')).to_be_visible()
    await page.set_input_files("#file", photo)
    await expect_drawn(page.locator(".msg.me a.thumb img"))
    await page.click("#locate")
    link = "https://maps.google.com/?q=11.310100,106.098300"
    await expect(page.locator(".msg.me").last).to_contain_text(link)
    await screenshot(page, "thumb-visitor")
    await press(page, "att:done")
    await press(page, "anon:no")
    await say(page, VISITOR_NAME)  # the web gives no name: it is asked for once
    await press(page, "contact:skip")
    await press(page, "preview:send")
    return await reference_code(page)


@pytest.mark.slow
async def test_a_photo_shows_as_a_thumbnail_to_the_visitor_and_to_staff(
    make_app: AppFactory, tmp_path: Path
) -> None:
    app = await make_app(serve_http=True)
    photo = tmp_path / "bãi rác.jpg"
    photo.write_bytes(photo_with_gps())
    async with chromium() as browser:
        staff = await sign_in_staff(browser, app)
        visitor = await located_page(browser, allowed=True)
        code = await attach_photo_and_location(visitor, app, photo)

        card = staff.locator(".msg.bot", has_text=code).last
        await expect(card).to_be_visible()
        await press(staff, f"t:files:{code}")
        shown = staff.locator(".msg.bot", has_text=re.compile(rf"{code}.*1/2"))
        await expect_drawn(shown.locator("a.thumb img"))
        place = staff.locator(".msg.bot", has_text=re.compile(rf"{code}.*2/2"))
        await expect(place.locator("a[href^='https://maps.google.com/']")).to_be_visible()
        await screenshot(staff, "thumb-staff")


@pytest.mark.slow
async def test_a_location_the_browser_may_not_give_gets_a_polite_note(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    async with chromium() as browser:
        page = await located_page(browser, allowed=False)
        await page.goto(f"{app.base_url}/chat")
        await expect(page.locator('button[data-choice="consent:yes"]')).to_be_visible()
        await page.click("#locate")
        await expect(page.locator("#notice")).to_have_text(text("web.locate_denied", "vi"))
