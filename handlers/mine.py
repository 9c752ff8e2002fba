"""Hồ sơ của tôi: the person's submissions, their threads, adding to them, closing,
reopening and rating."""

from bot.domain.clock import show_date, show_datetime
from bot.domain.i18n import text
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from bot.domain.tickets import SenderAction, TicketSummary, allowed, status_after
from handlers import cards, flows, menu
from handlers.cards import STAFF_LANGUAGE
from handlers.context import Context
from handlers.flows import Accept, Flow, Outcome, Step, end, jump
from handlers.steps import rows, text_of
from handlers.submission import attachment_of

FLOW = "mine"
LIST_SIZE = 10
THREAD_ENTRIES = 10
ENTRY_CHARS = 600
RATINGS = ("1", "2", "3", "4", "5")
MAX_COMMENT_CHARS = 1000
# Button name -> what the sender does, in the order the buttons are shown.
ACTIONS = {
    "add": SenderAction.ADD_INFO,
    "rate": SenderAction.RATE,
    "close": SenderAction.CLOSE,
    "reopen": SenderAction.REOPEN,
}
CLOSE_SURE = "close_sure"  # the confirmation's button: closing ends the staff's work on it


def show_list(ctx: Context) -> list[Reply]:
    """The person's latest submissions as buttons."""
    tickets = ctx.records.my_tickets(LIST_SIZE)
    if not tickets:
        return [menu.main_menu("mine.empty")]
    choices = [
        Choice(
            f"mine:open:{t.code}",
            "mine.item",
            {
                "code": t.code,
                "status": text(f"status.{t.status}", ctx.language),
                "date": show_date(t.updated_at, ctx.zone),
            },
        )
        for t in tickets
    ]
    back = Choice("menu:show", "menu.back")
    return [Reply("mine.list", {"count": str(len(tickets))}, choices=rows([*choices, back]))]


def on_choice(event: Inbound, ctx: Context) -> list[Reply] | None:
    """A button on the list or on one submission."""
    parts = event.choice.split(":")
    if parts == ["mine", "list"]:
        return show_list(ctx)
    if len(parts) != 3:
        return None
    action, code = parts[1], parts[2]
    ticket = ctx.records.my_ticket(code)
    if ticket is None:
        return None
    if action == "open":
        return _show(ctx, ticket)
    confirmed = action == CLOSE_SURE
    action = "close" if confirmed else action
    sender_action = ACTIONS.get(action)
    if sender_action is None:
        return None
    if not allowed(sender_action, ticket, ctx.now, ctx.org.raw.limits.reopen_days):
        return [Reply("mine.not_now", {"code": code}), *_show(ctx, ticket)]
    if sender_action is SenderAction.CLOSE and not confirmed:
        return [_ask_close(code)]
    ctx.draft["ticket"] = code
    if sender_action is SenderAction.ADD_INFO:
        return flows.enter(ctx, MINE_FLOW, "add")
    if sender_action is SenderAction.RATE:
        return flows.enter(ctx, MINE_FLOW, "rate")
    ctx.records.set_status(code, status_after(sender_action, ticket), ctx.now)
    done = Reply(f"mine.done_{action}", {"code": code})
    updated = ctx.records.my_ticket(code)
    staff = _tell_staff(ctx, code, f"desk.sender_{action}", "")
    return [done, *_show(ctx, updated), *staff] if updated else [done, *staff]


def _ask_close(code: str) -> Reply:
    sure = Choice(f"mine:{CLOSE_SURE}:{code}", "mine.close_sure", {"code": code})
    back = Choice(f"mine:open:{code}", "mine.close_keep")
    return Reply("mine.close_ask", {"code": code}, choices=rows([sure, back]))


def _tell_staff(ctx: Context, code: str, key: str, typed: str) -> list[Reply]:
    """A notice on every card of the submission, and the cards brought up to date."""
    notices = cards.to_cards(ctx.org, ctx.desk, code, key, {"code": code, "text": typed})
    return [*notices, *cards.refresh_cards(ctx.org, ctx.desk, code, ctx.now)]


