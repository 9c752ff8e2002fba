"""The web chat over HTTP: the page, its JSON API, sign-in links and the resume link.

The page talks to /chat/api/*: it long-polls for news of its chat and posts what the visitor
does, which goes through the same inbox and dispatcher as a Telegram update. State-changing
requests need the session's CSRF token (or, before a session exists, our own Origin), and are
rate-limited per session and per address.
"""

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import string
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.channels.base import FileSource
from bot.channels.web.events import (
    choice_event,
    event_payload,
    media_event,
    media_kind,
    text_event,
)
from bot.channels.web.sender import Waiters, web_capabilities
from bot.config import OrgConfig
from bot.dispatch import queue_replies
from bot.domain.i18n import LANGUAGES, text
from bot.domain.messages import Inbound, Recipient
from bot.domain.text import clean
from bot.intake import Intake
from bot.uploads import NewUpload, Uploads
from bot.web import Networks, client_address, read_at_most
from handlers import desk, steps
from storage import web as records
from storage.db import Database
from storage.web import CHANNEL, SignedIn, UploadGate

log = logging.getLogger(__name__)

COOKIE = "caunoi_session"
LANGUAGE_COOKIE = "caunoi_lang"
CSRF_HEADER = "X-CSRF-Token"
MAX_JSON_BYTES = 100_000
MAX_TYPED_CHARS = 20_000
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
REFERENCE = re.compile(r"^\s*[A-Za-z0-9-]{1,40}\s*$")  # a reference code as typed
MAX_ROW_ID = 2**63 - 1  # the largest id a database column holds
PAGE_KEYS = [
    "placeholder",
    "send",
    "attach",
    "language_label",
    "another_device",
    "resume_explain",
    "copy",
    "copied",
    "close",
    "resume_title",
    "resume_code_label",
    "resume_button",
    "resume_failed",
    "signin_title",
    "signin_explain",
    "signin_button",
    "signin_failed",
    "staff_badge",
    "download",
    "empty",
    "too_long",
    "too_big",
    "slow_down",
    "expired",
    "reload",
    "forbidden",
    "bad_request",
    "offline",
    "noscript",
]
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HOUR = dt.timedelta(hours=1)
STATIC_TYPES = {"chat.js": "text/javascript", "chat.css": "text/css", "news.css": "text/css"}


class RateLimit:
    """At most `per_minute` requests per key, refilled continuously (a token bucket)."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        """Take one request from the key's allowance; False when it is used up."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if len(self._buckets) > 50_000:  # forget idle keys rather than grow without end
            self._buckets.clear()
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True


class HourlyCap:
    """At most `per_hour` uses per key in any hour, by the app's clock (time is an input)."""

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._uses: dict[str, deque[dt.datetime]] = {}

    def full(self, key: str, now: dt.datetime) -> bool:
        """Whether the key has used up its hour."""
        uses = self._uses.get(key)
        while uses and uses[0] <= now - HOUR:
            uses.popleft()
        return uses is not None and len(uses) >= self._per_hour

    def take(self, key: str, now: dt.datetime) -> None:
        """Count one use of the key."""
        if len(self._uses) > 50_000:  # forget idle keys rather than grow without end
            self._uses = {k: v for k, v in self._uses.items() if v and v[-1] > now - HOUR}
        self._uses.setdefault(key, deque()).append(now)


class Refusal(Exception):
    """A request we answer with a polite message in the visitor's language."""

    def __init__(self, status: int, key: str, **values: str) -> None:
        super().__init__(key)
        self.status, self.key, self.values = status, key, values


