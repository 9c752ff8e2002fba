"""The web chat's sender: its "platform" is our own table of web messages.

Sending a reply appends it to the visitor's chat and wakes the browsers waiting on that chat;
an edit appends a new version that replaces the first.
"""

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from bot.channels.base import CannotEdit, Capabilities
from bot.channels.web.push import RECEIPT, Pusher
from bot.domain.messages import Rendered
from storage import web as records
from storage.db import Database
from storage.models import utcnow
from storage.web import ChatEvent

CHANNEL = records.CHANNEL
MAX_TEXT = 20_000
MAX_CHOICE_CHARS = 64


class Listener:
    """One browser waiting for news of its chat: the messages handed to it since it began
    listening."""

    def __init__(self) -> None:
        self.handed: list[ChatEvent] = []
        self.woken = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Return when there is news, or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), seconds)

    def take(self) -> list[ChatEvent]:
        """The messages handed since the last take."""
        handed, self.handed = self.handed, []
        self.woken.clear()
        return handed


class Waiters:
    """Browsers waiting for news of a chat (long poll or stream). The sender hands each new
    message to them, so a wake costs no query."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the server is stopping."""
        return self._closed

    @contextlib.contextmanager
    def listen(self, chat_id: str) -> Iterator[Listener]:
        """Listen for news of a chat; subscribe before reading, so nothing falls between."""
        listener = Listener()
        if self._closed:
            listener.woken.set()
        self._listeners.setdefault(chat_id, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._listeners.get(chat_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[chat_id]

    async def wait(self, chat_id: str, seconds: float) -> None:
        """Return when the chat has news, after `seconds`, or when the server is stopping."""
        if self._closed:
            return
        with self.listen(chat_id) as listener:
            await listener.wait(seconds)

    def hand(self, chat_id: str, event: ChatEvent) -> None:
        """Give a new message of this chat to every browser waiting on it."""
        for listener in self._listeners.get(chat_id, ()):
            listener.handed.append(event)
            listener.woken.set()

    def close(self) -> None:
        """Wake everyone and make later waits return at once (the server is stopping)."""
        self._closed = True
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.woken.set()


def web_capabilities(*, buttons: bool) -> Capabilities:
    """What the page can show: buttons unless channels.web.buttons turns them off."""
    return Capabilities(buttons=buttons, edits=True, max_text=MAX_TEXT)


class WebSender:
    """Delivers rendered messages into web chats."""

    name = CHANNEL

    def __init__(
        self,
        db: Database,
        waiters: Waiters,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        buttons: bool = True,
        pusher: Pusher | None = None,
    ) -> None:
        self.capabilities = web_capabilities(buttons=buttons)
        self._pusher = pusher
        self._db = db
        self._waiters = waiters
        self._clock = clock

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Append the message to the chat."""
        body, now = _body(message), self._clock()
        if self._pusher is not None and (message.said or "").startswith(RECEIPT):
            body["push_offer"] = True  # the page offers notifications under a receipt
        message_id = await self._db.run(
            lambda session: records.add_message(
                session=session, chat_id=chat_id, outgoing=True, body=body, now=now
            )
        )
        self._waiters.hand(chat_id, ChatEvent(message_id, True, body, None, now))
        if self._pusher is not None:
            self._pusher.notify(chat_id, message.said, message.gist)
        return str(message_id)

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Append a new version of an earlier message of this chat."""
        body, now = _body(message), self._clock()

        def replace(session: Any) -> int | None:
            first = int(message_id)
            if not records.message_exists(session=session, chat_id=chat_id, message_id=first):
                return None
            return records.add_message(
                session=session, chat_id=chat_id, outgoing=True, body=body, now=now, replaces=first
            )

        added = await self._db.run(replace) if message_id.isdigit() else None
        if added is None:
            raise CannotEdit("no such message in this chat")
        self._waiters.hand(chat_id, ChatEvent(added, True, body, int(message_id), now))
        return message_id


def _body(message: Rendered) -> dict[str, Any]:
    body = message.to_payload()
    for private in ("key", "file", "said", "gist"):
        body.pop(private, None)
    shared = message.file
    if shared is not None:
        # Kept with the message: the page downloads it by the message's id, in its own chat.
        body["file"] = {"kind": shared.kind, "origin": shared.origin, "ref": shared.ref}
    return body
