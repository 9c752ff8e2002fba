"""Web Push for the web chat: the key (VAPID, RFC 8292), the page's subscribe routes, and
the pushes themselves, encrypted for each browser (RFC 8291, aes128gcm).

A lock screen is public: a notification says what happened and the reference code, never
the answer's text. Pushes go out from tracked background tasks, a few at a time, so the
outbox never waits on a push service.
"""

import asyncio
import base64
import binascii
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.web.guard import Guard, Refusal, json_body, refuse
from bot.config import OrgConfig
from bot.domain.i18n import LANGUAGES, text
from bot.domain.kinds import Kind
from bot.domain.tickets import CODE_PREFIX
from bot.settings import Settings
from storage import push as records
from storage.db import Database
from storage.push import Subscription

log = logging.getLogger(__name__)

# What a push is sent for (the catalog key a message was written from) and its own text.
PUSHED = {
    "notify.taken": "push.taken",
    "notify.reply": "push.reply",
    "notify.ask": "push.ask",
    "notify.resolved": "push.resolved",
    "notify.rejected": "push.rejected",
    "notify.auto_closed": "push.auto_closed",
    "publish.daily_post": "push.daily_post",
}
RECEIPT = "submit.received."  # the receipt of a submission: the page offers notifications
PAGE_STRINGS = ("offer", "enable", "enabled", "denied", "failed", "unsupported")
MAX_ENDPOINT_CHARS = 1000
KEY = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
TTL_SECONDS = 24 * 3600  # a push not delivered within a day says nothing new any more
JWT_SECONDS = 12 * 3600
CONCURRENCY = 4
ATTEMPTS = 4
BACKOFF_SECONDS = 1.0
MAX_WAIT_SECONDS = 30.0
GONE = (404, 410)
TRY_OUT_SUBJECT = "mailto:webpush@localhost"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


# ---- the key ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VapidKey:
    """The app's VAPID key pair and the contact it signs with."""

    private: str  # base64url of the raw 32-byte private number
    subject: str

    @property
    def public(self) -> str:
        """The public key as browsers take it (applicationServerKey): base64url, no padding."""
        point = _vapid(self.private).public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64(point)


def new_key_pair() -> VapidKey:
    """A fresh P-256 key pair (no subject yet)."""
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return VapidKey(_b64(number.to_bytes(32, "big")), "")


def vapid_key(settings: Settings, config: OrgConfig) -> VapidKey | None:
    """The key from WEBPUSH_VAPID_PRIVATE_KEY; in the try-out (no Telegram token) one kept
    in the data directory, made at first start; otherwise None: push is off."""
    subject = settings.webpush_vapid_subject or default_subject(settings, config)
    if settings.webpush_vapid_private_key is not None:
        private = settings.webpush_vapid_private_key.get_secret_value().strip()
        try:
            _vapid(private)
        except (ValueError, binascii.Error):
            raise ValueError(
                "WEBPUSH_VAPID_PRIVATE_KEY is not a VAPID private key: make one with "
                "`python -m bot vapid-keys`"
            ) from None
        return VapidKey(private, subject)
    if settings.telegram_enabled:
        return None
    return VapidKey(_try_out_key(settings.webpush_key_file), subject)


def default_subject(settings: Settings, config: OrgConfig) -> str:
    """Who push services may write to: an e-mail address in config's contact, else the
    public https address, else a placeholder for a try-out."""
    contact = config.raw.organisation.contact
    found = EMAIL.search(f"{contact.vi} {contact.en}") if contact is not None else None
    if found is not None:
        return f"mailto:{found.group()}"
    public = settings.public_base()
    if public is not None and public.startswith("https://"):
        return public
    return TRY_OUT_SUBJECT


