"""Seeing a ticket at the desk: whether this member may, its card here, its thread, its files."""

from bot.domain.clock import show_datetime
from bot.domain.desk import Staff, TicketView, visible
from bot.domain.i18n import text
from bot.domain.lifecycle import Event
from bot.domain.messages import Inbound, Reply
from handlers import cards
from handlers.context import Context

THREAD_ENTRIES = 15
ENTRY_CHARS = 500
MAP_LINK = "https://maps.google.com/?q={}"


def visible_ticket(ctx: Context, staff: Staff, code: str) -> TicketView | None:
    """The ticket if this staff member may see it now, else None (as if it did not exist)."""
    ticket = ctx.desk.ticket(code)
    if ticket is None or not visible(staff, ticket, ctx.org.routes):
        return None
    return ticket


def card_here(ctx: Context, event: Inbound, ticket: TicketView) -> Reply:
    """The ticket's card in the chat the event came from."""
    return cards.card(ctx.org, ticket, ctx.now, event.channel, event.chat_id)


def thread(ctx: Context, ticket: TicketView) -> Reply:
    """The latest messages of a ticket's thread, internal notes included."""
    lines = []
    for entry in ctx.desk.thread(ticket.code, internal=True)[-THREAD_ENTRIES:]:
        who = "desk.from_note" if entry.internal else "desk.from_staff"
        if not entry.from_staff:
            who = "desk.from_sender"
        body = entry.body[:ENTRY_CHARS] + ("…" if len(entry.body) > ENTRY_CHARS else "")
        lines.append(f"[{show_datetime(entry.at, ctx.zone)}] {text(who, ctx.language)}: {body}")
    return Reply("desk.thread", {"code": ticket.code, "thread": "\n".join(lines)})


def files(ctx: Context, ticket: TicketView) -> list[Reply]:
    """Each attached file again, to the staff member who asked."""
    shared_files = ctx.desk.files(ticket.code)
    if not shared_files:
        return [Reply("desk.no_files", {"code": ticket.code})]
    replies = []
    for number, shared in enumerate(shared_files, start=1):
        values = {
            "code": ticket.code,
            "number": f"{number}/{len(shared_files)}",
            "kind": text(f"media.{shared.kind}", ctx.language),
        }
        if shared.kind == "location":
            values["link"] = MAP_LINK.format(shared.ref)
            replies.append(Reply("desk.file_location", values))
        else:
            replies.append(Reply("desk.file", values, file=shared))
    return replies


def show_ticket(event: Inbound, ctx: Context, staff: Staff, code: str) -> list[Reply]:
    """A ticket's thread and card, or that there is no such ticket (for this member)."""
    ticket = visible_ticket(ctx, staff, code)
    if ticket is None:
        return [Reply("desk.no_ticket", {"code": code})]
    return [thread(ctx, ticket), card_here(ctx, event, ticket)]


def refused(ticket: TicketView, event: Event) -> Reply:
    """Why an action cannot happen to a ticket now: who holds it, or its status."""
    if event is Event.TAKE and ticket.assignee_name:
        return Reply("desk.taken_by", {"code": ticket.code, "name": ticket.assignee_name})
    return Reply(
        "desk.not_now",
        {"code": ticket.code, "status": text(f"status.{ticket.status}", cards.STAFF_LANGUAGE)},
    )
