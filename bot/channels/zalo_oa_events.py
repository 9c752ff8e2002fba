"""What the Zalo OA's webhook carries: the signature Zalo puts on an event, the id the
inbox deduplicates on, and the translation of an event into an Inbound. Numbers in an event
are kept as text (ids are strings past 2^53)."""

import hashlib
from collections.abc import Mapping
from typing import Any

from bot.domain.messages import Inbound, InputKind, Media

# What a pressed button sends back as the person's message: this, then the choice's id.
CHOICE_PREFIX = "#cn:"
TEXT, IMAGE, FILE, LOCATION = (
    "user_send_text",
    "user_send_image",
    "user_send_file",
    "user_send_location",
)
FOLLOW, UNFOLLOW = "follow", "unfollow"
TAKEN = frozenset({TEXT, IMAGE, FILE, LOCATION, FOLLOW, UNFOLLOW})


def signature(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    """The header Zalo signs an event with: mac= and SHA-256 over app id, raw body,
    timestamp and the OA secret key."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode())
    return f"mac={digest.hexdigest()}"


def event_id(event: Mapping[str, Any]) -> str | None:
    """The id the inbox deduplicates an event on: its message's msg_id; a follow or an
    unfollow has none, so its kind, the person and the time."""
    name = str(event.get("event_name") or "")
    message = event.get("message")
    found = message.get("msg_id") if isinstance(message, dict) else None
    if isinstance(found, str) and found:
        return found[:64]
    person = person_of(event)
    stamp = event.get("timestamp")
    if name in (FOLLOW, UNFOLLOW) and person and isinstance(stamp, str):
        return f"{name}:{person}:{stamp}"[:64]
    return None


def person_of(event: Mapping[str, Any]) -> str | None:
    """Who the event is from: the sender of a message, the follower of a (un)follow."""
    for key in ("sender", "follower"):
        found = event.get(key)
        person = found.get("id") if isinstance(found, dict) else None
        if isinstance(person, str) and person:
            return person
    return None


def pressed(event: Mapping[str, Any]) -> bool:
    """Whether an event carries a pressed button's payload (whatever Zalo names it)."""
    message = event.get("message")
    if not isinstance(message, dict):
        return False
    return any(
        isinstance(value, str) and value.startswith(CHOICE_PREFIX)
        for value in (message.get("text"), message.get("payload"))
    )


def translate(name: str, message: Mapping[str, Any], common: dict[str, Any]) -> Inbound | None:
    """A message as it came: a pressed button (whatever the event) is its choice."""
    text, payload = message.get("text"), message.get("payload")
    typed = text if isinstance(text, str) else ""
    pressed = payload if isinstance(payload, str) else typed
    if pressed.startswith(CHOICE_PREFIX) and len(pressed) > len(CHOICE_PREFIX):
        return Inbound(kind=InputKind.CHOICE, choice=pressed[len(CHOICE_PREFIX) :], **common)
    attachment = _attachment(message)
    if name == TEXT:
        return Inbound(kind=InputKind.TEXT, text=typed, **common)
    if name == LOCATION:
        where = attachment.get("coordinates")
        place = _coordinates(where) if isinstance(where, dict) else None
        if place is None:
            return None
        return Inbound(kind=InputKind.LOCATION, location=place, **common)
    url = attachment.get("url")
    if name not in (IMAGE, FILE) or not isinstance(url, str) or not url:
        return None
    size = attachment.get("size")
    media = Media(
        url,
        "photo" if name == IMAGE else "document",
        int(size) if isinstance(size, str) and size.isdigit() else None,
        typed or None,
    )
    return Inbound(kind=InputKind.MEDIA, media=media, text=typed, **common)


def _attachment(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """The payload of a message's first attachment ({} when it has none)."""
    attachments = message.get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments else None
    payload = first.get("payload") if isinstance(first, dict) else None
    return payload if isinstance(payload, dict) else {}


def _coordinates(where: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        return float(where["latitude"]), float(where["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
