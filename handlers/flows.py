"""A dialogue as one literal: its steps in order, what each accepts, when one is skipped and
where an answer given while editing returns; the runner moves between them."""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.messages import Inbound, InputKind, Reply
from handlers import steps
from handlers.context import Context

Asker = Callable[[Context], list[Reply]]
Check = Callable[[Context], bool]


class Accept(StrEnum):
    """What a step takes besides its choices."""

    TEXT = "text"
    FILES = "files"
    LOCATION = "location"


_ACCEPTED_AS = {
    InputKind.TEXT: Accept.TEXT,
    InputKind.MEDIA: Accept.FILES,
    InputKind.LOCATION: Accept.LOCATION,
}
STAY, NEXT, END = "=stay", "=next", "=end"


@dataclass(frozen=True)
class Outcome:
    """What an answer did: replies, then stay, go on, end the flow, or go to a named step."""

    replies: list[Reply]
    then: str


def stay(*replies: Reply) -> Outcome:
    """Stay at this step (the answer was refused or added to, e.g. one more file)."""
    return Outcome(list(replies), STAY)


def advance(*replies: Reply) -> Outcome:
    """Go on to the next step that is not skipped (or back to where an edit returns)."""
    return Outcome(list(replies), NEXT)


def end(*replies: Reply) -> Outcome:
    """Leave the flow here, without what the flow says when it is done."""
    return Outcome(list(replies), END)


def jump(step: str, *replies: Reply) -> Outcome:
    """Go to a named step (an edit menu's choice)."""
    return Outcome(list(replies), step)


Taker = Callable[[Inbound, Context], Outcome | None]


def never(ctx: Context) -> bool:
    """A step never skipped; a flow never editing."""
    return False


def always(ctx: Context) -> bool:
    """A flow whose every answer returns (settings: one question, then the summary)."""
    return True


@dataclass(frozen=True)
class Step:
    """One question: what it asks, what it accepts, how it takes an answer, when it is skipped."""

    name: str
    ask: Asker
    take: Taker
    accepts: frozenset[Accept] = frozenset()
    # Choice prefixes it answers ("cat" for "cat:…").
    choices: tuple[str, ...] = ()
    skip: Check = never
    # How it takes anything it does not accept (default: the dispatcher's "not understood").
    refuse: Taker | None = None


@dataclass(frozen=True)
class Flow:
    """A dialogue: steps in order and what is said when the last one is answered."""

    name: str
    steps: tuple[Step, ...]
    done: Asker
    # While editing, an answer returns to `returns_to` (None: to `done`) instead of going on.
    editing: Check = never
    returns_to: str | None = None

    def step(self, name: str) -> Step:
        """The step of this name."""
        return next(s for s in self.steps if s.name == name)


def parse_choice(choice: str) -> tuple[str, tuple[str, ...]]:
    """A choice id 'prefix:a:b' as ('prefix', ('a', 'b'))."""
    prefix, *args = choice.split(":")
    return prefix, tuple(args)


def accepts(step: Step, event: Inbound) -> bool:
    """Whether the event is of a kind the step takes."""
    if event.kind is InputKind.CHOICE:
        return parse_choice(event.choice)[0] in step.choices
    found = _ACCEPTED_AS.get(event.kind)
    return found is not None and found in step.accepts


def enter(ctx: Context, flow: Flow, name: str) -> list[Reply]:
    """Move to a step of the flow and ask its question."""
    ctx.go(flow.name, name)
    return flow.step(name).ask(ctx)


def start(ctx: Context, flow: Flow) -> list[Reply]:
    """Enter the flow at its first step that is not skipped."""
    return _following(ctx, flow, None)


def _following(ctx: Context, flow: Flow, after: Step | None) -> list[Reply]:
    rest = flow.steps[flow.steps.index(after) + 1 :] if after else flow.steps
    for step in rest:
        if not step.skip(ctx):
            return enter(ctx, flow, step.name)
    ctx.reset_dialogue()
    return flow.done(ctx)


def _move(ctx: Context, flow: Flow, step: Step, then: str) -> list[Reply]:
    if then == STAY:
        return []
    if then == END:
        ctx.reset_dialogue()
        return []
    if then != NEXT:
        return enter(ctx, flow, then)
    if not flow.editing(ctx):
        return _following(ctx, flow, step)
    if flow.returns_to is None:
        ctx.reset_dialogue()
        return flow.done(ctx)
    return enter(ctx, flow, flow.returns_to)


def _taker(flow: Flow, step: Step) -> steps.Taker:
    def take(event: Inbound, ctx: Context) -> list[Reply] | None:
        taker = step.take if accepts(step, event) else step.refuse
        outcome = taker(event, ctx) if taker else None
        if outcome is None:
            return None
        return [*outcome.replies, *_move(ctx, flow, step, outcome.then)]

    return take


def register(flow: Flow) -> Flow:
    """Make the flow's steps reachable where the dialogue stands (the dispatcher's `current`)."""
    compiled = {
        s.name: steps.Step(s.ask, _taker(flow, s), files=Accept.FILES in s.accepts)
        for s in flow.steps
    }
    steps.register(flow.name, compiled)
    return flow
