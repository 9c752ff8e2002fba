"""The composition root: the only place where the parts are wired together."""

import asyncio
import contextlib
import datetime as dt
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from starlette.applications import Starlette
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.channels.base import Capabilities, ChannelSender, FileSource
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import (
    ConnectionLanes,
    DurableUpdateQueue,
    PerChatUpdateProcessor,
    Poller,
    TelegramSender,
    to_inbound,
)
from bot.channels.web import CHANNEL as WEB
from bot.channels.web import Waiters, WebSender
from bot.config import OrgConfig
from bot.dispatch import Dispatcher, Handler
from bot.domain.i18n import LANGUAGES, text
from bot.domain.text import fold
from bot.jobs import (
    DeskJobs,
    PublishingJobs,
    RetentionJobs,
    schedule,
    schedule_retention,
    schedule_upload_cleanup,
)
from bot.metrics import Metrics
from bot.news import News
from bot.outbox import ChannelLimits, OutboxSender
from bot.settings import Settings
from bot.uploads import Uploads
from bot.web import TELEGRAM_WEBHOOK_PATH, BadUpdate, QuietServer, build_web
from bot.webchat import WebChat
from handlers import entry
from handlers.desk import INVITE_PREFIX
from storage.db import Database
from storage.desk import create_sign_in, sync_staff
from storage.files import open_store
from storage.inbox import pending_inbound
from storage.models import utcnow
from storage.units import sync_units

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]
COMMANDS = (
    "start",
    "menu",
    "mine",
    "settings",
    "help",
    "language",
    "privacy",
    "mydata",
    "forget",
    "cancel",
    "stop",
)
PTBApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class TelegramRuntime:
    """python-telegram-bot's application and the durable queue that feeds it."""

    application: PTBApplication
    queue: DurableUpdateQueue
    webhook: tuple[str, str] | None
    poller: Poller | None

    async def start(self, db: Database) -> None:
        """Replay stored but unhandled updates, then take new ones by polling or webhook."""
        application = self.application
        await application.initialize()
        await _set_commands(application)
        pending = await db.run(lambda session: pending_inbound(session=session, channel=TELEGRAM))
        for row in pending:
            self.queue.replay(Update.de_json(row.payload, application.bot))
        if pending:
            log.info("replaying stored updates", extra={"count": len(pending)})
        await application.start()
        if self.webhook is not None:
            url, secret = self.webhook
            await application.bot.set_webhook(
                url=url.rstrip("/") + TELEGRAM_WEBHOOK_PATH,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        elif self.poller is not None:
            self.poller.start()

    async def stop(self) -> None:
        """Stop fetching, then handle what was already queued."""
        if self.poller is not None:
            await self.poller.stop()
        if self.application.running:
            await self.application.stop()

    async def shutdown(self) -> None:
        """Release the Bot API connections."""
        with contextlib.suppress(TelegramError):
            await self.application.shutdown()

    async def take_webhook_update(self, data: dict[str, object]) -> None:
        """Store a webhook update in the inbox and queue it; BadUpdate when it cannot be read."""
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as error:  # PTB's readers raise anything on a malformed update
            raise BadUpdate(f"{type(error).__name__}: {error}"[:500]) from error
        await self.queue.put(update)


@dataclass
class CauNoi:
    """The running product: database, dispatcher, outbox, channels and the HTTP server."""

    settings: Settings
    config: OrgConfig
    db: Database
    metrics: Metrics
    dispatcher: Dispatcher
    outbox: OutboxSender
    web: Starlette
    telegram: TelegramRuntime | None
    jobs: DeskJobs
    publisher: PublishingJobs
    scheduler: AsyncIOScheduler
    webchat: WebChat | None
    clock: Callable[[], dt.datetime]
    uploads: Uploads
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _socket: socket.socket | None = None
    _started: bool = False
    _stopped: bool = False

    async def prepare(self) -> None:
        """Bring the database in step with config.yaml (units, staff): all that a one-off
        command such as `invite` needs, with no job, channel or sender started."""
        units = [(u.code, u.name, fold(u.name), u.kind) for u in self.config.units]
        await self.db.run(lambda session: sync_units(session=session, units=units))
        staff = self.config.declared_staff()
        await self.db.run(lambda session: sync_staff(session=session, members=staff))

    async def start(self, *, serve_http: bool = True) -> None:
        """Start everything; a stored but unhandled update is handled again."""
        await self.prepare()
        self._started = True
        if self.telegram is not None:
            await self.telegram.start(self.db)
            username = self.telegram.application.bot.username
            self.dispatcher.links[TELEGRAM] = f"https://t.me/{username}?start={{}}"
        if serve_http:  # bound first, so links carry the real address (e.g. port 0)
            self._socket = socket.create_server((self.settings.http_host, self.settings.http_port))
        reachable = self._socket is not None or self.settings.public_base() is not None
        if self.webchat is not None and reachable:
            self.dispatcher.links[WEB] = self.webchat.link_template_for(self.base_url)
            self.dispatcher.links["news"] = f"{self.base_url}/news#{{}}"
        if self.webchat is not None:
            replayed = await self.webchat.replay()
            if replayed:
                log.info("replayed stored web events", extra={"count": replayed})
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        # A slot missed while the app was down is posted now when within the grace.
        await self.publisher.daily(self.clock())
        await self.publisher.weekly(self.clock())
        self.scheduler.start()
        if self._socket is not None:
            self._server = QuietServer(
                uvicorn.Config(
                    self.web,
                    host=self.settings.http_host,
                    port=self.settings.http_port,
                    log_config=None,
                    lifespan="off",
                    # The client address is ours to work out (TRUSTED_PROXIES): uvicorn would
                    # believe X-Forwarded-For from any local peer.
                    proxy_headers=False,
                    # Long-polling browsers are woken at stop; this bounds the wait for others.
                    timeout_graceful_shutdown=5,
                )
            )
            serving = self._server.serve(sockets=[self._socket])
            self._tasks.append(asyncio.create_task(serving, name="http"))

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server listens on."""
        return int(self._socket.getsockname()[1]) if self._socket else None

    @property
    def base_url(self) -> str:
        """Where people reach the app: PUBLIC_URL, else the local address it listens on."""
        public = self.settings.public_base()
        if public is not None:
            return public
        port = self.http_port or self.settings.http_port
        return f"http://{self.settings.http_host}:{port}"

    async def sign_in_link(self, staff_code: str) -> str | None:
        """A one-time web sign-in link for a staff member; None if there is no such member."""
        if self.webchat is None:
            return None
        now = self.clock()
        expires = now + dt.timedelta(hours=self.config.raw.desk.invite_hours)
        token = await self.db.run(
            lambda session: create_sign_in(session=session, staff_code=staff_code, expires=expires)
        )
        if token is None:
            return None
        return WebChat.link_template_for(self.base_url).format(f"{INVITE_PREFIX}{token}")

    async def stop(self) -> None:
        """Stop taking input, finish what is in flight, and close everything (once)."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self.webchat is not None:
            self.webchat.waiters.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.telegram is not None:
            await self.telegram.stop()
        if self._started:  # after prepare() alone (a one-off command) nothing is sent
            await self.outbox.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
        if self.telegram is not None:
            await self.telegram.shutdown()
        await self.db.dispose()


async def _set_commands(application: PTBApplication) -> None:
    """Publish the command menu; cosmetic, so a failure is logged and ignored."""
    try:
        for language in LANGUAGES:
            commands = [BotCommand(c, text(f"commands.{c}", language)) for c in COMMANDS]
            await application.bot.set_my_commands(
                commands, language_code=None if language == "vi" else language
            )
    except TelegramError as error:
        log.warning("could not set the command menu", extra={"error": str(error)})


def _telegram_application(
    token: str, settings: Settings, config: OrgConfig, queue: DurableUpdateQueue
) -> PTBApplication:
    """python-telegram-bot's application; updates reach it through our poller or webhook."""
    channel = config.raw.channels.telegram
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_base_url.replace("/bot", "/file/bot"))
        .update_queue(queue)
        .concurrent_updates(PerChatUpdateProcessor(channel.max_concurrent_updates))
        .request(ConnectionLanes(channel.connections))
        .defaults(Defaults(tzinfo=ZoneInfo(config.raw.organisation.timezone)))
        .rate_limiter(
            AIORateLimiter(overall_max_rate=channel.rate_limit_per_second, max_retries=0)
        )
    )
    return builder.updater(None).build()


