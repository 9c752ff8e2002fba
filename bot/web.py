"""The HTTP side of the process: the Telegram webhook, /healthz and /metrics."""

import contextlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.metrics import Metrics
from storage.db import Database
from storage.inbox import inbox_depth, record_failed_inbound
from storage.outbox import outbox_depth

# Trusted reverse proxies (TRUSTED_PROXIES).
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
TELEGRAM_CHANNEL = "telegram"  # the channel name the Telegram adapter files updates under
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_UPDATE_BYTES = 1_000_000
log = logging.getLogger(__name__)

UpdateSink = Callable[[dict[str, object]], Awaitable[None]]
MAX_UPDATE_ID = 2**63 - 1


class BadUpdate(Exception):
    """An update the Bot API's types cannot read (e.g. a message without its date)."""


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process owner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals to the caller."""
        yield


def build_web(
    *,
    db: Database,
    metrics: Metrics,
    telegram_sink: UpdateSink | None,
    webhook_secret: str | None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI application; the webhook route exists only in webhook mode, and the web chat
    brings its own routes."""

    async def healthz(_: Request) -> Response:
        try:
            await db.run(lambda session: inbox_depth(session=session))
        except Exception:
            log.exception("health check: database unreachable")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_page(_: Request) -> Response:
        inbox, outbox = await db.run(
            lambda session: (
                inbox_depth(session=session),
                outbox_depth(session=session),
            )
        )
        metrics.inbox_depth.set(inbox)
        metrics.outbox_depth.set(outbox)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def telegram_webhook(request: Request) -> Response:
        if telegram_sink is None or not webhook_secret:
            return PlainTextResponse("not found", status_code=404)
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, webhook_secret.encode()):
            return PlainTextResponse("unauthorised", status_code=401)
        body = await read_at_most(request, MAX_UPDATE_BYTES)
        if body is None:
            return PlainTextResponse("too large", status_code=413)
        data = _json_object(body)
        if data is None or not _is_update_id(data.get("update_id")):
            return PlainTextResponse("not an update", status_code=400)
        try:
            await telegram_sink(data)  # stored in the inbox before we answer 200
        except BadUpdate as error:
            reason, update = str(error), data
            await db.run(lambda session: _set_aside(session, update, reason))
            log.warning("webhook update unreadable", extra={"update_id": data["update_id"]})
            return PlainTextResponse("not an update", status_code=400)
        return PlainTextResponse("ok")

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics_page)]
    routes += extra_routes
    if telegram_sink is not None:
        routes.append(Route(TELEGRAM_WEBHOOK_PATH, telegram_webhook, methods=["POST"]))
    return Starlette(routes=routes)


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes (never read whole)."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        return None
    return data if isinstance(data, dict) else None


def _is_update_id(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_UPDATE_ID


def _set_aside(session: Session, data: dict[str, object], error: str) -> None:
    """Keep an unreadable update, marked failed, so it can be looked at later."""
    record_failed_inbound(
        session=session,
        channel=TELEGRAM_CHANNEL,
        event_id=str(data["update_id"]),
        payload=data,
        error=error,
    )


def client_address(request: Request, trusted: Networks) -> str:
    """The address a request came from: the peer, unless the peer is a trusted proxy, then
    the right-most address in X-Forwarded-For that no trusted proxy added."""
    peer = request.client.host if request.client else "unknown"
    if not _is_trusted(peer, trusted):
        return peer
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    hops = [address for address in forwarded if address]
    for address in reversed(hops):
        if not _is_trusted(address, trusted):
            return address
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
