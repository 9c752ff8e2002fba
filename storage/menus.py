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
    """Offer the same options in many chats of a channel at once (a broadcast's menu). A chat
    in the middle of another menu keeps it, numbers and all, with these options added at its
    end: a broadcast arriving mid-dialogue must not change what the person's next number
    means (its options stay reachable by their label)."""
    if not chats:
        return
    rows = session.exec(
        select(OfferedMenu).where(
            col(OfferedMenu.channel) == channel, col(OfferedMenu.chat_id).in_(list(chats))
        )
    ).all()
    listed = [[choice, label] for choice, label in options]
    for row in rows:
        known = {choice for choice, _ in row.options}
        row.options = [*row.options, *([c, lab] for c, lab in listed if c not in known)]
        session.add(row)
    open_chats = {row.chat_id for row in rows}
    fresh = [
        {"channel": channel, "chat_id": chat, "options": listed, "offered_at": now}
        for chat in chats
        if chat not in open_chats
    ]
    if fresh:
        session.connection().execute(insert(OfferedMenu), fresh)


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
