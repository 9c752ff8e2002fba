"""Every inbound event starts here: the staff desk first, else the youth dialogue."""

from bot.domain.messages import Inbound, Reply
from handlers import desk, youth
from handlers.context import Context


def handle(event: Inbound, ctx: Context) -> list[Reply]:
    """Answer one event: staff at the desk get the desk, everyone else the youth dialogue."""
    replies = desk.handle(event, ctx)
    return replies if replies is not None else youth.handle(event, ctx)
