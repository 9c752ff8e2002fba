"""The web chat over HTTP: news of the chat, what the visitor does, and another device.

The page talks to /chat/api/*: it long-polls for news of its chat and posts what the visitor
does, which goes through the same intake as a Telegram update. The guard (guard.py) checks
every request; the page (page.py) and files (files.py) have their own routes, listed here.
"""

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.channels.base import FileSource
from bot.channels.web.embed import Embed
from bot.channels.web.events import choice_event, event_payload, location_event, text_event
from bot.channels.web.files import Files
from bot.channels.web.guard import (
    MAX_TYPED_CHARS,
    TOKEN,
    Guard,
    Refusal,
    event_id,
    json_body,
    refuse,
    row_id,
)
from bot.channels.web.page import Page, asset, redirect_to_chat
from bot.channels.web.push import PushRoutes, VapidKey
from bot.channels.web.sender import Waiters, web_capabilities
from bot.config import OrgConfig
from bot.dispatch import queue_replies
from bot.domain.i18n import LANGUAGES, text
from bot.domain.messages import Inbound, Recipient
from bot.intake import Intake
from bot.uploads import Uploads
from bot.web import Networks
from handlers import desk
from handlers.desk.view import MAP_LINK
from storage import web as records
from storage.db import Database
from storage.web import CHANNEL, SignedIn

STREAM_PING_SECONDS = 15.0  # a comment line this often on a quiet stream
STREAM_RETRY_MS = 3000  # how soon a browser's EventSource reconnects
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
REFERENCE = re.compile(r"^\s*[A-Za-z0-9-]{1,40}\s*$")  # a reference code as typed
MAX_ROW_ID = 2**31  # the page's message ids are rows of ours; anything larger is not one
GREETING_EVENT = "greet"  # the id of a visitor's first /start, sent for them when the page opens


