"""What the composition root hands each channel it builds."""

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.channels.base import FileSource
from bot.config import OrgConfig
from bot.settings import Settings
from bot.uploads import Uploads
from storage.db import Database


@dataclass(frozen=True)
class ChannelKit:
    """What the composition root gives each channel it builds."""

    settings: Settings
    config: OrgConfig
    db: Database
    uploads: Uploads
    clock: Callable[[], dt.datetime]
    # Wakes the outbox when something was queued outside an event (e.g. a sign-in greeting).
    on_outbox: Callable[[], None]
    # The commands people can type, in menu order (channels with a command menu show them).
    commands: Sequence[str]
    # Every built channel's file source by name, filled as channels are built.
    files: Mapping[str, FileSource]
