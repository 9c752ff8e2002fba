"""The chat page: its template filled in the visitor's language, its script and style sheet,
and a new session for a browser that has none."""

import datetime as dt
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.channels.web.guard import MAX_TYPED_CHARS, SECURITY_HEADERS, Guard, framed, framed_by
from bot.channels.web.limits import HourlyCap
from bot.config import OrgConfig
from bot.domain.i18n import LANGUAGES, text
from storage import web as records
from storage.db import Database
from storage.web import SignedIn

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
STATIC_TYPES = {"chat.js": "text/javascript", "chat.css": "text/css", "news.css": "text/css"}


@dataclass
class Page:
    """The page's routes: the page itself (chat, resume or sign-in) and its static files."""

    db: Database
    config: OrgConfig
    clock: Callable[[], dt.datetime]
    guard: Guard

    def __post_init__(self) -> None:
        self._sessions_per_address = HourlyCap(
            self.config.raw.channels.web.sessions_per_hour_address
        )
        self._template = string.Template(asset("page.html"))

    async def page(self, request: Request) -> Response:
        """The chat page; a browser without a valid session gets a new one."""
        language = self.guard.language(request)
        signed_in = await self.guard.signed_in(request)
        cookie = None
        if signed_in is None:
            now = self.clock()
            address = self.guard.address(request)
            if self._sessions_per_address.full(address, now):
                return busy_page(language)
            self._sessions_per_address.take(address, now)
            hours = self.config.raw.channels.web.session_days * 24
            opened = await self._new_visitor(hours, now)
            signed_in, cookie = opened.signed_in, (opened.token, hours)
        response = HTMLResponse(self._render(request, language, signed_in))
        if cookie is not None:
            self.guard.set_cookie(request, response, *cookie)
        response.headers.update(self._headers(request))
        return response

    def _headers(self, request: Request) -> dict[str, str]:
        """The chat may be framed by our pages and the Union's sites (the embedded panel); the
        resume and sign-in pages, which take secrets, by nobody."""
        if request.url.path == "/chat":
            return framed_by(self.config.raw.channels.web.embed_origins)
        return SECURITY_HEADERS

    async def _new_visitor(self, hours: int, now: dt.datetime) -> records.NewSession:
        """A new visitor and their first session."""

        def start(session: Any) -> records.NewSession:
            visitor = records.new_visitor(session=session, now=now)
            return records.open_session(session=session, visitor_id=visitor, hours=hours, now=now)

        return await self.db.run(start)

    def _render(self, request: Request, language: str, signed_in: SignedIn) -> str:
        """The page's template filled in for this visitor and this mode."""
        organisation = str(getattr(self.config.raw.organisation.name, language))
        limits = self.config.raw.limits
        sizes = {"max": str(MAX_TYPED_CHARS), "mb": str(limits.attachment_max_mb)}
        strings = {key: text(f"web.{key}", language, **sizes) for key in PAGE_KEYS}
        mode = request.url.path.rsplit("/", 1)[-1]
        values = {
            "lang": language,
            "framed": "1" if framed(request) else "0",
            "title": escape(text("web.title", language, organisation=organisation)),
            "intro": escape(text("web.intro", language, organisation=organisation)),
            "csrf": escape(signed_in.csrf),
            "mode": escape(mode if mode in ("resume", "signin") else "chat"),
            "staff": "1" if signed_in.staff else "0",
            "max_bytes": str(limits.attachment_max_mb * 1024 * 1024),
            "max_chars": str(MAX_TYPED_CHARS),
            "strings": escape(json.dumps(strings, ensure_ascii=False)),
            "languages": _language_buttons(language),
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


def _language_buttons(language: str) -> str:
    """One button per language, the page's own pressed."""
    return "".join(
        f'<button type="button" class="lang" data-lang="{code}"'
        f"{' aria-pressed=true' if code == language else ''}>{code.upper()}</button>"
        for code in LANGUAGES
    )


def asset(name: str) -> str:
    """A file of the web pages (page templates, script, style sheets)."""
    return resources.files("bot").joinpath("static", name).read_text(encoding="utf-8")


def busy_page(language: str) -> Response:
    """A short page instead of a new session, for an address that opened too many."""
    body = f"<!doctype html><meta charset=utf-8><p>{escape(text('web.slow_down', language))}</p>"
    return HTMLResponse(body, status_code=429, headers=SECURITY_HEADERS)


def redirect_to_chat(_: Request) -> Response:
    """The site root leads to the chat when nothing else is served there."""
    return RedirectResponse("/chat", status_code=307)
