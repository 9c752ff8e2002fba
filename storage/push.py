"""The web chat's Web Push subscriptions: kept per endpoint, found per chat, dropped when the
push service says they are gone, when the visitor is forgotten, or when long unused."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage.models import PushSubscription

MAX_PER_CHAT = 10  # browsers one chat may have subscribed; a new one past it drops the oldest


@dataclass(frozen=True)
class Subscription:
    """Where to push to one browser, and in which language."""

    endpoint: str
    p256dh: str
    auth: str
    language: str


def subscribe(
    *,
    session: Session,
    chat_id: str,
    subscription: Subscription,
    now: dt.datetime,
) -> None:
    """Keep a browser's subscription for a chat (again: its keys and chat may have changed)."""
    row = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == subscription.endpoint)
    ).first()
    if row is None:
        row = PushSubscription(
            chat_id=chat_id,
            endpoint=subscription.endpoint,
            p256dh=subscription.p256dh,
            auth=subscription.auth,
            language=subscription.language,
            created_at=now,
            last_used_at=now,
        )
    else:
        row.chat_id, row.p256dh, row.auth = chat_id, subscription.p256dh, subscription.auth
        row.language, row.last_used_at = subscription.language, now
    session.add(row)
    session.flush()
    kept = select(PushSubscription.id).where(PushSubscription.chat_id == chat_id)
    newest = kept.order_by(col(PushSubscription.id).desc()).limit(MAX_PER_CHAT)
    session.exec(
        delete(PushSubscription).where(
            col(PushSubscription.chat_id) == chat_id,
            col(PushSubscription.id).not_in(newest.scalar_subquery()),
        )
    )


def unsubscribe(*, session: Session, chat_id: str, endpoint: str) -> int:
    """Drop a chat's subscription at this endpoint; how many went (0 or 1)."""
    result = session.exec(
        delete(PushSubscription).where(
            col(PushSubscription.chat_id) == chat_id, col(PushSubscription.endpoint) == endpoint
        )
    )
    return int(result.rowcount or 0)


def subscriptions_of(*, session: Session, chat_id: str) -> list[Subscription]:
    """Every browser subscribed to a chat."""
    rows = session.exec(
        select(PushSubscription)
        .where(PushSubscription.chat_id == chat_id)
        .order_by(col(PushSubscription.id))
    ).all()
    return [Subscription(r.endpoint, r.p256dh, r.auth, r.language) for r in rows]


def has_subscriptions(*, session: Session, chat_id: str) -> bool:
    """Whether any browser is subscribed to a chat."""
    found = session.exec(
        select(PushSubscription.id).where(PushSubscription.chat_id == chat_id).limit(1)
    ).first()
    return found is not None


def pushed(*, session: Session, endpoint: str, now: dt.datetime) -> None:
    """Note that the push service took a push for this endpoint."""
    session.exec(
        update(PushSubscription)
        .where(col(PushSubscription.endpoint) == endpoint)
        .values(last_used_at=now)
    )


def drop(*, session: Session, endpoint: str) -> None:
    """Forget an endpoint the push service no longer knows."""
    session.exec(delete(PushSubscription).where(col(PushSubscription.endpoint) == endpoint))


def forget_chat(*, session: Session, chat_id: str) -> None:
    """Drop every subscription of a chat (the visitor asked to be forgotten)."""
    session.exec(delete(PushSubscription).where(col(PushSubscription.chat_id) == chat_id))


def prune_unused(*, session: Session, before: dt.datetime) -> int:
    """Drop subscriptions neither renewed nor used since a moment; how many went."""
    result = session.exec(
        delete(PushSubscription).where(col(PushSubscription.last_used_at) < before)
    )
    return int(result.rowcount or 0)
