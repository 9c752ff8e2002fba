"""Staff who type with nothing pending: a hint instead of the youth dialogue, and what they
typed kept for the answer it probably was."""

import datetime as dt
import secrets

from bot.domain.desk import Staff, TicketView
from bot.domain.lifecycle import Status
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers import profile
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.desk.state import DRAFT, MAX_TEXT_CHARS, desk_draft
from handlers.steps import text_of

QUEUE_SCAN = 500


def nothing_pending(event: Inbound, ctx: Context) -> bool:
    """A message (not a command or a press) from staff who are in no dialogue, or only at
    the consent question a stray /start left them at."""
    if event.kind in (InputKind.COMMAND, InputKind.CHOICE):
        return False
    return ctx.flow is None or (ctx.flow, ctx.step) == (profile.ONBOARDING, "consent")


def idle_moderator(event: Inbound) -> list[Reply]:
    """A moderator who typed with nothing pending: how the moderation desk works."""
    return [Reply("desk.idle_moderator")] if event.private_chat else []


def idle(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    """A desk hint instead of the youth dialogue; what was typed is kept for the answer it
    probably was: offered for the one ticket they hold awaiting an answer, else kept for
    the next Trả lời. In groups colleagues talk among themselves: nothing to say."""
    if not event.private_chat:
        return []
    typed = text_of(event)
    if typed is None or len(typed) > MAX_TEXT_CHARS:
        return [Reply("desk.idle_hint")]
    waiting = _theirs_to_answer(ctx, staff)
    kept = {"action": "reply", "text": typed, "kept_at": ctx.now.isoformat()}
    if len(waiting) != 1:
        ctx.draft[DRAFT] = kept
        if not waiting:
            return [Reply("desk.idle_hint")]
        return [Reply("desk.idle_several", {"count": str(len(waiting))})]
    code, offer = waiting[0].code, secrets.token_hex(3)
    ctx.draft[DRAFT] = {**kept, "code": code, "offer": offer}
    buttons = (
        Choice(f"{PREFIX}send:{code}:{offer}", "desk.idle_yes"),
        Choice(f"{PREFIX}drop:{code}:{offer}", "desk.idle_no"),
    )
    return [Reply("desk.idle_offer", {"code": code, "text": typed}, (buttons,))]


def _theirs_to_answer(ctx: Context, staff: Staff) -> list[TicketView]:
    """The tickets this member holds that wait for their answer."""
    return [
        t
        for t in ctx.desk.open_tickets(None, QUEUE_SCAN)
        if t.assignee_code == staff.code and t.status is Status.ASSIGNED
    ]


def kept_text(ctx: Context) -> str | None:
    """What staff typed with nothing pending, if it is recent enough to be the answer they
    are about to give (a dialogue's timeout)."""
    draft = ctx.draft.get(DRAFT) or {}
    if not draft.get("kept_at") or not draft.get("text"):
        return None
    timeout = dt.timedelta(minutes=ctx.org.raw.limits.dialogue_timeout_minutes)
    fresh = ctx.now - dt.datetime.fromisoformat(draft["kept_at"]) <= timeout
    return str(draft["text"]) if fresh else None


def drop_offer(ctx: Context, offer: str | None) -> list[Reply]:
    """Forget the kept text this very offer was about (an older offer is stale)."""
    if offer is None or desk_draft(ctx).get("offer") != offer:
        return [Reply("errors.stale_choice")]
    ctx.draft.pop(DRAFT, None)
    return [Reply("desk.idle_dropped")]
