"""Staff actions on a ticket: take, the typed ones (reply, ask, note, resolve, reject), canned
answers, and transfers. Each one goes through the domain's ticket operation."""

import secrets

from bot.config import Label
from bot.domain import ticket_ops
from bot.domain.desk import Staff, TicketView
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import Event, can_happen
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from bot.domain.units import search_units
from handlers import cards
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.desk.idle import kept_text
from handlers.desk.state import DRAFT, FLOW, MAX_TEXT_CHARS, desk_draft, leave
from handlers.desk.view import refused, visible_ticket
from handlers.steps import Step, goto, register, rows, text_of

# Actions that need a text from staff: the event each leads to.
TEXT_ACTIONS = {
    "reply": Event.REPLY,
    "ask": Event.ASK,
    "note": Event.NOTE,
    "resolve": Event.RESOLVE,
    "reject": Event.REJECT,
}


def act(
    ctx: Context, staff: Staff, ticket: TicketView, request: ticket_ops.Request
) -> list[Reply]:
    """Apply a staff action through the ticket operation; say what happened to the actor,
    and bring the cards and the sender up to date."""
    outcome = ticket_ops.apply(ctx.desk, ticket, request, actor=staff, now=ctx.now)
    if not outcome.applied:
        return [refused(outcome.ticket, request.event)]
    leave(ctx)
    done = Reply(f"desk.done_{request.event.value}", {"code": ticket.code})
    return [done, *cards.told(ctx.org, ctx.desk, outcome, ctx.now)]


def take(ctx: Context, staff: Staff, ticket: TicketView) -> list[Reply]:
    """Take a ticket: its holder is now this member."""
    return act(ctx, staff, ticket, ticket_ops.Request(Event.TAKE))


# ---- typed actions: reply, ask, note, resolve, reject -------------------------------


def ask_text(ctx: Context, ticket: TicketView, action: str) -> list[Reply]:
    """Ask for the text of a typed action (offering a recently kept text for a reply)."""
    if not can_happen(ticket.status, TEXT_ACTIONS[action]):
        return [refused(ticket, TEXT_ACTIONS[action])]
    kept = kept_text(ctx) if action == "reply" else None
    ctx.draft[DRAFT] = {"code": ticket.code, "action": action}
    if kept:
        ctx.draft[DRAFT].update(text=kept, offer=secrets.token_hex(3))
    return goto(ctx, FLOW, "text")


def _ask_typed(ctx: Context) -> list[Reply]:
    draft = desk_draft(ctx)
    action, code = draft.get("action", ""), draft.get("code", "")
    choices: list[Choice] = []
    answers: list[Label] = []
    if action == "reply":
        ticket = ctx.desk.ticket(code)
        answers = ctx.org.raw.desk.canned_answers.get(ticket.category, []) if ticket else []
        choices = [
            Choice(f"{PREFIX}canned:{code}:{i}", "desk.canned_item", {"label": a.vi[:40]})
            for i, a in enumerate(answers)
        ]
        if draft.get("offer") and draft.get("text"):
            kept = {"label": draft["text"][:40]}
            offer = f"{PREFIX}send:{code}:{draft['offer']}"
            choices.insert(0, Choice(offer, "desk.idle_kept", kept))
    # The ready answers are offered only where the category has some.
    key = "desk.ask_reply_canned" if action == "reply" and answers else f"desk.ask_{action}"
    return [Reply(key, {"code": code}, choices=rows(choices))]


def _take_typed(event: Inbound, ctx: Context) -> list[Reply] | None:
    if text_of(event) is None:
        return None
    draft = desk_draft(ctx)
    staff = ctx.desk.staff_of_person(ctx.person_id)
    if staff is None:
        ctx.reset_dialogue()
        return [Reply("desk.not_allowed")]
    return with_text(ctx, staff, draft.get("code", ""), draft.get("action", ""), event)


def with_text(ctx: Context, staff: Staff, code: str, action: str, event: Inbound) -> list[Reply]:
    """Do a typed action on a ticket with the text of this event."""
    typed = text_of(event)
    if typed is None or action not in TEXT_ACTIONS:
        return [Reply("desk.need_text")]
    if len(typed) > MAX_TEXT_CHARS:
        return [Reply("submit.too_long", {"max": str(MAX_TEXT_CHARS), "count": str(len(typed))})]
    ticket = visible_ticket(ctx, staff, code)
    if ticket is None:
        ctx.reset_dialogue()
        return [Reply("desk.not_allowed")]
    return act(ctx, staff, ticket, ticket_ops.Request(TEXT_ACTIONS[action], body=typed))


