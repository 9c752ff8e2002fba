"""What a handler sees of the person and their dialogue, and may change."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import OrgConfig
from bot.domain.desk import DeskRecords
from bot.domain.people import Profile
from bot.domain.publishing import PublishingRecords
from bot.domain.tickets import YouthRecords


@dataclass
class Context:
    """The person's settings, dialogue state and records; the dispatcher loads and saves it.

    `now` is the time of the event (UTC): handlers never read the clock themselves.
    `records` is scoped to this person; `desk` sees every submission and is for staff code,
    which checks role and scope before each use.
    """

    language: str
    first_contact: bool
    org: OrgConfig
    records: YouthRecords
    desk: DeskRecords
    publishing: PublishingRecords
    now: dt.datetime
    person_id: int = 0
    staff_code: str | None = None
    # Per channel, a link that opens the bot with a start payload ('{}' marks the payload).
    links: Mapping[str, str] = field(default_factory=dict)
    profile: Profile = field(default_factory=Profile)
    flow: str | None = None
    step: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    idle: dt.timedelta = dt.timedelta()

    @property
    def organisation_name(self) -> str:
        """The organisation's name in the person's language."""
        return str(getattr(self.org.raw.organisation.name, self.language))

    @property
    def zone(self) -> ZoneInfo:
        """The organisation's time zone, for showing dates."""
        return ZoneInfo(self.org.raw.organisation.timezone)

    def go(self, flow: str | None, step: str | None) -> None:
        """Move the dialogue to a step (None, None: no dialogue)."""
        self.flow = flow
        self.step = step

    def reset_dialogue(self) -> None:
        """Leave any dialogue, dropping its step but not the person's settings."""
        self.go(None, None)
