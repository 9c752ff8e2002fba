"""SQLModel tables. Every time is stored in UTC; every id from a channel is a string."""

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _when(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Unit(SQLModel, table=True):
    """A commune, ward or directly affiliated union; synchronised from config at start-up."""

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    folded_name: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=20)


class Person(SQLModel, table=True):
    """A young person or a member of staff, across all their channels."""

    id: int | None = Field(default=None, primary_key=True)
    language: str = Field(default="vi", max_length=5)
    unit_code: str | None = Field(default=None, foreign_key="unit.code", max_length=40)
    staff_code: str | None = Field(default=None, max_length=40, index=True)
    roles: list[str] = _json(list)
    subscriptions: list[str] = _json(list)
    # A column, not in profile, so that broadcasts filter on it in SQL.
    age_group: str | None = Field(default=None, max_length=20, index=True)
    profile: dict[str, Any] = _json(dict)
    consent_at: dt.datetime | None = _when()
    stopped_at: dt.datetime | None = _when()
    banned: bool = False
    always_anonymous: bool = False
    created_at: dt.datetime = _created()


class PersonTopic(SQLModel, table=True):
    """One of a person's subscriptions as a row, kept in step with Person.subscriptions so
    that a broadcast's audience is filtered by topic in SQL on every backend."""

    topic: str = Field(primary_key=True, max_length=40)
    person_id: int = Field(primary_key=True, foreign_key="person.id", index=True)


class ChannelIdentity(SQLModel, table=True):
    """One person's account on one channel."""

    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    display_name: str | None = Field(default=None, max_length=200)
    reachable: bool = True
    created_at: dt.datetime = _created()