@dataclass
class WebChat:
    """The web chat's HTTP side: its guard, page and files, and the chat; one per process."""

    db: Database
    config: OrgConfig
    waiters: Waiters
    public_url: str | None
    clock: Callable[[], dt.datetime]
    on_outbox: Callable[[], None]
    uploads: Uploads
    # Reverse proxies whose X-Forwarded-For names the visitor's address (TRUSTED_PROXIES).
    trusted_proxies: Networks
    # Per messenger channel, how to fetch a file that came through it (for staff on the web).
    file_sources: Mapping[str, FileSource] = field(default_factory=dict)
    # Web Push: the app's key (None: off), and whether plain-http push services are allowed.
    push_key: VapidKey | None = None
    allow_plain_http_push: bool = False
    # Set when the channel starts: where what the visitor does goes in.
    intake: Intake | None = None

    def __post_init__(self) -> None:
        self._guard = Guard(
            self.db, self.config, self.clock, self.public_url, self.trusted_proxies
        )
        self._push = PushRoutes(
            self.db,
            self._guard,
            self.clock,
            self.push_key,
            self.allow_plain_http_push,
            lambda: asset("sw.js"),
        )
        self._page = Page(self.db, self.config, self.clock, self._guard, self._push.page_data)
        self._embed = Embed(self.config)
        self._files = Files(
            self.db,
            self.config,
            self.clock,
            self._guard,
            self.uploads,
            self.file_sources,
            self._take,
        )
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def routes(self) -> list[Route]:
        """The chat's routes, all under /chat."""
        page, files = self._page, self._files
        return [
            Route("/", redirect_to_chat),
            Route("/chat", page.page),
            Route("/chat/resume", page.page),
            Route("/chat/signin", page.page),
            Route("/chat/static/{name}", page.static),
            Route("/chat/embed.js", self._embed.script),
            Route("/chat/manifest.webmanifest", page.manifest),
            Route("/favicon.ico", page.favicon),
            Route("/chat/api/hello", self.hello, methods=["POST"]),
            Route("/chat/api/updates", self.updates),
            Route("/chat/api/stream", self.stream),
            Route("/chat/api/send", self.send, methods=["POST"]),
            Route("/chat/api/upload", files.upload, methods=["POST"]),
            Route("/chat/api/file/{message_id}", files.file, methods=["GET"]),
            Route("/chat/api/thumb/{message_id}", files.thumb, methods=["GET"]),
            Route("/chat/api/language", self.language, methods=["POST"]),
            Route("/chat/api/resume-link", self.resume_link, methods=["POST"]),
            Route("/chat/api/resume", self.resume, methods=["POST"]),
            Route("/chat/api/signin", self.signin, methods=["POST"]),
            *self._push.routes(),
        ]

    # ---- news of the chat -------------------------------------------------------------

    async def updates(self, request: Request) -> Response:
        """The chat's messages after a cursor, waiting up to poll_seconds for a first one."""
        language = self._guard.language(request)
        signed_in = await self._guard.signed_in(request)
        if signed_in is None:
            return refuse(Refusal(401, "web.expired"), language)
        after = row_id(request.query_params.get("after", "0"), empty=0)
        if after is None:
            return refuse(Refusal(400, "web.bad_request"), language)
        chat_id = signed_in.visitor_id
        with self.waiters.listen(chat_id) as listener:
            events = await self._events(chat_id, after)
            if not events:
                await listener.wait(self.config.raw.channels.web.poll_seconds)
                events = _after(listener.take(), after)
        cursor = max((e.id for e in events), default=after)
        return JSONResponse(
            {"cursor": cursor, "staff": signed_in.staff, "events": [_shown(e) for e in events]},
            headers={"Cache-Control": "no-store"},
        )

    async def stream(self, request: Request) -> Response:
        """The chat's messages as server-sent events, from Last-Event-ID (or ?after=) on;
        a session that ends ends the stream with an `end` event carrying the reason."""
        language = self._guard.language(request)
        signed_in = await self._guard.signed_in(request)
        if signed_in is None:
            return refuse(Refusal(401, "web.expired"), language)
        given = request.headers.get("Last-Event-ID") or request.query_params.get("after", "0")
        after = row_id(given, empty=0)
        if after is None:
            return refuse(Refusal(400, "web.bad_request"), language)
        lines = self._stream_lines(request, signed_in, after, language)
        return StreamingResponse(lines, media_type="text/event-stream", headers=STREAM_HEADERS)

    async def _stream_lines(
        self, request: Request, signed_in: SignedIn, after: int, language: str
    ) -> AsyncIterator[str]:
        chat_id = signed_in.visitor_id
        with self.waiters.listen(chat_id) as listener:
            events = await self._events(chat_id, after)
            # What the page needs first: whether staff hold the session, and whether it has
            # news to show (an empty chat greets the visitor).
            session = json.dumps({"staff": signed_in.staff, "news": len(events)})
            yield f"retry: {STREAM_RETRY_MS}\nevent: session\ndata: {session}\n\n"
            # On PostgreSQL two writers of one chat may commit out of id order: a message
            # handed after a later one still goes out, once (the cursor is the highest id).
            sent: set[int] = set()
            while True:
                for event in events:
                    if event.id not in sent:
                        sent.add(event.id)
                        after = max(after, event.id)
                        yield f"id: {event.id}\ndata: {json.dumps(_shown(event))}\n\n"
                await listener.wait(STREAM_PING_SECONDS)
                if self.waiters.closed or await self._guard.signed_in(request) is None:
                    ended = json.dumps({"error": text("web.expired", language)})
                    yield f"event: end\ndata: {ended}\n\n"
                    return
                events = _in_order(listener.take())
                if not events:
                    yield ": ping\n\n"  # keeps proxies from closing a quiet stream

    async def _events(self, chat_id: str, after: int) -> list[records.ChatEvent]:
        return await self.db.run(
            lambda session: records.messages_after(session=session, chat_id=chat_id, after=after)
        )

    # ---- what the visitor does --------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Typed text, a pressed button or a shared location."""
        language = self._guard.language(request)
        try:
            signed_in = await self._guard.check(request)
            data = await json_body(request)
            given_id = event_id(data)
            pressed = None
            if isinstance(data.get("choice"), str):
                choice = data["choice"]
                event = choice_event(signed_in.visitor_id, given_id, choice, language)
                echo = None
                on_message = data.get("message")
                if type(on_message) is int and 0 < on_message < MAX_ROW_ID:
                    pressed = (on_message, event.choice or "")
            elif "location" in data:
                where = await self._files.may_locate(signed_in.visitor_id, data["location"])
                event = location_event(signed_in.visitor_id, given_id, where, language)
                echo = text("web.location_sent", language, link=MAP_LINK.format(_at(where)))
            else:
                typed = data.get("text")
                if not isinstance(typed, str) or not typed.strip():
                    raise Refusal(400, "web.empty")
                if len(typed) > MAX_TYPED_CHARS:
                    raise Refusal(413, "web.too_long", max=str(MAX_TYPED_CHARS))
                event = text_event(signed_in.visitor_id, given_id, typed, language)
                echo = event.text if event.text.strip() else None
        except Refusal as refusal:
            return refuse(refusal, language)
        kept = await self._take(event, echo, pressed)
        # Words not kept (before consent) are shown by the page itself, until it reloads.
        return JSONResponse({"ok": True} if kept or echo is None else {"ok": True, "shown": echo})

    async def language(self, request: Request) -> Response:
        """Switch the page and the dialogue to another language."""
        language = self._guard.language(request)
        try:
            signed_in = await self._guard.check(request)
            data = await json_body(request)
            chosen = data.get("language")
            if chosen not in LANGUAGES:
                raise Refusal(400, "web.bad_request")
            event = choice_event(signed_in.visitor_id, event_id(data), f"lang:{chosen}", chosen)
        except Refusal as refusal:
            return refuse(refusal, language)
        await self._take(event, None)
        response = JSONResponse({"ok": True})
        self._guard.remember_language(request, response, chosen)
        return response

    async def hello(self, request: Request) -> Response:
        """The page has opened: a visitor nothing was heard from yet is greeted at once
        (once, whatever the reloads and tabs: the greeting is one event of theirs)."""
        language = self._guard.language(request)
        try:
            signed_in = await self._guard.check(request)
        except Refusal as refusal:
            return refuse(refusal, language)
        visitor = signed_in.visitor_id
        stranger = await self.db.run(
            lambda session: records.is_stranger(session=session, visitor_id=visitor)
        )
        if stranger:
            await self._take(text_event(visitor, GREETING_EVENT, "/start", language), None)
        return JSONResponse({"ok": True, "greeted": stranger})

    async def _take(
        self, event: Inbound, echo: str | None, pressed: tuple[int, str] | None = None
    ) -> bool:
        """Store the event (and the visitor's words in their chat, once they agreed to it,
        and which button of which message they pressed), then handle it in its chat's turn;
        whether their words were kept."""
        assert self.intake is not None, "the web chat takes events once started"
        intake, chat_id, now = self.intake, event.chat_id, self.clock()
        payload = event_payload(event)
        echoed: list[records.ChatEvent] = []

        def echo_kept(session: Any, new: set[str]) -> bool:
            if new and pressed is not None:
                message, choice = pressed
                records.mark_pressed(
                    session=session, chat_id=chat_id, message_id=message, choice=choice
                )
            kept = records.keeps_words(session=session, visitor_id=chat_id)
            if new and kept and echo is not None:
                body = _echo(echo, event)
                added = records.add_message(
                    session=session, chat_id=chat_id, outgoing=False, body=body, now=now
                )
                echoed.append(records.ChatEvent(added, False, body, None, now))
            return kept

        async with self._chat_turn(chat_id):  # stored and queued in the order they came
            new, kept = await intake.record(CHANNEL, [(event.event_id, payload)], echo_kept)
            if not new:
                return bool(kept)  # the browser sent it again (e.g. after a lost answer)
            handled = intake.queue(CHANNEL, event.event_id, payload)
        for added in echoed:  # committed: the other tabs show the visitor's words
            self.waiters.hand(chat_id, added)
        await handled
        if not kept and event.media is not None:
            # A file sent before consent is not kept either: its row and its bytes go.
            await self.uploads.forget_refs([event.media.file_ref])
        return bool(kept)

    @contextlib.asynccontextmanager
    async def _chat_turn(self, chat_id: str) -> AsyncIterator[None]:
        """One chat's events stored and queued one at a time, in arrival order."""
        lock, holders = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._locks[chat_id]
            if holders == 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, holders - 1)

    async def end_expired_sessions(self) -> int:
        """Delete expired browser sessions (a daily job); return how many."""
        now = self.clock()
        return await self.db.run(
            lambda session: records.end_expired_sessions(session=session, now=now)
        )

    # ---- another device -------------------------------------------------------------------

    async def resume_link(self, request: Request) -> Response:
        """A fresh private link to carry on this conversation elsewhere."""
        language = self._guard.language(request)
        try:
            signed_in = await self._guard.check(request)
        except Refusal as refusal:
            return refuse(refusal, language)
        visitor = signed_in.visitor_id
        token = await self.db.run(
            lambda session: records.new_resume_link(session=session, visitor_id=visitor)
        )
        return JSONResponse({"link": f"{self._guard.base(request)}/chat/resume#{token}"})

    async def resume(self, request: Request) -> Response:
        """Open this conversation in this browser, given the private link and a reference
        code of the visitor's."""
        language = self._guard.language(request)
        try:
            self._guard.same_origin(request, required=True)
            self._guard.limit(request, None)
            data = await json_body(request)
            token, code = data.get("token"), data.get("code")
            if not isinstance(token, str) or not TOKEN.match(token) or not isinstance(code, str):
                raise Refusal(400, "web.resume_failed")
            if not REFERENCE.match(code):
                raise Refusal(403, "web.resume_failed")
            visitor = await self.db.run(
                lambda session: records.resume(session=session, token=token, code=code)
            )
            if visitor is None:
                raise Refusal(403, "web.resume_failed")
        except Refusal as refusal:
            return refuse(refusal, language)
        hours = self.config.raw.channels.web.session_days * 24
        return await self._signed_in_as(request, visitor, hours)

    async def signin(self, request: Request) -> Response:
        """Use a one-time staff sign-in link."""
        language = self._guard.language(request)
        try:
            self._guard.same_origin(request, required=True)
            self._guard.limit(request, None)
            data = await json_body(request)
            token = str(data.get("token", "")).removeprefix("inv_")
            if not TOKEN.match(token):
                raise Refusal(400, "web.signin_failed")
            visitor = await self.db.run(lambda session: self._sign_in(session, token, language))
            if visitor is None:
                raise Refusal(403, "web.signin_failed")
        except Refusal as refusal:
            return refuse(refusal, language)
        self.on_outbox()
        hours = self.config.raw.channels.web.staff_session_hours
        return await self._signed_in_as(request, visitor, hours, staff=True)

    def _sign_in(self, session: Any, token: str, language: str) -> str | None:
        """Sign a staff member in and greet them in their new web chat."""
        now = self.clock()
        signed = records.sign_in_staff(session=session, token=token, language=language, now=now)
        if signed is None:
            return None
        visitor, staff = signed
        greeting = desk.welcome(staff, language)
        queue_replies(
            session,
            greeting,
            now=now,
            sender=Recipient(CHANNEL, visitor, language),
            capabilities={CHANNEL: web_capabilities(buttons=self.config.raw.channels.web.buttons)},
        )
        return visitor

    async def _signed_in_as(
        self, request: Request, visitor: str, hours: int, *, staff: bool = False
    ) -> Response:
        now = self.clock()
        opened = await self.db.run(
            lambda session: records.open_session(
                session=session, visitor_id=visitor, hours=hours, now=now, staff=staff
            )
        )
        response = JSONResponse({"ok": True, "csrf": opened.signed_in.csrf})
        self._guard.set_cookie(request, response, opened.token, hours)
        return response

    @staticmethod
    def link_template_for(base_url: str) -> str:
        """The web chat's start link, '{}' marking the payload (a staff invitation)."""
        return f"{base_url}/chat/signin#{{}}"


