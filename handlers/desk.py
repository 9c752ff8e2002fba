"""The staff desk: card buttons, replies to cards, /queue, /ticket, /audit, /staff, /invite,
/revoke, /ban and /unban. Every action checks the actor's role and scope at the moment it is
taken."""

import datetime as dt
import secrets
from collections.abc import Callable

from bot.config import Unit
from bot.domain.clock import show_date, show_datetime
from bot.domain.desk import Change, Staff, TicketView, can_see, handles
from bot.domain.grants import Grant, grants_any, may_ban, may_grant
from bot.domain.i18n import text
from bot.domain.kinds import Kind, Role
from bot.domain.lifecycle import TAKES_OVER, Event, Status, can_happen, next_status
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from bot.domain.units import search_units
from handlers import cards, profile
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.steps import Step, current, goto, register, rows, text_of

FLOW = "desk"
DRAFT = "desk"
INVITE_PREFIX = "inv_"
QUEUE_SCAN = 500
QUEUE_SIZE = 20
THREAD_ENTRIES = 15
ENTRY_CHARS = 500
MAX_TEXT_CHARS = 3500
MAX_REASON_CHARS = 500
MAP_LINK = "https://maps.google.com/?q={}"
INVITABLE = (Role.STAFF, Role.SECRETARY, Role.INSPECTION, Role.MODERATOR, Role.ADMIN)
# Actions that need a text from staff: the event each leads to.
TEXT_ACTIONS = {
    "reply": Event.REPLY,
    "ask": Event.ASK,
    "note": Event.NOTE,
    "resolve": Event.RESOLVE,
    "reject": Event.REJECT,
}
# What the sender is told after each event (a note is internal: nothing).
SENDER_NOTICES = {
    Event.TAKE: "notify.taken",
    Event.REPLY: "notify.reply",
    Event.ASK: "notify.ask",
    Event.TRANSFER_UNIT: "notify.transferred",
    Event.TRANSFER_PERSON: "notify.transferred_person",
    Event.RESOLVE: "notify.resolved",
    Event.REJECT: "notify.rejected",
}

Action = Callable[[Inbound, Context, Staff], list[Reply]]


def handle(event: Inbound, ctx: Context) -> list[Reply] | None:
    """The desk's answer to an event, or None when the event is for the youth dialogue."""
    if _is_invite(event):
        return _accept_invite(event, ctx)
    staff = ctx.desk.staff_of_person(ctx.person_id) if ctx.staff_code else None
    at_desk = staff is not None and handles(staff)
    if event.kind is InputKind.CHOICE and event.choice.startswith(PREFIX):
        if staff is None or not at_desk:
            return [Reply("desk.not_allowed")]
        return _on_button(event, ctx, staff)
    if staff is None:
        return None
    if not at_desk:
        return _idle_moderator(event) if _nothing_pending(event, ctx) else None
    if event.kind is InputKind.COMMAND:
        return _on_command(event, ctx, staff)
    code = _replied_card(event, ctx)
    if code is not None:
        return _with_text(ctx, staff, code, "reply", event)
    if ctx.flow == FLOW:
        return _on_step(event, ctx)
    return _idle(event, ctx, staff) if _nothing_pending(event, ctx) else None


def _is_invite(event: Inbound) -> bool:
    return (
        event.private_chat
        and event.kind is InputKind.COMMAND
        and event.command == "start"
        and bool(event.args)
        and event.args[0].startswith(INVITE_PREFIX)
    )


def _replied_card(event: Inbound, ctx: Context) -> str | None:
    if event.reply_to is None or event.kind not in (InputKind.TEXT, InputKind.MEDIA):
        return None
    return ctx.desk.card_replied_to(event.channel, event.chat_id, event.reply_to)


def _on_step(event: Inbound, ctx: Context) -> list[Reply] | None:
    step = current(ctx)
    if step is None:
        return None
    return step.take(event, ctx)


# ---- staff who type with nothing pending -------------------------------------------