@dataclass
class WebChat:
    """The web chat's HTTP handlers; one per process."""

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
    # Set when the channel starts: where what the visitor does goes in.
    intake: Intake | None = None

    def __post_init__(self) -> None:
        web = self.config.raw.channels.web
        self._per_session = RateLimit(web.requests_per_minute_session)
        self._per_address = RateLimit(web.requests_per_minute_address)
        self._uploads_per_session = HourlyCap(web.uploads_per_hour_session)
        self._uploads_per_address = HourlyCap(web.uploads_per_hour_address)
        self._sessions_per_address = HourlyCap(web.sessions_per_hour_address)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._template = string.Template(asset("page.html"))

    def routes(self) -> list[Route]:
        """The chat's routes, all under /chat."""
        return [
            Route("/", redirect_to_chat),
            Route("/chat", self.page),
            Route("/chat/resume", self.page),
            Route("/chat/signin", self.page),
            Route("/chat/static/{name}", self.static),
            Route("/chat/api/updates", self.updates),
            Route("/chat/api/send", self.send, methods=["POST"]),
            Route("/chat/api/upload", self.upload, methods=["POST"]),
            Route("/chat/api/file/{message_id}", self.file, methods=["GET"]),
            Route("/chat/api/language", self.language, methods=["POST"]),
            Route("/chat/api/resume-link", self.resume_link, methods=["POST"]),
            Route("/chat/api/resume", self.resume, methods=["POST"]),
            Route("/chat/api/signin", self.signin, methods=["POST"]),
        ]

    # ---- the page ---------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """The chat page; a browser without a valid session gets a new one."""
        language = self._language(request)
        signed_in = await self._signed_in(request)
        cookie = None
        if signed_in is None:
            hours = self.config.raw.channels.web.session_days * 24
            now = self.clock()
            address = client_address(request, self.trusted_proxies)
            if self._sessions_per_address.full(address, now):
                return _busy_page(language)
            self._sessions_per_address.take(address, now)

            def start(session: Any) -> records.NewSession:
                visitor = records.new_visitor(session=session, now=now)
                return records.open_session(
                    session=session, visitor_id=visitor, hours=hours, now=now
                )

            opened = await self.db.run(start)
            signed_in, cookie = opened.signed_in, (opened.token, hours)
        response = HTMLResponse(self._render_page(request, language, signed_in))
        if cookie is not None:
            self._set_cookie(request, response, *cookie)
        response.headers.update(SECURITY_HEADERS)
        return response

    def _render_page(self, request: Request, language: str, signed_in: SignedIn) -> str:
        organisation = str(getattr(self.config.raw.organisation.name, language))
        limits = self.config.raw.limits
        sizes = {"max": str(MAX_TYPED_CHARS), "mb": str(limits.attachment_max_mb)}
        strings = {key: text(f"web.{key}", language, **sizes) for key in PAGE_KEYS}
        mode = request.url.path.rsplit("/", 1)[-1]
        values = {
            "lang": language,
            "title": escape(text("web.title", language, organisation=organisation)),
            "intro": escape(text("web.intro", language, organisation=organisation)),
            "csrf": escape(signed_in.csrf),
            "mode": escape(mode if mode in ("resume", "signin") else "chat"),
            "staff": "1" if signed_in.staff else "0",
            "max_bytes": str(limits.attachment_max_mb * 1024 * 1024),
            "max_chars": str(MAX_TYPED_CHARS),
            "strings": escape(json.dumps(strings, ensure_ascii=False)),
            "languages": "".join(
                f'<button type="button" class="lang" data-lang="{code}"'
                f"{' aria-pressed=true' if code == language else ''}>{code.upper()}</button>"
                for code in LANGUAGES
            ),
            **{key: escape(value) for key, value in strings.items()},
        }
        return self._template.substitute(values)

    async def static(self, request: Request) -> Response:
        """The page's script and style sheet."""
        name = request.path_params["name"]
        if name not in STATIC_TYPES:
            return Response("not found", status_code=404)
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(asset(name), media_type=STATIC_TYPES[name], headers=headers)

    # ---- news of the chat -------------------------------------------------------------

    async def updates(self, request: Request) -> Response:
        """The chat's messages after a cursor, waiting up to poll_seconds for a first one."""
        language = self._language(request)
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _refuse(Refusal(401, "web.expired"), language)
        after = row_id(request.query_params.get("after", "0"), empty=0)
        if after is None:
            return _refuse(Refusal(400, "web.bad_request"), language)
        chat_id = signed_in.visitor_id
        events = await self._events(chat_id, after)
        if not events:
            await self.waiters.wait(chat_id, self.config.raw.channels.web.poll_seconds)
            events = await self._events(chat_id, after)
        cursor = events[-1].id if events else after
        return JSONResponse(
            {
                "cursor": cursor,
                "staff": signed_in.staff,
                "events": [
                    {
                        "id": e.id,
                        "outgoing": e.outgoing,
                        "replaces": e.replaces,
                        "at": e.at.isoformat(),
                        **_for_page(e.body),
                    }
                    for e in events
                ],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def file(self, request: Request) -> Response:
        """A file a message of the visitor's own chat shows (staff see a ticket's files so)."""
        language = self._language(request)
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _refuse(Refusal(401, "web.expired"), language)
        try:
            self._limit(request, signed_in.visitor_id)
        except Refusal as refusal:
            return _refuse(refusal, language)
        chat_id, message_id = signed_in.visitor_id, row_id(request.path_params["message_id"])
        found = await self._shown_file(chat_id, message_id) if message_id else None
        if found is None:
            return _refuse(Refusal(404, "web.no_file"), language)
        name, data = found
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                # Always a download, never rendered here: the bytes are someone's upload.
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )

    async def _shown_file(self, chat_id: str, message_id: int) -> tuple[str, bytes] | None:
        """The name and bytes of the file a message of this chat shows, from the channel it
        came through (a web upload from our store)."""
        shown = await self.db.run(
            lambda session: records.file_shown(
                session=session, chat_id=chat_id, message_id=message_id
            )
        )
        source = self.file_sources.get(shown.origin) if shown is not None else None
        return await source(shown.ref) if shown is not None and source is not None else None

    async def _events(self, chat_id: str, after: int) -> list[records.ChatEvent]:
        return await self.db.run(
            lambda session: records.messages_after(session=session, chat_id=chat_id, after=after)
        )

    # ---- what the visitor does --------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Typed text or a pressed button."""
        language = self._language(request)
        try:
            signed_in = await self._guard(request)
            data = await _json_body(request)
            event_id = _event_id(data)
            if isinstance(data.get("choice"), str):
                choice = data["choice"]
                event = choice_event(signed_in.visitor_id, event_id, choice, language)
                echo = None
            else:
                typed = data.get("text")
                if not isinstance(typed, str) or not typed.strip():
                    raise Refusal(400, "web.empty")
                if len(typed) > MAX_TYPED_CHARS:
                    raise Refusal(413, "web.too_long", max=str(MAX_TYPED_CHARS))
                event = text_event(signed_in.visitor_id, event_id, typed, language)
                echo = event.text if event.text.strip() else None
        except Refusal as refusal:
            return _refuse(refusal, language)
        kept = await self._take(event, echo)
        # Words not kept (before consent) are shown by the page itself, until it reloads.
        return JSONResponse({"ok": True} if kept or echo is None else {"ok": True, "shown": echo})

    async def upload(self, request: Request) -> Response:
        """A file, as the raw request body streamed to the file store; its name in
        X-File-Name (URL-encoded). Taken only after consent, at a step that takes files,
        within the hourly caps."""
        language = self._language(request)
        limit_mb = self.config.raw.limits.attachment_max_mb
        too_big = Refusal(413, "web.too_big", mb=str(limit_mb))
        name = clean(unquote(request.headers.get("X-File-Name", "file")), one_line=True)[:200]
        name = name or "file"
        content_type = request.headers.get("Content-Type", "application/octet-stream")
        try:
            signed_in = await self._guard(request)
            event_id = _event_id({"id": request.headers.get("X-Event-Id", "")})
            _check_declared(request, limit_mb * 1024 * 1024, too_big)
            await self._may_upload(request, signed_in.visitor_id)
            upload = NewUpload(signed_in.visitor_id, name, content_type)
            chunks = _file_chunks(request, limit_mb * 1024 * 1024, too_big)
            upload_id, size = await self.uploads.save(upload, chunks, self.clock())
        except Refusal as refusal:
            return _refuse(refusal, language)
        kind = (media_kind(content_type), size)
        event = media_event(signed_in.visitor_id, event_id, upload_id, kind, language)
        await self._take(event, text("web.attached", language, name=name))
        return JSONResponse({"ok": True})

    async def _may_upload(self, request: Request, visitor_id: str) -> None:
        """Refuse an upload before anything is stored: no consent yet, not at a step that
        takes files, or over the hourly caps."""
        gate = await self.db.run(
            lambda session: records.upload_gate(session=session, visitor_id=visitor_id)
        )
        now = self.clock()
        refusal = upload_refusal(gate, now, self.config.raw.limits.dialogue_timeout_minutes)
        if refusal is not None:
            raise refusal
        address = client_address(request, self.trusted_proxies)
        caps = ((self._uploads_per_address, address), (self._uploads_per_session, visitor_id))
        if any(cap.full(key, now) for cap, key in caps):
            raise Refusal(429, "web.upload_limit")
        for cap, key in caps:
            cap.take(key, now)

    async def language(self, request: Request) -> Response:
        """Switch the page and the dialogue to another language."""
        language = self._language(request)
        try:
            signed_in = await self._guard(request)
            data = await _json_body(request)
            chosen = data.get("language")
            if chosen not in LANGUAGES:
                raise Refusal(400, "web.bad_request")
            event = choice_event(signed_in.visitor_id, _event_id(data), f"lang:{chosen}", chosen)
        except Refusal as refusal:
            return _refuse(refusal, language)
        await self._take(event, None)
        response = JSONResponse({"ok": True})
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, path="/chat", samesite="lax"
        )
        return response

    async def _take(self, event: Inbound, echo: str | None) -> bool:
        """Store the event (and the visitor's words in their chat, once they agreed to it),
        then handle it in its chat's turn; whether their words were kept."""
        assert self.intake is not None, "the web chat takes events once started"
        intake, chat_id, now = self.intake, event.chat_id, self.clock()
        payload = event_payload(event)

        def echo_kept(session: Any, new: set[str]) -> bool:
            kept = records.keeps_words(session=session, visitor_id=chat_id)
            if new and kept and echo is not None:
                records.add_message(
                    session=session, chat_id=chat_id, outgoing=False, body={"text": echo}, now=now
                )
            return kept

        async with self._chat_turn(chat_id):  # stored and queued in the order they came
            new, kept = await intake.record(CHANNEL, [(event.event_id, payload)], echo_kept)
            if not new:
                return bool(kept)  # the browser sent it again (e.g. after a lost answer)
            handled = intake.queue(CHANNEL, event.event_id, payload)
        self.waiters.notify(chat_id)
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
        language = self._language(request)
        try:
            signed_in = await self._guard(request)
        except Refusal as refusal:
            return _refuse(refusal, language)
        visitor = signed_in.visitor_id
        token = await self.db.run(
            lambda session: records.new_resume_link(session=session, visitor_id=visitor)
        )
        return JSONResponse({"link": f"{self._base(request)}/chat/resume#{token}"})

    async def resume(self, request: Request) -> Response:
        """Open this conversation in this browser, given the private link and a reference
        code of the visitor's."""
        language = self._language(request)
        try:
            self._same_origin(request, required=True)
            self._limit(request, None)
            data = await _json_body(request)
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
            return _refuse(refusal, language)
        hours = self.config.raw.channels.web.session_days * 24
        return await self._signed_in_as(request, visitor, hours)

    async def signin(self, request: Request) -> Response:
        """Use a one-time staff sign-in link."""
        language = self._language(request)
        try:
            self._same_origin(request, required=True)
            self._limit(request, None)
            data = await _json_body(request)
            token = str(data.get("token", "")).removeprefix("inv_")
            if not TOKEN.match(token):
                raise Refusal(400, "web.signin_failed")
            visitor = await self.db.run(lambda session: self._sign_in(session, token, language))
            if visitor is None:
                raise Refusal(403, "web.signin_failed")
        except Refusal as refusal:
            return _refuse(refusal, language)
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
        self._set_cookie(request, response, opened.token, hours)
        return response

    @staticmethod
    def link_template_for(base_url: str) -> str:
        """The web chat's start link, '{}' marking the payload (a staff invitation)."""
        return f"{base_url}/chat/signin#{{}}"

    # ---- protection ---------------------------------------------------------------------

    async def _signed_in(self, request: Request) -> SignedIn | None:
        token = request.cookies.get(COOKIE, "")
        if not TOKEN.match(token):
            return None
        now = self.clock()
        return await self.db.run(
            lambda session: records.signed_in(session=session, token=token, now=now)
        )

    async def _guard(self, request: Request) -> SignedIn:
        """A state-changing request: same origin, a valid session, its CSRF token, and
        within the rate limits."""
        self._same_origin(request, required=False)
        signed_in = await self._signed_in(request)
        if signed_in is None:
            raise Refusal(401, "web.expired")
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), signed_in.csrf.encode()):
            raise Refusal(403, "web.forbidden")
        self._limit(request, signed_in.visitor_id)
        return signed_in

    def _limit(self, request: Request, visitor: str | None) -> None:
        address = client_address(request, self.trusted_proxies)
        if not self._per_address.allow(address):
            raise Refusal(429, "web.slow_down")
        if visitor is not None and not self._per_session.allow(visitor):
            raise Refusal(429, "web.slow_down")

    def _same_origin(self, request: Request, *, required: bool) -> None:
        origin = request.headers.get("Origin")
        if origin is None and not required:
            return
        if origin is None or origin.rstrip("/") != self._base(request):
            raise Refusal(403, "web.forbidden")

    def _base(self, request: Request) -> str:
        return base_of(self.public_url, request)

    def _set_cookie(self, request: Request, response: Response, token: str, hours: int) -> None:
        secure = self._base(request).startswith("https://")
        response.set_cookie(
            COOKIE,
            token,
            max_age=hours * 3600,
            path="/chat",
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    def _language(self, request: Request) -> str:
        """The visitor's choice on the page, else the organisation's language: a browser's
        Accept-Language alone does not switch it, as Telegram's language_code does not."""
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen in LANGUAGES:
            return str(chosen)
        return self.config.raw.organisation.language


def base_of(public_url: str | None, request: Request) -> str:
    """The origin people reach us at: PUBLIC_URL's, else the one this request came to."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def asset(name: str) -> str:
    """A file of the web pages (page templates, script, style sheets)."""
    return resources.files("bot").joinpath("static", name).read_text(encoding="utf-8")


def _for_page(body: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the page gets it: a shown file by its kind only."""
    shown = body.get("file")
    if isinstance(shown, dict):
        return {**body, "file": {"kind": shown.get("kind")}}
    return body


def upload_refusal(gate: UploadGate, now: dt.datetime, timeout_minutes: int) -> Refusal | None:
    """Why a visitor may not upload now (no consent; not at a step that takes files, or
    silent so long that the dialogue has ended), or None when they may."""
    if not gate.consented:
        return Refusal(403, "web.upload_consent")
    idle = now - gate.updated_at if gate.updated_at is not None else None
    timeout = dt.timedelta(minutes=timeout_minutes)
    if not steps.takes_files(gate.flow, gate.step) or idle is None or idle > timeout:
        return Refusal(409, "web.upload_not_now")
    return None


def _busy_page(language: str) -> Response:
    """A short page instead of a new session, for an address that opened too many."""
    body = f"<!doctype html><meta charset=utf-8><p>{escape(text('web.slow_down', language))}</p>"
    return HTMLResponse(body, status_code=429, headers=SECURITY_HEADERS)


def _refuse(refusal: Refusal, language: str) -> Response:
    message = text(refusal.key, language, **refusal.values)
    return JSONResponse({"error": message}, status_code=refusal.status)


def _event_id(data: dict[str, Any]) -> str:
    event_id = data.get("id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise Refusal(400, "web.bad_request")
    return event_id


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await _read_limited(request, MAX_JSON_BYTES, None)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise Refusal(400, "web.bad_request") from None
    if not isinstance(data, dict):
        raise Refusal(400, "web.bad_request")
    return data


async def _read_limited(request: Request, limit: int, limit_mb: int | None) -> bytes:
    """The body, refused as soon as it passes the limit (never read whole into memory)."""
    too_big = (
        Refusal(413, "web.too_big", mb=str(limit_mb))
        if limit_mb is not None
        else Refusal(413, "web.too_long", max=str(MAX_TYPED_CHARS))
    )
    body = await read_at_most(request, limit)
    if body is None:
        raise too_big
    return body


def row_id(value: str, *, empty: int | None = None) -> int | None:
    """A database id given in a URL: digits only, within what a column holds; `empty` for an
    empty value; None when it is not one."""
    if not value:
        return empty
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ROW_ID else None


def _check_declared(request: Request, limit: int, too_big: Refusal) -> None:
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    if declared == "0":
        raise Refusal(400, "web.empty")


async def _file_chunks(request: Request, limit: int, too_big: Refusal) -> AsyncIterator[bytes]:
    """The body as it arrives, refused as soon as it passes the limit (or if empty)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        if chunk:
            yield chunk
    if size == 0:
        raise Refusal(400, "web.empty")


def redirect_to_chat(_: Request) -> Response:
    """The site root leads to the chat when nothing else is served there."""
    return RedirectResponse("/chat", status_code=307)
