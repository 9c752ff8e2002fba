"""Every query the application makes. Functions take the session as a keyword argument."""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import (
    ChannelIdentity,
    Conversation,
    InboxEvent,
    OutboxMessage,
    Person,
    Unit,
    utcnow,
)

# ---- inbox -------------------------------------------------------------------------------


def record_inbound(
    *, session: Session, channel: str, event_id: str, payload: dict[str, Any]
) -> bool:
    """Store an inbound event once; False when it was stored before (a redelivery)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(InboxEvent)
        .values(
            channel=channel,
            event_id=event_id,
            payload=payload,
            status="pending",
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
    )
    result = session.exec(statement)
    return bool(result.rowcount)


def claim_inbound(*, session: Session, channel: str, event_id: str) -> int | None:
    """Mark a pending event done inside the caller's transaction; None if already handled."""
    statement = (
        update(InboxEvent)
        .where(
            col(InboxEvent.channel) == channel,
            col(InboxEvent.event_id) == event_id,
            col(InboxEvent.status) == "pending",
        )
        .values(status="done", processed_at=utcnow())
        .returning(col(InboxEvent.id))
    )
    return session.exec(statement).scalar_one_or_none()


def fail_inbound(*, session: Session, channel: str, event_id: str, error: str) -> None:
    """Set aside an event whose handling failed, so a restart does not loop on it."""
    session.exec(
        update(InboxEvent)
        .where(col(InboxEvent.channel) == channel, col(InboxEvent.event_id) == event_id)
        .values(status="failed", processed_at=utcnow(), error=error[:2000])
    )


def pending_inbound(*, session: Session, channel: str) -> Sequence[InboxEvent]:
    """Events stored but not handled, oldest first (to replay after a crash)."""
    statement = (
        select(InboxEvent)
        .where(InboxEvent.channel == channel, InboxEvent.status == "pending")
        .order_by(col(InboxEvent.id))
    )
    return session.exec(statement).all()


def inbox_depth(*, session: Session) -> int:
    """How many inbound events wait to be handled."""
    statement = select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
    return session.exec(statement).one()


# ---- outbox ------------------------------------------------------------------------------


def enqueue_outbound(
    *,
    session: Session,
    channel: str,
    chat_id: str,
    payload: dict[str, Any],
    source_event_id: int | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction."""
    message = OutboxMessage(
        channel=channel, chat_id=chat_id, payload=payload, source_event_id=source_event_id
    )
    session.add(message)
    return message


def due_outbound(
    *, session: Session, now: dt.datetime, skip_chats: Iterable[str], limit: int
) -> Sequence[OutboxMessage]:
    """Pending messages whose time has come, oldest first, leaving out busy chats."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    skip = list(skip_chats)
    if skip:
        statement = statement.where(col(OutboxMessage.chat_id).not_in(skip))
    return session.exec(statement).all()


def next_outbound_time(*, session: Session) -> dt.datetime | None:
    """When the earliest pending message becomes due."""
    statement = select(func.min(OutboxMessage.next_attempt_at)).where(
        OutboxMessage.status == "pending"
    )
    return session.exec(statement).one()


def mark_sent(
    *, session: Session, message_id: int, external_id: str | None, at: dt.datetime
) -> None:
    """Record a delivered message with the channel's id for it."""
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="sent", sent_at=at, external_message_id=external_id)
    )


def reschedule(
    *, session: Session, message_id: int, at: dt.datetime, error: str, give_up: bool
) -> None:
    """Try a message again later, or give up on it."""
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status="failed" if give_up else "pending",
            next_attempt_at=at,
            attempts=OutboxMessage.attempts + 1,
            error=error[:500],
        )
    )


def drop_unreachable(*, session: Session, channel: str, chat_id: str, error: str) -> None:
    """The recipient blocked us or is gone: stop everything queued for them, for good."""
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.status) == "pending",
        )
        .values(status="dropped", error=error[:500])
    )
    identities = session.exec(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.chat_id == chat_id
        )
    )
    for identity in identities:
        identity.reachable = False
        person = session.get(Person, identity.person_id)
        if person is not None:
            person.subscriptions = []
        session.add(identity)


def outbox_depth(*, session: Session) -> int:
    """How many messages wait to be sent."""
    statement = (
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    )
    return session.exec(statement).one()


# ---- people and dialogue ----------------------------------------------------------------


def identity_with_person(
    *, session: Session, channel: str, external_id: str
) -> tuple[ChannelIdentity, Person] | None:
    """The person behind a channel account, if we know them."""
    statement = (
        select(ChannelIdentity, Person)
        .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    row = session.exec(statement).first()
    return (row[0], row[1]) if row else None


def create_person(
    *, session: Session, channel: str, external_id: str, chat_id: str, language: str
) -> tuple[ChannelIdentity, Person]:
    """Register a new person with their first channel account."""
    person = Person(language=language)
    session.add(person)
    session.flush()
    assert person.id is not None
    identity = ChannelIdentity(
        channel=channel, external_id=external_id, chat_id=chat_id, person_id=person.id
    )
    session.add(identity)
    return identity, person


def conversation_for(*, session: Session, channel: str, external_id: str) -> Conversation:
    """The person's dialogue state on a channel, created empty the first time."""
    statement = select(Conversation).where(
        Conversation.channel == channel, Conversation.external_id == external_id
    )
    found = session.exec(statement).first()
    if found is None:
        found = Conversation(channel=channel, external_id=external_id)
        session.add(found)
    return found


# ---- units -------------------------------------------------------------------------------


def sync_units(*, session: Session, units: Iterable[tuple[str, str, str, str]]) -> int:
    """Insert or update units (code, name, folded name, kind) from config; return how many."""
    count = 0
    for code, name, folded, kind in units:
        existing = session.get(Unit, code)
        if existing is None:
            session.add(Unit(code=code, name=name, folded_name=folded, kind=kind))
        else:
            existing.name, existing.folded_name, existing.kind = name, folded, kind
            session.add(existing)
        count += 1
    return count
