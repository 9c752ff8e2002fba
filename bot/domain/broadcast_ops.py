"""Broadcasts at the desk: what staff see of one, the records the compose dialogue and
/broadcasts use, and the pure checks on what staff typed (a send time, a text's length)."""

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.broadcasting import Audience
from bot.domain.messages import Recipient, Rendered

# A time as staff type it, in the organisation's zone: 24/12/2026 08:30.
_WHEN = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2})[:h.](\d{2})\s*$")
SCHEDULED = "scheduled"  # shown for a broadcast still planning before its time


@dataclass(frozen=True)
class BroadcastView:
    """One broadcast as /broadcasts shows it."""

    id: int
    status: str
    text: str
    created_by: str | None
    created_at: dt.datetime
    scheduled_at: dt.datetime
    planned: int
    sent: int
    failed: int
    blocked: int
    stopped: int
    remaining: int
    # Still to send (planning or sending): it may be cancelled.
    running: bool
    # The chat its progress message and final report go to.
    report_to: Recipient | None = None

    def shown_status(self, now: dt.datetime) -> str:
        """Its status as staff read it: 'scheduled' until its time comes."""
        if self.status == "planning" and self.scheduled_at > now:
            return SCHEDULED
        return self.status


@dataclass(frozen=True)
class NewBroadcast:
    """A composed broadcast, ready to record."""

    text: str
    audience: Audience
    created_by: str
    report_to: Recipient
    scheduled_at: dt.datetime | None = None
    photo_ref: str | None = None
    link: str | None = None


class BroadcastRecords(Protocol):
    """The broadcasts' records, on the event's transaction."""

    def count(self, audience: Audience, channels: Sequence[str]) -> dict[str, int]:
        """How many recipients the audience has on each channel, now."""
        ...

    def preview(
        self, text: str, photo_ref: str | None, link: str | None, topic: str, language: str
    ) -> Rendered:
        """The message a recipient of this topic and language would get, before their
        channel fits it."""
        ...

    def create(self, broadcast: NewBroadcast, now: dt.datetime) -> int:
        """Record a broadcast (audited); its id."""
        ...

    def recent(self, limit: int, created_by: str | None = None) -> list[BroadcastView]:
        """The latest broadcasts (of one creator, if named), newest first."""
        ...

    def get(self, broadcast_id: int) -> BroadcastView | None:
        """One broadcast, if it exists."""
        ...

    def cancel(self, broadcast_id: int, by: str, now: dt.datetime) -> bool:
        """Stop a broadcast still to send (audited); False if there is nothing to stop."""
        ...


def parse_when(typed: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A typed 'dd/mm/yyyy HH:MM' in the organisation's zone as UTC; None if it is no
    such time."""
    found = _WHEN.match(typed)
    if found is None:
        return None
    day, month, year, hour, minute = (int(part) for part in found.groups())
    try:
        local = dt.datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(dt.UTC)


def too_long(length: int, limits: Mapping[str, int]) -> tuple[str, int] | None:
    """The strictest channel (and its limit) that a text of this length does not fit in
    one message; None when it fits everywhere."""
    over = [(limit, channel) for channel, limit in limits.items() if length > limit]
    if not over:
        return None
    limit, channel = min(over)
    return channel, limit
