"""Webhook mode, /healthz and /metrics, through real HTTP."""

import asyncio
import json
from urllib.parse import urlsplit

import httpx

from bot.app import CauNoi
from bot.channels.telegram import MAX_UPDATE_BYTES, SECRET_HEADER, WEBHOOK_PATH
from bot.domain.i18n import text
from storage.models import InboxEvent
from tests.conftest import AppFactory, rows
from tests.fake_telegram import FakeTelegram

SECRET = "webhook-secret_0123456789"
PUBLIC_URL = "https://caunoi.example.org"
USER = 6001


async def _inbox_count(app: CauNoi) -> int:
    return len(await rows(app.db, InboxEvent))


async def _webhook_app(make_app: AppFactory) -> tuple[CauNoi, str]:
    """The app in webhook mode, and the local address of its webhook."""
    app = await make_app(serve_http=True, webhook_url=PUBLIC_URL, webhook_secret=SECRET)
    return app, f"http://127.0.0.1:{app.http_port}{WEBHOOK_PATH}"


async def test_webhook_is_registered_with_its_secret(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await _webhook_app(make_app)
    [registration] = fake.sent("setWebhook")
    assert registration["url"] == PUBLIC_URL + WEBHOOK_PATH
    assert registration["secret_token"] == SECRET
    assert not fake.sent("getUpdates"), "webhook mode must not poll"


async def test_webhook_refuses_a_missing_or_wrong_secret_and_stores_nothing(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app, url = await _webhook_app(make_app)
    update = fake.make_update(USER, "/help")
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=update)
        wrong = await client.post(url, json=update, headers={SECRET_HEADER: SECRET + "x"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert await _inbox_count(app) == 0
    assert fake.texts(USER) == []


async def test_webhook_stores_the_update_before_answering(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app, url = await _webhook_app(make_app)
    update = fake.make_update(USER, "/help")
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json=update, headers={SECRET_HEADER: SECRET})
        assert response.status_code == 200
        assert await _inbox_count(app) == 1
        again = await client.post(url, json=update, headers={SECRET_HEADER: SECRET})
    assert again.status_code == 200
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    assert fake.texts(USER) == [text("help.body", "vi")]
    assert await _inbox_count(app) == 1, "a redelivered update is stored once"


async def test_webhook_rejects_garbage(fake: FakeTelegram, make_app: AppFactory) -> None:
    app, url = await _webhook_app(make_app)
    async with httpx.AsyncClient() as client:
        not_json = await client.post(url, content=b"{oops", headers={SECRET_HEADER: SECRET})
        not_update = await client.post(url, json=[1, 2], headers={SECRET_HEADER: SECRET})
    assert (not_json.status_code, not_update.status_code) == (400, 400)
    assert await _inbox_count(app) == 0


async def test_health_and_metrics(fake: FakeTelegram, make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    fake.message(USER, "/help")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    base = f"http://127.0.0.1:{app.http_port}"
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{base}/healthz")
        metrics = await client.get(f"{base}/metrics")
        webhook = await client.post(f"{base}{WEBHOOK_PATH}", json={})
    assert health.json() == {"status": "ok"}
    body = metrics.text
    assert 'caunoi_updates_handled_total{channel="telegram",outcome="ok"} 1.0' in body
    assert 'caunoi_messages_sent_total{channel="telegram"} 1.0' in body
    assert "caunoi_inbox_depth 0.0" in body
    assert "caunoi_handler_seconds_bucket" in body
    assert webhook.status_code in {404, 405}, "no webhook route while polling"


async def test_webhook_refuses_what_it_cannot_read_with_400_never_500(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app, url = await _webhook_app(make_app)
    no_date = fake.make_update(USER, "/help")
    del no_date["message"]["date"]
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    bodies = [
        json.dumps(no_date).encode(),
        b"[" * 50_000,
        b'{"update_id": true}',
        b'{"update_id": -1}',
        b'{"update_id": 99999999999999999999999}',
        json.dumps({"update_id": 7, "message": "not a message"}).encode(),
    ]
    async with httpx.AsyncClient() as client:
        answers = [await client.post(url, content=body, headers=headers) for body in bodies]
    assert [a.status_code for a in answers] == [400] * len(bodies)
    stored = await rows(app.db, InboxEvent)
    assert [(e.event_id, e.status) for e in stored] == [
        (str(no_date["update_id"]), "failed"),
        ("7", "failed"),
    ], "an unreadable update is kept aside as failed"
    assert fake.texts(USER) == []


async def test_webhook_stops_reading_a_body_past_the_limit(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app, url = await _webhook_app(make_app)
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"{SECRET_HEADER}: {SECRET}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode())
    chunk = b"[" * 65_536
    for _ in range(MAX_UPDATE_BYTES // len(chunk) + 2):  # past the limit, and never finished
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
    async with asyncio.timeout(30):  # only reached when the server waits for the whole body
        status = await reader.readline()
    writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert await _inbox_count(app) == 0
