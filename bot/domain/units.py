"""Finding a commune, ward or affiliated union from a few typed words."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from bot.domain.text import fold

MAX_MATCHES = 8
MIN_QUERY_CHARS = 2
# Words that start almost every name; "go dau" should rank "Phường Gò Dầu" first.
_TITLE_WORDS = ("xa ", "phuong ", "doan truong ", "doan thanh nien ", "doan ")


@dataclass(frozen=True)
class UnitName:
    """A unit as the picker needs it."""

    code: str
    name: str

    @cached_property
    def folded(self) -> str:
        """The name without diacritics, case or extra spaces."""
        return fold(self.name)

    @cached_property
    def bare(self) -> str:
        """The folded name without its leading title ('xa', 'phuong', 'doan'...)."""
        folded = self.folded
        for title in _TITLE_WORDS:
            if folded.startswith(title):
                return folded[len(title) :]
        return folded


def search_units(
    units: Sequence[UnitName], query: str, limit: int = MAX_MATCHES
) -> tuple[list[UnitName], int]:
    """Units with a word in their name that starts like the query (diacritics and case
    ignored), best first, and how many matched in all."""
    wanted = fold(query)
    if len(wanted) < MIN_QUERY_CHARS:
        return [], 0
    found = [unit for unit in units if f" {wanted}" in f" {unit.folded}"]

    def rank(unit: UnitName) -> tuple[int, str]:
        bare = unit.bare
        if wanted in (bare, unit.folded):
            return 0, unit.folded
        if bare.startswith(wanted):
            return 1, unit.folded
        return 2, unit.folded

    found.sort(key=rank)
    return found[:limit], len(found)
