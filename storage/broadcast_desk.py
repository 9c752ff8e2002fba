"""Broadcasts as the desk handles them: recorded with where their progress goes, listed,
cancelled (its planned recipients and its unsent bulk messages stopped), all audited."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.domain.broadcast_ops import BroadcastView, NewBroadcast
from bot.domain.broadcasting import Audience
from bot.domain.messages import Recipient, Rendered
from storage.broadcasts import (
    PLANNING,
    SENDING,
    broadcast_message,
    count_audience,
    create_broadcast,
    refresh_progress,
)
from storage.models import AuditEntry, Broadcast, BroadcastRecipient, OutboxMessage
from storage.outbox import BULK
from storage.sql import core

CANCELLED = "cancelled"  # a broadcast's status, a recipient's, and why its message was dropped
RUNNING = (PLANNING, SENDING)


def create_reported(*, session: Session, broadcast: NewBroadcast, now: dt.datetime) -> int:
    """Record a composed broadcast (audited) with the chat its progress goes to."""
    broadcast_id = create_broadcast(
        session=session,
        text=broadcast.text,
        audience=broadcast.audience,
        created_by=broadcast.created_by,
        now=now,
        scheduled_at=broadcast.scheduled_at,
        photo_ref=broadcast.photo_ref,
        link=broadcast.link,
    )
    row = session.get_one(Broadcast, broadcast_id)
    to = broadcast.report_to
    row.report_channel, row.report_chat_id, row.report_language = (
        to.channel,
        to.chat_id,
        to.language,
    )
    session.add(row)
    return broadcast_id


def report_target(broadcast: Broadcast) -> Recipient | None:
    """Where a broadcast's progress and final report go, if anywhere."""
    if broadcast.report_channel is None or broadcast.report_chat_id is None:
        return None
    return Recipient(
        broadcast.report_channel, broadcast.report_chat_id, broadcast.report_language or "vi"
    )


def is_running(*, session: Session, broadcast_id: int) -> bool:
    """Whether a broadcast is still to plan or send; its row is locked until the caller's
    transaction ends (PostgreSQL), so a cancel cannot slip in between."""
    statement = select(Broadcast).where(col(Broadcast.id) == broadcast_id).with_for_update()
    found = session.exec(statement).first()
    return found is not None and found.status in RUNNING


def cancel_broadcast(*, session: Session, broadcast_id: int, by: str, now: dt.datetime) -> bool:
    """Stop a broadcast still to send: its planned recipients are not queued, its bulk
    messages not yet sent are dropped (one already in a sender's hands may still go), and its
    counts are kept as they stand. Audited; False when it is not running."""
    if not is_running(session=session, broadcast_id=broadcast_id):
        return False
    ours = sa_select(col(BroadcastRecipient.id)).where(
        col(BroadcastRecipient.broadcast_id) == broadcast_id
    )
    unsent = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.recipient_id).in_(ours),
            col(OutboxMessage.priority) == BULK,
            col(OutboxMessage.status) == "pending",
        )
        .values(status="dropped", error=CANCELLED)
    )
    dropped = core(session, unsent).rowcount
    planned = (
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.broadcast_id) == broadcast_id,
            col(BroadcastRecipient.status) == "planned",
        )
        .values(status=CANCELLED)
    )
    never_queued = core(session, planned).rowcount
    refresh_progress(session=session, broadcast_id=broadcast_id, now=now)
    broadcast = session.get_one(Broadcast, broadcast_id)
    broadcast.status, broadcast.cancelled_at, broadcast.cancelled_by = CANCELLED, now, by
    broadcast.finished_at = now
    session.add(broadcast)
    after = {"broadcast_id": broadcast_id, "by": by, "unsent": dropped + never_queued}
    session.add(AuditEntry(at=now, action="broadcast.cancel", after=after))
    return True


def _view(broadcast: Broadcast) -> BroadcastView:
    assert broadcast.id is not None
    return BroadcastView(
        id=broadcast.id,
        status=broadcast.status,
        text=broadcast.text,
        created_by=broadcast.created_by,
        created_at=broadcast.created_at,
        scheduled_at=broadcast.scheduled_at,
        planned=broadcast.planned,
        sent=broadcast.sent,
        failed=broadcast.failed,
        blocked=broadcast.blocked,
        stopped=broadcast.stopped,
        remaining=broadcast.remaining,
        running=broadcast.status in RUNNING,
        report_to=report_target(broadcast),
    )


class SqlBroadcastRecords:
    """The broadcasts' records on one session (bot.domain.broadcast_ops.BroadcastRecords)."""

    def __init__(self, *, session: Session) -> None:
        self._session = session

    def count(self, audience: Audience, channels: Sequence[str]) -> dict[str, int]:
        """How many recipients the audience has on each channel, now."""
        return count_audience(session=self._session, audience=audience, channels=channels)

    def preview(
        self, text: str, photo_ref: str | None, link: str | None, topic: str, language: str
    ) -> Rendered:
        """The message a recipient of this topic and language would get, before their
        channel fits it."""
        audience = Audience(topic=topic).to_json()
        unsaved = Broadcast(text=text, photo_ref=photo_ref, link=link, audience=audience)
        return broadcast_message(unsaved, language)

    def create(self, broadcast: NewBroadcast, now: dt.datetime) -> int:
        """Record a broadcast (audited); its id."""
        return create_reported(session=self._session, broadcast=broadcast, now=now)

    def recent(self, limit: int, created_by: str | None = None) -> list[BroadcastView]:
        """The latest broadcasts (of one creator, if named), newest first."""
        statement: Any = select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit)
        if created_by is not None:
            statement = statement.where(col(Broadcast.created_by) == created_by)
        return [_view(b) for b in self._session.exec(statement).all()]

    def get(self, broadcast_id: int) -> BroadcastView | None:
        """One broadcast, if it exists."""
        found = self._session.get(Broadcast, broadcast_id)
        return _view(found) if found is not None else None

    def cancel(self, broadcast_id: int, by: str, now: dt.datetime) -> bool:
        """Stop a broadcast still to send (audited); False if there is nothing to stop."""
        return cancel_broadcast(session=self._session, broadcast_id=broadcast_id, by=by, now=now)
