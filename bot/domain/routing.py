"""Which staff receive a submission: the first matching rule, else the office."""

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.kinds import Kind


@dataclass(frozen=True)
class Rule:
    """Submissions of these kinds, categories and units go to a group and/or named staff.

    An empty set matches anything.
    """

    name: str
    kinds: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    group_chat_id: int | None = None
    staff: tuple[str, ...] = ()

    def matches(self, kind: str, category: str, unit_code: str | None) -> bool:
        """Whether a submission falls under this rule."""
        return (
            (not self.kinds or kind in self.kinds)
            and (not self.categories or category in self.categories)
            and (not self.units or unit_code in self.units)
        )


@dataclass(frozen=True)
class Routes:
    """The ordered rules, the office fallback and the inspection committee."""

    rules: Sequence[Rule]
    office: Rule
    inspection: Rule

    def choose(self, kind: str, category: str, unit_code: str | None) -> Rule:
        """The rule for a submission; confidential reports only ever go to inspection."""
        if kind == Kind.CONFIDENTIAL:
            return self.inspection
        return next((r for r in self.rules if r.matches(kind, category, unit_code)), self.office)