def _limits(config: OrgConfig) -> dict[str, ChannelLimits]:
    """Each channel's cap on messages in flight and its send rate, from its config section."""
    telegram, web = config.raw.channels.telegram, config.raw.channels.web
    return {
        TELEGRAM: ChannelLimits(telegram.connections, telegram.rate_limit_per_second or None),
        WEB: ChannelLimits(web.max_in_flight, web.rate_limit_per_second),
    }


def build_application(
    settings: Settings,
    config: OrgConfig,
    *,
    handler: Handler = entry.handle,
    clock: Callable[[], dt.datetime] = utcnow,
) -> CauNoi:
    """Wire the product for these settings and this organisation."""
    db = Database(settings.database_url.get_secret_value())
    metrics = Metrics()
    channels: dict[str, ChannelSender] = {}  # filled below; the outbox reads it when sending
    capabilities: dict[str, Capabilities] = {}  # likewise, from the senders, for the dispatcher
    outbox = OutboxSender(
        db=db, channels=channels, metrics=metrics, limits=_limits(config), clock=clock
    )
    dispatcher = Dispatcher(
        db=db,
        handler=handler,
        config=config,
        metrics=metrics,
        on_outbox=outbox.wake,
        clock=clock,
        capabilities=capabilities,
    )
    webhook = settings.webhook()
    telegram, telegram_sender = None, None
    uploads = Uploads(db, open_store(settings.file_store_url))
    if settings.telegram_bot_token and settings.telegram_enabled:
        queue = DurableUpdateQueue(lambda events: dispatcher.record_many(TELEGRAM, events))
        application = _telegram_application(
            settings.telegram_bot_token.get_secret_value(), settings, config, queue
        )
        application.add_handler(TypeHandler(Update, _telegram_callback(dispatcher)))
        application.add_error_handler(_log_error)
        telegram_sender = TelegramSender(application.bot, uploads.source())
        channels[TELEGRAM] = telegram_sender
        poller = None if webhook else Poller(application.bot, queue, ALLOWED_UPDATES)
        telegram = TelegramRuntime(application, queue, webhook, poller)
    webchat, news = None, None
    if config.raw.channels.web.enabled:
        waiters = Waiters()
        channels[WEB] = WebSender(db, waiters, clock, buttons=config.raw.channels.web.buttons)
        sources: dict[str, FileSource] = {WEB: uploads.source()}
        if telegram_sender is not None:
            sources[TELEGRAM] = telegram_sender.download
        webchat = WebChat(
            db,
            dispatcher,
            config,
            waiters,
            settings.public_base(),
            clock,
            outbox.wake,
            uploads,
            settings.proxies(),
            sources,
        )
        news = News(db, config, settings.public_base(), sources)
    capabilities.update({name: sender.capabilities for name, sender in channels.items()})
    web = build_web(
        db=db,
        metrics=metrics,
        telegram_sink=telegram.take_webhook_update if telegram and webhook else None,
        webhook_secret=webhook[1] if webhook else None,
        extra_routes=[*(webchat.routes() if webchat else []), *(news.routes() if news else [])],
    )
    jobs = DeskJobs(db=db, config=config, on_outbox=outbox.wake, capabilities=capabilities)
    publisher = PublishingJobs(
        db=db,
        config=config,
        on_outbox=outbox.wake,
        links=dispatcher.links,
        capabilities=capabilities,
    )
    scheduler = schedule(jobs, publisher, config, clock)
    schedule_retention(scheduler, RetentionJobs(db=db, config=config), config, clock)
    if webchat is not None:
        scheduler.add_job(
            webchat.end_expired_sessions, CronTrigger(hour=3), id="web-sessions", coalesce=True
        )
        schedule_upload_cleanup(scheduler, uploads, config, clock)
    return CauNoi(
        settings,
        config,
        db,
        metrics,
        dispatcher,
        outbox,
        web,
        telegram,
        jobs,
        publisher,
        scheduler,
        webchat,
        clock,
        uploads,
    )


def _telegram_callback(dispatcher: Dispatcher) -> Any:
    async def on_update(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """Hand every update to the dispatcher; stop the button spinner afterwards."""
        event = to_inbound(update)
        if event is None:
            await dispatcher.skip(TELEGRAM, str(update.update_id))
        else:
            await dispatcher.dispatch(event)
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()

    return on_update


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update by id only: message bodies stay out of the logs."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update failed", exc_info=context.error, extra={"update_id": update_id})