def canned(ctx: Context, ticket: TicketView, index: str) -> list[Reply]:
    """Preview a canned answer, in the sender's language, ready to send."""
    answers = ctx.org.raw.desk.canned_answers.get(ticket.category, [])
    if not index.isdigit() or int(index) >= len(answers):
        return [Reply("errors.stale_choice")]
    chosen = answers[int(index)]
    body = chosen.en if ticket.language == "en" else chosen.vi
    ctx.draft[DRAFT] = {"code": ticket.code, "action": "reply", "text": body}
    ctx.go(FLOW, "text")
    send = Choice(f"{PREFIX}send:{ticket.code}", "desk.send")
    return [Reply("desk.canned_preview", {"code": ticket.code, "text": body}, ((send,),))]


def send_draft(ctx: Context, staff: Staff, ticket: TicketView, offer: str | None) -> list[Reply]:
    """Send the reply drafted for this ticket (a canned answer, or a kept text whose offer
    is this very button: an older offer never sends a newer text)."""
    draft = desk_draft(ctx)
    if draft.get("code") != ticket.code or not draft.get("text") or draft.get("offer") != offer:
        return [Reply("errors.stale_choice")]
    return act(ctx, staff, ticket, ticket_ops.Request(Event.REPLY, body=draft["text"]))


# ---- transfer -----------------------------------------------------------------------


def _transfer_role(ticket: TicketView) -> Role:
    return Role.INSPECTION if ticket.kind is Kind.CONFIDENTIAL else Role.STAFF


def transfer_menu(ctx: Context, staff: Staff, ticket: TicketView) -> list[Reply]:
    """Whom a ticket can go to: colleagues who may hold it, and (not confidential) a unit."""
    if not can_happen(ticket.status, Event.TRANSFER_PERSON):
        return [refused(ticket, Event.TRANSFER_PERSON)]
    wanted = _transfer_role(ticket)
    people = [
        Choice(f"{PREFIX}to:{ticket.code}:{s.code}", "common.label", {"label": s.name})
        for s in ctx.desk.all_staff()
        if s.code != staff.code and s.person_id is not None and s.has(wanted)
    ]
    if ticket.kind is not Kind.CONFIDENTIAL:
        people.append(Choice(f"{PREFIX}tounit:{ticket.code}", "desk.to_unit"))
    return [Reply("desk.transfer_ask", {"code": ticket.code}, choices=rows(people, 2))]


def transfer_to_person(
    ctx: Context, staff: Staff, ticket: TicketView, target_code: str
) -> list[Reply]:
    """Hand a ticket to a colleague who may hold it."""
    target = ctx.desk.staff(target_code)
    if target is None or target.person_id is None or not target.has(_transfer_role(ticket)):
        return [Reply("errors.stale_choice")]
    return act(ctx, staff, ticket, ticket_ops.Request(Event.TRANSFER_PERSON, target=target))


def ask_unit(ctx: Context, code: str) -> list[Reply]:
    """Start choosing the unit a ticket moves to."""
    ctx.draft[DRAFT] = {"code": code, "action": "transfer"}
    return goto(ctx, FLOW, "unit")


def _ask_unit(ctx: Context) -> list[Reply]:
    return [Reply("desk.unit_ask", {"code": desk_draft(ctx).get("code", "")})]


def _take_unit(event: Inbound, ctx: Context) -> list[Reply] | None:
    typed = text_of(event)
    if typed is None or event.kind is not InputKind.TEXT:
        return None
    code = desk_draft(ctx).get("code", "")
    matches, total = search_units(ctx.org.unit_names, typed[:100])
    if not matches:
        return [Reply("unit.no_match", {"query": typed[:100]})]
    choices = [
        Choice(f"{PREFIX}unit:{code}:{u.code}", "common.label", {"label": u.name}) for u in matches
    ]
    return [Reply("desk.unit_pick", {"count": str(total)}, choices=rows(choices))]


def transfer_to_unit(
    ctx: Context, staff: Staff, ticket: TicketView, unit_code: str
) -> list[Reply]:
    """Move a ticket to another unit: nobody holds it, and the unit's route gets its card."""
    unit = ctx.org.unit(unit_code)
    if unit is None:
        return [Reply("errors.stale_choice")]
    request = ticket_ops.Request(Event.TRANSFER_UNIT, unit_code=unit.code)
    return act(ctx, staff, ticket, request)


register(
    FLOW,
    {
        "text": Step(_ask_typed, _take_typed),
        "unit": Step(_ask_unit, _take_unit),
    },
)
