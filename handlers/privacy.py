"""The person's rights over their data: the notice, a copy of their data, and erasure."""

import json

from bot.domain.messages import Choice, Document, Inbound, Reply
from bot.domain.people import Profile
from handlers.context import Context
from handlers.steps import Step, goto, register

FLOW = "forget"
EXPORT_NAME = "caunoi-my-data.json"


def notice(ctx: Context) -> list[Reply]:
    """The full privacy notice."""
    return [Reply("privacy.notice", {"organisation": ctx.organisation_name})]


def my_data(ctx: Context) -> list[Reply]:
    """Everything we hold about the person, as a file."""
    content = json.dumps(ctx.records.export(), ensure_ascii=False, indent=2)
    return [Reply("privacy.my_data", document=Document(EXPORT_NAME, content))]


def ask_forget(ctx: Context) -> list[Reply]:
    """Ask before erasing anything."""
    return goto(ctx, FLOW, "confirm")


def _ask_confirm(ctx: Context) -> list[Reply]:
    choices = ((Choice("forget:yes", "privacy.forget_yes"),), (Choice("forget:no", "common.no"),))
    return [Reply("privacy.forget_ask", choices=choices)]


def _take_confirm(event: Inbound, ctx: Context) -> list[Reply] | None:
    if event.choice == "forget:no":
        ctx.reset_dialogue()
        return [Reply("privacy.forget_kept")]
    if event.choice != "forget:yes":
        return None
    ctx.records.forget(ctx.now)
    ctx.reset_dialogue()
    ctx.draft = {}
    ctx.profile = Profile()
    return [Reply("privacy.forgotten")]


register(FLOW, {"confirm": Step(_ask_confirm, _take_confirm)})
