"""Whom a broadcast is for, and who may send one to them."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bot.domain.kinds import Role

ANNOUNCEMENTS = "announcements"


@dataclass(frozen=True)
class Audience:
    """Whom a broadcast is for: these people, or everyone subscribed to the topic in these
    units, age groups, languages and channels (an empty list: any)."""

    people: tuple[int, ...] = ()
    units: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    topic: str = ANNOUNCEMENTS
    age_groups: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Its stored form."""
        return {
            "people": list(self.people),
            "units": list(self.units),
            "languages": list(self.languages),
            "topic": self.topic,
            "age_groups": list(self.age_groups),
            "channels": list(self.channels),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Audience":
        """Read its stored form back."""
        return cls(
            people=tuple(data.get("people", ())),
            units=tuple(data.get("units", ())),
            languages=tuple(data.get("languages", ())),
            topic=data.get("topic", ANNOUNCEMENTS),
            age_groups=tuple(data.get("age_groups", ())),
            channels=tuple(data.get("channels", ())),
        )


def audience_refusal(
    *,
    roles: Collection[str],
    staff_units: Collection[str],
    audience: Audience,
    secretaries_may_send: bool,
) -> str | None:
    """None when these roles may broadcast to this audience, else the catalog key of why not:
    admins reach anyone; a unit secretary, where config allows, only people of their own
    units, named (an empty unit list means every unit)."""
    if Role.ADMIN in roles:
        return None
    if Role.SECRETARY not in roles:
        return "audience.refused_role"
    if not secretaries_may_send:
        return "audience.refused_secretaries"
    if not audience.units:
        return "audience.refused_all_units"
    if not set(audience.units) <= set(staff_units):
        return "audience.refused_other_units"
    return None
