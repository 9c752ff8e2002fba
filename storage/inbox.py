"""The inbox: every inbound event stored once, claimed once, replayed if unfinished."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    bindparam,
    func,
    update,
)
from sqlmodel import Session, col, select

from storage.models import (
    InboxEvent,
    utcnow,
)
from storage.sql import core, upsert_insert


def record_inbound(
    *, session: Session, channel: str, event_id: str, payload: dict[str, Any]
) -> bool:
    """Store an inbound event once; False when it was stored before (a redelivery)."""
    return bool(
        record_inbound_many(session=session, channel=channel, events=[(event_id, payload)])
    )


def record_inbound_many(
    *, session: Session, channel: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> set[str]:
    """Store inbound events once each, in one statement; the ids of those that are new."""
    if not events:
        return set()
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "event_id": event_id,
            "payload": payload,
            "status": "pending",
            "received_at": now,
        }
        for event_id, payload in events
    ]
    statement = (
        upsert_insert(session)(InboxEvent)
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        # RETURNING, not rowcount: through psycopg a skipped insert did not report 0 rows.
        .returning(col(InboxEvent.event_id))
    )
    return set(core(session, statement, rows).scalars())


CLAIM = (
    update(InboxEvent)
    .where(
        col(InboxEvent.channel) == bindparam("p_channel"),
        col(InboxEvent.event_id) == bindparam("p_event"),
        col(InboxEvent.status) == "pending",
    )
    # The payload (names, texts) is needed only until the event is handled: keep no copy.
    .values(status="done", processed_at=bindparam("p_now"), payload={})
    .returning(col(InboxEvent.id))
)


def claim_inbound(*, session: Session, channel: str, event_id: str) -> int | None:
    """Mark a pending event done inside the caller's transaction; None if already handled."""
    params = {"p_channel": channel, "p_event": event_id, "p_now": utcnow()}
    found: int | None = core(session, CLAIM, params).scalar_one_or_none()
    return found


def fail_inbound(*, session: Session, channel: str, event_id: str, error: str) -> None:
    """Set aside an event whose handling failed, so a restart does not loop on it."""
    session.exec(
        update(InboxEvent)
        .where(col(InboxEvent.channel) == channel, col(InboxEvent.event_id) == event_id)
        .values(status="failed", processed_at=utcnow(), error=error[:2000])
    )


def record_failed_inbound(
    *, session: Session, channel: str, event_id: str, payload: dict[str, Any], error: str
) -> None:
    """Store an event that cannot be handled at all as failed at once (unless it was stored
    before: then it keeps its state)."""
    if record_inbound(session=session, channel=channel, event_id=event_id, payload=payload):
        fail_inbound(session=session, channel=channel, event_id=event_id, error=error)


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
