"""The stories' state changes as a table, on in-memory records (no SQL): each change from
each state, applied where the story is in the state it needs, refused (nothing changes)
otherwise."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from bot.domain import publishing as stories
from bot.domain.publishing import Credit, StoryState, StoryView

NOW = dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC)
S = StoryState


@dataclass
class MemoryStories:
    """StoryChanges in memory."""

    stored: dict[str, StoryView]

    def story(self, code: str) -> StoryView | None:
        return self.stored.get(code)

    def change_story(self, code: str, expected: StoryState, **changes: object) -> bool:
        story = self.stored.get(code)
        if story is None or story.state is not expected:
            return False
        # decided_by is kept in storage only; the view does not show it.
        shown = {k: v for k, v in changes.items() if k != "decided_by"}
        self.stored[code] = replace(story, **shown)  # type: ignore[arg-type]
        return True


def _story(state: StoryState) -> StoryView:
    return StoryView(
        code="TT-2611-0001",
        kind="story",
        state=state,
        text="Một ngày đẹp",
        credit=Credit.NAMED,
        author_name="Lan",
        unit_code=None,
        photo="photo-1",
        photo_hidden=False,
        created_at=NOW - dt.timedelta(days=1),
    )


Operation = Callable[[MemoryStories, StoryView], bool]
OPERATIONS: dict[str, Operation] = {
    "approve": lambda r, s: stories.approve(r, s, by="mod", now=NOW),
    "reject": lambda r, s: stories.reject(r, s, reason="lạc đề"),
    "edit": lambda r, s: stories.edit_text(r, s, text="Sửa lại"),
    "hide": stories.hide_photo,
    "publish": lambda r, s: stories.publish(r, s, now=NOW),
}
# What each operation leaves, from each state it applies to (others are refused).
AFTER: dict[tuple[str, StoryState], dict[str, object]] = {
    ("approve", S.PENDING): {"state": S.APPROVED, "approved_at": NOW},
    ("publish", S.APPROVED): {"state": S.PUBLISHED, "published_at": NOW},
    **{("reject", s): {"state": S.REJECTED, "reason": "lạc đề"} for s in S},
    **{("edit", s): {"text": "Sửa lại"} for s in S},
    **{("hide", s): {"photo_hidden": True} for s in S},
}


@pytest.mark.parametrize(("name", "state"), [(n, s) for n in OPERATIONS for s in S])
def test_each_change_from_each_state(name: str, state: StoryState) -> None:
    before = _story(state)
    records = MemoryStories({before.code: before})
    applied = OPERATIONS[name](records, before)
    expected = AFTER.get((name, state))
    assert applied is (expected is not None)
    assert records.stored[before.code] == replace(before, **(expected or {}))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_story_someone_changed_meanwhile_is_left_as_it_is(name: str) -> None:
    seen = _story(S.PENDING if name != "publish" else S.APPROVED)
    latest = replace(seen, state=S.REJECTED, reason="đã quyết")
    records = MemoryStories({seen.code: latest})
    assert not OPERATIONS[name](records, seen)
    assert records.stored[seen.code] == latest
