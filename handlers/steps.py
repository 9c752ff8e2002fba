"""Where the dialogue stands: each registered step by (flow, name), and asking it.

Flows are declared as literals in handlers/flows.py, which compiles them to these steps;
`register`, `goto` and a taker that moves by itself remain for the desk's and publishing's
steps until they are declared as flows too."""

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers.context import Context

Asker = Callable[[Context], list[Reply]]
# A taker returns None when the input is not an answer to its question.
Taker = Callable[[Inbound, Context], list[Reply] | None]


@dataclass(frozen=True)
class Step:
    """One question of a flow."""

    ask: Asker
    take: Taker
    # Whether the step takes files: uploads are refused anywhere else.
    files: bool = False


_STEPS: dict[tuple[str, str], Step] = {}


def register(flow: str, steps: dict[str, Step]) -> None:
    """Make a flow's steps reachable by name."""
    for name, step in steps.items():
        _STEPS[(flow, name)] = step


def current(ctx: Context) -> Step | None:
    """The step the person is at, if any (a step unknown to this version counts as none)."""
    if ctx.flow is None or ctx.step is None:
        return None
    return _STEPS.get((ctx.flow, ctx.step))


def takes_files(flow: str | None, step: str | None) -> bool:
    """Whether the step the person is at takes files."""
    found = _STEPS.get((flow, step)) if flow is not None and step is not None else None
    return found is not None and found.files


def goto(ctx: Context, flow: str, step: str) -> list[Reply]:
    """Move to a step and ask its question."""
    ctx.go(flow, step)
    return _STEPS[(flow, step)].ask(ctx)


def ask_again(ctx: Context) -> list[Reply]:
    """Repeat the current question, if there is one."""
    step = current(ctx)
    return step.ask(ctx) if step else []


def label(text: str) -> dict[str, str]:
    """Values for the catalog's 'common.label': a name that comes from config, not the catalog."""
    return {"label": text}


def rows(choices: list[Choice], per_row: int = 1) -> tuple[tuple[Choice, ...], ...]:
    """Lay choices out in rows of `per_row`."""
    return tuple(tuple(choices[i : i + per_row]) for i in range(0, len(choices), per_row))


def text_of(event: Inbound) -> str | None:
    """The typed text (or a media caption) stripped, or None when nothing was typed."""
    if event.kind in (InputKind.TEXT, InputKind.MEDIA) and event.text.strip():
        return event.text.strip()
    return None
