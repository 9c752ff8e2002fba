"""What a channel is to the rest of the app: what it can show, how it receives and sends,
and the failures its sender may report. A new channel is one adapter module implementing
`Channel`, one config section and one line in the composition root's registry."""

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from starlette.routing import BaseRoute

from bot.domain.messages import Inbound, InputKind, Rendered
from bot.domain.text import clean

if TYPE_CHECKING:
    from bot.intake import Intake


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


class OutsideWindow(SendError):
    """The platform only lets us answer within a while of the person's last message (Zalo
    OA: 7 days) and that while is over: hold an answer until they write again; a broadcast
    counts them as outside the window."""

    def __init__(self, closed_at: dt.datetime | None = None) -> None:
        super().__init__("outside the platform's reply window")
        self.closed_at = closed_at


class ChannelUnavailable(Exception):
    """A channel could not start (its token refused, its platform unreachable); the message
    says what to check."""


class CannotEdit(SendError):
    """The earlier message is gone or too old to edit: send a new one instead."""


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show, and when it may write to someone."""

    buttons: bool
    edits: bool
    max_text: int
    # The kinds of file it can deliver (photo, document, voice, audio, video, video_note).
    media: frozenset[str] = frozenset()
    # How long after a person's last message the channel lets us write to them; None: always.
    reply_window: dt.timedelta | None = None
    # With buttons: at most this many in one message, a message with more gets a numbered
    # menu instead (None: no limit).
    max_buttons: int | None = None

    @property
    def numbered_menus(self) -> bool:
        """Whether some choices are shown as a numbered menu, to answer by typing."""
        return not self.buttons or self.max_buttons is not None

    def as_buttons(self, count: int) -> bool:
        """Whether a message with this many choices shows them as buttons."""
        return self.buttons and (self.max_buttons is None or count <= self.max_buttons)


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
# An event as the platform sent it: its id on the channel and its payload, stored as is.
Received = tuple[str, dict[str, Any]]


class Channel(Protocol):
    """One way of reaching people: it receives by polling, by HTTP routes, or both, records
    what arrives through the shared intake, and sends through its sender."""

    @property
    def name(self) -> str:
        """Its name in config, the inbox and the outbox."""
        ...

    @property
    def sender(self) -> ChannelSender:
        """What delivers messages on it."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What it can show (its sender's)."""
        ...

    @property
    def files(self) -> FileSource | None:
        """How to fetch a file that came through it (None: files never come through it)."""
        ...

    @property
    def concurrency(self) -> int:
        """How many of its events are handled at once (each chat's in order)."""
        ...

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """The neutral event a stored payload carries, cleaned at the edge; None when it
        carries nothing for us (it is then marked handled)."""
        ...

    def routes(self) -> Sequence[BaseRoute]:
        """The HTTP routes it receives on (a webhook, a page); served on the app's port."""
        ...

    async def start(self, intake: "Intake", base_url: str) -> None:
        """Begin receiving (a poller, a webhook registration); return once started."""
        ...

    async def acknowledge(self, event: Inbound) -> None:
        """Tell the platform an event was handled, where it expects to hear (a button's
        spinner); never raises."""
        ...

    def start_link(self) -> str | None:
        """A link that opens a chat with us, '{}' marking a start payload; once started."""
        ...

    async def stop(self) -> None:
        """Stop receiving; what was received is still handled."""
        ...

    async def close(self) -> None:
        """Release its connections (after the outbox stopped)."""
        ...


@runtime_checkable
class ReportsProblems(Protocol):
    """A channel that can say what keeps it from working (a refused token), for /healthz."""

    @property
    def problem(self) -> str | None:
        """What is wrong now, in a line an operator can act on; None when all is well."""
        ...


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
