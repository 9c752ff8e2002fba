"""The web chat's sender: its "platform" is our own table of web messages.

Sending a reply appends it to the visitor's chat and wakes the browsers waiting on that chat;
an edit appends a new version that replaces the first.
"""

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from bot.channels.base import CannotEdit, Capabilities
from bot.channels.web.push import RECEIPT, Pusher
from bot.domain.messages import Rendered
from storage import web as records
from storage.db import Database
from storage.models import utcnow

CHANNEL = records.CHANNEL
MAX_TEXT = 20_000
MAX_CHOICE_CHARS = 64


class Waiters:
    """Browsers waiting for news of a chat (long polling), woken when a message arrives."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._closed = False

    async def wait(self, chat_id: str, seconds: float) -> None:
        """Return when the chat has news, after `seconds`, or when the server is stopping."""
        if self._closed:
            return
        event = self._events.setdefault(chat_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def notify(self, chat_id: str) -> None:
        """Wake every browser waiting on this chat."""
        event = self._events.pop(chat_id, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        """Wake everyone and make later waits return at once (the server is stopping)."""
        self._closed = True
        for event in self._events.values():
            event.set()
        self._events.clear()


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
        self._waiters.notify(chat_id)
        if self._pusher is not None:
            self._pusher.notify(chat_id, message.said, message.gist)
        return str(message_id)

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Append a new version of an earlier message of this chat."""
        body, now = _body(message), self._clock()

        def replace(session: Any) -> bool:
            first = int(message_id)
            if not records.message_exists(session=session, chat_id=chat_id, message_id=first):
                return False
            records.add_message(
                session=session, chat_id=chat_id, outgoing=True, body=body, now=now, replaces=first
            )
            return True

        if not message_id.isdigit() or not await self._db.run(replace):
            raise CannotEdit("no such message in this chat")
        self._waiters.notify(chat_id)
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
