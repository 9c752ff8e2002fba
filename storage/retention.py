"""Retention: what the nightly job prunes once its time has passed.

Delivered messages lose their texts: a sent message with a key keeps its row without the
payload (a later card is still an edit of it, and its chat still counts as showing the card);
other sent, failed and dropped ones go. Handled inbound events go too (their payloads went
when they were handled; the row kept redeliveries out meanwhile). A web chat is the web
channel's copy of what was delivered, so its messages follow the same period.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Text, cast, delete, or_, update
from sqlmodel import Session, col, select

from bot.domain.lifecycle import Status
from storage.erasure import strip_tickets
from storage.linking import prune_codes
from storage.menus import prune_offers
from storage.models import InboxEvent, OutboxMessage, Ticket, WebMessage
from storage.push import prune_unused

ENDED = (Status.CLOSED.value, Status.REJECTED.value)
GONE = ("failed", "dropped")
HANDLED = ("done", "failed")
EMPTY = "{}"  # an emptied payload, as stored
BATCH = 5000  # closed submissions anonymised per run; the next night goes on


@dataclass(frozen=True)
class Pruned:
    """What one run removed: outbox rows emptied and deleted, inbox rows and web chat
    messages deleted, submissions anonymised."""

    emptied: int = 0
    deleted: int = 0
    inbound: int = 0
    web: int = 0
    anonymised: int = 0


def prune_deliveries(*, session: Session, before: dt.datetime) -> Pruned:
    """Drop what was delivered (or given up) before a moment."""
    sent_before = (col(OutboxMessage.status) == "sent") & (col(OutboxMessage.sent_at) < before)
    gone_before = col(OutboxMessage.status).in_(GONE) & (col(OutboxMessage.created_at) < before)
    emptied = session.exec(
        update(OutboxMessage)
        .where(sent_before, col(OutboxMessage.message_key).is_not(None))
        .where(cast(OutboxMessage.payload, Text) != EMPTY)
        .values(payload={})
    )
    deleted = session.exec(
        delete(OutboxMessage).where(
            or_(sent_before & col(OutboxMessage.message_key).is_(None), gone_before)
        )
    )
    prune_offers(session=session, before=before)  # a menu shown that long ago is stale
    prune_unused(session=session, before=before)  # a browser not seen since then
    prune_codes(session=session, before=before)  # a link code, with the chat it was given in
    return Pruned(
        emptied=int(emptied.rowcount or 0),
        deleted=int(deleted.rowcount or 0),
        inbound=_prune_inbox(session, before),
        web=_prune_web(session, before),
    )


def _prune_inbox(session: Session, before: dt.datetime) -> int:
    old = select(InboxEvent.id).where(
        col(InboxEvent.status).in_(HANDLED), col(InboxEvent.received_at) < before
    )
    # A message still queued outlives the event that caused it.
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.source_event_id).in_(old))
        .values(source_event_id=None)
    )
    result = session.exec(delete(InboxEvent).where(col(InboxEvent.id).in_(old)))
    return int(result.rowcount or 0)


def _prune_web(session: Session, before: dt.datetime) -> int:
    # A message edited since (a card kept up to date) stays whole: its latest version refers
    # to the first, and the next edit must find it.
    alive = select(WebMessage.replaces).where(
        col(WebMessage.created_at) >= before, col(WebMessage.replaces).is_not(None)
    )
    result = session.exec(
        delete(WebMessage).where(
            col(WebMessage.created_at) < before,
            col(WebMessage.id).not_in(alive),
            or_(col(WebMessage.replaces).is_(None), col(WebMessage.replaces).not_in(alive)),
        )
    )
    return int(result.rowcount or 0)


def anonymise_closed(*, session: Session, before: dt.datetime, now: dt.datetime) -> int:
    """Strip submissions closed or rejected before a moment down to anonymous counts;
    return how many. Open ones are never touched, however old."""
    ids = session.exec(
        select(Ticket.id)
        .where(
            col(Ticket.status).in_(ENDED),
            col(Ticket.closed_at) < before,
            or_(col(Ticket.author_id).is_not(None), col(Ticket.text) != ""),
        )
        .order_by(col(Ticket.id))
        .limit(BATCH)
    ).all()
    found = [i for i in ids if i is not None]
    strip_tickets(session, found, now)
    return len(found)
