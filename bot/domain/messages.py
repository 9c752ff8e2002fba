"""The neutral vocabulary between channels and handlers: inbound events and replies."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class InputKind(StrEnum):
    """What an inbound event carries."""

    TEXT = "text"
    COMMAND = "command"
    CHOICE = "choice"
    MEDIA = "media"
    LOCATION = "location"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Media:
    """A file the person sent: a reference on its channel, its kind and size."""

    file_ref: str
    media_kind: str
    size_bytes: int | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One thing a person did on a channel, in channel-neutral terms."""

    channel: str
    event_id: str
    user_id: str
    chat_id: str
    kind: InputKind
    text: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    choice: str = ""
    media: Media | None = None
    location: tuple[float, float] | None = None
    reply_to: str | None = None
    language_hint: str | None = None
    display_name: str | None = None
    private_chat: bool = True
    # The platform's handle for telling it the event was handled (a Telegram button press).
    receipt: str | None = None
    # For unsupported content: the catalog key of what its channel says instead of the usual
    # (e.g. what it can read, or the web chat's {link} when the platform withheld it).
    notice: str | None = None


@dataclass(frozen=True)
class Choice:
    """An option offered to the person: a server-side id and the catalog key of its label."""

    id: str
    key: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """Someone other than the sender: a staff member's or a group's chat on a channel."""

    channel: str
    chat_id: str
    language: str


@dataclass(frozen=True)
class Document:
    """A small file made for the person (e.g. their data), sent with the reply as caption."""

    name: str
    content: str


ERASE_WHEN_SENT = "erase_when_sent"  # the outbox deletes such a message once delivered
UPLOAD_PREFIX = "web:"  # how attachments refer to a web chat upload: web:<id>


@dataclass(frozen=True)
class SharedFile:
    """A file someone sent, shown again to another person: the channel it came from, its
    kind (photo, document, voice…) and its reference there (web uploads: web:<id>)."""

    origin: str
    kind: str
    ref: str


@dataclass(frozen=True)
class Reply:
    """What to say, as a catalog key and its values, with optional rows of choices.

    It goes to the sender unless `to` names someone else; it is then rendered in their language.
    Replies with the same `replaces` key in one chat are one message: where the channel can
    edit, a later one replaces the earlier (e.g. a ticket card kept up to date).
    """

    key: str
    values: Mapping[str, str] = field(default_factory=dict)
    choices: tuple[tuple[Choice, ...], ...] = ()
    to: Recipient | None = None
    document: Document | None = None
    replaces: str | None = None
    # Photos to show with the text (an album when several): file references on the channel.
    photos: tuple[str, ...] = ()
    # A file to show with the text as its caption.
    file: SharedFile | None = None
    # Not kept once delivered (the last word to someone whose data was erased).
    erase_when_sent: bool = False


@dataclass(frozen=True)
class Rendered:
    """A reply in one language, ready for a channel adapter (and for the outbox)."""

    text: str
    choices: tuple[tuple[tuple[str, str], ...], ...] = ()
    document: Document | None = None
    key: str | None = None
    photos: tuple[str, ...] = ()
    file: SharedFile | None = None
    erase_when_sent: bool = False
    # The catalog key it was written from, and what it is about that anyone may read (its
    # reference code, a public title): for channels that call people back (Web Push).
    said: str | None = None
    gist: Mapping[str, str] = field(default_factory=dict)

    def to_payload(self) -> dict[str, object]:
        """The JSON form kept in the outbox."""
        payload: dict[str, object] = {
            "text": self.text,
            "choices": [[list(c) for c in row] for row in self.choices],
        }
        if self.key is not None:
            payload["key"] = self.key
        if self.photos:
            payload["photos"] = list(self.photos)
        if self.document is not None:
            payload["document"] = {"name": self.document.name, "content": self.document.content}
        if self.file is not None:
            payload["file"] = [self.file.origin, self.file.kind, self.file.ref]
        if self.erase_when_sent:
            payload[ERASE_WHEN_SENT] = True
        if self.said is not None:
            payload["said"] = self.said
        if self.gist:
            payload["gist"] = dict(self.gist)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> "Rendered":
        """Rebuild a rendered reply from its outbox form."""
        rows = payload.get("choices")
        if not isinstance(rows, list):
            rows = []
        choices = tuple(tuple((str(c[0]), str(c[1])) for c in row) for row in rows)
        document = payload.get("document")
        attached = (
            Document(str(document["name"]), str(document["content"]))
            if isinstance(document, dict)
            else None
        )
        key, photos, shared = payload.get("key"), payload.get("photos"), payload.get("file")
        said, gist = payload.get("said"), payload.get("gist")
        return cls(
            text=str(payload["text"]),
            choices=choices,
            document=attached,
            key=str(key) if key is not None else None,
            photos=tuple(str(p) for p in photos) if isinstance(photos, list) else (),
            file=SharedFile(*(str(v) for v in shared)) if isinstance(shared, list) else None,
            erase_when_sent=payload.get(ERASE_WHEN_SENT) is True,
            said=str(said) if isinstance(said, str) else None,
            gist={str(k): str(v) for k, v in gist.items()} if isinstance(gist, dict) else {},
        )
