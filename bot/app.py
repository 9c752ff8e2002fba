"""The composition root: the only place where the parts are wired together."""

import asyncio
import datetime as dt
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.broadcasts import Broadcaster
from bot.channels import telegram, web, zalo_bot
from bot.channels.base import (
    Capabilities,
    Channel,
    ChannelSender,
    FileSource,
    ReportsProblems,
)
from bot.channels.kit import ChannelKit
from bot.channels.web import WebChannel
from bot.config import ConfigError, OrgConfig
from bot.dispatch import Dispatcher, Handler
from bot.domain.text import fold
from bot.intake import Intake
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
from bot.web import QuietServer, build_web
from handlers import entry, youth
from handlers.desk import INVITE_PREFIX
from storage.db import Database
from storage.desk import create_sign_in, sync_staff
from storage.files import open_store
from storage.models import utcnow
from storage.records import sql_records
from storage.units import sync_units

log = logging.getLogger(__name__)
ChannelBuilder = Callable[[ChannelKit], Channel | None]
# Every channel the app can serve; each builds itself from its config section (or declines:
# no token, turned off). A new channel is one adapter module and one line here.
CHANNELS: Mapping[str, ChannelBuilder] = {
    telegram.CHANNEL: telegram.build,
    web.CHANNEL: web.build,
    zalo_bot.CHANNEL: zalo_bot.build,
}

