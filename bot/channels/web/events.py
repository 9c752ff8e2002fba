"""What a visitor does on the page, as neutral inbound events, and their stored form."""

import dataclasses
from collections.abc import Mapping
from typing import Any

from bot.channels.base import at_edge
from bot.domain.messages import UPLOAD_PREFIX, Inbound, InputKind, Media
from storage.web import CHANNEL

MAX_CHOICE_CHARS = 64


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


def location_event(
    visitor_id: str, event_id: str, where: tuple[float, float], language: str
) -> Inbound:
    """Where the visitor's browser says they are (latitude, longitude)."""
    return _inbound(visitor_id, event_id, language, kind=InputKind.LOCATION, location=where)


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
