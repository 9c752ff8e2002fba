"""A fake Zalo Official Account API over real HTTP, from the documented payloads, and the
Zalo side of the webhook: events signed as Zalo signs them, posted to our app.

Consultation messages (POST /v3.0/oa/message/cs) are checked field by field: the header
`access_token` must be one the fake OAuth server (tests/fake_zalo_oauth.py) issued and has
not expired (else -216), the body is `{recipient:{user_id}, message:{text ≤ 2000 and/or a
template attachment}}`, and every problem is an application error in an HTTP 200, as Zalo
answers: -201 a bad parameter, -230 the person's last interaction is more than 7 days old by
the fake's clock, -32 more messages in a second than `per_second`, -213 a person who
unfollowed. Ids are digit strings past 2^53, timestamps milliseconds as strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.zalo_oa_events import signature
from tests.fake_zalo_oauth import APP_ID, FakeZaloOAuth
from tests.local_server import LocalServer

OA_ID = "2915426137689004521"
OA_SECRET = "fake-oa-secret-key-for-webhook-events"
MAX_TEXT = 2000
MAX_BUTTONS = 5
MAX_TITLE = 100
MAX_PAYLOAD = 1000
WINDOW = dt.timedelta(days=7)
BUTTON_TYPES = frozenset({"oa.open.url", "oa.query.show", "oa.query.hide"})
BAD_PARAMETER, INVALID_TOKEN, OUTSIDE_WINDOW, TOO_FAST, NOT_FOLLOWING = -201, -216, -230, -32, -213


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def big_id() -> str:
    """A Zalo id: a digit string past 2^53, which a float would change."""
    return str(2**62 + secrets.randbelow(2**61))


@dataclass(frozen=True)
class Sent:
    """One consultation message the OA API accepted."""

    user_id: str
    message: dict[str, Any]
    message_id: str

    @property
    def text(self) -> str:
        """Its text ('' for a lone image)."""
        return str(self.message.get("text") or "")

    @property
    def shown(self) -> str:
        """Its text and its buttons' titles, as the person sees them."""
        return "\n".join([self.text, *(str(b["title"]) for b in self.buttons)])

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Its template's buttons, if it has any."""
        attachment = self.message.get("attachment") or {}
        return list(attachment.get("payload", {}).get("buttons") or [])

    @property
    def image(self) -> str | None:
        """The URL of its image, if it is an image message."""
        payload = (self.message.get("attachment") or {}).get("payload", {})
        elements = payload.get("elements") or []
        return str(elements[0]["url"]) if payload.get("template_type") == "media" else None


