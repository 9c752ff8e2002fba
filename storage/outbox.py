"""The outbox: replies queued in the handler's transaction, then sent, retried, dropped."""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    bindparam,
    delete,
    func,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from storage.models import (
    BroadcastRecipient,
    ChannelIdentity,
    OutboxMessage,
    Person,
    UTCDateTime,
    utcnow,
)
from storage.sql import core, on_postgres
from storage.topics import keep_topics

# The outbox's two lanes: replies to what someone just did, and broadcasts (bulk), which only
# use the capacity the replies leave.
INTERACTIVE = 0
BULK = 1
# Why a bulk message was dropped unsent: its person said /stop after it was queued, or (Zalo
# OA) the platform's reply window with them is over.
STOPPED = "stopped"
OUTSIDE_WINDOW = "outside window"

_HELD_UNTIL = sa_select(func.max(col(OutboxMessage.next_attempt_at))).where(
    col(OutboxMessage.channel) == bindparam("p_channel"),
    col(OutboxMessage.chat_id) == bindparam("p_chat"),
    col(OutboxMessage.status) == "pending",
    # A broadcast message waiting out a pause holds back no reply.
    col(OutboxMessage.priority) == INTERACTIVE,
)


# The same on PostgreSQL in one statement: each row is due when the chat's latest held
# message is (GREATEST ignores the NULL of a chat that holds none).
_ENQUEUE_PG = sql_text(
    """
    INSERT INTO outboxmessage (channel, chat_id, payload, status, attempts, source_event_id,
                               created_at, next_attempt_at, message_key, priority)
    SELECT CAST(:p_channel AS VARCHAR), CAST(:p_chat AS VARCHAR), CAST(:p_payload AS JSON),
           'pending', 0, CAST(:p_source AS INTEGER), CAST(:p_now AS TIMESTAMPTZ),
           GREATEST(CAST(:p_now AS TIMESTAMPTZ), (
               SELECT max(next_attempt_at) FROM outboxmessage
               WHERE channel = CAST(:p_channel AS VARCHAR) AND chat_id = CAST(:p_chat AS VARCHAR)
                 AND status = 'pending' AND priority = 0)),
           CAST(:p_key AS VARCHAR), 0
    """
).bindparams(bindparam("p_payload", type_=JSON), bindparam("p_now", type_=UTCDateTime()))


def enqueue_outbound(
    *,
    session: Session,
    channel: str,
    chat_id: str,
    payloads: Sequence[dict[str, Any]],
    source_event_id: int | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Add messages for one chat to the outbox, in order, in the caller's transaction;
    they are due at `now` (the caller's clock), by default at once."""
    if not payloads:
        return
    now = now or utcnow()
    if on_postgres(session):
        rows = [
            {"p_channel": channel, "p_chat": chat_id, "p_payload": payload}
            | {"p_source": source_event_id, "p_now": now, "p_key": payload.get("key")}
            for payload in payloads
        ]
        core(session, _ENQUEUE_PG, rows)  # psycopg pipelines the rows: one round trip
        return
    # A message of this chat waiting for a retry holds back what comes after it.
    params = {"p_channel": channel, "p_chat": chat_id}
    held: dt.datetime | None = core(session, _HELD_UNTIL, params).scalar_one_or_none()
    due = max(now, held) if held is not None else now
    rows = [
        {
            "channel": channel,
            "chat_id": chat_id,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "source_event_id": source_event_id,
            "created_at": now,
            "next_attempt_at": due,
            "message_key": payload.get("key"),
            "priority": INTERACTIVE,
        }
        for payload in payloads
    ]
    core(session, insert(OutboxMessage), rows)


@dataclass(frozen=True)
class Outgoing:
    """A due outbox message, as the sender needs it."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int
    priority: int = INTERACTIVE
    # For a bulk message: its person has said /stop since it was queued (it is not sent).
    stopped: bool = False


_EARLIER_WITH_KEY = (
    sa_select(col(OutboxMessage.external_message_id))
    .where(
        col(OutboxMessage.chat_id) == bindparam("p_chat"),
        col(OutboxMessage.message_key) == bindparam("p_key"),
        col(OutboxMessage.channel) == bindparam("p_channel"),
        col(OutboxMessage.status) == "sent",
        col(OutboxMessage.external_message_id).is_not(None),
    )
    .order_by(col(OutboxMessage.id).desc())
    .limit(1)
)


def sent_with_key(*, session: Session, channel: str, chat_id: str, key: str) -> str | None:
    """The channel's id of the latest message sent to a chat under this key, if any."""
    params = {"p_chat": chat_id, "p_key": key, "p_channel": channel}
    found: str | None = core(session, _EARLIER_WITH_KEY, params).scalar_one_or_none()
    return found


_DUE = (
    sa_select(
        col(OutboxMessage.id),
        col(OutboxMessage.channel),
        col(OutboxMessage.chat_id),
        col(OutboxMessage.payload),
        col(OutboxMessage.attempts),
    )
    .where(
        col(OutboxMessage.priority) == INTERACTIVE,
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.next_attempt_at) <= bindparam("p_now"),
        col(OutboxMessage.chat_id).not_in(bindparam("p_skip", expanding=True)),
        col(OutboxMessage.channel).not_in(bindparam("p_skip_channels", expanding=True)),
    )
    .order_by(col(OutboxMessage.id))
    .limit(bindparam("p_limit"))
)

# One channel's due bulk messages, each with whether its person has said /stop since.
_DUE_BULK = (
    sa_select(
        col(OutboxMessage.id),
        col(OutboxMessage.channel),
        col(OutboxMessage.chat_id),
        col(OutboxMessage.payload),
        col(OutboxMessage.attempts),
        col(Person.stopped_at).is_not(None),
    )
    .select_from(OutboxMessage)
    .outerjoin(BroadcastRecipient, col(BroadcastRecipient.id) == col(OutboxMessage.recipient_id))
    .outerjoin(Person, col(Person.id) == col(BroadcastRecipient.person_id))
    .where(
        col(OutboxMessage.priority) == BULK,
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.channel) == bindparam("p_channel"),
        col(OutboxMessage.next_attempt_at) <= bindparam("p_now"),
        col(OutboxMessage.chat_id).not_in(bindparam("p_skip", expanding=True)),
    )
    .order_by(col(OutboxMessage.id))
    .limit(bindparam("p_limit"))
)


