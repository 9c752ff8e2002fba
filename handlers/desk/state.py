"""The desk's dialogue: its flow name and the draft it keeps between steps."""

from handlers.context import Context

FLOW = "desk"
DRAFT = "desk"


def desk_draft(ctx: Context) -> dict[str, str]:
    """The desk's draft in this person's dialogue (created empty)."""
    draft: dict[str, str] = ctx.draft.setdefault(DRAFT, {})
    return draft


def leave(ctx: Context) -> None:
    """Leave the desk's dialogue and drop its draft."""
    if ctx.flow == FLOW:
        ctx.reset_dialogue()
    ctx.draft.pop(DRAFT, None)


MAX_TEXT_CHARS = 3500
