"""The web chat adapter: its "platform" is our own table of web messages.

Sending a reply appends it to the visitor's chat and wakes the browsers waiting on that chat;
an edit appends a new version that replaces the first. What the visitor does arrives as
neutral inbound events built here, and is kept in the inbox like any channel's.
"""

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.base import CannotEdit, Capabilities, at_edge
from bot.domain.messages import UPLOAD_PREFIX, Inbound, InputKind, Media, Rendered
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
    ) -> None:
        self.capabilities = Capabilities(buttons=buttons, edits=True, max_text=MAX_TEXT)
        self._db = db
        self._waiters = waiters
        self._clock = clock

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Append the message to the chat."""
        body, now = _body(message), self._clock()
        message_id = await self._db.run(
            lambda session: records.add_message(
                session=session, chat_id=chat_id, outgoing=True, body=body, now=now
            )
        )
        self._waiters.notify(chat_id)
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
    body.pop("key", None)
    body.pop("file", None)
    shared = message.file
    if shared is not None:
        # Kept with the message: the page downloads it by the message's id, in its own chat.
        body["file"] = {"kind": shared.kind, "origin": shared.origin, "ref": shared.ref}
    return body


# ---- inbound ---------------------------------------------------------------------------------


def text_event(visitor_id: str, event_id: str, text: str, language: str) -> Inbound:
    """What the visitor typed: a command when it starts with a slash, else text."""
    return _inbound(visitor_id, event_id, language, kind=InputKind.TEXT, text=text)


def choice_event(visitor_id: str, event_id: str, choice: str, language: str) -> Inbound:
    """A button the visitor pressed (its id is checked by the handlers, like Telegram's)."""
    pressed = choice[:MAX_CHOICE_CHARS]
    return _inbound(visitor_id, event_id, language, kind=InputKind.CHOICE, choice=pressed)


def media_event(
    visitor_id: str, event_id: str, upload_id: int, media: tuple[str, int], language: str
) -> Inbound:
    """A file the visitor uploaded, by its upload id, kind and size."""
    media_kind, size = media
    attached = Media(f"{UPLOAD_PREFIX}{upload_id}", media_kind, size)
    return _inbound(visitor_id, event_id, language, kind=InputKind.MEDIA, media=attached)


def media_kind(content_type: str) -> str:
    """The attachment kind for a file's content type."""
    main = content_type.split("/", 1)[0].lower()
    return {"image": "photo", "audio": "audio", "video": "video"}.get(main, "document")


def _inbound(visitor_id: str, event_id: str, language: str, **what: Any) -> Inbound:
    """The one place web events are made: cleaned at the edge like every channel's."""
    event = Inbound(
        channel=CHANNEL,
        # Prefixed with the visitor, so one visitor's ids can never collide with another's.
        event_id=f"{visitor_id}:{event_id}"[:64],
        user_id=visitor_id,
        chat_id=visitor_id,
        language_hint=language,
        **what,
    )
    return at_edge(event)


def event_payload(event: Inbound) -> dict[str, Any]:
    """The inbox form of a web event."""
    return dataclasses.asdict(event)


def event_from_payload(payload: Mapping[str, Any]) -> Inbound:
    """Rebuild a stored web event (replayed after a restart)."""
    values = dict(payload)
    values["kind"] = InputKind(values["kind"])
    values["args"] = tuple(values.get("args") or ())
    if values.get("media"):
        values["media"] = Media(**values["media"])
    if values.get("location"):
        values["location"] = tuple(values["location"])
    return Inbound(**values)
