"""The numbered menu last offered in each chat of a channel without buttons."""

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import Session, col

from storage.models import OfferedMenu

Offer = tuple[tuple[str, str], ...]  # (choice id, label); the number n is entry n - 1


def offered(*, session: Session, channel: str, chat_id: str) -> Offer:
    """What the chat was last offered (empty when nothing is on offer)."""
    menu = session.get(OfferedMenu, (channel, chat_id))
    if menu is None:
        return ()
    return tuple((str(choice), str(label)) for choice, label in menu.options)


def offer(
    *,
    session: Session,
    channel: str,
    chat_id: str,
    options: Sequence[tuple[str, str]],
    now: dt.datetime,
) -> None:
    """Replace what the chat is offered; no options clears it."""
    menu = session.get(OfferedMenu, (channel, chat_id))
    if not options:
        if menu is not None:
            session.delete(menu)
        return
    listed = [[choice, label] for choice, label in options]
    if menu is None:
        menu = OfferedMenu(channel=channel, chat_id=chat_id, options=listed, offered_at=now)
    else:
        menu.options, menu.offered_at = listed, now
    session.add(menu)


def forget_chat(*, session: Session, channel: str, chat_id: str) -> None:
    """Delete what a chat was offered (the person asked to be forgotten)."""
    session.exec(
        delete(OfferedMenu).where(
            col(OfferedMenu.channel) == channel, col(OfferedMenu.chat_id) == chat_id
        )
    )


def prune_offers(*, session: Session, before: dt.datetime) -> int:
    """Delete menus offered before a moment; return how many."""
    result = session.exec(delete(OfferedMenu).where(col(OfferedMenu.offered_at) < before))
    return int(result.rowcount or 0)
