"""The buttons on a ticket's card (and the desk's offers): one table by button name."""

from collections.abc import Callable

from bot.domain.desk import Staff, TicketView
from bot.domain.kinds import Kind
from bot.domain.messages import Inbound, Reply
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.desk import actions, idle
from handlers.desk.view import card_here, files, show_ticket, visible_ticket

# A button's handler gets the ticket (already checked visible) and the button's extra parts.
Button = Callable[[Context, Staff, TicketView, list[str]], list[Reply]]


def on_button(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    """What a press on a desk button does, for staff who may see its ticket."""
    parts = event.choice.removeprefix(PREFIX).split(":")
    name, code, extra = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
    if name == "thread":
        return show_ticket(event, ctx, staff, code)
    ticket = visible_ticket(ctx, staff, code)
    if ticket is None:
        return [Reply("desk.not_allowed")]
    if name == "open":
        return [card_here(ctx, event, ticket)]
    if name in actions.TEXT_ACTIONS:
        return actions.ask_text(ctx, ticket, name)
    button = BUTTONS.get(name)
    return button(ctx, staff, ticket, extra) if button else [Reply("errors.stale_choice")]


def _with_extra(handler: Callable[[Context, Staff, TicketView, str], list[Reply]]) -> Button:
    """A button that needs one more part (an index, a code); stale without it."""

    def pressed(ctx: Context, staff: Staff, ticket: TicketView, extra: list[str]) -> list[Reply]:
        return handler(ctx, staff, ticket, extra[0]) if extra else [Reply("errors.stale_choice")]

    return pressed


def _not_confidential(button: Button) -> Button:
    """A button that means nothing on a confidential report (it never moves unit)."""

    def pressed(ctx: Context, staff: Staff, ticket: TicketView, extra: list[str]) -> list[Reply]:
        if ticket.kind is Kind.CONFIDENTIAL:
            return [Reply("errors.stale_choice")]
        return button(ctx, staff, ticket, extra)

    return pressed


BUTTONS: dict[str, Button] = {
    "files": lambda ctx, staff, ticket, extra: files(ctx, ticket),
    "take": lambda ctx, staff, ticket, extra: actions.take(ctx, staff, ticket),
    "canned": _with_extra(lambda ctx, staff, ticket, index: actions.canned(ctx, ticket, index)),
    "send": lambda ctx, staff, ticket, extra: actions.send_draft(
        ctx, staff, ticket, extra[0] if extra else None
    ),
    "drop": lambda ctx, staff, ticket, extra: idle.drop_offer(ctx, extra[0] if extra else None),
    "transfer": lambda ctx, staff, ticket, extra: actions.transfer_menu(ctx, staff, ticket),
    "to": _with_extra(actions.transfer_to_person),
    "tounit": _not_confidential(
        lambda ctx, staff, ticket, extra: actions.ask_unit(ctx, ticket.code)
    ),
    "unit": _not_confidential(_with_extra(actions.transfer_to_unit)),
}
