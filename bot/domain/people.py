"""A person as the dialogue sees them."""

import datetime as dt
from dataclasses import dataclass, field

AGE_GROUPS = ("under-16", "16-18", "19-24", "25-30", "over-30")
# The publications one subscribes to; broadcast topics (announcements first) come from config.
PUBLICATIONS = ("daily", "weekly")


@dataclass
class Profile:
    """What we know of a person beyond their dialogue: choices made in onboarding and settings."""

    unit_code: str | None = None
    consented_at: dt.datetime | None = None
    age_group: str | None = None
    workplace: str | None = None
    always_anonymous: bool = False
    subscriptions: list[str] = field(default_factory=list)
    banned: bool = False
    # The name and call-back contact they typed to send with their name (given_name wins over
    # a channel's display name: they chose it for this).
    given_name: str | None = None
    contact: str | None = None
