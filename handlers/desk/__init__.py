"""The staff desk: card buttons, replies to cards, /queue, /ticket, /audit, /staff, /invite,
/revoke, /ban and /unban. Every action checks the actor's role and scope at the moment it is
taken; every change to a ticket goes through the domain's ticket operation."""

from bot.domain.desk import handles
from bot.domain.messages import Inbound, InputKind, Reply
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.desk import actions, idle
from handlers.desk.buttons import on_button
from handlers.desk.commands import on_command
from handlers.desk.invitations import INVITE_PREFIX, accept_invite, is_invite, welcome
from handlers.desk.state import FLOW
from handlers.steps import current

__all__ = ["INVITE_PREFIX", "handle", "welcome"]


def handle(event: Inbound, ctx: Context) -> list[Reply] | None:
    """The desk's answer to an event, or None when the event is for the youth dialogue."""
    if is_invite(event):
        return accept_invite(event, ctx)
    staff = ctx.desk.staff_of_person(ctx.person_id) if ctx.staff_code else None
    at_desk = staff is not None and handles(staff)
    if event.kind is InputKind.CHOICE and event.choice.startswith(PREFIX):
        if staff is None or not at_desk:
            return [Reply("desk.not_allowed")]
        return on_button(event, ctx, staff)
    if staff is None:
        return None
    if not at_desk:
        return idle.idle_moderator(event) if idle.nothing_pending(event, ctx) else None
    if event.kind is InputKind.COMMAND:
        return on_command(event, ctx, staff)
    code = _replied_card(event, ctx)
    if code is not None:
        return actions.with_text(ctx, staff, code, "reply", event)
    if ctx.flow == FLOW:
        step = current(ctx)
        return step.take(event, ctx) if step is not None else None
    return idle.idle(event, ctx, staff) if idle.nothing_pending(event, ctx) else None


def _replied_card(event: Inbound, ctx: Context) -> str | None:
    if event.reply_to is None or event.kind not in (InputKind.TEXT, InputKind.MEDIA):
        return None
    return ctx.desk.card_replied_to(event.channel, event.chat_id, event.reply_to)