def _nothing_pending(event: Inbound, ctx: Context) -> bool:
    """A message (not a command or a press) from staff who are in no dialogue, or only at
    the consent question a stray /start left them at."""
    if event.kind in (InputKind.COMMAND, InputKind.CHOICE):
        return False
    return ctx.flow is None or (ctx.flow, ctx.step) == (profile.ONBOARDING, "consent")


def _idle_moderator(event: Inbound) -> list[Reply]:
    """A moderator who typed with nothing pending: how the moderation desk works."""
    return [Reply("desk.idle_moderator")] if event.private_chat else []


def _idle(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
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


def _kept_text(ctx: Context) -> str | None:
    """What staff typed with nothing pending, if it is recent enough to be the answer they
    are about to give (a dialogue's timeout)."""
    draft = ctx.draft.get(DRAFT) or {}
    if not draft.get("kept_at") or not draft.get("text"):
        return None
    timeout = dt.timedelta(minutes=ctx.org.raw.limits.dialogue_timeout_minutes)
    fresh = ctx.now - dt.datetime.fromisoformat(draft["kept_at"]) <= timeout
    return str(draft["text"]) if fresh else None


def _drop_offer(ctx: Context, offer: str | None) -> list[Reply]:
    if offer is None or _desk_draft(ctx).get("offer") != offer:
        return [Reply("errors.stale_choice")]
    ctx.draft.pop(DRAFT, None)
    return [Reply("desk.idle_dropped")]


# ---- seeing a ticket ----------------------------------------------------------------


def _visible(ctx: Context, staff: Staff, code: str) -> TicketView | None:
    """The ticket if this staff member may see it now, else None (as if it did not exist)."""
    ticket = ctx.desk.ticket(code)
    if ticket is None:
        return None
    ticket = cards.with_routes(ctx.org, ticket)
    return ticket if can_see(staff, ticket) else None


def _card_here(ctx: Context, event: Inbound, ticket: TicketView) -> Reply:
    return cards.card(ctx.org, ticket, ctx.now, event.channel, event.chat_id)


def _thread(ctx: Context, ticket: TicketView) -> Reply:
    lines = []
    for entry in ctx.desk.thread(ticket.code, internal=True)[-THREAD_ENTRIES:]:
        who = "desk.from_note" if entry.internal else "desk.from_staff"
        if not entry.from_staff:
            who = "desk.from_sender"
        body = entry.body[:ENTRY_CHARS] + ("…" if len(entry.body) > ENTRY_CHARS else "")
        lines.append(f"[{show_datetime(entry.at, ctx.zone)}] {text(who, ctx.language)}: {body}")
    return Reply("desk.thread", {"code": ticket.code, "thread": "\n".join(lines)})


def _files(ctx: Context, ticket: TicketView) -> list[Reply]:
    """Each attached file again, to the staff member who asked."""
    files = ctx.desk.files(ticket.code)
    if not files:
        return [Reply("desk.no_files", {"code": ticket.code})]
    replies = []
    for number, shared in enumerate(files, start=1):
        values = {
            "code": ticket.code,
            "number": f"{number}/{len(files)}",
            "kind": text(f"media.{shared.kind}", ctx.language),
        }
        if shared.kind == "location":
            values["link"] = MAP_LINK.format(shared.ref)
            replies.append(Reply("desk.file_location", values))
        else:
            replies.append(Reply("desk.file", values, file=shared))
    return replies


def _show_ticket(event: Inbound, ctx: Context, staff: Staff, code: str) -> list[Reply]:
    ticket = _visible(ctx, staff, code)
    if ticket is None:
        return [Reply("desk.no_ticket", {"code": code})]
    return [_thread(ctx, ticket), _card_here(ctx, event, ticket)]


# ---- buttons ------------------------------------------------------------------------


def _on_button(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    parts = event.choice.removeprefix(PREFIX).split(":")
    name, code, extra = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
    if name in ("thread", "open"):
        if name == "open":
            ticket = _visible(ctx, staff, code)
            return [_card_here(ctx, event, ticket)] if ticket else [Reply("desk.not_allowed")]
        return _show_ticket(event, ctx, staff, code)
    ticket = _visible(ctx, staff, code)
    if ticket is None:
        return [Reply("desk.not_allowed")]
    if name == "files":
        return _files(ctx, ticket)
    if name == "take":
        return _act(ctx, staff, ticket, Event.TAKE)
    if name in TEXT_ACTIONS:
        return _ask_text(ctx, ticket, name)
    if name == "canned" and extra:
        return _canned(ctx, ticket, extra[0])
    if name == "send":
        return _send_draft(ctx, staff, ticket, extra[0] if extra else None)
    if name == "drop":
        return _drop_offer(ctx, extra[0] if extra else None)
    if name == "transfer":
        return _transfer_menu(ctx, staff, ticket)
    if name == "to" and extra:
        return _transfer_to_person(ctx, staff, ticket, extra[0])
    if name == "tounit" and ticket.kind is not Kind.CONFIDENTIAL:
        ctx.draft[DRAFT] = {"code": code, "action": "transfer"}
        return goto(ctx, FLOW, "unit")
    if name == "unit" and extra and ticket.kind is not Kind.CONFIDENTIAL:
        return _transfer_to_unit(ctx, staff, ticket, extra[0])
    return [Reply("errors.stale_choice")]


def _refused(ticket: TicketView, event: Event) -> Reply:
    if event is Event.TAKE and ticket.assignee_name:
        return Reply("desk.taken_by", {"code": ticket.code, "name": ticket.assignee_name})
    return Reply(
        "desk.not_now",
        {"code": ticket.code, "status": text(f"status.{ticket.status}", cards.STAFF_LANGUAGE)},
    )


# ---- typed actions: reply, ask, note, resolve, reject -------------------------------


def _ask_text(ctx: Context, ticket: TicketView, action: str) -> list[Reply]:
    if not can_happen(ticket.status, TEXT_ACTIONS[action]):
        return [_refused(ticket, TEXT_ACTIONS[action])]
    kept = _kept_text(ctx) if action == "reply" else None
    ctx.draft[DRAFT] = {"code": ticket.code, "action": action}
    if kept:
        ctx.draft[DRAFT].update(text=kept, offer=secrets.token_hex(3))
    return goto(ctx, FLOW, "text")


def _desk_draft(ctx: Context) -> dict[str, str]:
    draft: dict[str, str] = ctx.draft.setdefault(DRAFT, {})
    return draft


def _ask_typed(ctx: Context) -> list[Reply]:
    draft = _desk_draft(ctx)
    action, code = draft.get("action", ""), draft.get("code", "")
    choices: list[Choice] = []
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
    return [Reply(f"desk.ask_{action}", {"code": code}, choices=rows(choices))]


def _take_typed(event: Inbound, ctx: Context) -> list[Reply] | None:
    typed = text_of(event)
    if typed is None:
        return None
    draft = _desk_draft(ctx)
    staff = ctx.desk.staff_of_person(ctx.person_id)
    if staff is None:
        ctx.reset_dialogue()
        return [Reply("desk.not_allowed")]
    return _with_text(ctx, staff, draft.get("code", ""), draft.get("action", ""), event)


def _with_text(ctx: Context, staff: Staff, code: str, action: str, event: Inbound) -> list[Reply]:
    typed = text_of(event)
    if typed is None or action not in TEXT_ACTIONS:
        return [Reply("desk.need_text")]
    if len(typed) > MAX_TEXT_CHARS:
        return [Reply("submit.too_long", {"max": str(MAX_TEXT_CHARS), "count": str(len(typed))})]
    ticket = _visible(ctx, staff, code)
    if ticket is None:
        ctx.reset_dialogue()
        return [Reply("desk.not_allowed")]
    return _act(ctx, staff, ticket, TEXT_ACTIONS[action], body=typed)


def _canned(ctx: Context, ticket: TicketView, index: str) -> list[Reply]:
    answers = ctx.org.raw.desk.canned_answers.get(ticket.category, [])
    if not index.isdigit() or int(index) >= len(answers):
        return [Reply("errors.stale_choice")]
    chosen = answers[int(index)]
    body = chosen.en if ticket.language == "en" else chosen.vi
    ctx.draft[DRAFT] = {"code": ticket.code, "action": "reply", "text": body}
    ctx.go(FLOW, "text")
    send = Choice(f"{PREFIX}send:{ticket.code}", "desk.send")
    return [Reply("desk.canned_preview", {"code": ticket.code, "text": body}, ((send,),))]


def _send_draft(ctx: Context, staff: Staff, ticket: TicketView, offer: str | None) -> list[Reply]:
    """Send the reply drafted for this ticket (a canned answer, or a kept text whose offer
    is this very button: an older offer never sends a newer text)."""
    draft = _desk_draft(ctx)
    if draft.get("code") != ticket.code or not draft.get("text") or draft.get("offer") != offer:
        return [Reply("errors.stale_choice")]
    return _act(ctx, staff, ticket, Event.REPLY, body=draft["text"])


# ---- transfer -----------------------------------------------------------------------


def _transfer_menu(ctx: Context, staff: Staff, ticket: TicketView) -> list[Reply]:
    if not can_happen(ticket.status, Event.TRANSFER_PERSON):
        return [_refused(ticket, Event.TRANSFER_PERSON)]
    wanted = Role.INSPECTION if ticket.kind is Kind.CONFIDENTIAL else Role.STAFF
    people = [
        Choice(f"{PREFIX}to:{ticket.code}:{s.code}", "common.label", {"label": s.name})
        for s in ctx.desk.all_staff()
        if s.code != staff.code and s.person_id is not None and s.has(wanted)
    ]
    if ticket.kind is not Kind.CONFIDENTIAL:
        people.append(Choice(f"{PREFIX}tounit:{ticket.code}", "desk.to_unit"))
    return [Reply("desk.transfer_ask", {"code": ticket.code}, choices=rows(people, 2))]


def _transfer_to_person(
    ctx: Context, staff: Staff, ticket: TicketView, target_code: str
) -> list[Reply]:
    target = ctx.desk.staff(target_code)
    wanted = Role.INSPECTION if ticket.kind is Kind.CONFIDENTIAL else Role.STAFF
    if target is None or target.person_id is None or not target.has(wanted):
        return [Reply("errors.stale_choice")]
    return _act(ctx, staff, ticket, Event.TRANSFER_PERSON, target=target)


def _ask_unit(ctx: Context) -> list[Reply]:
    return [Reply("desk.unit_ask", {"code": _desk_draft(ctx).get("code", "")})]


def _take_unit(event: Inbound, ctx: Context) -> list[Reply] | None:
    typed = text_of(event)
    if typed is None or event.kind is not InputKind.TEXT:
        return None
    code = _desk_draft(ctx).get("code", "")
    matches, total = search_units(ctx.org.unit_names, typed[:100])
    if not matches:
        return [Reply("unit.no_match", {"query": typed[:100]})]
    choices = [
        Choice(f"{PREFIX}unit:{code}:{u.code}", "common.label", {"label": u.name}) for u in matches
    ]
    return [Reply("desk.unit_pick", {"count": str(total)}, choices=rows(choices))]


def _transfer_to_unit(
    ctx: Context, staff: Staff, ticket: TicketView, unit_code: str
) -> list[Reply]:
    unit = ctx.org.unit(unit_code)
    if unit is None:
        return [Reply("errors.stale_choice")]
    return _act(ctx, staff, ticket, Event.TRANSFER_UNIT, unit_code=unit.code)


# ---- the one place an action happens ------------------------------------------------


def _state(ticket: TicketView) -> dict[str, str]:
    return {
        "status": ticket.status.value,
        "assignee": ticket.assignee_name or "",
        "unit": ticket.unit_code or "",
    }


def _act(
    ctx: Context,
    staff: Staff,
    ticket: TicketView,
    event: Event,
    *,
    body: str | None = None,
    target: Staff | None = None,
    unit_code: str | None = None,
) -> list[Reply]:
    """Apply a staff action: check the life cycle, change the ticket only if nobody changed
    it meanwhile, record the message and the audit entry, then update cards and the sender."""
    if not can_happen(ticket.status, event):
        return [_refused(ticket, event)]
    holder = staff.code if event in TAKES_OVER else (target.code if target else None)
    status = next_status(ticket.status, event, assigned=ticket.assignee_code is not None)
    change = Change(
        status=status,
        assignee_code=holder,
        clear_assignee=event is Event.TRANSFER_UNIT,
        unit_code=unit_code,
        answered=event in (Event.REPLY, Event.RESOLVE),
    )
    if not ctx.desk.change(ticket.code, expected=ticket.status, change=change, now=ctx.now):
        latest = ctx.desk.ticket(ticket.code)
        return [_refused(latest or ticket, event)]
    if body is not None:
        internal = event is Event.NOTE
        ctx.desk.add_message(ticket.code, author=staff, body=body, internal=internal, now=ctx.now)
    after = ctx.desk.ticket(ticket.code)
    assert after is not None
    ctx.desk.audit(
        ticket.code,
        actor=staff,
        action=event.value,
        before=_state(ticket),
        after=_state(after),
        now=ctx.now,
    )
    if ctx.flow == FLOW:
        ctx.reset_dialogue()
    ctx.draft.pop(DRAFT, None)
    return [
        Reply(f"desk.done_{event.value}", {"code": ticket.code}),
        *cards.refresh_cards(
            ctx.org, ctx.desk, ticket.code, ctx.now, _new_chats(ctx, after, target)
        ),
        *_tell_sender(ctx, staff, after, event, body),
    ]


def _new_chats(ctx: Context, after: TicketView, target: Staff | None) -> list[tuple[str, str]]:
    """Chats that should get a card now: a new holder's, or a new unit's route."""
    if target is not None:
        return ctx.desk.chats_of(target.code)
    if after.status is Status.NEW and after.assignee_code is None:
        return cards.route_chats(ctx.org, ctx.desk, after)
    return []


def _tell_sender(
    ctx: Context, staff: Staff, after: TicketView, event: Event, body: str | None
) -> list[Reply]:
    key = SENDER_NOTICES.get(event)
    if key is None:
        return []
    unit = ctx.org.unit(after.unit_code or "")
    values = {"text": body or "", "unit": unit.name if unit else ctx.organisation_name}
    return cards.notify_sender(
        ctx.org,
        ctx.desk,
        after.code,
        key,
        values,
        status=after.status,
        staff_name=staff.name,
        can_answer=event in (Event.REPLY, Event.ASK),
    )


# ---- commands -----------------------------------------------------------------------


def _on_command(event: Inbound, ctx: Context, staff: Staff) -> list[Reply] | None:
    if event.command == "cancel" and ctx.flow == FLOW:
        ctx.reset_dialogue()
        ctx.draft.pop(DRAFT, None)
        return [Reply("desk.cancelled")]
    command = COMMANDS.get(event.command)
    return command(event, ctx, staff) if command else None


def _queue(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    tickets = [cards.with_routes(ctx.org, t) for t in ctx.desk.open_tickets(None, QUEUE_SCAN)]
    # A holder who has since lost the role (e.g. a former inspection member) no longer sees it.
    seen = [t for t in tickets if can_see(staff, t)]
    mine = [t for t in seen if t.assignee_code == staff.code]
    free = [t for t in seen if t.assignee_code is None]
    if not mine and not free:
        return [Reply("desk.queue_empty")]
    shown = sorted(mine + free, key=lambda t: (t.due_at is None, t.due_at))[:QUEUE_SIZE]
    choices = [
        Choice(
            f"{PREFIX}open:{t.code}",
            "desk.queue_item",
            {
                "code": t.code,
                "status": text(f"status.{t.status}", ctx.language),
                "due": show_date(t.due_at, ctx.zone) if t.due_at else "-",
                "overdue": "⚠️ " if t.due_at and t.due_at < ctx.now else "",
            },
        )
        for t in shown
    ]
    values = {"mine": str(len(mine)), "free": str(len(free)), "shown": str(len(shown))}
    return [Reply("desk.queue", values, choices=rows(choices))]


def _ticket(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    if not event.args:
        return [Reply("desk.usage_ticket")]
    return _show_ticket(event, ctx, staff, event.args[0].upper())


def _audit(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    if not event.args:
        return [Reply("desk.usage_audit")]
    code = event.args[0].upper()
    if _visible(ctx, staff, code) is None:
        return [Reply("desk.no_ticket", {"code": code})]
    lines = [
        text(
            "desk.audit_line",
            ctx.language,
            at=show_datetime(line.at, ctx.zone),
            actor=line.actor,
            action=text(f"desk.action_{line.action}", ctx.language),
            before=text(f"status.{line.before.get('status', 'new')}", ctx.language),
            after=text(f"status.{line.after.get('status', 'new')}", ctx.language),
        )
        for line in ctx.desk.audit_log(code)
    ]
    if not lines:
        return [Reply("desk.audit_empty", {"code": code})]
    return [Reply("desk.audit", {"code": code, "lines": "\n".join(lines)})]


def _staff_list(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    lines = [
        text(
            "desk.staff_line",
            ctx.language,
            name=member.name,
            code=member.code,
            roles=", ".join(text(f"roles.{r}", ctx.language) for r in sorted(member.roles)),
            units=str(len(member.units)) if member.units else text("desk.all", ctx.language),
            linked=text("common.on" if member.person_id else "common.off", ctx.language),
        )
        for member in ctx.desk.all_staff()
    ]
    return [Reply("desk.staff", {"lines": "\n".join(lines)})]


def _granting(grant: Grant, action: Action) -> Action:
    """Let through only staff who may grant some role; the others are refused and recorded."""

    def guarded(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
        if not grants_any(staff):
            key = "role" if grant is Grant.INVITE else "staff"
            target = {key: event.args[0][:40] if event.args else ""}
            return _grant_refused(ctx, staff, grant, target, Reply("desk.admins_only"))
        return action(event, ctx, staff)

    return guarded


def _grant_refused(
    ctx: Context, staff: Staff, grant: Grant, target: dict[str, str], reply: Reply
) -> list[Reply]:
    action = f"{grant}_refused"
    ctx.desk.audit("", actor=staff, action=action, before=target, after={}, now=ctx.now)
    return [reply]


def _role_refused(
    ctx: Context, staff: Staff, grant: Grant, target: dict[str, str], role: str
) -> list[Reply]:
    reply = Reply("desk.grant_refused", {"role": text(f"roles.{role}", ctx.language)})
    return _grant_refused(ctx, staff, grant, target, reply)


def _invite(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    role = event.args[0].lower() if event.args else ""
    if role not in set(INVITABLE):
        return [Reply("desk.usage_invite")]
    if not may_grant(staff, [role], Grant.INVITE):
        return _role_refused(ctx, staff, Grant.INVITE, {"role": role}, role)
    refs = [r.strip() for r in " ".join(event.args[1:]).split(",") if r.strip()]
    units: list[Unit] = []
    for ref in refs:
        unit = ctx.org.find_unit(ref)
        if unit is None:
            return [Reply("desk.invite_unit_unclear", {"unit": ref[:100]})]
        units.append(unit)
    token = secrets.token_urlsafe(12)
    hours = ctx.org.raw.desk.invite_hours
    ctx.desk.create_invite(
        token=token,
        roles=[role],
        units=[u.code for u in units],
        by=staff,
        expires=ctx.now + dt.timedelta(hours=hours),
    )
    ctx.desk.audit("", actor=staff, action="invite", before={"role": role}, after={}, now=ctx.now)
    payload = f"{INVITE_PREFIX}{token}"
    template = ctx.links.get(event.channel)
    link = template.format(payload) if template else f"/start {payload}"
    values = {
        "link": link,
        "role": text(f"roles.{role}", ctx.language),
        "units": ", ".join(u.name for u in units) or "-",
        "hours": str(hours),
    }
    return [Reply("desk.invite_link", values)]


def _accept_invite(event: Inbound, ctx: Context) -> list[Reply]:
    token = event.args[0].removeprefix(INVITE_PREFIX)
    name = (event.display_name or event.user_id)[:200]
    staff = ctx.desk.accept_invite(token=token, person_id=ctx.person_id, name=name, now=ctx.now)
    if staff is None:
        return [Reply("desk.invite_invalid")]
    ctx.staff_code = staff.code
    ctx.desk.audit("", actor=staff, action="joined", before={}, after={}, now=ctx.now)
    return welcome(staff, ctx.language)


def welcome(staff: Staff, language: str) -> list[Reply]:
    """What a staff member is told on joining the desk: who they are here, and the help."""
    roles = ", ".join(text(f"roles.{r}", language) for r in sorted(staff.roles))
    return [Reply("desk.welcome", {"name": staff.name, "roles": roles}), Reply("desk.help")]


def _revoke(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    if not event.args:
        return [Reply("desk.usage_revoke")]
    code = event.args[0]
    if code == staff.code:
        return [Reply("desk.revoke_self")]
    target = ctx.desk.staff(code)
    if target is None or not target.active:
        return [Reply("desk.no_staff", {"code": code[:40]})]
    refused = [r for r in sorted(target.roles) if not may_grant(staff, [r], Grant.REVOKE)]
    if refused:
        return _role_refused(ctx, staff, Grant.REVOKE, {"staff": code}, refused[0])
    ctx.desk.revoke(code)
    ctx.desk.audit("", actor=staff, action="revoke", before={"staff": code}, after={}, now=ctx.now)
    return [Reply("desk.revoked", {"code": code})]


# ---- bans: by a submission's code, never by name ---------------------------------------


def _ban(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    reason = " ".join(event.args[1:]).strip()
    return _set_ban(event, ctx, staff, reason=reason[:MAX_REASON_CHARS] or None)


def _unban(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    return _set_ban(event, ctx, staff, reason=None)


def _set_ban(event: Inbound, ctx: Context, staff: Staff, *, reason: str | None) -> list[Reply]:
    """Ban (with a reason) or unban the sender of a submission. The reply is the same
    whoever they are and whatever their state was, so it never links two submissions."""
    banning = event.command == "ban"
    if not (staff.has(Role.ADMIN) or staff.has(Role.INSPECTION)):
        return [Reply("desk.admins_only")]
    if not event.args or (banning and reason is None):
        return [Reply("desk.usage_ban" if banning else "desk.usage_unban")]
    code = event.args[0].upper()[:40]
    ticket = _visible(ctx, staff, code)
    # A confidential report an admin may not see is answered as an unknown code.
    if ticket is None or not may_ban(staff, ticket):
        return [Reply("desk.no_ticket", {"code": code})]
    if not ctx.desk.set_banned(code, banned=banning):
        return [Reply("desk.ban_no_sender", {"code": code})]
    before = _state(ticket)
    after = {**before, **({"reason": reason} if reason else {})}
    action = "ban" if banning else "unban"
    ctx.desk.audit(code, actor=staff, action=action, before=before, after=after, now=ctx.now)
    return [Reply("desk.banned" if banning else "desk.unbanned", {"code": code})]


COMMANDS: dict[str, Action] = {
    "desk": lambda event, ctx, staff: [Reply("desk.help")],
    "queue": _queue,
    "ticket": _ticket,
    "audit": _audit,
    "staff": _staff_list,
    "invite": _granting(Grant.INVITE, _invite),
    "revoke": _granting(Grant.REVOKE, _revoke),
    "ban": _ban,
    "unban": _unban,
}


register(
    FLOW,
    {
        "text": Step(_ask_typed, _take_typed),
        "unit": Step(_ask_unit, _take_unit),
    },
)
