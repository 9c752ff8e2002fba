"""What a request to the web chat must pass: a session, our own origin, the session's CSRF
token, the rate limits, and a body that reads as what it claims; refused politely otherwise,
in the visitor's language."""

import datetime as dt
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.channels.web.limits import RateLimit
from bot.channels.web.sessions import Sessions
from bot.config import OrgConfig
from bot.domain.i18n import LANGUAGES, text
from bot.web import Networks, client_address, read_at_most
from storage.db import Database
from storage.web import SignedIn

COOKIE = "caunoi_session"
LANGUAGE_COOKIE = "caunoi_lang"
CSRF_HEADER = "X-CSRF-Token"
MAX_JSON_BYTES = 100_000
MAX_TYPED_CHARS = 20_000
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
MAX_ROW_ID = 2**63 - 1  # the largest id a database column holds
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",  # for browsers older than CSP's frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # secure contexts even over http


def framed_by(origins: Iterable[str]) -> dict[str, str]:
    """The security headers of a page that our own pages and these sites may show in a
    frame (the chat page; every other page may not be framed at all)."""
    ancestors = " ".join(["'self'", *origins])
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", f"frame-ancestors {ancestors}"
    )
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "X-Frame-Options"}
    return {**headers, "Content-Security-Policy": policy}


def framed(request: Request) -> bool:
    """Whether the browser loads this page inside a frame (the embedded chat's panel)."""
    return request.headers.get("sec-fetch-dest") == "iframe" or "embed" in request.query_params


class Refusal(Exception):
    """A request we answer with a polite message in the visitor's language."""

    def __init__(self, status: int, key: str, **values: str) -> None:
        super().__init__(key)
        self.status, self.key, self.values = status, key, values


def refuse(refusal: Refusal, language: str) -> Response:
    """The refusal as the page shows it: its message, in the visitor's language."""
    message = text(refusal.key, language, **refusal.values)
    return JSONResponse({"error": message}, status_code=refusal.status)


@dataclass
class Guard:
    """Who is asking and whether they may: sessions, origin, CSRF and rate limits."""

    db: Database
    config: OrgConfig
    clock: Callable[[], dt.datetime]
    public_url: str | None
    # Reverse proxies whose X-Forwarded-For names the visitor's address (TRUSTED_PROXIES).
    trusted_proxies: Networks

    def __post_init__(self) -> None:
        web = self.config.raw.channels.web
        self._per_session = RateLimit(web.requests_per_minute_session)
        self._per_address = RateLimit(web.requests_per_minute_address)
        self.sessions = Sessions(self.db, self.clock)

    async def signed_in(self, request: Request) -> SignedIn | None:
        """The browser's live session, if its cookie names one."""
        token = request.cookies.get(COOKIE, "")
        if not TOKEN.match(token):
            return None
        return await self.sessions.signed_in(token)

    async def check(self, request: Request) -> SignedIn:
        """A state-changing request: same origin, a valid session, its CSRF token, and
        within the rate limits."""
        self.same_origin(request, required=False)
        signed_in = await self.signed_in(request)
        if signed_in is None:
            raise Refusal(401, "web.expired")
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), signed_in.csrf.encode()):
            raise Refusal(403, "web.forbidden")
        self.limit(request, signed_in.visitor_id)
        return signed_in

    def limit(self, request: Request, visitor: str | None) -> None:
        """Refuse a request past its address's rate, or its session's when it has one."""
        now = time.monotonic()
        if not self._per_address.allow(self.address(request), now):
            raise Refusal(429, "web.slow_down")
        if visitor is not None and not self._per_session.allow(visitor, now):
            raise Refusal(429, "web.slow_down")

    def same_origin(self, request: Request, *, required: bool) -> None:
        """Refuse a request from another site's page (or, if required, from no page)."""
        origin = request.headers.get("Origin")
        if origin is None and not required:
            return
        if origin is None or origin.rstrip("/") != self.base(request):
            raise Refusal(403, "web.forbidden")

    def address(self, request: Request) -> str:
        """The visitor's network address, through our trusted proxies."""
        return client_address(request, self.trusted_proxies)

    def base(self, request: Request) -> str:
        """The origin people reach us at."""
        return base_of(self.public_url, request)

    def set_cookie(self, request: Request, response: Response, token: str, hours: int) -> None:
        """Give the browser its session (sent back only to /chat, never to scripts). In a
        frame on another site the browser sends only a cookie marked for that (SameSite=None,
        which must be Secure), kept apart for each site that frames us (Partitioned)."""
        if framed(request) and self.secure_context(request):
            third_party_cookie(response, COOKIE, token, max_age=hours * 3600, httponly=True)
            return
        response.set_cookie(
            COOKIE,
            token,
            max_age=hours * 3600,
            path="/chat",
            httponly=True,
            samesite="lax",
            secure=self.base(request).startswith("https://"),
        )

    def remember_language(self, request: Request, response: Response, language: str) -> None:
        """Keep the visitor's language for the page; not a secret, so where browsers allow
        it the cookie is also sent in a frame on another site (the embedded chat)."""
        year = 365 * 24 * 3600
        if self.base(request).startswith("https://"):
            third_party_cookie(response, LANGUAGE_COOKIE, language, max_age=year, httponly=False)
        else:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=year, path="/chat")

    def secure_context(self, request: Request) -> bool:
        """Whether browsers keep a Secure cookie from us: over https, or on this machine."""
        parts = urlsplit(self.base(request))
        host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
        return parts.scheme == "https" or host.lower() in LOOPBACK_HOSTS

    def language(self, request: Request) -> str:
        """The visitor's choice on the page, else the organisation's language: a browser's
        Accept-Language alone does not switch it, as Telegram's language_code does not."""
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen in LANGUAGES:
            return str(chosen)
        return self.config.raw.organisation.language


def third_party_cookie(
    response: Response, name: str, value: str, *, max_age: int, httponly: bool
) -> None:
    """A cookie for /chat that browsers also send in a frame on another site, one jar per
    site (written by hand: Python's http.cookies learns Partitioned only in 3.14)."""
    flags = "; HttpOnly" if httponly else ""
    attributes = f"Max-Age={max_age}; Path=/chat; SameSite=None; Secure; Partitioned{flags}"
    response.headers.append("set-cookie", f"{name}={value}; {attributes}")


def base_of(public_url: str | None, request: Request) -> str:
    """The origin people reach us at: PUBLIC_URL's, else the one this request came to."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


# ---- what a request carries -------------------------------------------------------------


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, refused when too long (never read whole) or not one."""
    raw = await read_at_most(request, MAX_JSON_BYTES)
    if raw is None:
        raise Refusal(413, "web.too_long", max=str(MAX_TYPED_CHARS))
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise Refusal(400, "web.bad_request") from None
    if not isinstance(data, dict):
        raise Refusal(400, "web.bad_request")
    return data


def event_id(data: dict[str, Any]) -> str:
    """The page's own id of what the visitor did (it sends it again after a lost answer)."""
    given = data.get("id")
    if not isinstance(given, str) or not EVENT_ID.match(given):
        raise Refusal(400, "web.bad_request")
    return given


def row_id(value: str, *, empty: int | None = None) -> int | None:
    """A database id given in a URL: digits only, within what a column holds; `empty` for an
    empty value; None when it is not one."""
    if not value:
        return empty
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ROW_ID else None
