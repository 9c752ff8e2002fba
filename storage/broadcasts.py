"""Broadcasts: planned in batches of recipients, moved into the outbox's bulk lane in
batches, counted from what the outbox did with each recipient's message."""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from bot.domain.broadcasting import Audience as Audience  # also named with its store
from bot.domain.i18n import text as catalog_text
from bot.domain.messages import Rendered
from storage import menus
from storage.menus import Offer
from storage.models import (
    AuditEntry,
    Broadcast,
    BroadcastRecipient,
    ChannelIdentity,
    OutboxMessage,
    Person,
    PersonTopic,
)
from storage.outbox import BULK, OUTSIDE_WINDOW, STOPPED
from storage.sql import core

PLANNING, SENDING, DONE = "planning", "sending", "done"
GONE = "recipient gone"  # what the outbox writes on a message to someone who blocked us


@dataclass(frozen=True)
class Progress:
    """Where a broadcast stands."""

    status: str
    planned: int
    sent: int
    failed: int
    blocked: int
    stopped: int
    remaining: int
    # Its messages in the outbox not yet sent or given up.
    in_outbox: int
    # Zalo OA recipients past the platform's reply window (not sent).
    outside_window: int = 0


def create_broadcast(
    *,
    session: Session,
    text: str,
    audience: Audience,
    created_by: str | None,
    now: dt.datetime,
    scheduled_at: dt.datetime | None = None,
    photo_ref: str | None = None,
    link: str | None = None,
) -> int:
    """Record a broadcast to plan and send from `scheduled_at` (default: now), audited."""
    broadcast = Broadcast(
        text=text,
        photo_ref=photo_ref,
        link=link,
        audience=audience.to_json(),
        created_by=created_by,
        created_at=now,
        scheduled_at=scheduled_at or now,
    )
    session.add(broadcast)
    session.flush()
    assert broadcast.id is not None
    after = {"broadcast_id": broadcast.id, "audience": audience.to_json(), "by": created_by}
    session.add(AuditEntry(at=now, action="broadcast.create", after=after))
    return broadcast.id


def due_broadcasts(*, session: Session, now: dt.datetime) -> list[int]:
    """The broadcasts to plan or send now, oldest first."""
    statement = (
        sa_select(col(Broadcast.id))
        .where(
            col(Broadcast.status).in_((PLANNING, SENDING)),
            col(Broadcast.scheduled_at) <= now,
        )
        .order_by(col(Broadcast.id))
    )
    return list(core(session, statement).scalars())


# identity id, person id, channel, chat id
_Recipient = Select[int | None, int, str, str]


def _recipients(audience: Audience, channels: Sequence[str]) -> _Recipient:
    """The one filter for a broadcast's recipients: each reachable channel identity, on these
    channels, of a person subscribed to the topic, in the audience, who has not said /stop and
    is not banned. Rows: identity id, person id, channel, chat id."""
    identity, person, topic = ChannelIdentity, Person, PersonTopic
    wanted = [c for c in channels if not audience.channels or c in audience.channels]
    statement = (
        sa_select(
            col(identity.id), col(identity.person_id), col(identity.channel), col(identity.chat_id)
        )
        .join(person, col(person.id) == col(identity.person_id))
        .join(
            topic,
            and_(col(topic.person_id) == col(person.id), col(topic.topic) == audience.topic),
        )
        .where(
            col(identity.reachable).is_(True),
            col(identity.channel).in_(wanted),
            col(person.stopped_at).is_(None),
            col(person.banned).is_(False),
        )
    )
    filters = (
        (person.id, audience.people),
        (person.unit_code, audience.units),
        (person.language, audience.languages),
        (person.age_group, audience.age_groups),
    )
    for column, allowed in filters:
        if allowed:
            statement = statement.where(col(column).in_(list(allowed)))
    return statement


def count_audience(
    *, session: Session, audience: Audience, channels: Sequence[str]
) -> dict[str, int]:
    """How many recipients plan_batch would plan now on each of these channels (0 where none)."""
    found = _recipients(audience, channels).subquery()
    statement = sa_select(found.c.channel, func.count()).group_by(found.c.channel)
    counts = dict.fromkeys(channels, 0)
    found_counts: list[Any] = list(core(session, statement))
    counts.update({row[0]: row[1] for row in found_counts})
    return counts


def plan_batch(*, session: Session, broadcast_id: int, channels: Sequence[str], size: int) -> int:
    """Write the next `size` recipients (one per reachable channel identity of the audience,
    in identity order, after the last planned); the broadcast starts sending after the last
    batch. How many were written."""
    broadcast = session.get_one(Broadcast, broadcast_id)
    audience = Audience.from_json(broadcast.audience)
    statement = (
        _recipients(audience, channels)
        .where(col(ChannelIdentity.id) > broadcast.plan_cursor)
        .order_by(col(ChannelIdentity.id))
        .limit(size)
    )
    found: list[Any] = list(core(session, statement))
    if found:
        rows = [
            {"broadcast_id": broadcast_id, "identity_id": r[0], "person_id": r[1]}
            | {"channel": r[2], "chat_id": r[3], "status": "planned"}
            for r in found
        ]
        core(session, insert(BroadcastRecipient), rows)
        broadcast.plan_cursor = found[-1][0]
        broadcast.planned += len(found)
    if len(found) < size:
        broadcast.status = SENDING
    session.add(broadcast)
    return len(found)


# A broadcast's message in one recipient's language as their channel shows it, with the
# numbered menu it offers there (none where the channel has buttons): (channel, language,
# message) -> (shown, offer).
Fit = Callable[[str, str, Rendered], tuple[Rendered, Offer]]


