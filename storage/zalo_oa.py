"""The Zalo Official Account's OAuth tokens: read, seeded, replaced by a new pair, lost; and
the lock under which one process at a time refreshes them.

On PostgreSQL the lock is the row's `SELECT ... FOR UPDATE`, held in a transaction on a
connection of its own across Zalo's answer, so a second process waits, then re-reads the
pair the first one committed; a process that dies releases it with its connection. SQLite
runs in one process (its single connection cannot be held across a network call), so there
the caller's own lock is the only one and the lock here is a plain read."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from storage.db import Database
from storage.models import ZaloOaToken
from storage.sql import core, upsert_insert
from storage.tokens import digest

# How long a second process waits for the first one's refresh before giving up (and
# retrying later): longer than the refresh call's own timeout.
LOCK_WAIT = "60s"
T = TypeVar("T")


@dataclass(frozen=True)
class OaTokenRow:
    """One app's stored tokens, as the token keeper reads them."""

    app_id: str
    access_token: str | None
    access_expires_at: dt.datetime | None
    refresh_token: str
    refreshed_at: dt.datetime | None
    generation: int
    seeded_from: str | None
    lost_at: dt.datetime | None
    lost_reason: str | None


@dataclass(frozen=True)
class NewPair:
    """What Zalo answered a refresh or a code exchange with."""

    access_token: str
    refresh_token: str
    expires_at: dt.datetime


def _view(row: ZaloOaToken) -> OaTokenRow:
    return OaTokenRow(
        row.app_id,
        row.access_token,
        row.access_expires_at,
        row.refresh_token,
        row.refreshed_at,
        row.generation,
        row.seeded_from,
        row.lost_at,
        row.lost_reason,
    )


def read_tokens(*, session: Session, app_id: str) -> OaTokenRow | None:
    """An app's stored tokens, if any."""
    row = session.get(ZaloOaToken, app_id)
    return _view(row) if row is not None else None


def seed_tokens(*, session: Session, app_id: str, refresh_token: str) -> OaTokenRow:
    """The app's tokens, first seeded from the environment's refresh token when there is no
    row, or when the row is lost and the environment now holds another token (a person
    consented again and restarted us)."""
    seeded_from = digest(refresh_token)
    # Two processes starting at once both try: the second one's row is simply not added.
    first = {"app_id": app_id, "refresh_token": refresh_token, "seeded_from": seeded_from}
    insert = upsert_insert(session)(ZaloOaToken).values(generation=0, **first)
    core(session, insert.on_conflict_do_nothing(index_elements=["app_id"]))
    row = session.get_one(ZaloOaToken, app_id, with_for_update=True, populate_existing=True)
    if row.lost_at is not None and row.seeded_from != seeded_from:
        row.refresh_token, row.seeded_from = refresh_token, seeded_from
        row.access_token = row.access_expires_at = None
        row.lost_at = row.lost_reason = None
        row.generation += 1
    else:
        return _view(row)
    session.add(row)
    session.flush()
    return _view(row)


def save_pair(*, session: Session, app_id: str, pair: NewPair, now: dt.datetime) -> OaTokenRow:
    """Replace the app's tokens with a new pair: a new generation."""
    row = session.get(ZaloOaToken, app_id, with_for_update=True)
    if row is None:  # only from the consent: a refresh needs a stored row
        row = ZaloOaToken(app_id=app_id, refresh_token=pair.refresh_token)
    row.access_token, row.refresh_token = pair.access_token, pair.refresh_token
    row.access_expires_at, row.refreshed_at = pair.expires_at, now
    row.generation += 1
    session.add(row)
    session.flush()
    return _view(row)


def store_consent(
    *, session: Session, app_id: str, pair: NewPair, now: dt.datetime, env_token: str | None
) -> OaTokenRow:
    """Keep the pair a consent gave: lost tokens are healed, and the environment's refresh
    token, older than this pair, will not replace it if it is lost again."""
    save_pair(session=session, app_id=app_id, pair=pair, now=now)
    row = session.get_one(ZaloOaToken, app_id)
    row.lost_at = row.lost_reason = None
    row.seeded_from = digest(env_token) if env_token else None
    session.add(row)
    session.flush()
    return _view(row)


def mark_lost(*, session: Session, app_id: str, reason: str, now: dt.datetime) -> bool:
    """Note that Zalo refused the stored refresh token; True the first time (tell people)."""
    row = session.get_one(ZaloOaToken, app_id)
    if row.lost_at is not None:
        return False
    row.lost_at, row.lost_reason = now, reason[:300]
    session.add(row)
    return True


class LockBusy(Exception):
    """Another process held the token row for longer than a refresh takes."""


class Held:
    """The refresh lock, held: units of work run in its transaction (PostgreSQL), or each in
    its own (SQLite); what they write is committed when the lock is let go without error."""

    def __init__(self, db: Database, session: Session | None) -> None:
        self._db = db
        self._session = session

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run work(session) under the lock."""
        if self._session is None:
            return await self._db.run(work)
        return await asyncio.to_thread(work, self._session)


@asynccontextmanager
async def refresh_lock(db: Database, app_id: str) -> AsyncIterator[Held]:
    """Hold the app's token row for a refresh; the caller re-reads it through the lock."""
    if db.engine.dialect.name == "sqlite":
        yield Held(db, None)
        return
    session = Session(db.engine, expire_on_commit=False)

    def take() -> None:
        session.begin()
        core(session, sql_text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        try:
            session.exec(select(ZaloOaToken).where(ZaloOaToken.app_id == app_id).with_for_update())
        except OperationalError as error:  # lock_timeout: the holder is stuck or slow
            raise LockBusy(f"the Zalo OA token row stayed locked over {LOCK_WAIT}") from error

    try:
        await asyncio.to_thread(take)
        yield Held(db, session)
    except BaseException:
        await asyncio.to_thread(session.rollback)
        raise
    else:
        await asyncio.to_thread(session.commit)
    finally:
        await asyncio.to_thread(session.close)
