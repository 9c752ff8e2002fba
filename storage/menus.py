"""The numbered menu last offered in each chat of a channel without buttons."""

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from storage.models import OfferedMenu

Offer = tuple[tuple[str, str], ...]  # (choice id, label); the number n is entry n - 1


def offered(*, session: Session, channel: str, chat_id: str) -> Offer:
    """What the chat was last offered (empty when nothing is on offer)."""
    options = session.exec(
        select(OfferedMenu.options).where(
            col(OfferedMenu.channel) == channel, col(OfferedMenu.chat_id) == chat_id
        )
    ).first()
    return tuple((str(choice), str(label)) for choice, label in options or ())


def offer(
    *,
    session: Session,
    channel: str,
    chat_id: str,
    options: Sequence[tuple[str, str]],
    now: dt.datetime,
) -> None:
    """Replace what the chat is offered; no options clears it."""
    forget_chat(session=session, channel=channel, chat_id=chat_id)
    if options:
        listed = [[choice, label] for choice, label in options]
        row = {"channel": channel, "chat_id": chat_id, "options": listed, "offered_at": now}
        session.exec(insert(OfferedMenu).values(**row))


def offer_many(
    *,
    session: Session,
    channel: str,
    chats: Sequence[str],
    options: Sequence[tuple[str, str]],
    now: dt.datetime,
) -> None:
    """Offer the same options in many chats of a channel at once (a broadcast's menu)."""
    if not chats:
        return
    session.exec(
        delete(OfferedMenu).where(
            col(OfferedMenu.channel) == channel, col(OfferedMenu.chat_id).in_(list(chats))
        )
    )
    listed = [[choice, label] for choice, label in options]
    rows = [
        {"channel": channel, "chat_id": chat, "options": listed, "offered_at": now}
        for chat in chats
    ]
    session.connection().execute(insert(OfferedMenu), rows)


def forget_chat(*, session: Session, channel: str, chat_id: str) -> None:
    """Delete what a chat was offered."""
    session.exec(
        delete(OfferedMenu).where(
            col(OfferedMenu.channel) == channel, col(OfferedMenu.chat_id) == chat_id
        )
    )


def prune_offers(*, session: Session, before: dt.datetime) -> int:
    """Delete menus offered before a moment; return how many."""
    result = session.exec(delete(OfferedMenu).where(col(OfferedMenu.offered_at) < before))
    return int(result.rowcount or 0)