def _as_is(channel: str, language: str, message: Rendered) -> tuple[Rendered, Offer]:
    return message, ()


def queue_batch(
    *, session: Session, broadcast_id: int, size: int, now: dt.datetime, fit: Fit = _as_is
) -> int:
    """Move the next `size` planned recipients into the outbox's bulk lane, one message each
    in their language (a recipient's message is unique: a batch is queued once, crash or
    not); those who said /stop meanwhile are left out. How many were moved."""
    broadcast = session.get_one(Broadcast, broadcast_id)
    statement = (
        sa_select(
            col(BroadcastRecipient.id),
            col(BroadcastRecipient.channel),
            col(BroadcastRecipient.chat_id),
            col(Person.stopped_at).is_not(None),
            col(Person.language),
        )
        .join(Person, col(Person.id) == col(BroadcastRecipient.person_id))
        .where(
            col(BroadcastRecipient.broadcast_id) == broadcast_id,
            col(BroadcastRecipient.status) == "planned",
        )
        .order_by(col(BroadcastRecipient.id))
        .limit(size)
    )
    found: list[Any] = list(core(session, statement))
    going = [r for r in found if not r[3]]
    shown: dict[tuple[str, str], tuple[dict[str, Any], Offer]] = {}
    for channel, language in {(r[1], r[4]) for r in going}:
        message, offer = fit(channel, language, broadcast_message(broadcast, language))
        shown[(channel, language)] = (message.to_payload(), offer)
    if going:
        rows = [
            {"channel": r[1], "chat_id": r[2], "payload": shown[(r[1], r[4])][0]}
            | {"status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
            | {"priority": BULK, "recipient_id": r[0]}
            for r in going
        ]
        core(session, insert(OutboxMessage), rows)
    for (channel, language), (_, offer) in shown.items():
        chats = [r[2] for r in going if (r[1], r[4]) == (channel, language)]
        if offer:
            menus.offer_many(session=session, channel=channel, chats=chats, options=offer, now=now)
    _set_status(session, [r[0] for r in going], "queued")
    _set_status(session, [r[0] for r in found if r[3]], STOPPED)
    return len(found)


def _set_status(session: Session, ids: list[int], status: str) -> None:
    if ids:
        core(
            session,
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.id).in_(ids))
            .values(status=status),
        )


def bulk_waiting(*, session: Session) -> int:
    """How many bulk messages wait in the outbox (a count on the bulk lane's index)."""
    statement = sa_select(func.count()).where(
        col(OutboxMessage.priority) == BULK, col(OutboxMessage.status) == "pending"
    )
    count: int = core(session, statement).scalar_one()
    return count


def broadcast_message(broadcast: Broadcast, language: str) -> Rendered:
    """What each recipient gets: the text, then the link; the photo if there is one; and
    under it "Hủy nhận tin" for the broadcast's topic, in the recipient's language."""
    text = f"{broadcast.text}\n\n{broadcast.link}" if broadcast.link else broadcast.text
    photos = (broadcast.photo_ref,) if broadcast.photo_ref else ()
    topic = Audience.from_json(broadcast.audience).topic
    unsubscribe = (f"unsub:{topic}", catalog_text("topics.unsubscribe", language))
    return Rendered(text=text, photos=photos, choices=((unsubscribe,),))


def refresh_progress(*, session: Session, broadcast_id: int, now: dt.datetime) -> Progress:
    """Count what became of each recipient, keep the counts on the broadcast, and mark it
    done once nothing remains."""
    broadcast = session.get_one(Broadcast, broadcast_id)
    if broadcast.status == DONE:  # final: its sent messages may since have been purged
        return _progress(broadcast, in_outbox=0)
    by_status: list[Any] = list(
        core(
            session,
            sa_select(col(BroadcastRecipient.status), func.count())
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .group_by(col(BroadcastRecipient.status)),
        )
    )
    recipients: dict[str, int] = {row[0]: row[1] for row in by_status}
    reason = case(
        (col(OutboxMessage.status) == "dropped", col(OutboxMessage.error)), else_=None
    ).label("reason")
    by_outcome: list[Any] = list(
        core(
            session,
            sa_select(col(OutboxMessage.status), reason, func.count())
            .join(
                BroadcastRecipient, col(BroadcastRecipient.id) == col(OutboxMessage.recipient_id)
            )
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .group_by(col(OutboxMessage.status), reason),
        )
    )
    outcomes: dict[tuple[str, str | None], int] = {(r[0], r[1]): r[2] for r in by_outcome}
    in_outbox = outcomes.get(("pending", None), 0)
    broadcast.sent = outcomes.get(("sent", None), 0)
    broadcast.failed = outcomes.get(("failed", None), 0)
    broadcast.blocked = outcomes.get(("dropped", GONE), 0)
    broadcast.stopped = recipients.get(STOPPED, 0) + outcomes.get(("dropped", STOPPED), 0)
    broadcast.outside_window = outcomes.get(("dropped", OUTSIDE_WINDOW), 0)
    broadcast.remaining = recipients.get("planned", 0) + in_outbox
    if broadcast.status == SENDING and broadcast.remaining == 0:
        broadcast.status, broadcast.finished_at = DONE, now
    session.add(broadcast)
    return _progress(broadcast, in_outbox=in_outbox)


def _progress(broadcast: Broadcast, *, in_outbox: int) -> Progress:
    return Progress(
        broadcast.status,
        broadcast.planned,
        broadcast.sent,
        broadcast.failed,
        broadcast.blocked,
        broadcast.stopped,
        broadcast.remaining,
        in_outbox,
        broadcast.outside_window,
    )
