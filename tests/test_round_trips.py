"""Database round trips per update on the hot path, counted exactly, so a regression fails."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text
from sqlmodel import Session, col, select

from bot.config import OrgConfig
from bot.dispatch import Dispatcher
from bot.domain.messages import Inbound, InputKind
from bot.metrics import Metrics
from handlers import entry
from storage.db import Database
from storage.inbox import record_inbound_many
from storage.models import OutboxMessage, utcnow
from storage.records import sql_records


class RoundTrips:
    """Counts what one unit of work sends to the server: statements, and the transaction's
    BEGIN (psycopg sends one before the first statement; sqlite3 does not) and COMMIT."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        self.commits = 0
        self._postgres = db.engine.dialect.name == "postgresql"
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)

    def _statement(self, *args: Any) -> None:
        self.statements.append(str(args[2]).split()[0])

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    @property
    def total(self) -> int:
        """Every round trip, BEGIN and COMMIT included."""
        begins = self.commits if self._postgres else 0
        return len(self.statements) + self.commits + begins

    @contextmanager
    def counting(self) -> Iterator["RoundTrips"]:
        """Count only what happens inside the block."""
        self.statements.clear()
        self.commits = 0
        yield self


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The app's database executor over a fresh database."""
    database = Database(database_url)
    yield database
    await database.dispose()


def _dispatcher(db: Database, config: OrgConfig) -> Dispatcher:
    return Dispatcher(
        db=db,
        handler=entry.handle,
        config=config,
        metrics=Metrics(),
        on_outbox=lambda: None,
        clock=utcnow,
        records=sql_records,
    )


def _help(event_id: str) -> Inbound:
    return Inbound(
        channel="telegram",
        event_id=event_id,
        user_id="501",
        chat_id="501",
        kind=InputKind.COMMAND,
        command="help",
    )


async def _record(db: Database, *updates: Inbound) -> None:
    events: list[tuple[str, dict[str, object]]] = [(u.event_id, {}) for u in updates]
    await db.run(lambda s: record_inbound_many(session=s, channel="telegram", events=events))


async def test_a_new_person_and_a_returning_one_cost_few_round_trips(
    db: Database, org_config: OrgConfig
) -> None:
    dispatcher = _dispatcher(db, org_config)
    trips = RoundTrips(db)
    postgres = db.engine.dialect.name == "postgresql"
    await _record(db, _help("1"), _help("2"))
    with trips.counting():
        assert await dispatcher.dispatch(_help("1"))
    first = (list(trips.statements), trips.total)
    with trips.counting():
        assert await dispatcher.dispatch(_help("2"))
    again = (list(trips.statements), trips.total)
    with db.session() as session:
        replies = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert len(replies) >= 2
    assert {r.chat_id for r in replies} == {"501"}
    assert (first, again) == EXPECTED["postgresql" if postgres else "sqlite"]


# Per backend, the statements and all round trips (with BEGIN and COMMIT) for a new person's
# first update and a returning person's. Before issue 14 PostgreSQL took 11 and 8 (a
# pre-ping, BEGIN, claim, load, three inserts, the held-until query, the reply, the save,
# COMMIT); SQLite runs its statements in-process, so there a statement is no network trip.
EXPECTED: dict[str, tuple[tuple[list[str], int], tuple[list[str], int]]] = {
    "sqlite": (
        (["UPDATE", "SELECT", "INSERT", "INSERT", "INSERT", "UPDATE", "SELECT", "INSERT"], 9),
        (["UPDATE", "SELECT", "UPDATE", "SELECT", "INSERT"], 6),
    ),
    "postgresql": (
        (["WITH", "WITH", "UPDATE", "INSERT"], 6),
        (["WITH", "UPDATE", "INSERT"], 5),
    ),
}


async def test_a_duplicate_costs_one_statement(db: Database, org_config: OrgConfig) -> None:
    dispatcher = _dispatcher(db, org_config)
    await _record(db, _help("1"))
    assert await dispatcher.dispatch(_help("1"))
    trips = RoundTrips(db)
    with trips.counting():
        assert not await dispatcher.dispatch(_help("1"))
    assert len(trips.statements) == 1


def _backend_pid(session: Session) -> int:
    pid: int = session.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


@pytest.mark.parametrize("idle_ping_seconds", [0.0, 3600.0], ids=["pinged", "retried"])
async def test_a_connection_killed_by_the_server_is_replaced(
    database_url: str, idle_ping_seconds: float
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop the connection")
    db = Database(database_url, idle_ping_seconds=idle_ping_seconds)
    try:
        before = await db.run(_backend_pid)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [before])
        after = await db.run(_backend_pid)
    finally:
        await db.dispose()
    assert after != before
