"""Browser sessions held in memory, so a send or a wake does not ask the database who the
cookie belongs to.

An entry is trusted until its session expires, and for at most REVALIDATE: then it is read
again (which also keeps a used session alive, and picks up a staff member added or removed).
A forgotten person's entries go as soon as the erasure commits (Database.on_commit).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage import web as records
from storage.db import Database
from storage.erasure import FORGOTTEN_VISITORS
from storage.tokens import digest
from storage.web import SignedIn

REVALIDATE = dt.timedelta(minutes=1)
MAX_ENTRIES = 50_000  # past this, entries due for a re-read anyway are dropped


@dataclass(frozen=True)
class _Entry:
    signed_in: SignedIn
    expires_at: dt.datetime
    read_at: dt.datetime


class Sessions:
    """The live sessions, by the hash of their cookie."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self._db, self._clock = db, clock
        self._entries: dict[str, _Entry] = {}
        db.on_commit(self._committed)

    async def signed_in(self, token: str) -> SignedIn | None:
        """The live session this cookie names, from memory when it was read lately."""
        token_hash, now = digest(token), self._clock()
        entry = self._entries.get(token_hash)
        if entry is not None and entry.expires_at > now and now - entry.read_at < REVALIDATE:
            return entry.signed_in
        live = await self._db.run(
            lambda session: records.live_session(session=session, token_hash=token_hash, now=now)
        )
        if live is None:
            self._entries.pop(token_hash, None)
            return None
        if len(self._entries) >= MAX_ENTRIES:
            self._prune(now)
        self._entries[token_hash] = _Entry(live.signed_in, live.expires_at, now)
        return live.signed_in

    def forget_visitor(self, visitor_id: str) -> None:
        """Drop every session of this visitor (read again from the database on next use)."""
        entries = list(self._entries.items())  # may run on a database thread: a copy
        gone = [k for k, e in entries if e.signed_in.visitor_id == visitor_id]
        for token_hash in gone:
            self._entries.pop(token_hash, None)

    def _committed(self, info: dict[str, Any]) -> None:
        for visitor_id in info.get(FORGOTTEN_VISITORS, ()):
            self.forget_visitor(visitor_id)

    def _prune(self, now: dt.datetime) -> None:
        stale = [k for k, e in list(self._entries.items()) if now - e.read_at >= REVALIDATE]
        for token_hash in stale:
            self._entries.pop(token_hash, None)
