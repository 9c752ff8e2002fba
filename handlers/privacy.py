"""The person's rights over their data: the notice, a copy of their data, and erasure."""

import json

from bot.domain.i18n import text
from bot.domain.messages import Choice, Document, Inbound, Recipient, Reply
from bot.domain.people import Profile
from handlers import flows
from handlers.cards import STAFF_LANGUAGE
from handlers.context import Context
from handlers.flows import Flow, Outcome, Step, end

FLOW = "forget"
EXPORT_NAME = "caunoi-my-data.json"


def notice(ctx: Context) -> list[Reply]:
    """The full privacy notice, with the retention periods config sets."""
    retention = ctx.org.raw.retention
    values = {
        "organisation": ctx.organisation_name,
        "delivery_days": str(retention.delivery_days),
        "closed_months": str(retention.closed_months),
    }
    return [Reply("privacy.notice", values)]


def my_data(ctx: Context) -> list[Reply]:
    """Everything we hold about the person, as a file."""
    content = json.dumps(ctx.records.export(), ensure_ascii=False, indent=2)
    return [Reply("privacy.my_data", document=Document(EXPORT_NAME, content))]


def ask_forget(ctx: Context) -> list[Reply]:
    """Ask before erasing anything."""
    return flows.start(ctx, FORGET_FLOW)


def _ask_confirm(ctx: Context) -> list[Reply]:
    choices = ((Choice("forget:yes", "privacy.forget_yes"),), (Choice("forget:no", "common.no"),))
    return [Reply("privacy.forget_ask", choices=choices)]


def _take_confirm(event: Inbound, ctx: Context) -> Outcome | None:
    if event.choice == "forget:no":
        return end(Reply("privacy.forget_kept"))
    if event.choice != "forget:yes":
        return None
    tombstone = text("privacy.tombstone", STAFF_LANGUAGE)
    copies = ctx.records.forget(ctx.now, tombstone=tombstone)
    ctx.forget_dialogue()
    ctx.profile = Profile()
    # Where a quoting message can be edited (a card, a post), it becomes the tombstone too.
    shown = [
        Reply(
            "privacy.tombstone", to=Recipient(c.channel, c.chat_id, STAFF_LANGUAGE), replaces=c.key
        )
        for c in copies
    ]
    return end(Reply("privacy.forgotten", erase_when_sent=True), *shown)


def _nothing(ctx: Context) -> list[Reply]:
    return []


FORGET_FLOW = flows.register(
    Flow(FLOW, (Step("confirm", _ask_confirm, _take_confirm, choices=("forget",)),), _nothing)
)
