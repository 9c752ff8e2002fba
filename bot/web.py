"""The HTTP side of the process: /healthz, /metrics and the routes channels bring."""

import contextlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.metrics import Metrics
from storage.db import Database
from storage.inbox import inbox_depth
from storage.outbox import outbox_depth

# Trusted reverse proxies (TRUSTED_PROXIES).
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]

log = logging.getLogger(__name__)


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
    extra_routes: Sequence[BaseRoute] = (),
    problems: Callable[[], Mapping[str, str]] = dict,
) -> Starlette:
    """The ASGI application: health and metrics, and the routes the channels bring (a
    webhook, the web chat); `problems` names the channels that cannot work and why."""

    async def healthz(_: Request) -> Response:
        try:
            await db.run(lambda session: inbox_depth(session=session))
        except Exception:
            log.exception("health check: database unreachable")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        troubled = dict(problems())
        if troubled:  # still 200: restarting the process would not mend a refused token
            return JSONResponse({"status": "degraded", "channels": troubled})
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

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics_page)]
    routes += extra_routes
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


async def webhook_object(
    request: Request, *, header: str, secret: str, limit: int
) -> dict[str, object] | Response:
    """A platform's webhook body as a JSON object, or the refusal to answer with: 401 when
    `header` does not carry our secret (compared in constant time), 413 past `limit` bytes,
    400 for anything but a JSON object."""
    given = request.headers.get(header, "").encode()
    if not hmac.compare_digest(given, secret.encode()):
        return PlainTextResponse("unauthorised", status_code=401)
    body = await read_at_most(request, limit)
    if body is None:
        return PlainTextResponse("too large", status_code=413)
    data = json_object(body)
    return PlainTextResponse("not an update", status_code=400) if data is None else data


def json_object(body: bytes, *, numbers_as_text: bool = False) -> dict[str, object] | None:
    """A JSON body that is an object, else None; `numbers_as_text` keeps every number as
    the text it was written as (ids past 2^53 never pass through a float)."""
    try:
        data = (
            json.loads(body, parse_int=str, parse_float=str)
            if numbers_as_text
            else json.loads(body)
        )
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        return None
    return data if isinstance(data, dict) else None


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
