"""What every channel adapter offers the outbox, and the failures it may report."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from bot.domain.messages import Inbound, InputKind, Rendered
from bot.domain.text import clean


class SendError(Exception):
    """A message could not be delivered."""


class RecipientGone(SendError):
    """The person blocked the bot or no longer exists: never send to them again."""


class RateLimited(SendError):
    """The platform asks us to wait before sending anything more."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after


class TemporaryFailure(SendError):
    """Network trouble or a server error: try again later."""


class PermanentFailure(SendError):
    """The platform refused this message; sending it again will not help."""


class CannotEdit(SendError):
    """The earlier message is gone or too old to edit: send a new one instead."""


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show."""

    buttons: bool
    edits: bool
    max_text: int


class ChannelSender(Protocol):
    """Delivers rendered messages on one channel."""

    name: str
    capabilities: Capabilities

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Deliver one message; return the platform's id for it."""
        ...

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Replace an earlier message's text and choices (only if capabilities.edits)."""
        ...


# A file's name and bytes by its reference on one channel; None when it cannot be had.
FileSource = Callable[[str], Awaitable[tuple[str, bytes] | None]]


def parse_command(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A typed command's name and arguments ("/start@bot x" -> ("start", ("x",))), else None."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return None
    head, *args = text.split()
    return head[1:].split("@", 1)[0].lower(), tuple(args)


def at_edge(event: Inbound) -> Inbound:
    """The event as every channel hands it on: each text in it cleaned (typed text, caption,
    the platform's display name, a button's data), and typed text read as a command only
    once it is clean."""
    typed = clean(event.text)
    media = event.media
    if media is not None and media.caption:
        media = replace(media, caption=clean(media.caption))
    name = clean(event.display_name, one_line=True) if event.display_name else None
    cleaned = replace(
        event, text=typed, media=media, display_name=name, choice=clean(event.choice)
    )
    if event.kind not in (InputKind.TEXT, InputKind.COMMAND):
        return cleaned
    command = parse_command(typed)
    if command is None:
        return replace(cleaned, kind=InputKind.TEXT, command="", args=())
    return replace(cleaned, kind=InputKind.COMMAND, command=command[0], args=command[1])
