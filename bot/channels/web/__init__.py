"""The web chat adapter: the chat page and its API on our own HTTP port, replies kept in our
own table of web messages and pushed to waiting browsers."""

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from bot.channels.base import Capabilities, FileSource
from bot.channels.kit import ChannelKit
from bot.channels.web.chat import WebChat
from bot.channels.web.events import event_from_payload
from bot.channels.web.push import Pusher, vapid_key
from bot.channels.web.sender import Waiters, WebSender
from bot.domain.messages import Inbound
from bot.settings import Settings
from storage.web import CHANNEL

__all__ = ["CHANNEL", "WebChannel", "WebChat", "build"]

if TYPE_CHECKING:
    from bot.intake import Intake

CONCURRENCY = 256


class WebChannel:
    """The web chat as a channel."""

    name = CHANNEL

    def __init__(self, kit: ChannelKit) -> None:
        self.waiters = Waiters()
        buttons = kit.config.raw.channels.web.buttons
        key = vapid_key(kit.settings, kit.config)
        self.pusher = Pusher(kit.db, key, kit.config, kit.clock) if key is not None else None
        self.sender = WebSender(
            kit.db, self.waiters, kit.clock, buttons=buttons, pusher=self.pusher
        )
        self.files: FileSource | None = kit.uploads.source()
        self.concurrency = CONCURRENCY
        self.chat = WebChat(
            kit.db,
            kit.config,
            self.waiters,
            kit.settings.public_base(),
            kit.clock,
            kit.on_outbox,
            kit.uploads,
            kit.settings.proxies(),
            kit.files,
            key,
            _only_here(kit.settings),
        )
        self._link: str | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What the page can show."""
        return self.sender.capabilities

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """A stored web event (the page's events are stored already neutral)."""
        return event_from_payload(payload)

    def routes(self) -> Sequence[BaseRoute]:
        """The page and its API, under /chat."""
        return self.chat.routes()

    async def start(self, intake: "Intake", base_url: str) -> None:
        """Take what visitors do through the intake; links point at base_url."""
        self.chat.intake = intake
        self._link = WebChat.link_template_for(base_url)

    async def acknowledge(self, event: Inbound) -> None:
        """The page learns of its event from the answer to its request: nothing to do."""

    def start_link(self) -> str | None:
        """The sign-in link template, once started."""
        return self._link

    async def stop(self) -> None:
        """Wake the waiting browsers, so the server can stop."""
        self.waiters.close()

    async def close(self) -> None:
        """Finish the pushes in flight (the outbox has stopped); its store is the app's
        database."""
        if self.pusher is not None:
            await self.pusher.stop()


def _only_here(settings: Settings) -> bool:
    """Whether nobody else reaches this server (no public address, bound to loopback)."""
    try:
        loopback = ipaddress.ip_address(settings.http_host).is_loopback
    except ValueError:
        loopback = settings.http_host == "localhost"
    return settings.public_base() is None and loopback


def build(kit: ChannelKit) -> WebChannel | None:
    """The web chat, unless config turns it off."""
    return WebChannel(kit) if kit.config.raw.channels.web.enabled else None
