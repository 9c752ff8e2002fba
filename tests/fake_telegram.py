"""A fake Telegram Bot API server over real HTTP, honest to the Bot API's method table.


It records every call, serves getUpdates with Telegram's offset semantics (an update is
confirmed when a later call asks for a higher offset), and answers 400 to an unknown field
or a missing required one, 404 to an unknown method, 409 to getUpdates while a webhook is
set. On demand it answers 403, 429 with retry_after, 5xx, or with simulated latency.
Run it alone with `python -m tests.fake_telegram --port 0` (prints the port); the /_fake/
routes then let another process push updates and read what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.local_server import LocalServer

SPEC = json.loads((Path(__file__).parent / "data" / "api-fields.json").read_text())
TOKEN = "123456789:TEST-token-for-the-fake-bot-api-server"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Cầu Nối",
    "username": "caunoi_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
ERRORS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: can't use getUpdates method while webhook is active",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    status: int
    result: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Failure:
    """An error to answer instead of success, for one method and optionally one chat."""

    status: int
    retry_after: int | None = None
    chat_id: str | None = None
    times: int = 1
    description: str | None = None


@dataclass
class FakeTelegram:
    """The fake server's state; start() serves it on 127.0.0.1."""

    token: str = TOKEN
    latency: float = 0.0
    calls: list[Call] = field(default_factory=list)
    confirmed_offset: int = 0
    webhook_url: str = ""
    # A user's first name on Telegram, when not User<id>.
    names: dict[int, str] = field(default_factory=dict)
    # What a file path getFile gave out serves, when not file_content(path) (a real photo).
    files: dict[str, bytes] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _failures: dict[str, deque[Failure]] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None
    _http: LocalServer = field(default_factory=LocalServer)
    _closing: bool = False
    _ok_counts: Counter[str] = field(default_factory=Counter)
    # Successful sendMessage calls per chat: a waiter re-checks it after every request, so
    # scanning every call instead would cost the fake more the longer a bench runs.
    _ok_by_chat: Counter[str] = field(default_factory=Counter)
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    # Telegram's flood limit, when set: more sends than this in any second get 429.
    sends_per_second: float | None = None
    # Chats that blocked the bot: every send to them gets 403; and, when set, every chat
    # whose id is a multiple of this (50: 2% of consecutive ids).
    blocked: set[str] = field(default_factory=set)
    blocked_every: int | None = None
    too_many: int = 0
    _recent_sends: deque[float] = field(default_factory=deque)

    # ---- life cycle -------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1 (a free port by default) until stop()."""
        self._changed = asyncio.Condition()
        await self._http.start(self.asgi(), port)

    async def stop(self) -> None:
        """Release long polls and stop serving."""
        self._closing = True
        await self._notify()
        await self._http.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._http.port

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be for a bot to use this server."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ---- what tests do ----------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update = {"update_id": next(self._update_ids), **update}
        self._pending.append(update)
        self._notify_soon()
        return int(update["update_id"])

    def make_update(self, user_id: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
        """An update carrying a private message from this user (text or other content)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": self.name(user_id)},
            "from": self.user(user_id),
            **extra,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": next(self._update_ids), "message": message}

    def message(self, user_id: int, text: str | None = None, **extra: Any) -> int:
        """Queue a private message from this user; returns its update_id."""
        update = self.make_update(user_id, text, **extra)
        self._pending.append(update)
        self._notify_soon()
        return int(update["update_id"])

    def press(
        self, user_id: int, data: str, message_id: int = 1, chat_id: int | None = None
    ) -> int:
        """Queue a button press on one of the bot's messages (in the user's private chat
        unless chat_id names a group); returns its update_id."""
        chat = chat_id if chat_id is not None else user_id
        return self.push(
            {
                "callback_query": {
                    "id": f"cq{next(self._message_ids)}",
                    "from": self.user(user_id),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
                        "from": BOT_USER,
                        "text": "…",
                    },
                }
            }
        )

    def name(self, user_id: int) -> str:
        """A user's first name."""
        return self.names.get(user_id, f"User{user_id}")

    def user(self, user_id: int, language: str | None = None) -> dict[str, Any]:
        """A Telegram user object."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": self.name(user_id)}
        if language:
            user["language_code"] = language
        return user

    def hold(self, method: str) -> asyncio.Event:
        """Keep every call to this method waiting until the returned event is set."""
        return self._holds.setdefault(method, asyncio.Event())

    def fail(self, method: str, status: int, **kwargs: Any) -> None:
        """Answer the next call(s) to this method with an error."""
        self._failures.setdefault(method, deque()).append(Failure(status, **kwargs))

    def sent(
        self, method: str = "sendMessage", chat_id: int | str | None = None
    ) -> list[dict[str, Any]]:
        """The parameters of successful calls to this method, optionally to one chat."""
        return [
            c.params
            for c in self.calls
            if c.method == method
            and c.status == 200
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def message_ids(self, chat_id: int | str, containing: str) -> list[int]:
        """The ids of the messages sent to a chat whose text contains a string."""
        return [
            int(c.result["message_id"])
            for c in self.calls
            if c.method == "sendMessage"
            and c.status == 200
            and str(c.params.get("chat_id")) == str(chat_id)
            and containing in str(c.params.get("text"))
        ]

    def shown(self, chat_id: int | str, message_id: int) -> str:
        """A message's text as the chat shows it now, after any edits."""
        text = ""
        for c in self.calls:
            if c.status != 200 or str(c.params.get("chat_id")) != str(chat_id):
                continue
            if c.method == "sendMessage" and c.result["message_id"] == message_id:
                text = str(c.params["text"])
            if c.method == "editMessageText" and int(c.params["message_id"]) == message_id:
                text = str(c.params["text"])
        return text

    def texts(self, chat_id: int | str) -> list[str]:
        """The texts sent to one chat, in order."""
        return [str(p["text"]) for p in self.sent("sendMessage", chat_id)]

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 15) -> None:
        """Wait until the predicate holds, re-checking after every request."""
        assert self._changed is not None
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    # ---- the server -------------------------------------------------------------------

    def asgi(self) -> Starlette:
        """The ASGI application."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
                Route("/_fake/push", self._control_push, methods=["POST"]),
                Route("/_fake/config", self._control_config, methods=["POST"]),
                Route("/_fake/calls", self._control_calls, methods=["GET"]),
                Route("/_fake/wait", self._control_wait, methods=["GET"]),
                Route("/_fake/wait_chat", self._control_wait_chat, methods=["GET"]),
                Route("/_fake/sends", self._control_sends, methods=["GET"]),
            ]
        )

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        spec = SPEC["methods"].get(method)
        if spec is None:
            return self._record(method, {}, _error(404, "Not Found: method not found"))
        params = await _params(request, spec)
        problem = _check(params, spec)
        if problem:
            return self._record(method, params, _error(400, f"Bad Request: {problem}"))
        if self.latency and method != "getUpdates":
            await asyncio.sleep(self.latency)
        if method in self._holds:
            await self._holds[method].wait()
        failure = self._take_failure(method, params) or self._enforce(method, params)
        if failure is not None:
            return self._record(method, params, _failure_response(failure))
        if method == "getUpdates":
            return self._record(method, params, await self._get_updates(params))
        result = self._result(method, params, spec)
        return self._record(method, params, _ok(result), result)

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.path_params["path"]
        return Response(self.files.get(path) or file_content(path))

    def _record(
        self, method: str, params: dict[str, Any], response: Response, result: Any = None
    ) -> Response:
        self.calls.append(Call(method, params, response.status_code, result))
        if response.status_code == 200:
            self._ok_counts[method] += 1
            if method == "sendMessage":
                self._ok_by_chat[str(params.get("chat_id"))] += 1
        self._notify_soon()
        return response

    def _enforce(self, method: str, params: dict[str, Any]) -> Failure | None:
        """Telegram's own answers: 403 from a chat that blocked the bot, 429 above the
        flood limit in any one second."""
        if not method.startswith("send"):
            return None
        chat = str(params.get("chat_id"))
        every = self.blocked_every
        if chat in self.blocked or (every and chat.isdigit() and int(chat) % every == 0):
            return Failure(403)
        if self.sends_per_second is None:
            return None
        now = time.monotonic()
        while self._recent_sends and self._recent_sends[0] <= now - 1.0:
            self._recent_sends.popleft()
        if len(self._recent_sends) >= self.sends_per_second:
            self.too_many += 1
            return Failure(429, retry_after=1)
        self._recent_sends.append(now)
        return None

    def _take_failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        if failure.chat_id is not None and str(params.get("chat_id")) != failure.chat_id:
            return None
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    async def _get_updates(self, params: dict[str, Any]) -> Response:
        if self.webhook_url:
            return _error(409, ERRORS[409])
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            # A test waiting for the confirmation must not wait for this long poll to end.
            await self._notify()
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        assert self._changed is not None
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._pending) or self._closing), timeout
                )
        if self.latency:
            await asyncio.sleep(self.latency)
        return _ok(self._pending[:limit])

    def _result(self, method: str, params: dict[str, Any], spec: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "setWebhook":
            self.webhook_url = str(params["url"])
        if method == "deleteWebhook":
            self.webhook_url = ""
        if method == "getWebhookInfo":
            return {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }
        if method == "getFile":
            file_id = str(params["file_id"])
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": 1000,
                "file_path": f"files/{file_id}",
            }
        returns = " ".join(spec["returns"])
        if returns == "Array of Message" and "media" in params:  # an album: one per item
            media = params["media"]
            items = json.loads(media) if isinstance(media, str) else media
            return [self._message({"chat_id": params["chat_id"]}) for _ in items]
        if returns.startswith("Message") and "chat_id" in params:
            return self._message(params)
        if returns == "MessageId":
            return {"message_id": next(self._message_ids)}
        return True

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"]) if str(params["chat_id"]).lstrip("-").isdigit() else 0
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
        }
        for key in ("text", "caption", "reply_markup"):
            if key in params:
                message[key] = params[key]
        if "photo" in params:  # a file id as sent, or a new one for an uploaded file
            sent = params["photo"]
            file_id = sent if isinstance(sent, str) else f"uploaded-{next(self._message_ids)}"
            size = {"width": 800, "height": 600}
            message["photo"] = [{"file_id": file_id, "file_unique_id": f"u{file_id}", **size}]
        return message

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    # ---- control routes for a bot in another process --------------------------------

    async def _control_push(self, request: Request) -> Response:
        updates = await request.json()
        ids = [self.push({k: v for k, v in u.items() if k != "update_id"}) for u in updates]
        return JSONResponse(ids)

    async def _control_config(self, request: Request) -> Response:
        self.latency = float((await request.json()).get("latency", self.latency))
        return JSONResponse({"latency": self.latency})

    async def _control_wait(self, request: Request) -> Response:
        method = request.query_params.get("method", "sendMessage")
        count = int(request.query_params["count"])
        seconds = float(request.query_params.get("seconds", "120"))
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: self._ok_counts[method] >= count, seconds)
        return JSONResponse({"count": self._ok_counts[method]})

    async def _control_wait_chat(self, request: Request) -> Response:
        chat, count = request.query_params["chat_id"], int(request.query_params["count"])
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: self._ok_by_chat[chat] >= count, 120)
        return JSONResponse({"count": self._ok_by_chat[chat]})

    async def _control_sends(self, _request: Request) -> Response:
        sends = [
            [str(c.params.get("chat_id")), c.status, c.at, str(c.params.get("text", ""))[:40]]
            for c in self.calls
            if c.method == "sendMessage"
        ]
        return JSONResponse({"sends": sends, "too_many": self.too_many})

    async def _control_calls(self, request: Request) -> Response:
        method = request.query_params.get("method", "sendMessage")
        return JSONResponse(
            {
                "confirmed_offset": self.confirmed_offset,
                "calls": [c.params for c in self.calls if c.method == method],
            }
        )


def file_content(path: str) -> bytes:
    """What the fake serves for a file path that getFile gave out (a JPEG's first bytes)."""
    return b"\xff\xd8\xff" + f"telegram file {path}".encode()


async def _params(request: Request, spec: dict[str, Any]) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    raw: dict[str, Any]
    if content_type.startswith("multipart/"):
        raw = {}
        async with request.form() as form:
            for key, value in form.items():
                if isinstance(value, UploadFile):  # kept readable for tests: name and text
                    content = (await value.read()).decode("utf-8", "replace")
                    raw[key] = {"filename": value.filename, "content": content}
                else:
                    raw[key] = value
    elif content_type.startswith("application/json"):
        raw = await request.json()
        return raw if isinstance(raw, dict) else {}
    else:
        raw = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        raw.update(request.query_params)
    types = {f["name"]: f["types"] for f in spec["fields"]}
    return {k: _decode(v, types.get(k, [])) for k, v in raw.items()}


def _decode(value: Any, types: list[str]) -> Any:
    if not isinstance(value, str) or types == ["String"]:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _check(params: dict[str, Any], spec: dict[str, Any]) -> str | None:
    known = {f["name"] for f in spec["fields"]}
    for name in params:
        if name not in known:
            return f"unexpected field {name}"
    for f in spec["fields"]:
        if f["required"] and params.get(f["name"]) in (None, ""):
            return f"field {f['name']} is required"
    return None


def _ok(result: Any) -> Response:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=status)


def _failure_response(failure: Failure) -> Response:
    description = failure.description or ERRORS.get(failure.status, "Error")
    if failure.status == 429:
        retry = failure.retry_after or 1
        return _error(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
    return _error(failure.status, description)


async def _serve_forever(
    port: int, latency: float, per_second: float | None, blocked_every: int | None
) -> None:
    fake = FakeTelegram(latency=latency, sends_per_second=per_second, blocked_every=blocked_every)
    await fake.start(port)
    print(fake.port, flush=True)
    await fake._http.serve_until_stopped()


def main() -> None:
    """Run the fake alone, for a bot in another process (benchmarks)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--sends-per-second", type=float, default=None)
    parser.add_argument("--blocked-every", type=int, default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve_forever(args.port, args.latency, args.sends_per_second, args.blocked_every)
        )


if __name__ == "__main__":
    main()
