"""Publishing good news: the moderation of stories and ideas, the pool of approved ones, and
when the daily post is due. "Mỗi ngày một tin tốt, mỗi tuần một câu chuyện đẹp"."""

import datetime as dt
import re
import statistics
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

POST_PREFIX = "post:"
STORY_PREFIX = "story:"
DAILY = "daily"
WEEKLY = "weekly"
# What the public page and feed show: each daily story post, each weekly digest.
DAILY_POST = "daily-post"
WEEKLY_POST = "weekly-post"
TITLE_CHARS = 60  # a post's title on the public page and in the feed
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class StoryState(StrEnum):
    """Where a story (or idea) is on its way to publication."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"


class Credit(StrEnum):
    """How the author agreed to be credited."""

    NAMED = "named"
    ANONYMOUS = "anonymous"


def story_key(code: str) -> str:
    """The key that keeps a story's moderation card one message per chat."""
    return f"{STORY_PREFIX}{code}"


def post_key(code: str) -> str:
    """The key of a story's daily post in each chat it went to (found again on erasure)."""
    return f"{POST_PREFIX}{code}"


@dataclass(frozen=True)
class StoryView:
    """A story or idea as moderators and the publisher see it."""

    code: str
    kind: str
    state: StoryState
    text: str
    credit: Credit
    author_name: str | None
    unit_code: str | None
    photo: str | None
    photo_hidden: bool
    created_at: dt.datetime
    approved_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    reason: str | None = None

    @property
    def shown_photo(self) -> str | None:
        """The photo to publish, unless a moderator hid it."""
        return None if self.photo_hidden else self.photo


def choose_daily(pool: list[StoryView], last_unit: str | None) -> StoryView | None:
    """Today's story: the oldest approved one, skipping the unit of the last post where
    another unit has a story waiting."""
    waiting = sorted(pool, key=lambda s: (s.approved_at or s.created_at, s.code))
    for story in waiting:
        if last_unit is None or story.unit_code != last_unit:
            return story
    return waiting[0] if waiting else None


def latest_slot(now: dt.datetime, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The most recent daily moment `at` (local time) not after `now`, in UTC."""
    local = now.astimezone(zone)
    slot = dt.datetime.combine(local.date(), at, tzinfo=zone)
    if slot > local:
        slot -= dt.timedelta(days=1)
    return slot.astimezone(dt.UTC)


def period_of(slot: dt.datetime, zone: ZoneInfo) -> str:
    """The period a daily slot stands for: its local date (yyyy-mm-dd)."""
    return slot.astimezone(zone).date().isoformat()


def latest_weekly_slot(now: dt.datetime, day: str, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The most recent weekly moment (a weekday at a local time) not after `now`, in UTC."""
    local = now.astimezone(zone)
    back = (local.weekday() - WEEKDAYS.index(day)) % 7
    slot = dt.datetime.combine(local.date() - dt.timedelta(days=back), at, tzinfo=zone)
    if slot > local:
        slot -= dt.timedelta(days=7)
    return slot.astimezone(dt.UTC)


def week_of(slot: dt.datetime, zone: ZoneInfo) -> str:
    """The ISO week a weekly slot stands for (e.g. 2026-W48)."""
    year, week, _ = slot.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Figures:
    """One kind's accountability figures for a period: công khai, minh bạch."""

    kind: str
    received: int
    answered: int
    median_first_answer: dt.timedelta | None


def median_delay(delays: list[dt.timedelta]) -> dt.timedelta | None:
    """The median of some durations; None when there are none."""
    if not delays:
        return None
    return dt.timedelta(seconds=statistics.median(d.total_seconds() for d in delays))


def story_title(body: str) -> str:
    """A story's own title: its first line (a heading, when its author or a moderator's edit
    gave it one), up to the end of its first sentence, cut at a word to TITLE_CHARS."""
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    sentence = " ".join(SENTENCE_END.split(first, 1)[0].split())
    if len(sentence) <= TITLE_CHARS:
        return sentence
    cut = sentence[: TITLE_CHARS - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-\u2013") + "…"


@dataclass(frozen=True)
class Post:
    """A published post as the public page and the feed show it."""

    kind: str
    period: str
    text: str
    posted_at: dt.datetime
    # The story's own title (a daily post), else none: the post's first line heads it.
    title: str | None = None


class StoryChanges(Protocol):
    """What the stories' state changes read and write."""

    def story(self, code: str) -> StoryView | None:
        """A story by the code of its submission."""
        ...

    def change_story(self, code: str, expected: StoryState, **changes: object) -> bool:
        """Change a story if it is still in the expected state; False if someone was faster."""
        ...


# ---- the state changes, each conditional on the state the story was seen in ---------------


def approve(records: StoryChanges, story: StoryView, *, by: str, now: dt.datetime) -> bool:
    """A pending story joins the pool; False if someone decided first."""
    changes = {"state": StoryState.APPROVED, "approved_at": now, "decided_by": by}
    return records.change_story(story.code, StoryState.PENDING, **changes)


def reject(records: StoryChanges, story: StoryView, *, reason: str) -> bool:
    """An open story is turned down, with the reason its author is told."""
    changes = {"state": StoryState.REJECTED, "reason": reason}
    return records.change_story(story.code, story.state, **changes)


def edit_text(records: StoryChanges, story: StoryView, *, text: str) -> bool:
    """A moderator's edit of an open story's text."""
    return records.change_story(story.code, story.state, text=text)


def hide_photo(records: StoryChanges, story: StoryView) -> bool:
    """The story is published without its photo."""
    return records.change_story(story.code, story.state, photo_hidden=True)


def publish(records: StoryChanges, story: StoryView, *, now: dt.datetime) -> bool:
    """An approved story is posted; False if it was posted (or withdrawn) meanwhile."""
    changes = {"state": StoryState.PUBLISHED, "published_at": now}
    return records.change_story(story.code, StoryState.APPROVED, **changes)


class PublishingRecords(StoryChanges, Protocol):
    """The stories' records, on the event's transaction."""

    def pool(self) -> list[StoryView]:
        """Approved stories not yet published."""
        ...

    def last_published_unit(self) -> str | None:
        """The unit of the most recently published story."""
        ...

    def claim(self, kind: str, period: str, now: dt.datetime, status: str = "posted") -> bool:
        """Record a post of this kind for this period (or that it was skipped); False if
        that was done before."""
        ...

    def subscribers(self, topic: str) -> list[tuple[str, str, str]]:
        """(channel, chat, language) of everyone reachable who subscribed to a topic."""
        ...

    def published_between(self, since: dt.datetime, until: dt.datetime) -> list[StoryView]:
        """Stories and ideas published in a period, oldest first."""
        ...

    def ideas_approved_between(self, since: dt.datetime, until: dt.datetime) -> list[StoryView]:
        """Ideas the moderators approved in a period (the week's best), oldest first."""
        ...

    def figures(self, since: dt.datetime, until: dt.datetime) -> list[Figures]:
        """Per public kind (never confidential reports): submissions received and first
        answered in a period, and the median time to a first answer of those answered."""
        ...

    def record_post(
        self, kind: str, period: str, payload: dict[str, Any], now: dt.datetime
    ) -> None:
        """Keep a post for the public page and the feed."""
        ...

    def posts(self, limit: int) -> list[Post]:
        """The latest posts for the public page, newest first."""
        ...