def due_outbound(
    *,
    session: Session,
    now: dt.datetime,
    skip_chats: Iterable[str],
    limit: int,
    skip_channels: Iterable[str] = (),
) -> list[Outgoing]:
    """Pending messages whose time has come, oldest first, leaving out busy chats and
    paused channels."""
    params = {
        "p_now": now,
        "p_skip": list(skip_chats),
        "p_skip_channels": list(skip_channels),
        "p_limit": limit,
    }
    rows: list[Any] = list(core(session, _DUE, params))
    return [Outgoing(row[0], row[1], row[2], row[3], row[4]) for row in rows]


def due_bulk(
    *, session: Session, channel: str, now: dt.datetime, skip_chats: Iterable[str], limit: int
) -> list[Outgoing]:
    """One channel's pending bulk messages whose time has come, oldest first, leaving out
    busy chats."""
    params = {"p_channel": channel, "p_now": now, "p_skip": list(skip_chats), "p_limit": limit}
    rows: list[Any] = list(core(session, _DUE_BULK, params))
    return [Outgoing(r[0], r[1], r[2], r[3], r[4], BULK, bool(r[5])) for r in rows]


_STOPPED_SINCE = (
    sa_select(col(Person.stopped_at).is_not(None))
    .select_from(OutboxMessage)
    .join(BroadcastRecipient, col(BroadcastRecipient.id) == col(OutboxMessage.recipient_id))
    .join(Person, col(Person.id) == col(BroadcastRecipient.person_id))
    .where(col(OutboxMessage.id) == bindparam("p_id"))
)


def stopped_since(*, session: Session, message_id: int) -> bool:
    """Whether a bulk message's person has said /stop since it was taken to be sent."""
    found: bool | None = core(session, _STOPPED_SINCE, {"p_id": message_id}).scalar()
    return bool(found)


def drop_message(*, session: Session, message_id: int, error: str) -> None:
    """Never send this message (e.g. its person said /stop after it was queued)."""
    core(
        session,
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == "pending")
        .values(status="dropped", error=error),
    )


_MARK_SENT = (
    update(OutboxMessage)
    .where(col(OutboxMessage.id) == bindparam("p_id"))
    .values(status="sent", sent_at=bindparam("p_at"), external_message_id=bindparam("p_external"))
)


@dataclass(frozen=True)
class Delivery:
    """A message the channel accepted: our id for it, the channel's, and when."""

    message_id: int
    external_id: str | None
    at: dt.datetime
    # Delivered, then deleted: nothing of it is kept (see Reply.erase_when_sent).
    erase: bool = False


_ERASE_SENT = delete(OutboxMessage).where(col(OutboxMessage.id) == bindparam("p_id"))


def mark_sent(*, session: Session, deliveries: Sequence[Delivery]) -> None:
    """Record delivered messages, each with the channel's id for it, in one statement;
    delete those that are not to be kept."""
    params = [
        {"p_id": d.message_id, "p_at": d.at, "p_external": d.external_id}
        for d in deliveries
        if not d.erase
    ]
    if params:
        core(session, _MARK_SENT, params)
    erased = [{"p_id": d.message_id} for d in deliveries if d.erase]
    if erased:
        core(session, _ERASE_SENT, erased)


def reschedule(
    *, session: Session, message_id: int, at: dt.datetime, error: str, give_up: bool
) -> None:
    """Try a message again later, or give up on it. Later messages to the same chat wait
    for it, so a chat's messages never overtake one another."""
    message = session.get_one(OutboxMessage, message_id)
    message.status = "failed" if give_up else "pending"
    message.next_attempt_at = at
    message.attempts += 1
    message.error = error[:500]
    session.add(message)
    if give_up:
        return
    session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == message.channel,
            col(OutboxMessage.chat_id) == message.chat_id,
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.priority) == message.priority,
            col(OutboxMessage.id) > message_id,
            col(OutboxMessage.next_attempt_at) < at,
        )
        .values(next_attempt_at=at)
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
            keep_topics(session=session, person_id=identity.person_id, topics=())
        session.add(identity)


def outbox_depth(*, session: Session) -> int:
    """How many messages wait to be sent."""
    statement = (
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    )
    return session.exec(statement).one()
