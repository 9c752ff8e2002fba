"""A channel that exists only in the tests: plain lines of text over TCP, no buttons, no edits,
200 characters a message. It is built the way any new channel is (one adapter module, one
config section, one registry entry) and proves the boundary: nothing else in the app knows it.

The "platform": a client connects, says `HELLO <user>`, then each line it sends is a message;
each message to it comes back as its lines followed by an empty line.
"""

import asyncio
import contextlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.routing import BaseRoute

from bot.channels.base import Capabilities, FileSource, OutsideWindow, RecipientGone, at_edge
from bot.channels.kit import ChannelKit
from bot.domain.messages import Inbound, InputKind, Rendered
from bot.intake import Intake

NAME = "line"
MAX_TEXT = 200


class LineSettings(BaseModel):
    """Its config section: where it listens."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 0


class LineSender:
    """Writes each message as lines to the chat's open connection."""

    name = NAME
    capabilities = Capabilities(buttons=False, edits=False, max_text=MAX_TEXT)

    def __init__(self) -> None:
        self.writers: dict[str, asyncio.StreamWriter] = {}
        # Chats whose reply window is over (as Zalo OA's after 7 days): sends there refused.
        self.outside_window: set[str] = set()
        self._ids = itertools.count(1)

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Write the text (it never carries buttons here), then an empty line."""
        if chat_id in self.outside_window:
            raise OutsideWindow()
        writer = self.writers.get(chat_id)
        if writer is None or writer.is_closing():
            raise RecipientGone("not connected")
        assert not message.choices, "choices reach a channel without buttons as text"
        assert len(message.text) <= MAX_TEXT, "texts reach it cut to its limit"
        writer.write(message.text.encode() + b"\n\n")
        await writer.drain()
        return str(next(self._ids))

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """It cannot edit; the outbox never asks it to."""
        raise AssertionError("edits reach a channel that cannot edit as new messages")


class LineChannel:
    """The adapter."""

    name = NAME
    files: FileSource | None = None
    concurrency = 8

    def __init__(self, settings: LineSettings) -> None:
        self.settings = settings
        self.sender = LineSender()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._intake: Intake | None = None
        self._events = itertools.count(1)

    @property
    def capabilities(self) -> Capabilities:
        """No buttons, no edits, 200 characters."""
        return self.sender.capabilities

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """A stored line as the neutral event."""
        user = str(payload["user"])
        event = Inbound(
            channel=NAME,
            event_id=str(payload["id"]),
            user_id=user,
            chat_id=user,
            kind=InputKind.TEXT,
            text=str(payload["text"]),
        )
        return at_edge(event)

    def routes(self) -> Sequence[BaseRoute]:
        """It receives on its own socket, not on HTTP."""
        return []

    async def start(self, intake: Intake, base_url: str) -> None:
        """Listen for connections."""
        self._intake = intake
        self._server = await asyncio.start_server(
            self._serve, self.settings.host, self.settings.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = (await reader.readline()).decode().split()
        if len(hello) != 2 or hello[0] != "HELLO" or self._intake is None:
            writer.close()
            return
        user = hello[1]
        self.sender.writers[user] = writer
        while line := await reader.readline():
            event_id = f"{user}-{next(self._events)}"
            payload = {"id": event_id, "user": user, "text": line.decode().rstrip("\n")}
            await self._intake.receive(NAME, [(event_id, payload)])

    async def acknowledge(self, event: Inbound) -> None:
        """Nothing to tell the platform."""

    def start_link(self) -> str | None:
        """No links into it."""
        return None

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            for writer in self.sender.writers.values():
                writer.close()

    async def close(self) -> None:
        """Wait for the listener to close."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


def build(kit: ChannelKit) -> LineChannel | None:
    """The line channel, when config has a `channels.line` section."""
    if NAME not in kit.config.raw.channels.sections():
        return None
    return LineChannel(LineSettings(**kit.config.raw.channels.section(NAME)))


class LineClient:
    """A person on the line channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def connect(cls, port: int, user: str) -> "LineClient":
        """Connect and say who this is."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"HELLO {user}\n".encode())
        await writer.drain()
        return cls(reader, writer)

    async def until(self, line: str, shown: str) -> str:
        """Send a line; the messages the bot writes back, up to the first that shows `shown`."""
        self._writer.write(line.encode() + b"\n")
        await self._writer.drain()
        received: list[str] = []
        while not received or shown not in received[-1]:
            received.append(await self.read())
        return "\n".join(received)

    async def read(self) -> str:
        """The next message (its lines up to the empty line)."""
        lines: list[str] = []
        async with asyncio.timeout(15):
            while (line := (await self._reader.readline()).decode()) not in ("\n", ""):
                lines.append(line.rstrip("\n"))
        return "\n".join(lines)

    def close(self) -> None:
        """Hang up."""
        self._writer.close()