def _try_out_key(path: Path) -> str:
    """The try-out's key, made once and kept (mode 0600) so subscriptions survive restarts."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    made = new_key_pair().private
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as kept:
        kept.write(made + "\n")
    # On stderr: stdout carries the try-out's addresses and links, which scripts read.
    print(
        f"Made a Web Push key for this try-out and kept it in {path}. In production set "
        "WEBPUSH_VAPID_PRIVATE_KEY instead (`python -m bot vapid-keys` prints one).",
        file=sys.stderr,
        flush=True,
    )
    return made


def _vapid(private: str) -> Vapid02:
    raw = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4))
    if len(raw) != 32:
        raise ValueError("a VAPID private key is 32 bytes")
    return Vapid02.from_raw(private.encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(value: str) -> bytes | None:
    if not KEY.match(value):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return None


# ---- what a notification says ---------------------------------------------------------------


def notification(
    said: str, gist: Mapping[str, str], language: str, organisation: str
) -> dict[str, str] | None:
    """The notification for a message written from `said`, or None when none is sent: what
    happened and the reference code, never what was written."""
    key = PUSHED.get(said)
    if key is None or language not in LANGUAGES:
        return None
    code, title = gist.get("code", ""), gist.get("title", "")
    if code.startswith(f"{CODE_PREFIX[Kind.CONFIDENTIAL]}-"):
        # Even the code of a confidential report says what it is: nothing but "a message".
        key, code = "push.confidential", ""
    body = text(key, language, organisation=organisation, code=code, title=title)
    return {
        "title": text("push.title", language, organisation=organisation),
        "body": body,
        "tag": code or "caunoi",
        "url": "/chat",
    }


# ---- sending --------------------------------------------------------------------------------


@dataclass
class Pusher:
    """Sends each push from a tracked background task, a few at a time, retried with
    backoff when the push service is busy; a subscription it says is gone is dropped."""

    db: Database
    key: VapidKey
    config: OrgConfig
    clock: Callable[[], dt.datetime]
    concurrency: int = CONCURRENCY
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF_SECONDS
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    _slots: asyncio.Semaphore | None = None

    def notify(self, chat_id: str, said: str | None, gist: Mapping[str, str]) -> None:
        """Push to the chat's browsers if the message is one people are called back for."""
        if said not in PUSHED:
            return
        task = asyncio.create_task(self._to_chat(chat_id, said, dict(gist)), name="push")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the pushes in flight (and any they started) to end."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Finish the pushes in flight, then let go of the connections."""
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _to_chat(self, chat_id: str, said: str, gist: dict[str, str]) -> None:
        subscribed = await self.db.run(
            lambda session: records.subscriptions_of(session=session, chat_id=chat_id)
        )
        await asyncio.gather(*(self._push(s, said, gist) for s in subscribed))

    async def _push(self, subscription: Subscription, said: str, gist: dict[str, str]) -> None:
        name = getattr(self.config.raw.organisation.name, subscription.language, "")
        shown = notification(said, gist, subscription.language, str(name))
        if shown is None:
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            try:
                status = await self._send(subscription, json.dumps(shown, ensure_ascii=False))
            except Exception as error:  # one browser's push never stops the others
                # Never the endpoint or the error's text: the endpoint's path is a secret.
                failed = {"service": _service(subscription.endpoint)}
                log.warning("push failed", extra=failed | {"error": type(error).__name__})
                return
        endpoint, now = subscription.endpoint, self.clock()
        if status in GONE:
            await self.db.run(lambda session: records.drop(session=session, endpoint=endpoint))
        elif 200 <= status < 300:
            await self.db.run(
                lambda session: records.pushed(session=session, endpoint=endpoint, now=now)
            )
        else:
            log.warning(
                "push refused",
                extra={"service": _service(subscription.endpoint), "status": status},
            )

    async def _send(self, subscription: Subscription, payload: str) -> int:
        """POST one encrypted push, again after a pause while the service is busy; the last
        status (a timeout at the end raises)."""
        client = self._http()
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            body, headers = self._encrypted(subscription, payload.encode())
            try:
                response = await client.post(subscription.endpoint, content=body, headers=headers)
            except httpx.TransportError:
                if last:
                    raise
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            busy = response.status_code == 429 or response.status_code >= 500
            if not busy or last:
                return response.status_code
            await asyncio.sleep(_pause(response, self.backoff * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns")

    def _encrypted(self, subscription: Subscription, data: bytes) -> tuple[bytes, dict[str, str]]:
        info = {"endpoint": subscription.endpoint, "keys": _keys(subscription)}
        body = WebPusher(info).encode(data, "aes128gcm")["body"]
        parts = urlsplit(subscription.endpoint)
        claims: dict[str, str | int] = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + JWT_SECONDS,  # the push service's clock, not ours
            "sub": self.key.subject,
        }
        headers = _vapid(self.key.private).sign(claims)
        headers |= {
            "TTL": str(TTL_SECONDS),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": "normal",
        }
        return bytes(body), headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
        return self._client


def _keys(subscription: Subscription) -> dict[str, str]:
    return {"p256dh": subscription.p256dh, "auth": subscription.auth}


def _pause(response: httpx.Response, fallback: float) -> float:
    """How long a busy push service asks us to wait (Retry-After seconds), within reason."""
    given = response.headers.get("Retry-After", "")
    seconds = float(given) if given.isdigit() else fallback
    return min(seconds, MAX_WAIT_SECONDS)


def _service(endpoint: str) -> str:
    """The push service an endpoint belongs to, for logs: its path is the browser's secret."""
    return urlsplit(endpoint).netloc


# ---- the page's routes ---------------------------------------------------------------------


@dataclass
class PushRoutes:
    """The page's side: subscribe and unsubscribe (through the guard), and the service
    worker at /chat/sw.js so that its scope is /chat/."""

    db: Database
    guard: Guard
    clock: Callable[[], dt.datetime]
    key: VapidKey | None
    # Plain-http push services only for a server nobody else reaches (a try-out, tests).
    allow_plain_http: bool = False
    script: Callable[[], str] = lambda: ""

    def routes(self) -> list[Route]:
        """The service worker and the subscribe routes."""
        return [
            Route("/chat/sw.js", self.service_worker, methods=["GET"]),
            Route("/chat/api/push/subscribe", self.subscribe, methods=["POST"]),
            Route("/chat/api/push/unsubscribe", self.unsubscribe, methods=["POST"]),
        ]

    def page_data(self, language: str) -> str:
        """What push.js reads from the page: the public key and its texts (empty: off)."""
        if self.key is None:
            return ""
        strings = {name: text(f"push.{name}", language) for name in PAGE_STRINGS}
        return json.dumps({"key": self.key.public, "strings": strings}, ensure_ascii=False)

    async def service_worker(self, request: Request) -> Response:
        """The service worker that shows the notifications."""
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(self.script(), media_type="text/javascript", headers=headers)

    async def subscribe(self, request: Request) -> Response:
        """Keep this browser's subscription for the visitor's chat."""
        language = self.guard.language(request)
        try:
            signed_in = await self.guard.check(request)
            if self.key is None:
                raise Refusal(404, "push.off")
            data = await json_body(request)
            given = self._subscription(data, language)
        except Refusal as refusal:
            return refuse(refusal, language)
        chat, now = signed_in.visitor_id, self.clock()
        await self.db.run(
            lambda session: records.subscribe(
                session=session, chat_id=chat, subscription=given, now=now
            )
        )
        return JSONResponse({"ok": True})

    async def unsubscribe(self, request: Request) -> Response:
        """Forget this browser's subscription."""
        language = self.guard.language(request)
        try:
            signed_in = await self.guard.check(request)
            endpoint = (await json_body(request)).get("endpoint")
            if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT_CHARS:
                raise Refusal(400, "push.bad_subscription")
        except Refusal as refusal:
            return refuse(refusal, language)
        chat = signed_in.visitor_id
        await self.db.run(
            lambda session: records.unsubscribe(session=session, chat_id=chat, endpoint=endpoint)
        )
        return JSONResponse({"ok": True})

    def _subscription(self, data: dict[str, Any], language: str) -> Subscription:
        """A browser's PushSubscription as the page sends it (its toJSON()), checked."""
        endpoint, keys = data.get("endpoint"), data.get("keys")
        if not isinstance(endpoint, str) or not isinstance(keys, dict):
            raise Refusal(400, "push.bad_subscription")
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not isinstance(p256dh, str) or not isinstance(auth, str):
            raise Refusal(400, "push.bad_subscription")
        if not self._reachable(endpoint) or not valid_keys(p256dh, auth):
            raise Refusal(400, "push.bad_subscription")
        return Subscription(endpoint, p256dh, auth, language)

    def _reachable(self, endpoint: str) -> bool:
        """A push service's URL: https to a named host (never one of our own networks'
        addresses, so a visitor cannot make us post inside them)."""
        if len(endpoint) > MAX_ENDPOINT_CHARS or not endpoint.isascii():
            return False
        try:
            parts = urlsplit(endpoint)
            host = parts.hostname or ""
            _ = parts.port
        except ValueError:
            return False
        if not host or parts.username is not None or parts.password is not None:
            return False
        if parts.scheme == "http" and self.allow_plain_http:
            return True
        return parts.scheme == "https" and _public_host(host)


def _public_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host != "localhost" and not host.endswith((".localhost", ".local", ".internal"))
    return address.is_global


def valid_keys(p256dh: str, auth: str) -> bool:
    """Whether a subscription's keys are a P-256 public point and a 16-byte secret."""
    point, secret = _unb64(p256dh), _unb64(auth)
    if point is None or secret is None or len(secret) != 16 or len(point) != 65:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return False
    return True
