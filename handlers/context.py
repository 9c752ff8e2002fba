"""What a handler sees of the person and their dialogue, and may change."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import Capabilities
from bot.config import OrgConfig
from bot.domain.broadcast_ops import BroadcastRecords
from bot.domain.desk import DeskRecords
from bot.domain.people import Profile
from bot.domain.publishing import PublishingRecords
from bot.domain.tickets import YouthRecords
from handlers.drafts import SubmissionDraft

# Top-level keys of the stored dialogue JSON that hold the dialogue's own state, not a draft.
FLOOD_KEY = "_flood"
CHOSEN_KEY = "_language_chosen"
SUBMISSION_KEY = "submission"  # the unsent submission's draft


@dataclass
class FloodCount:
    """Messages counted in the current minute, for the flood guard."""

    started: float = 0.0
    count: int = 0


@dataclass
class Context:
    """The person's settings, dialogue state and records; the dispatcher loads and saves it.

    `now` is the time of the event (UTC): handlers never read the clock themselves.
    `records` is scoped to this person; `desk` sees every submission and is for staff code,
    which checks role and scope before each use; so are `broadcasts`. `channels` says what
    each running channel can show (a broadcast's preview is fitted to each).
    """

    language: str
    first_contact: bool
    org: OrgConfig
    records: YouthRecords
    desk: DeskRecords
    publishing: PublishingRecords
    broadcasts: BroadcastRecords
    now: dt.datetime
    person_id: int = 0
    staff_code: str | None = None
    # Per channel, a link that opens the bot with a start payload ('{}' marks the payload).
    links: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, Capabilities] = field(default_factory=dict)
    profile: Profile = field(default_factory=Profile)
    flow: str | None = None
    step: str | None = None
    # The drafts of the flows (one top-level key each); stored as one JSON column.
    draft: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    idle: dt.timedelta = dt.timedelta()
    # Read out of `draft` on load and written back by `stored_draft`, not drafts themselves.
    flood: FloodCount = field(default_factory=FloodCount)
    language_chosen: bool = False  # their texts no longer switch the language
    submission: SubmissionDraft | None = None  # typed, from `draft`'s "submission"

    def __post_init__(self) -> None:
        self.draft = dict(self.draft)
        if FLOOD_KEY in self.draft:
            started, count = self.draft.pop(FLOOD_KEY)
            self.flood = FloodCount(float(started), int(count))
        self.language_chosen = bool(self.draft.pop(CHOSEN_KEY, False)) or self.language_chosen
        stored = self.draft.pop(SUBMISSION_KEY, None)
        if stored:
            self.submission = SubmissionDraft.from_stored(stored)

    def stored_draft(self) -> dict[str, Any]:
        """The drafts and the dialogue's own state, as the stored JSON holds them."""
        own: dict[str, Any] = {}
        if self.flood.count:
            own[FLOOD_KEY] = [self.flood.started, self.flood.count]
        if self.language_chosen:
            own[CHOSEN_KEY] = True
        if self.submission is not None:
            own[SUBMISSION_KEY] = self.submission.stored()
        return {**self.draft, **own}

    def forget_dialogue(self) -> None:
        """Drop every draft and the dialogue's own state (the person's data is erased)."""
        self.reset_dialogue()
        self.draft = {}
        self.submission = None
        self.flood = FloodCount()
        self.language_chosen = False

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
