"""What the desk shows and sends: ticket cards kept up to date in every staff chat that
has one, and the notices that tell the sender what happened."""

import datetime as dt
from zoneinfo import ZoneInfo

from bot.config import OrgConfig
from bot.domain.clock import show_date, show_datetime
from bot.domain.desk import DeskRecords, TicketView, card_key
from bot.domain.i18n import text
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import Event, Status, can_happen
from bot.domain.messages import Choice, Recipient, Reply
from bot.domain.ticket_ops import Outcome
from handlers.steps import rows

STAFF_LANGUAGE = "vi"
CARD_TEXT_CHARS = 3000
PREFIX = "t:"
# Card buttons, in order, with the life-cycle event each one leads to.
BUTTONS = {
    "take": Event.TAKE,
    "reply": Event.REPLY,
    "ask": Event.ASK,
    "note": Event.NOTE,
    "transfer": Event.TRANSFER_UNIT,
    "resolve": Event.RESOLVE,
    "reject": Event.REJECT,
}
# What the sender is told after each event they hear of (bot/domain/ticket_ops.py SENDER_TOLD).
SENDER_NOTICES = {
    Event.TAKE: "notify.taken",
    Event.REPLY: "notify.reply",
    Event.ASK: "notify.ask",
    Event.TRANSFER_UNIT: "notify.transferred",
    Event.TRANSFER_PERSON: "notify.transferred_person",
    Event.RESOLVE: "notify.resolved",
    Event.REJECT: "notify.rejected",
    Event.AUTO_CLOSE: "notify.auto_closed",
}


def route_chats(org: OrgConfig, desk: DeskRecords, ticket: TicketView) -> list[tuple[str, str]]:
    """The chats the routing sends a submission to: its rule's groups (each on its own
    channel), then its staff's chats."""
    rule = org.routes.choose(ticket.kind, ticket.category, ticket.unit_code)
    chats = list(rule.groups)
    for code in rule.staff:
        chats += desk.chats_of(code)
    return list(dict.fromkeys(chats))