class LinkCode(SQLModel, table=True):
    """A person's short code for linking another channel account to them (kept only as a
    hash), with the chat it was given in, which hears when it is used; one per person."""

    person_id: int = Field(primary_key=True, foreign_key="person.id")
    code_hash: str = Field(max_length=64, unique=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = _created()
    used_at: dt.datetime | None = _when()


class Ticket(SQLModel, table=True):
    """A submission: complaint, question, idea, story or confidential report."""

    __table_args__ = (Index("ix_ticket_author_created", "author_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    kind: str = Field(max_length=20, index=True)
    category: str = Field(max_length=40)
    unit_code: str | None = Field(default=None, foreign_key="unit.code", max_length=40)
    author_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # The channel it was filed on: the sender hears back there while that account is reachable.
    channel: str | None = Field(default=None, max_length=20)
    anonymous: bool = False
    publish_consent: str | None = Field(default=None, max_length=20)
    language: str = Field(default="vi", max_length=5)
    status: str = Field(default="new", max_length=20, index=True)
    assignee_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = _created()
    updated_at: dt.datetime = _created()
    due_at: dt.datetime | None = _when(index=True)
    first_answer_at: dt.datetime | None = _when()
    closed_at: dt.datetime | None = _when()
    rating: int | None = None
    rating_comment: str | None = Field(default=None, sa_column=Column(Text))


class TicketMessage(SQLModel, table=True):
    """One entry in a ticket's thread: from the sender, from staff, or an internal note."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="person.id")
    author_role: str = Field(max_length=20)
    internal: bool = False
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = _created()


class Attachment(SQLModel, table=True):
    """A file, photo, voice note or location attached to a ticket."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="ticketmessage.id")
    channel: str = Field(max_length=20)
    media_kind: str = Field(max_length=20)
    file_ref: str = Field(max_length=512)
    size_bytes: int | None = None
    hidden: bool = False
    created_at: dt.datetime = _created()


class Counter(SQLModel, table=True):
    """A named sequence, e.g. the numbers of one month's complaint codes."""

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0


class Conversation(SQLModel, table=True):
    """Where a person is in a dialogue, with the draft so far; survives restarts."""

    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=64)
    flow: str | None = Field(default=None, max_length=40)
    step: str | None = Field(default=None, max_length=40)
    draft: dict[str, Any] = _json(dict)
    updated_at: dt.datetime = _created()


class InboxEvent(SQLModel, table=True):
    """An inbound event, written before the channel is told it arrived."""

    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index("ix_inbox_pending", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    event_id: str = Field(max_length=64)
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default="pending", max_length=10)
    received_at: dt.datetime = _created()
    processed_at: dt.datetime | None = _when()
    error: str | None = Field(default=None, sa_column=Column(Text))


class OutboxMessage(SQLModel, table=True):
    """A message that must reach someone; sent, retried and recorded by the one sender."""

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_key", "chat_id", "message_key"),
        # A chat's pending messages and the latest retry time among them (see enqueue).
        Index("ix_outbox_chat_status", "chat_id", "status", "next_attempt_at"),
        # The bulk lane's due messages, apart from the interactive ones.
        Index("ix_outbox_lane", "priority", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    source_event_id: int | None = Field(default=None, foreign_key="inboxevent.id", index=True)
    created_at: dt.datetime = _created()
    next_attempt_at: dt.datetime = _created()
    sent_at: dt.datetime | None = _when()
    external_message_id: str | None = Field(default=None, max_length=64)
    # Messages with the same key in one chat are one message, edited where the channel can.
    message_key: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, sa_column=Column(String(500)))
    # INTERACTIVE (0) replies go before BULK (1) broadcast messages (see bot/outbox.py).
    priority: int = Field(default=0)
    # The broadcast recipient this message is for: at most one message per recipient.
    recipient_id: int | None = Field(default=None, unique=True)


class StaffMember(SQLModel, table=True):
    """A member of staff: from config.yaml or invited by an admin; revoked ones stay inactive."""

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    roles: list[str] = _json(list)
    units: list[str] = _json(list)
    categories: list[str] = _json(list)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    source: str = Field(max_length=10)
    active: bool = True
    created_at: dt.datetime = _created()


class Invite(SQLModel, table=True):
    """A one-time link that gives whoever opens it a staff role (kept only as a hash)."""

    token_hash: str = Field(primary_key=True, max_length=64)
    roles: list[str] = _json(list)
    units: list[str] = _json(list)
    created_by: str = Field(max_length=40)
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = _created()
    used_at: dt.datetime | None = _when()
    used_by: int | None = Field(default=None, foreign_key="person.id")
    # Set when the link signs in an existing staff member (e.g. from config.yaml) on a channel.
    staff_code: str | None = Field(default=None, max_length=40)


class AuditEntry(SQLModel, table=True):
    """Who did what to which ticket, and what it was before and after."""

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _created()
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=40)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    before: dict[str, Any] = _json(dict)
    after: dict[str, Any] = _json(dict)


class Publication(SQLModel, table=True):
    """One post of a kind for a period (e.g. daily 2026-11-22), recorded before it is posted."""

    __table_args__ = (UniqueConstraint("kind", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    period: str = Field(max_length=20)
    status: str = Field(default="planned", max_length=10)
    payload: dict[str, Any] = _json(dict)
    created_at: dt.datetime = _created()
    posted_at: dt.datetime | None = _when()


class Story(SQLModel, table=True):
    """A story or idea whose author agreed to publication: moderation, then the daily post."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", unique=True)
    state: str = Field(default="pending", max_length=12, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    credit: str = Field(max_length=12)
    # A Telegram file id of the first photo, if there was one.
    photo_ref: str | None = Field(default=None, max_length=512)
    photo_hidden: bool = False
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = _created()
    approved_at: dt.datetime | None = _when()
    published_at: dt.datetime | None = _when()


class WebVisitor(SQLModel, table=True):
    """Someone using the web chat: their id on the "web" channel and their private resume link."""

    id: str = Field(primary_key=True, max_length=40)
    # Only a hash is kept: the link itself is shown to the visitor once.
    resume_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: dt.datetime = _created()


class WebSession(SQLModel, table=True):
    """A browser's sign-in to the web chat, by the hash of its cookie."""

    token_hash: str = Field(primary_key=True, max_length=64)
    visitor_id: str = Field(foreign_key="webvisitor.id", max_length=40, index=True)
    csrf: str = Field(max_length=64)
    lifetime_hours: int
    expires_at: dt.datetime = _when(index=True, nullable=False)
    created_at: dt.datetime = _created()


class WebMessage(SQLModel, table=True):
    """One message of a web chat, either way; the web channel's own record of the chat.

    An edit is a new row that `replaces` the first one, so the id is a cursor for new events;
    on SQLite, AUTOINCREMENT keeps ids of deleted rows from coming back below a cursor.
    """

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, index=True)
    outgoing: bool
    body: dict[str, Any] = _json(dict)
    replaces: int | None = None
    created_at: dt.datetime = _created()


class WebUpload(SQLModel, table=True):
    """A file a visitor uploaded in the web chat (attachments refer to it as web:<id>); its
    bytes are in the file store under `store_key`."""

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: str = Field(max_length=40, index=True)
    name: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    size_bytes: int
    store_key: str = Field(max_length=64)
    created_at: dt.datetime = _created()


class OfferedMenu(SQLModel, table=True):
    """The numbered menu last shown in a chat of a channel without buttons: choice n of
    `options` ([id, label] pairs) is what the number n typed there means."""

    channel: str = Field(primary_key=True, max_length=20)
    chat_id: str = Field(primary_key=True, max_length=64)
    options: list[Any] = _json(list)
    offered_at: dt.datetime = _created()


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription for a web chat: where to send and its keys."""

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, index=True)
    # The push service's URL for this browser: it is the secret (anyone holding it can push).
    endpoint: str = Field(sa_column=Column(String(1000), nullable=False, unique=True))
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    # The page's language when it subscribed: notifications are written in it.
    language: str = Field(max_length=8)
    created_at: dt.datetime = _created()
    last_used_at: dt.datetime = _when(index=True, nullable=False)


class Broadcast(SQLModel, table=True):
    """A message to many: what it says, to whom, its progress (kept after it is done)."""

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    photo_ref: str | None = Field(default=None, max_length=512)
    link: str | None = Field(default=None, max_length=1000)
    # Whom it is for: {"people": [ids]} or {"units": [codes], "languages": [codes]}.
    audience: dict[str, Any] = _json(dict)
    # planning -> sending -> done, or cancelled (before or while sending).
    status: str = Field(default="planning", max_length=12, index=True)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = _created()
    scheduled_at: dt.datetime = _created()
    finished_at: dt.datetime | None = _when()
    # The last channel identity id planned: planning resumes after it.
    plan_cursor: int = 0
    planned: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    stopped: int = 0
    # Zalo OA recipients past the platform's reply window: counted, not sent, not retried.
    outside_window: int = 0
    remaining: int = 0
    # Where its progress message and final report go: the chat it was composed in.
    report_channel: str | None = Field(default=None, max_length=20)
    report_chat_id: str | None = Field(default=None, max_length=64)
    report_language: str | None = Field(default=None, max_length=8)
    cancelled_at: dt.datetime | None = _when()
    cancelled_by: str | None = Field(default=None, max_length=40)


class BroadcastRecipient(SQLModel, table=True):
    """One channel identity a broadcast goes to; planned, then queued in the outbox once."""

    __table_args__ = (
        UniqueConstraint("broadcast_id", "identity_id"),
        Index("ix_recipient_next", "broadcast_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    identity_id: int = Field(foreign_key="channelidentity.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    # planned -> queued (its outbox message has recipient_id = id), or stopped.
    status: str = Field(default="planned", max_length=10)


class ZaloOaToken(SQLModel, table=True):
    """The Zalo Official Account's OAuth tokens, one row per app: the refresh token is
    single-use, so each new pair replaces the old in one transaction before it is used."""

    app_id: str = Field(primary_key=True, max_length=40)
    access_token: str | None = Field(default=None, sa_column=Column(Text))
    access_expires_at: dt.datetime | None = _when()
    refresh_token: str = Field(sa_column=Column(Text, nullable=False))
    refreshed_at: dt.datetime | None = _when()
    # One more with every new pair: a process that saw an older one knows it was replaced.
    generation: int = 0
    # The digest of the ZALO_OA_REFRESH_TOKEN it was seeded with, or that was set when a
    # consent replaced it: a lost row is healed only by a different one.
    seeded_from: str | None = Field(default=None, max_length=64)
    # Zalo refused the refresh token: a person must consent again; the admins were told once.
    lost_at: dt.datetime | None = _when()
    lost_reason: str | None = Field(default=None, max_length=300)
