"""The desk's commands: /desk, /queue, /ticket, /audit, /staff, /invite, /revoke, /ban, /unban."""

from bot.domain.clock import show_date, show_datetime
from bot.domain.desk import Staff, visible
from bot.domain.grants import Grant, may_ban
from bot.domain.i18n import text
from bot.domain.kinds import Role
from bot.domain.messages import Choice, Inbound, Reply
from bot.domain.ticket_ops import audit_state
from handlers.cards import PREFIX
from handlers.context import Context
from handlers.desk import invitations
from handlers.desk.idle import QUEUE_SCAN
from handlers.desk.invitations import Action
from handlers.desk.state import FLOW, leave
from handlers.desk.view import show_ticket, visible_ticket
from handlers.steps import rows

QUEUE_SIZE = 20
MAX_REASON_CHARS = 500


def on_command(event: Inbound, ctx: Context, staff: Staff) -> list[Reply] | None:
    """A desk command's answer; None for a command that is not the desk's."""
    if event.command == "cancel" and ctx.flow == FLOW:
        leave(ctx)
        return [Reply("desk.cancelled")]
    command = COMMANDS.get(event.command)
    return command(event, ctx, staff) if command else None


def _queue(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    tickets = ctx.desk.open_tickets(None, QUEUE_SCAN)
    # A holder who has since lost the role (e.g. a former inspection member) no longer sees it.
    seen = [t for t in tickets if visible(staff, t, ctx.org.routes)]
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
    return show_ticket(event, ctx, staff, event.args[0].upper())


def _audit(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    if not event.args:
        return [Reply("desk.usage_audit")]
    code = event.args[0].upper()
    if visible_ticket(ctx, staff, code) is None:
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
    ticket = ctx.desk.ticket(code)
    # A confidential report an admin may not see is answered as an unknown code.
    if ticket is None or not may_ban(staff, ticket, ctx.org.routes):
        return [Reply("desk.no_ticket", {"code": code})]
    if not ctx.desk.set_banned(code, banned=banning):
        return [Reply("desk.ban_no_sender", {"code": code})]
    before = audit_state(ticket)
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
    "invite": invitations.granting(Grant.INVITE, invitations.invite),
    "revoke": invitations.granting(Grant.REVOKE, invitations.revoke),
    "ban": _ban,
    "unban": _unban,
}