def _age(now: dt.datetime, since: dt.datetime) -> str:
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 60:
        return text("desk.age_minutes", STAFF_LANGUAGE, count=str(minutes))
    if minutes < 24 * 60:
        return text("desk.age_hours", STAFF_LANGUAGE, count=str(minutes // 60))
    return text("desk.age_days", STAFF_LANGUAGE, count=str(minutes // (24 * 60)))


def card_values(org: OrgConfig, ticket: TicketView, now: dt.datetime) -> dict[str, str]:
    """A card's fields in the staff language; never the identity of a hidden sender."""
    zone, lang = ZoneInfo(org.raw.organisation.timezone), STAFF_LANGUAGE
    category = org.category(ticket.kind, ticket.category)
    unit = org.unit(ticket.unit_code or "")
    if ticket.kind is Kind.CONFIDENTIAL:
        sender = text("staff.sender_confidential", lang)
    elif ticket.anonymous:
        sender = text("staff.sender_anonymous", lang)
    else:
        sender = ticket.sender_name or text("staff.sender_unnamed", lang)
        if ticket.sender_contact:
            values = {"name": sender, "contact": ticket.sender_contact}
            sender = text("profile_name.card_sender", lang, **values)
    open_ = ticket.status not in (Status.CLOSED, Status.REJECTED)
    overdue = open_ and ticket.due_at is not None and ticket.due_at < now
    return {
        "code": ticket.code,
        "kind": text(f"kinds.{ticket.kind}", lang),
        "status": text(f"status.{ticket.status}", lang),
        "category": category.vi if category else ticket.category,
        "unit": unit.name if unit else text("common.not_set", lang),
        "sender": sender,
        "created": show_datetime(ticket.created_at, zone),
        "age": _age(now, ticket.created_at),
        "due": show_date(ticket.due_at, zone) if ticket.due_at else text("common.not_set", lang),
        "overdue": text("desk.overdue", lang) if overdue else "",
        "assignee": ticket.assignee_name or text("desk.nobody", lang),
        "attachments": str(ticket.attachments),
        "text": ticket.text[:CARD_TEXT_CHARS] or text("desk.text_erased", lang),
    }


def card_buttons(ticket: TicketView) -> tuple[tuple[Choice, ...], ...]:
    """The actions the ticket's status allows (from the life-cycle table), then its thread
    and, when it has any, its files."""
    actions = [
        Choice(f"{PREFIX}{name}:{ticket.code}", f"desk.button_{name}")
        for name, event in BUTTONS.items()
        if can_happen(ticket.status, event)
    ]
    actions.append(Choice(f"{PREFIX}thread:{ticket.code}", "desk.button_thread"))
    if ticket.attachments:
        count = {"count": str(ticket.attachments)}
        actions.append(Choice(f"{PREFIX}files:{ticket.code}", "desk.button_files", count))
    return rows(actions, 3)


def card(org: OrgConfig, ticket: TicketView, now: dt.datetime, channel: str, chat: str) -> Reply:
    """The card of a submission for one chat; a later card there replaces it."""
    return Reply(
        "desk.card",
        card_values(org, ticket, now),
        choices=card_buttons(ticket),
        to=Recipient(channel, chat, STAFF_LANGUAGE),
        replaces=card_key(ticket.code),
    )


def refresh_cards(
    org: OrgConfig,
    desk: DeskRecords,
    code: str,
    now: dt.datetime,
    also: list[tuple[str, str]] | None = None,
) -> list[Reply]:
    """The current card for every chat that shows one (and for `also`, e.g. a new holder)."""
    ticket = desk.ticket(code)
    if ticket is None:
        return []
    chats = list(dict.fromkeys([*_card_chats(org, desk, ticket), *(also or [])]))
    return [card(org, ticket, now, channel, chat) for channel, chat in chats]


def to_cards(
    org: OrgConfig, desk: DeskRecords, code: str, key: str, values: dict[str, str]
) -> list[Reply]:
    """A notice about a submission to every chat that shows its card."""
    ticket = desk.ticket(code)
    if ticket is None:
        return []
    return [
        Reply(key, values, to=Recipient(channel, chat, STAFF_LANGUAGE))
        for channel, chat in _card_chats(org, desk, ticket)
    ]


def _card_chats(org: OrgConfig, desk: DeskRecords, ticket: TicketView) -> list[tuple[str, str]]:
    """The chats showing a card of the submission that may still hear of it: for a
    confidential report only the committee's, so a former member's old card stays as it was."""
    chats = desk.card_chats(ticket.code)
    if ticket.kind is not Kind.CONFIDENTIAL:
        return chats
    members = [s for s in desk.all_staff() if s.has(Role.INSPECTION)]
    allowed = {
        *route_chats(org, desk, ticket),
        *(c for s in members for c in desk.chats_of(s.code)),
    }
    return [chat for chat in chats if chat in allowed]


def new_ticket(org: OrgConfig, desk: DeskRecords, code: str, now: dt.datetime) -> list[Reply]:
    """Cards for a new submission in the chats its routing chose."""
    ticket = desk.ticket(code)
    if ticket is None:
        return []
    return [card(org, ticket, now, ch, chat) for ch, chat in route_chats(org, desk, ticket)]


def signature(org: OrgConfig, language: str, staff_name: str | None) -> str:
    """Who answers, as the sender sees it: the organisation unless config names staff."""
    if org.raw.desk.show_staff_names and staff_name:
        return staff_name
    return str(getattr(org.raw.organisation.name, language))


def notify_sender(
    org: OrgConfig,
    desk: DeskRecords,
    code: str,
    key: str,
    values: dict[str, str],
    *,
    status: Status,
    staff_name: str | None = None,
    can_answer: bool = False,
) -> list[Reply]:
    """Tell the sender what happened to their submission, in their language, signed by
    the organisation (or the staff member, if config says so)."""
    sender = desk.sender(code)
    if sender is None:
        return []
    contact = org.raw.organisation.contact
    signed = {
        "code": code,
        "signature": signature(org, sender.language, staff_name),
        "contact": str(getattr(contact or org.raw.organisation.name, sender.language)),
        "status": text(f"status.{status}", sender.language),
        "unit": str(getattr(org.raw.organisation.name, sender.language)),
        **values,
    }
    choices = [Choice(f"mine:open:{code}", "notify.open")]
    if can_answer:
        choices.insert(0, Choice(f"mine:add:{code}", "notify.answer"))
    return [Reply(key, signed, choices=rows(choices, 2), to=sender)]


def told(org: OrgConfig, desk: DeskRecords, outcome: Outcome, now: dt.datetime) -> list[Reply]:
    """Everyone an applied operation must reach: the new cards in every chat that shows one
    (and the new holder's or the new route's chats), then the sender's notice."""
    if not outcome.applied:
        return []
    after = outcome.ticket
    if outcome.new_holder is not None:
        also = desk.chats_of(outcome.new_holder.code)
    else:
        also = route_chats(org, desk, after) if outcome.rerouted else []
    return [
        *refresh_cards(org, desk, after.code, now, also),
        *_sender_notice(org, desk, outcome),
    ]


def _sender_notice(org: OrgConfig, desk: DeskRecords, outcome: Outcome) -> list[Reply]:
    if not outcome.sender_told:
        return []
    after = outcome.ticket
    values: dict[str, str] = {}
    if not outcome.by_system:
        values = {"text": outcome.body or ""}
        unit = org.unit(after.unit_code or "")
        if unit is not None:
            values["unit"] = unit.name
    return notify_sender(
        org,
        desk,
        after.code,
        SENDER_NOTICES[outcome.event],
        values,
        status=after.status,
        staff_name=None if outcome.by_system else outcome.actor.name,
        can_answer=outcome.sender_answers,
    )
