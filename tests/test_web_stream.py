"""The web chat's update stream (server-sent events) and its sessions held in memory, through
real HTTP against the real app."""

import datetime as dt
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bot.app import CauNoi
from bot.channels.web import WebChannel
from bot.domain.i18n import text
from storage import web as records
from tests.conftest import AppFactory, Clock
from tests.webchat import Browser

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
READ_SECONDS = 15.0


class Stream:
    """One open /chat/api/stream, read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.staff = False  # whether the session is a staff member's, as the stream says
        self.news = 0  # how many messages it had to show when it opened
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        """The next event (comments skipped): its name, id and data."""
        event: dict[str, Any] = {"event": "message", "id": None, "data": []}
        async for line in self._lines:
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if line.startswith("event:"):
                event["event"] = line[6:].strip()
            elif line.startswith("id:"):
                event["id"] = int(line[3:])
            elif line.startswith("data:"):
                event["data"].append(line[5:])
            elif not line and event["data"]:
                event["data"] = json.loads("\n".join(event["data"]))
                return event
        raise AssertionError("the stream ended")

    async def messages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` chat messages."""
        found = [await self.next() for _ in range(count)]
        assert all(e["event"] == "message" for e in found), found
        return found


@asynccontextmanager
async def stream(browser: Browser, last_id: int | None = None) -> AsyncIterator[Stream]:
    """Open the browser's stream (from Last-Event-ID when given); its first event, the
    session's, is read here."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    timeout = httpx.Timeout(READ_SECONDS)
    async with browser.client.stream(
        "GET", "/chat/api/stream", headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        opened = Stream(response)
        session = await opened.next()
        assert session["event"] == "session"
        opened.staff = session["data"]["staff"]
        opened.news = session["data"]["news"]
        yield opened


async def say(browser: Browser, words: str) -> None:
    """Type words on the page (the reply is read from the stream)."""
    response = await browser.post(
        "/chat/api/send", json={"id": secrets.token_hex(8), "text": words}
    )
    assert response.status_code == 200, response.text


async def opened(app: CauNoi) -> Browser:
    """A browser with the chat page open."""
    browser = Browser(app)
    await browser.open()
    return browser


def stored_ids(app: CauNoi, chat_id: str) -> list[int]:
    """The ids of the chat's messages as the records hold them."""
    with app.db.session() as session:
        return [e.id for e in records.messages_after(session=session, chat_id=chat_id, after=0)]


async def test_the_stream_brings_the_replies(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    browser = await opened(app)
    try:
        async with stream(browser) as news:
            assert news.news == 0
            await say(browser, "/start")
            greeting, consent = await news.messages(2)
        assert greeting["data"]["outgoing"]
        assert consent["data"]["outgoing"]
        assert greeting["id"] < consent["id"]
        assert "consent:yes" in [c for row in consent["data"]["choices"] for c, _ in row]
        assert [greeting["id"], consent["id"]] == stored_ids(app, browser.visitor_id)
    finally:
        await browser.close()


async def test_the_stream_resumes_after_last_event_id_without_loss_or_doubles(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    browser = await opened(app)
    try:
        async with stream(browser) as news:
            await say(browser, "/start")
            first = await news.messages(2)
        last = first[-1]["id"]
        await say(browser, "/help")  # answered while no stream is open
        await app.outbox.drain()
        async with stream(browser, last_id=last) as news:
            assert news.news == 2  # /help's answer, held for it
            await say(browser, "/privacy")
            missed = await news.messages(4)  # /help's two replies, then /privacy's two
        ids = [e["id"] for e in first + missed]
        assert ids == stored_ids(app, browser.visitor_id)
        assert len(set(ids)) == len(ids)
    finally:
        await browser.close()


async def test_an_ended_session_ends_the_stream_politely(make_app: AppFactory) -> None:
    clock = Clock(START)
    app = await make_app(serve_http=True, clock=clock)
    web = app.channels["web"]
    assert isinstance(web, WebChannel)
    browser = await opened(app)
    visitor = browser.visitor_id
    try:
        async with stream(browser) as news:
            clock.now += dt.timedelta(days=app.config.raw.channels.web.session_days + 1)
            # A wake, as any message of the chat brings (an ended session shows it no more).
            web.waiters.hand(visitor, records.ChatEvent(0, True, {}, None, clock.now))
            ended = await news.next()
        assert ended["event"] == "end"
        assert ended["data"]["error"] == text("web.expired", "vi")
        refused = await browser.client.get("/chat/api/stream")
        assert refused.status_code == 401
        assert refused.json()["error"] == text("web.expired", "vi")
    finally:
        await browser.close()


async def test_a_stopping_server_ends_the_stream(make_app: AppFactory) -> None:
    app = await make_app(serve_http=True)
    browser = await opened(app)
    try:
        async with stream(browser) as news:
            await app.channels["web"].stop()
            ended = await news.next()
        assert ended["event"] == "end"
    finally:
        await browser.close()


async def test_a_cached_session_still_expires_on_time(make_app: AppFactory) -> None:
    clock = Clock(START)
    app = await make_app(serve_http=True, clock=clock)
    browser = await opened(app)
    try:
        await say(browser, "/start")  # the session is now held in memory
        clock.now += dt.timedelta(days=app.config.raw.channels.web.session_days, seconds=1)
        response = await browser.post(
            "/chat/api/send", json={"id": secrets.token_hex(8), "text": "/help"}
        )
        assert response.status_code == 401
        assert response.json()["error"] == text("web.expired", "vi")
    finally:
        await browser.close()


async def test_a_message_committed_after_a_later_one_still_reaches_the_stream(
    make_app: AppFactory,
) -> None:
    app = await make_app(serve_http=True)
    web = app.channels["web"]
    assert isinstance(web, WebChannel)
    browser = await opened(app)
    chat = browser.visitor_id
    try:
        async with stream(browser) as news:
            await say(browser, "/start")
            await news.messages(2)
            # Two writers of the chat (a reply and an edit, say, on PostgreSQL's thread
            # pool) took ids in one order and committed in the other.
            with app.db.session() as session:
                now = app.clock()
                added = [
                    records.add_message(
                        session=session, chat_id=chat, outgoing=True, body={"text": t}, now=now
                    )
                    for t in ("first", "second")
                ]
            first, second = (
                records.ChatEvent(i, True, {"text": t}, None, app.clock())
                for i, t in zip(added, ("first", "second"), strict=True)
            )
            web.waiters.hand(chat, second)
            assert (await news.next())["id"] == second.id
            web.waiters.hand(chat, first)
            late = await news.next()
        assert late["id"] == first.id
        assert late["data"]["text"] == "first"
    finally:
        await browser.close()