def _show(ctx: Context, ticket: TicketSummary) -> list[Reply]:
    entries = ctx.records.thread(ticket.code)[-THREAD_ENTRIES:]
    organisation = ctx.organisation_name
    you = text("mine.you", ctx.language)
    lines = []
    for entry in entries:
        body = entry.body[:ENTRY_CHARS] + ("…" if len(entry.body) > ENTRY_CHARS else "")
        files = text("mine.files", ctx.language, count=str(entry.attachments))
        who = organisation if entry.from_staff else you
        lines.append(
            f"[{show_datetime(entry.at, ctx.zone)}] {who}: {body}"
            + (f" {files}" if entry.attachments else "")
        )
    category = ctx.org.category(ticket.kind, ticket.category)
    values = {
        "code": ticket.code,
        "kind": text(f"kinds.{ticket.kind}", ctx.language),
        "category": getattr(category, ctx.language) if category else ticket.category,
        "status": text(f"status.{ticket.status}", ctx.language),
        "created": show_date(ticket.created_at, ctx.zone),
        "due": show_date(ticket.due_at, ctx.zone) if ticket.due_at else "",
        "thread": "\n".join(lines),
    }
    limit = ctx.org.raw.limits.reopen_days
    actions = [
        Choice(f"mine:{name}:{ticket.code}", f"mine.action_{name}")
        for name, action in ACTIONS.items()
        if allowed(action, ticket, ctx.now, limit)
    ]
    back = Choice("mine:list", "mine.back")
    return [Reply("mine.detail", values, choices=rows([*actions, back], 2))]


def _code(ctx: Context) -> str:
    return str(ctx.draft.get("ticket", ""))


def _ask_add(ctx: Context) -> list[Reply]:
    return [Reply("mine.add_ask", {"code": _code(ctx)})]


def _no_longer_open(event: Inbound, ctx: Context) -> Outcome | None:
    """The submission was closed (or erased) while the person was typing: the question ends."""
    ticket = ctx.records.my_ticket(_code(ctx))
    if ticket is None or not allowed(SenderAction.ADD_INFO, ticket, ctx.now, 0):
        return end(Reply("errors.stale_choice"))
    return None


def _take_add(event: Inbound, ctx: Context) -> Outcome | None:
    ticket = ctx.records.my_ticket(_code(ctx))
    if ticket is None or not allowed(SenderAction.ADD_INFO, ticket, ctx.now, 0):
        return end(Reply("errors.stale_choice"))
    typed = text_of(event) or ""
    found = attachment_of(event, ctx)
    if isinstance(found, Reply):
        return flows.stay(found)
    if found is None and (event.kind is not InputKind.TEXT or not typed):
        return None
    attachments = (found,) if found else ()
    limit = ctx.org.raw.limits.text_max_chars
    if len(typed) > limit:
        return flows.stay(Reply("submit.too_long", {"max": str(limit), "count": str(len(typed))}))
    status = status_after(SenderAction.ADD_INFO, ticket)
    ctx.records.add_to_ticket(ticket.code, typed, attachments, status, ctx.now)
    shown = typed or text("mine.files", STAFF_LANGUAGE, count=str(len(attachments)))
    return end(
        Reply("mine.added", {"code": ticket.code}),
        menu.main_menu("menu.again"),
        *_tell_staff(ctx, ticket.code, "desk.sender_added", shown),
    )


def _ask_rate(ctx: Context) -> list[Reply]:
    choices = [Choice(f"rate:{r}", "mine.stars", {"count": r}) for r in RATINGS]
    return [Reply("mine.rate_ask", {"code": _code(ctx)}, choices=rows(choices, 5))]


def _take_rate(event: Inbound, ctx: Context) -> Outcome | None:
    rating = event.choice.removeprefix("rate:")
    if rating not in RATINGS:
        return None
    ctx.draft["rating"] = int(rating)
    return jump("comment")


def _ask_comment(ctx: Context) -> list[Reply]:
    return [Reply("mine.comment_ask", choices=((Choice("comment:skip", "common.skip"),),))]


def _take_comment(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "comment:skip":
        comment = None
    elif event.kind is InputKind.TEXT and (typed := text_of(event)):
        if len(typed) > MAX_COMMENT_CHARS:
            values = {"max": str(MAX_COMMENT_CHARS), "count": str(len(typed))}
            return flows.stay(Reply("submit.too_long", values))
        comment = typed
    else:
        return None
    code, rating = _code(ctx), int(ctx.draft.pop("rating", 0))
    ticket = ctx.records.my_ticket(code)
    if ticket is None or not 1 <= rating <= 5:
        return end(Reply("errors.stale_choice"))
    ctx.records.rate(code, rating, comment, ctx.now)
    return end(Reply("mine.rated", {"code": code}), menu.main_menu("menu.again"))


def _nothing(ctx: Context) -> list[Reply]:
    return []


ANY_INPUT = frozenset({Accept.TEXT, Accept.FILES, Accept.LOCATION})
# Each is entered from a button on one submission; none follows another except rate -> comment.
MINE_FLOW = flows.register(
    Flow(
        FLOW,
        (
            Step("add", _ask_add, _take_add, ANY_INPUT, refuse=_no_longer_open),
            Step("rate", _ask_rate, _take_rate, choices=("rate",)),
            Step("comment", _ask_comment, _take_comment, frozenset({Accept.TEXT}), ("comment",)),
        ),
        done=_nothing,
    )
)
