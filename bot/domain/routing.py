"""Which staff receive a submission: the first matching rule, else the office."""

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.kinds import Kind

# A chat on one channel: (channel name, chat id there).
Chat = tuple[str, str]


@dataclass(frozen=True)
class Rule:
    """Submissions of these kinds, categories and units go to groups and/or named staff.

    An empty set matches anything; each group is a chat on its own channel.
    """

    name: str
    kinds: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    groups: tuple[Chat, ...] = ()
    staff: tuple[str, ...] = ()


@dataclass(frozen=True)
class Routes:
    """The ordered rules, the office fallback and the inspection committee."""

    rules: Sequence[Rule]
    office: Rule
    inspection: Rule

    def choose(self, kind: str, category: str, unit_code: str | None) -> Rule:
        """The rule for a submission; confidential reports only ever go to inspection."""
        return explain(self, kind, category, unit_code)[-1].rule


@dataclass(frozen=True)
class Mismatch:
    """A condition of a rule that a submission failed: its kind, category or unit."""

    field: str
    value: str
    allowed: frozenset[str]


@dataclass(frozen=True)
class Verdict:
    """Whether one rule matched a submission, and the conditions that failed if not."""

    rule: Rule
    matched: bool
    failed: tuple[Mismatch, ...]


def _failed(rule: Rule, kind: str, category: str, unit_code: str | None) -> tuple[Mismatch, ...]:
    checks = (
        Mismatch("kind", kind, rule.kinds),
        Mismatch("category", category, rule.categories),
        Mismatch("unit", unit_code or "", rule.units),
    )
    return tuple(c for c in checks if c.allowed and c.value not in c.allowed)


def explain(routes: Routes, kind: str, category: str, unit_code: str | None) -> list[Verdict]:
    """Each rule tried in order, up to the one chosen (which is always last)."""
    if kind == Kind.CONFIDENTIAL:
        return [Verdict(routes.inspection, True, ())]
    verdicts = []
    for rule in routes.rules:
        failed = _failed(rule, kind, category, unit_code)
        verdicts.append(Verdict(rule, not failed, failed))
        if not failed:
            return verdicts
    return [*verdicts, Verdict(routes.office, True, ())]
