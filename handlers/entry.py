"""Every inbound event starts here: broadcasts, moderation and the staff desk first, else
the youth dialogue."""

from bot.domain.messages import Inbound, Reply
from handlers import broadcasting, desk, publishing, youth
from handlers.context import Context


def handle(event: Inbound, ctx: Context) -> list[Reply]:
    """Answer one event: those who broadcast, moderators and staff get their tools,
    everyone else the youth dialogue."""
    for staff_side in (broadcasting.handle, publishing.handle, desk.handle):
        replies = staff_side(event, ctx)
        if replies is not None:
            return replies
    return youth.handle(event, ctx)