KEEP_ALIVE_SECONDS = 75
LISTEN_BACKLOG = 2048


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
    intake: Intake
    channels: dict[str, Channel]
    jobs: DeskJobs
    publisher: PublishingJobs
    scheduler: AsyncIOScheduler
    clock: Callable[[], dt.datetime]
    uploads: Uploads
    broadcasts: Broadcaster
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
        """Start everything; a stored but unhandled event is handled again."""
        await self.prepare()
        self._started = True
        if serve_http:  # bound first, so links carry the real address (e.g. port 0)
            # A crowd of browsers connects at once: the default queue of 128 refuses some.
            self._socket = socket.create_server(
                (self.settings.http_host, self.settings.http_port), backlog=LISTEN_BACKLOG
            )
        for channel in self.channels.values():
            await channel.start(self.intake, self.base_url)
        self._publish_links(
            reachable=self._socket is not None or self.settings.public_base() is not None
        )
        replayed = await self.intake.replay()
        if replayed:
            log.info("replaying stored events", extra={"count": replayed})
        self._tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        self._tasks.append(asyncio.create_task(self.broadcasts.run(), name="broadcasts"))
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
                    # Browsers and proxies keep idle connections for about a minute; closing
                    # ours after uvicorn's 5 s races their next request on it (a reset).
                    timeout_keep_alive=KEEP_ALIVE_SECONDS,
                )
            )
            serving = self._server.serve(sockets=[self._socket])
            self._tasks.append(asyncio.create_task(serving, name="http"))

    def _publish_links(self, *, reachable: bool) -> None:
        """Tell the dispatcher how each channel's chats are opened (for invitations); the
        web's links only when people can reach this server."""
        for name, channel in self.channels.items():
            link = channel.start_link()
            if link is not None and (reachable or name != web.CHANNEL):
                self.dispatcher.links[name] = link
        if reachable and web.CHANNEL in self.channels:
            self.dispatcher.links["news"] = f"{self.base_url}/news#{{}}"
            # The web chat itself, for channels whose platform withholds what people send.
            self.dispatcher.links["chat"] = f"{self.base_url}/chat"

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
        if web.CHANNEL not in self.channels:
            return None
        now = self.clock()
        expires = now + dt.timedelta(hours=self.config.raw.desk.invite_hours)
        token = await self.db.run(
            lambda session: create_sign_in(session=session, staff_code=staff_code, expires=expires)
        )
        if token is None:
            return None
        return web.WebChat.link_template_for(self.base_url).format(f"{INVITE_PREFIX}{token}")

    async def stop(self) -> None:
        """Stop taking input, finish what is in flight, and close everything (once)."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for channel in self.channels.values():
            await channel.stop()
        await self.intake.drain()
        self.broadcasts.stop()
        if self._started:  # after prepare() alone (a one-off command) nothing is sent
            await self.outbox.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
        for channel in self.channels.values():
            await channel.close()
        await self.db.dispose()


def build_application(
    settings: Settings,
    config: OrgConfig,
    *,
    handler: Handler = entry.handle,
    clock: Callable[[], dt.datetime] = utcnow,
    registry: Mapping[str, ChannelBuilder] = CHANNELS,
) -> CauNoi:
    """Wire the product for these settings and this organisation."""
    db = Database(settings.database_url.get_secret_value())
    metrics = Metrics()
    senders: dict[str, ChannelSender] = {}  # filled below; the outbox reads it when sending
    capabilities: dict[str, Capabilities] = {}  # likewise, for the dispatcher and the jobs
    outbox = OutboxSender(
        db=db, channels=senders, metrics=metrics, limits=_limits(config), clock=clock
    )
    dispatcher = Dispatcher(
        db=db,
        handler=handler,
        config=config,
        metrics=metrics,
        on_outbox=outbox.wake,
        clock=clock,
        records=sql_records,
        capabilities=capabilities,
    )
    intake = Intake(db, dispatcher)
    uploads = Uploads(db, open_store(settings.file_store_url))
    files: dict[str, FileSource] = {}
    kit = ChannelKit(
        settings, config, db, uploads, clock, outbox.wake, youth.menu_commands(), files
    )
    channels = _build_channels(kit, registry)
    for channel in channels.values():
        senders[channel.name] = channel.sender
        capabilities[channel.name] = channel.capabilities
        if channel.files is not None:
            files[channel.name] = channel.files
        intake.add(channel)
    routes: list[BaseRoute] = [route for c in channels.values() for route in c.routes()]
    if web.CHANNEL in channels:
        routes += News(db, config, settings.public_base(), files).routes()
    jobs = DeskJobs(
        db=db,
        config=config,
        on_outbox=outbox.wake,
        capabilities=capabilities,
        records=sql_records,
    )
    publisher = PublishingJobs(
        db=db,
        config=config,
        on_outbox=outbox.wake,
        links=dispatcher.links,
        capabilities=capabilities,
        records=sql_records,
    )
    scheduler = schedule(jobs, publisher, config, clock)
    schedule_retention(scheduler, RetentionJobs(db=db, config=config), config, clock)
    web_channel = channels.get(web.CHANNEL)
    if isinstance(web_channel, WebChannel):
        sessions = web_channel.chat.end_expired_sessions
        scheduler.add_job(sessions, CronTrigger(hour=3), id="web-sessions", coalesce=True)
        schedule_upload_cleanup(scheduler, uploads, config, clock)
    return CauNoi(
        settings,
        config,
        db,
        metrics,
        dispatcher,
        outbox,
        build_web(
            db=db, metrics=metrics, extra_routes=routes, problems=lambda: _problems(channels)
        ),
        intake,
        channels,
        jobs,
        publisher,
        scheduler,
        clock,
        uploads,
        Broadcaster(
            db=db,
            channels=senders.keys(),
            on_outbox=outbox.wake,
            clock=clock,
            capabilities=capabilities,
        ),
    )


def _limits(config: OrgConfig) -> dict[str, ChannelLimits]:
    """Each channel's cap on messages in flight and its send rate, from its config section
    (a channel not named here gets the outbox's defaults)."""
    on_telegram, on_web = config.raw.channels.telegram, config.raw.channels.web
    on_zalo = config.raw.channels.zalo_bot
    return {
        telegram.CHANNEL: ChannelLimits(
            on_telegram.connections,
            on_telegram.rate_limit_per_second or None,
            on_telegram.bulk_rate_per_second,
        ),
        web.CHANNEL: ChannelLimits(on_web.max_in_flight, on_web.rate_limit_per_second),
        zalo_bot.CHANNEL: ChannelLimits(on_zalo.max_in_flight, on_zalo.rate_limit_per_second),
    }


def _problems(channels: Mapping[str, Channel]) -> dict[str, str]:
    """What keeps each troubled channel from working, for /healthz."""
    found = {
        name: channel.problem
        for name, channel in channels.items()
        if isinstance(channel, ReportsProblems)
    }
    return {name: problem for name, problem in found.items() if problem}


def check_channel_names(config: OrgConfig, registry: Mapping[str, ChannelBuilder]) -> None:
    """Refuse a config that names a channel the app has no adapter for (a typo, mostly)."""
    named = dict.fromkeys(config.raw.channels.sections(), "channels")
    named |= config.named_channels()
    for name, where in named.items():
        if name not in registry:
            known = ", ".join(sorted(registry))
            raise ConfigError(f"{where}: unknown channel {name!r} (known: {known})")


def _build_channels(kit: ChannelKit, registry: Mapping[str, ChannelBuilder]) -> dict[str, Channel]:
    """Each registered channel that its settings and config section turn on."""
    check_channel_names(kit.config, registry)
    built = {name: build(kit) for name, build in registry.items()}
    return {name: channel for name, channel in built.items() if channel is not None}
