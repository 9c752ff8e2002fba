"""The chat page: its template filled in the visitor's language, its script and style sheet,
and a new session for a browser that has none."""

import datetime as dt
import functools
import hashlib
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
from bot.domain.tickets import CODE_PREFIX
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
    "code_copy",
    "code_copied",
    "photo",
    "locate",
    "locate_denied",
    "locate_unavailable",
]
STATIC_TYPES = {
    "chat.js": "text/javascript; charset=utf-8",
    "push.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "news.css": "text/css; charset=utf-8",
    "icon-32.png": "image/png",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
    "icon-maskable-512.png": "image/png",
    "apple-touch-icon.png": "image/png",
    "favicon.ico": "image/x-icon",
}
# Script and styles change with each release (their URLs do not), icons hardly ever; both are
# revalidated cheaply by their ETag.
SCRIPT_CACHE = "public, max-age=3600"
IMAGE_CACHE = "public, max-age=604800"
THEME_COLOUR = "#0b5cad"  # the Union's blue, as in chat.css


@dataclass
class Page:
    """The page's routes: the page itself (chat, resume or sign-in) and its static files."""

    db: Database
    config: OrgConfig
    clock: Callable[[], dt.datetime]
    guard: Guard
    # What push.js reads from the page in a language (empty when push is off).
    push_data: Callable[[str], str] = lambda _language: ""

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
            "push": escape(self.push_data(language)),
            "theme": THEME_COLOUR,
            "codes": "|".join(CODE_PREFIX.values()),
            **{key: escape(value) for key, value in strings.items()},
        }
        return self._template.substitute(values)

    async def static(self, request: Request) -> Response:
        """The page's script, style sheets and icons."""
        name = request.path_params["name"]
        if name not in STATIC_TYPES:
            return Response("not found", status_code=404)
        return static_file(request, name)

    async def favicon(self, request: Request) -> Response:
        """The icon browsers ask the site root for."""
        return static_file(request, "favicon.ico")

    async def manifest(self, request: Request) -> Response:
        """The web app manifest, so the chat can be installed on a phone's home screen."""
        language = self.config.raw.organisation.language
        organisation = str(getattr(self.config.raw.organisation.name, language))
        body = json.dumps(
            web_manifest(text("web.title", language, organisation=organisation), language),
            ensure_ascii=False,
        ).encode()
        headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type="application/manifest+json", headers=headers)


def web_manifest(name: str, language: str) -> dict[str, Any]:
    """The manifest's fields: the chat full screen in the Union's blue, with its icons."""
    icons: list[dict[str, str]] = [
        {"src": "/chat/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/chat/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "/chat/static/icon-maskable-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    return {
        "name": name,
        "short_name": "Cầu Nối",
        "lang": language,
        "start_url": "/chat",
        "scope": "/chat",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": "#f3f6fa",
        "icons": icons,
    }


def static_file(request: Request, name: str) -> Response:
    """A static file with its type and caching headers; 304 when the browser has it."""
    content = asset_bytes(name)
    tag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    cache = IMAGE_CACHE if STATIC_TYPES[name].startswith("image/") else SCRIPT_CACHE
    headers = {"Cache-Control": cache, "ETag": tag, "X-Content-Type-Options": "nosniff"}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=STATIC_TYPES[name], headers=headers)


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


@functools.cache
def asset_bytes(name: str) -> bytes:
    """A static file's bytes, read once per process."""
    return resources.files("bot").joinpath("static", name).read_bytes()


def busy_page(language: str) -> Response:
    """A short page instead of a new session, for an address that opened too many."""
    body = f"<!doctype html><meta charset=utf-8><p>{escape(text('web.slow_down', language))}</p>"
    return HTMLResponse(body, status_code=429, headers=SECURITY_HEADERS)


def redirect_to_chat(_: Request) -> Response:
    """The site root leads to the chat when nothing else is served there."""
    return RedirectResponse("/chat", status_code=307)
