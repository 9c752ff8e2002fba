"""Web Push in a real headless Chromium: under the receipt the page offers notifications,
the browser asks only when the visitor presses the button, and the service worker
registers at /chat/. Chromium cannot reach Google's push service here, so the page's own
subscribe route is given a subscription at the fake push service; with the visitor's page
closed, a staff answer reaches it, encrypted. A push delivered to the service worker through
the DevTools protocol shows a notification. The offer is kept as
build/screenshots/push-offer.png."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from bot.channels.web.push import new_key_pair
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
from tests.fake_push import FakePushService

pytestmark = needs_chromium
KEY = new_key_pair()
REGISTERED = """async () => {
  const found = await navigator.serviceWorker.getRegistration("/chat/");
  return Boolean(found && (found.active || found.waiting || found.installing));
}"""
SUBSCRIBE = """async (subscription) => {
  const response = await fetch("/chat/api/push/subscribe", {
    method: "POST",
    credentials: "same-origin",
    headers: {"X-CSRF-Token": document.body.dataset.csrf, "Content-Type": "application/json"},
    body: JSON.stringify(subscription),
  });
  return response.status;
}"""
NOTIFIED = """async (body) => {
  const found = await navigator.serviceWorker.getRegistration("/chat/");
  const shown = found ? await found.getNotifications() : [];
  return shown.some((n) => n.body === body);
}"""


@pytest.fixture
async def service() -> AsyncIterator[FakePushService]:
    """The fake push service, told the app's public key."""
    fake = FakePushService(app_key=KEY.public)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.slow
async def test_the_page_offers_push_and_a_closed_page_is_called_back(
    make_app: AppFactory, service: FakePushService
) -> None:
    app = await make_app(serve_http=True, webpush_vapid_private_key=KEY.private)
    async with chromium() as browser:
        staff = await sign_in_staff(browser, app)
        visitor = await phone_page(browser)
        context = visitor.context
        await context.grant_permissions(["notifications"], origin=app.base_url)
        code = await file_complaint(visitor, app)

        offer = visitor.locator("#push-offer")
        await expect(offer).to_contain_text(text("push.offer", "vi"))
        await screenshot(visitor, "push-offer")
        await visitor.click("#push-enable")
        await visitor.wait_for_function(REGISTERED)
        await expect(visitor.locator("#push-enable")).to_have_count(0)

        phone = service.subscriber()
        assert await visitor.evaluate(SUBSCRIBE, phone.subscription()) == 200
        await visitor.close()  # from now on only a push reaches the visitor

        await answer(staff, code)
        await service.wait_for(lambda: len(service.to(phone)) == 2)
        bodies = [push["body"] for push in service.to(phone)]
        assert bodies == [text("push.taken", "vi", code=code), text("push.reply", "vi", code=code)]
        assert ANSWER not in str(service.to(phone))

        await _deliver_to_the_service_worker(context, app.base_url, code)


async def _deliver_to_the_service_worker(context: Any, base_url: str, code: str) -> None:
    """Push a message straight to the registered service worker (DevTools protocol), from a
    page that is not the chat, and see the notification it shows."""
    other = await context.new_page()
    await other.goto(f"{base_url}/healthz")
    cdp = await context.new_cdp_session(other)
    found: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def updated(event: dict[str, Any]) -> None:
        ours = [r for r in event["registrations"] if r["scopeURL"].endswith("/chat/")]
        if ours and not found.done():
            found.set_result(ours[0])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")  # it then tells of the registrations it knows
    async with asyncio.timeout(15):
        registration = await found
    body = text("push.reply", "vi", code=code)
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": base_url,
            "registrationId": registration["registrationId"],
            "data": '{"title": "Cầu Nối", "body": "' + body + '", "tag": "' + code + '"}',
        },
    )
    await other.wait_for_function(NOTIFIED, arg=body)
