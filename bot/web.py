"""The HTTP side of the process: the Telegram webhook, /healthz and /metrics."""

import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.metrics import Metrics
from storage import repositories as repo
from storage.db import Database

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_UPDATE_BYTES = 1_000_000
log = logging.getLogger(__name__)

UpdateSink = Callable[[dict[str, object]], Awaitable[None]]


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
            await db.run(lambda session: repo.inbox_depth(session=session))
        except Exception:
            log.exception("health check: database unreachable")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_page(_: Request) -> Response:
        inbox, outbox = await db.run(
            lambda session: (repo.inbox_depth(session=session), repo.outbox_depth(session=session))
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
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return PlainTextResponse("not an update", status_code=400)
        await telegram_sink(data)  # stored in the inbox before we answer 200
        return PlainTextResponse("ok")

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics_page)]
    routes += extra_routes
    if telegram_sink is not None:
        routes.append(Route(TELEGRAM_WEBHOOK_PATH, telegram_webhook, methods=["POST"]))
    return Starlette(routes=routes)
