"""Joining and leaving the desk: /invite, /revoke, accepting an invitation, the welcome."""

import datetime as dt
import secrets
from collections.abc import Callable

from bot.config import Unit
from bot.domain.desk import Staff
from bot.domain.grants import Grant, grants_any, may_grant
from bot.domain.i18n import text
from bot.domain.kinds import Role
from bot.domain.messages import Inbound, InputKind, Reply
from handlers.context import Context

INVITE_PREFIX = "inv_"
INVITABLE = (Role.STAFF, Role.SECRETARY, Role.INSPECTION, Role.MODERATOR, Role.ADMIN)

Action = Callable[[Inbound, Context, Staff], list[Reply]]


def is_invite(event: Inbound) -> bool:
    """Whether an event is someone opening an invitation link in a private chat."""
    return (
        event.private_chat
        and event.kind is InputKind.COMMAND
        and event.command == "start"
        and bool(event.args)
        and event.args[0].startswith(INVITE_PREFIX)
    )


def granting(grant: Grant, action: Action) -> Action:
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


def invite(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    """/invite role [units]: a one-time link that makes whoever opens it staff."""
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


def accept_invite(event: Inbound, ctx: Context) -> list[Reply]:
    """Turn an opened invitation into a staff member, once."""
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


def revoke(event: Inbound, ctx: Context, staff: Staff) -> list[Reply]:
    """/revoke code: take a member's roles away (only roles this member may grant)."""
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
