"""A fake Zalo Bot API server over real HTTP, honest to the documented methods and quirks.

Every call is POST JSON to /bot<TOKEN>/<method> and checked against the method table (an
unknown method, an unknown or missing field, a text over 2000 characters are refused). Its
quirks, as documented and seen: the envelope's `ok` is what counts (a wrong token answers
HTTP 200 with ok:false, error_code 401); getUpdates gives one update at a time with no
offset, and an idle long poll answers HTTP 408 ok:false; ids are hex strings, dates
milliseconds; 429 means the quota is used up. sendPhoto fetches its photo URL, as Zalo does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

from tests.local_server import LocalServer

BOT_ID = "7a3f09c1d2e4b5a6"
TOKEN = f"{BOT_ID}:fake-secret-for-the-zalo-bot-api"
MAX_TEXT = 2000
# Each method's fields: name -> required.
METHODS: dict[str, dict[str, bool]] = {
    "getMe": {},
    "getUpdates": {"timeout": False},
    "setWebhook": {"url": True, "secret_token": True},
    "deleteWebhook": {},
    "getWebhookInfo": {},
    "sendMessage": {"chat_id": True, "text": True},
    "sendPhoto": {"chat_id": True, "photo": True, "caption": False},
    "sendSticker": {"chat_id": True, "sticker": True},
    "sendChatAction": {"chat_id": True, "action": True},
}


@dataclass(frozen=True)
class Call:
    """One request the bot made, and when."""

    method: str
    params: dict[str, Any]
    ok: bool
    at: float
    result: Any = None


@dataclass
class FakeZaloBot:
    """The fake server's state; start() serves it on 127.0.0.1."""

    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, str] = field(default_factory=dict)
    # The bytes each sendPhoto fetched from its URL (None: the URL did not serve a file).
    fetched: list[bytes | None] = field(default_factory=list)
    # Chats that blocked the bot, and the error code Zalo answers for them.
    blocked: set[str] = field(default_factory=set)
    quota_left: int | None = None
    _pending: deque[dict[str, Any]] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _http: LocalServer = field(default_factory=LocalServer)
    _closing: bool = False

    async def start(self) -> None:
        """Serve on a free local port until stop()."""
        self._changed = asyncio.Condition()
        await self._http.start(self.asgi())

    async def stop(self) -> None:
        """Release long polls and stop serving."""
        self._closing = True
        await self._notify()
        await self._http.stop()

    @property
    def base_url(self) -> str:
        """What ZALO_BOT_API_BASE_URL should be for a bot to use this server."""
        return self._http.origin

    # ---- what tests do ----------------------------------------------------------------

    def update(
        self, user: str, event: str, is_bot: bool = False, **content: Any
    ) -> dict[str, Any]:
        """An update as Zalo sends it: a message from this user in their private chat."""
        message = {
            "from": {"id": user, "display_name": f"Người dùng {user[:4]}", "is_bot": is_bot},
            "chat": {"id": user, "chat_type": "PRIVATE"},
            "message_id": secrets.token_hex(16),
            "date": int(time.time() * 1000),
            **content,
        }
        return {"event_name": event, "message": message}

    def push(self, update: dict[str, Any]) -> str:
        """Queue an update for getUpdates; its message id."""
        self._pending.append(update)
        self._notify_soon()
        return str(update["message"]["message_id"])

    def text(self, user: str, text: str) -> str:
        """Queue a text from this user."""
        return self.push(self.update(user, "message.text.received", text=text))

    def taken(self) -> int:
        """How many queued updates getUpdates has handed out."""
        return sum(1 for c in self.calls if c.method == "getUpdates" and c.ok)

    def sent(
        self, method: str = "sendMessage", chat_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The parameters of successful calls to this method, optionally to one chat."""
        return [
            c.params
            for c in self.calls
            if c.method == method and c.ok and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def texts(self, chat_id: str) -> list[str]:
        """What one chat was shown, in order: texts, and photos' captions."""
        shown = []
        for c in self.calls:
            if (
                c.ok
                and c.method in ("sendMessage", "sendPhoto")
                and c.params["chat_id"] == chat_id
            ):
                shown.append(str(c.params.get("text") or c.params.get("caption") or ""))
        return shown

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 15) -> None:
        """Wait until the predicate holds, re-checking after every request."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    # ---- the server -------------------------------------------------------------------

    def asgi(self) -> Starlette:
        """The ASGI application."""
        return Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["POST"])])

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:  # HTTP 200, as seen
            return self._record(method, {}, _error(401, "Unauthorized", status=200))
        fields = METHODS.get(method)
        if fields is None:
            return self._record(method, {}, _error(404, "Method not found"))
        try:
            params = await request.json()
        except ValueError:
            return self._record(method, {}, _error(400, "Body is not JSON"))
        problem = _check(params, fields) if isinstance(params, dict) else "not an object"
        if problem is None and method in ("sendMessage", "sendPhoto"):
            problem = self._check_send(params)
        if problem is not None:
            return self._record(method, params, _error(400, problem))
        if method == "getUpdates":
            return self._record(method, params, await self._get_updates(params))
        if method.startswith("send"):
            failure = self._refusal(str(params["chat_id"]))
            if failure is not None:
                return self._record(method, params, failure)
        if method == "sendPhoto":
            self.fetched.append(await _fetch(str(params["photo"])))
        result = self._result(method, params)
        return self._record(method, params, _ok(result), result)

    def _check_send(self, params: dict[str, Any]) -> str | None:
        if not isinstance(params["chat_id"], str):
            return "chat_id must be a string"
        for key in ("text", "caption"):
            if key in params and len(str(params[key])) > MAX_TEXT:
                return f"{key} is longer than {MAX_TEXT} characters"
        return None

    def _refusal(self, chat_id: str) -> JSONResponse | None:
        if chat_id in self.blocked:
            return _error(403, "User has blocked the bot")
        if self.quota_left is not None:
            if self.quota_left <= 0:
                return _error(429, "Quota exceeded")
            self.quota_left -= 1
        return None

    async def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        if self.webhook:
            return _error(409, "Webhook is active")
        timeout = float(params.get("timeout") or 0)
        assert self._changed is not None
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._pending) or self._closing), timeout
                )
        if not self._pending:
            return _error(408, "Request timeout")
        return _ok(self._pending.popleft())

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {"id": BOT_ID, "account_name": "bot.caunoi", "can_join_groups": False}
        if method == "setWebhook":
            self.webhook = {"url": params["url"], "secret_token": params["secret_token"]}
        if method == "deleteWebhook":
            self.webhook = {}
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", "")}
        if method.startswith("send") and method != "sendChatAction":
            return {"message_id": f"{next(self._ids):032x}", "date": int(time.time() * 1000)}
        return True

    def _record(
        self, method: str, params: dict[str, Any], response: JSONResponse, result: Any = None
    ) -> Response:
        ok = b'"ok":true' in bytes(response.body)
        self.calls.append(Call(method, params, ok, time.monotonic(), result))
        self._notify_soon()
        return response

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()


def _check(params: dict[str, Any], fields: dict[str, bool]) -> str | None:
    for name in params:
        if name not in fields:
            return f"unexpected field {name}"
    for name, required in fields.items():
        if required and params.get(name) in (None, ""):
            return f"field {name} is required"
    secret = params.get("secret_token")
    if secret is not None and not 8 <= len(str(secret)) <= 256:
        return "secret_token must be 8-256 characters"
    return None


async def _fetch(url: str) -> bytes | None:
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.content if response.status_code == 200 else None


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, *, status: int | None = None) -> JSONResponse:
    body = {"ok": False, "error_code": code, "description": description}
    return JSONResponse(body, status_code=status or code)