def _after(handed: list[records.ChatEvent], after: int) -> list[records.ChatEvent]:
    """Handed messages newer than the cursor, in order (one may have been read already)."""
    return _in_order(e for e in handed if e.id > after)


def _in_order(events: Iterable[records.ChatEvent]) -> list[records.ChatEvent]:
    """Messages by id."""
    return sorted(events, key=lambda e: e.id)


def _shown(event: records.ChatEvent) -> dict[str, Any]:
    """A message as the page gets it."""
    return {
        "id": event.id,
        "outgoing": event.outgoing,
        "replaces": event.replaces,
        "at": event.at.isoformat(),
        **_for_page(event.body),
    }


def _echo(words: str, event: Inbound) -> dict[str, Any]:
    """What the visitor sent, in their own chat: their words, and the file they uploaded (so
    their page shows a photo's thumbnail, by the same rule as every shown file)."""
    if event.media is None:
        return {"text": words}
    shown = {"kind": event.media.media_kind, "origin": CHANNEL, "ref": event.media.file_ref}
    return {"text": words, "file": shown}


def _at(where: tuple[float, float]) -> str:
    return "{:.6f},{:.6f}".format(*where)


def _for_page(body: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the page gets it: a shown file by its kind only."""
    shown = body.get("file")
    if isinstance(shown, dict):
        return {**body, "file": {"kind": shown.get("kind")}}
    return body