@dataclass
class FakeZaloOA:
    """The fake OA: its API on 127.0.0.1 (start()), and the Zalo side of our webhook."""

    oauth: FakeZaloOAuth
    app_id: str = APP_ID
    secret_key: str = OA_SECRET
    clock: Callable[[], dt.datetime] = _utcnow
    per_second: int | None = None
    sent: list[Sent] = field(default_factory=list)
    # Every call, accepted or not: the user it was for and Zalo's error (0: accepted).
    answers: list[tuple[str, int]] = field(default_factory=list)
    unfollowed: set[str] = field(default_factory=set)
    _last_interaction: dict[str, dt.datetime] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _last_stamp: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _http: LocalServer = field(default_factory=LocalServer)
    # While set, sends arrive (counted in `arrived`) and wait: set it, the sender is gone.
    _held: asyncio.Event | None = None
    arrived: int = 0

    def hold(self) -> None:
        """From now on a send is counted on arrival and kept waiting, unanswered, until
        drop_held(), which answers it 503 without taking it (its sender was killed)."""
        self._held = asyncio.Event()

    def drop_held(self) -> None:
        """Answer the waiting sends 503, not taken, and stop holding."""
        if self._held is not None:
            self._held.set()
            self._held = None

    async def start(self) -> None:
        """Serve on a free local port until stop()."""
        self._changed = asyncio.Condition()
        await self._http.start(self.asgi())

    async def stop(self) -> None:
        """Stop serving."""
        self.drop_held()
        await self._http.stop()

    @property
    def base_url(self) -> str:
        """What ZALO_OA_API_BASE_URL should be to use this server."""
        return self._http.origin

    # ---- events, as Zalo posts them to the webhook ------------------------------------

    def event(self, name: str, user: str, **message: Any) -> dict[str, Any]:
        """A user event as documented: sender, recipient (the OA), message with msg_id."""
        return {
            "app_id": self.app_id,
            "user_id_by_app": big_id(),
            "event_name": name,
            "sender": {"id": user},
            "recipient": {"id": OA_ID},
            "message": {"msg_id": secrets.token_hex(16), **message},
            "timestamp": self._stamp(),
        }

    def follow(self, user: str, name: str = "follow") -> dict[str, Any]:
        """A follow (or unfollow) event: the follower, no message."""
        return {
            "app_id": self.app_id,
            "oa_id": OA_ID,
            "user_id_by_app": big_id(),
            "event_name": name,
            "source": "oa_profile",
            "follower": {"id": user},
            "timestamp": self._stamp(),
        }

    def text(self, user: str, text: str) -> dict[str, Any]:
        """The person typed a text."""
        return self.event("user_send_text", user, text=text)

    def press(self, user: str, button: dict[str, Any], event: str = "user_send_text") -> Any:
        """The person pressed a template button: its payload comes back as their message
        (as a text, or as an event of its own)."""
        assert button["type"] in ("oa.query.show", "oa.query.hide"), button
        return self.event(event, user, text=button["payload"])

    def image(self, user: str, url: str, caption: str = "") -> dict[str, Any]:
        """The person sent a photo (Zalo hands its URL)."""
        attachment = {"type": "image", "payload": {"url": url, "thumbnail": url}}
        return self.event("user_send_image", user, text=caption, attachments=[attachment])

    def signed(self, body: bytes, timestamp: str) -> dict[str, str]:
        """The headers Zalo sends an event with."""
        mac = signature(self.app_id, body, timestamp, self.secret_key)
        return {"X-ZEvent-Signature": mac, "Content-Type": "application/json"}

    async def post(
        self, url: str, event: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST an event to our webhook, signed unless `headers` says otherwise; a user
        event (not an unfollow) counts as their interaction with the OA."""
        body = json.dumps(event, ensure_ascii=False).encode()
        sent = self.signed(body, str(event["timestamp"])) if headers is None else headers
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=body, headers=sent)
        person = (event.get("sender") or event.get("follower") or {}).get("id")
        if response.status_code == 200 and person and event["event_name"] != "unfollow":
            self._last_interaction[str(person)] = self.clock()
            self.unfollowed.discard(str(person))
        if event["event_name"] == "unfollow":
            self.unfollowed.add(str(person))
        return response

    # ---- what the OA sent ---------------------------------------------------------------

    def to(self, user: str) -> list[Sent]:
        """The messages accepted for one person, in order."""
        return [s for s in self.sent if s.user_id == user]

    def texts(self, user: str) -> list[str]:
        """What one person was shown, in order (texts and buttons' titles)."""
        return [s.shown for s in self.to(user)]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 15) -> None:
        """Wait until the predicate holds, re-checking after every request."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    # ---- the server -------------------------------------------------------------------

    def asgi(self) -> Starlette:
        """The ASGI application."""
        return Starlette(routes=[Route("/v3.0/oa/message/cs", self._send, methods=["POST"])])

    async def _send(self, request: Request) -> Response:
        if self._held is not None:
            held = self._held
            self.arrived += 1
            self._notify_soon()
            await held.wait()
            return Response("gone", status_code=503)
        token = request.headers.get("access_token", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._answer("", BAD_PARAMETER, "Body is not JSON")
        problem = _check(body)
        user = str(body.get("recipient", {}).get("user_id", "")) if isinstance(body, dict) else ""
        if problem is not None:
            return self._answer(user, BAD_PARAMETER, problem)
        if not self.oauth.is_valid(token):
            return self._answer(user, INVALID_TOKEN, "Access token is invalid")
        if user in self.unfollowed:
            return self._answer(user, NOT_FOLLOWING, "User has not followed the OA")
        last = self._last_interaction.get(user)
        if last is None or self.clock() - last > WINDOW:
            return self._answer(user, OUTSIDE_WINDOW, "User has not interacted in 7 days")
        if self._too_fast():
            return self._answer(user, TOO_FAST, "Exceeded the rate limit")
        message_id = f"{next(self._ids):032x}"
        self.sent.append(Sent(user, body["message"], message_id))
        return self._answer(user, 0, "Success", {"message_id": message_id, "user_id": user})

    def _too_fast(self) -> bool:
        if self.per_second is None:
            return False
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1:
            self._recent.popleft()
        if len(self._recent) >= self.per_second:
            return True
        self._recent.append(now)
        return False

    def _answer(
        self, user: str, error: int, message: str, data: dict[str, Any] | None = None
    ) -> Response:
        self.answers.append((user, error))
        self._notify_soon()
        body: dict[str, Any] = {"error": error, "message": message}
        if data is not None:
            body["data"] = data
        return JSONResponse(body)  # application errors are HTTP 200 too

    def _stamp(self) -> str:
        """The event's time in milliseconds, as a string; later events always later (the
        test's clock may stand still)."""
        self._last_stamp = max(int(self.clock().timestamp() * 1000), self._last_stamp + 1)
        return str(self._last_stamp)

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()


def _check(body: Any) -> str | None:
    """What is wrong with a consultation message's body, as the docs describe it."""
    if not isinstance(body, dict) or set(body) != {"recipient", "message"}:
        return "the body takes recipient and message"
    recipient, message = body["recipient"], body["message"]
    if not isinstance(recipient, dict) or set(recipient) != {"user_id"}:
        return "recipient takes user_id"
    if not isinstance(recipient["user_id"], str) or not recipient["user_id"].isdigit():
        return "user_id must be a string of digits"
    if not isinstance(message, dict) or not message or set(message) - {"text", "attachment"}:
        return "message takes text and attachment"
    text = message.get("text")
    if text is not None and (not isinstance(text, str) or not text or len(text) > MAX_TEXT):
        return f"text must be 1 to {MAX_TEXT} characters"
    attachment = message.get("attachment")
    return None if attachment is None else _check_attachment(attachment, text)


def _check_attachment(attachment: Any, text: Any) -> str | None:
    if not isinstance(attachment, dict) or set(attachment) != {"type", "payload"}:
        return "attachment takes type and payload"
    payload = attachment["payload"]
    if attachment["type"] != "template" or not isinstance(payload, dict):
        return "attachment.type must be template"
    if payload.get("template_type") == "media":
        elements = payload.get("elements")
        if set(payload) != {"template_type", "elements"} or not isinstance(elements, list):
            return "a media template takes template_type and elements"
        if len(elements) != 1 or set(elements[0]) != {"media_type", "url"}:
            return "a media template has one element with media_type and url"
        url = elements[0]["url"]
        ok = elements[0]["media_type"] == "image" and str(url).startswith("http")
        return None if ok else "the element must be an image by URL"
    buttons = payload.get("buttons")
    if set(payload) != {"buttons"} or not isinstance(buttons, list):
        return "a button template takes buttons"
    if not text:
        return "a message with buttons needs text"
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        return f"1 to {MAX_BUTTONS} buttons"
    for button in buttons:
        if not isinstance(button, dict) or set(button) != {"title", "type", "payload"}:
            return "a button takes title, type and payload"
        if button["type"] not in BUTTON_TYPES:
            return f"unknown button type {button['type']}"
        if not 1 <= len(str(button["title"])) <= MAX_TITLE:
            return f"a button title is 1 to {MAX_TITLE} characters"
        if not isinstance(button["payload"], str) or len(button["payload"]) > MAX_PAYLOAD:
            return f"a query button's payload is a string of at most {MAX_PAYLOAD} characters"
    return None
