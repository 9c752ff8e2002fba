"""The engine and the database executor. Nothing is created at import time.

Each unit of work is a plain synchronous function run in one transaction (Database.run):
inline for SQLite, on a small thread pool for PostgreSQL. Either way a transaction costs at
most one thread hop, not one per statement as with an asyncio driver.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, exc
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import URL, make_url
from sqlmodel import Session as Session  # the unit of work callers receive

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_WORKERS = 8
# A pooled connection idle this long is pinged before use (it may have died with a restarted
# server); one used more recently is trusted, and a unit of work it fails is run once more.
IDLE_PING_SECONDS = 5.0
T = TypeVar("T")


def _backend(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ValueError(
            f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)"
        )
    return parsed


def sync_url(url: str | URL) -> URL:
    """The URL with our driver: the standard sqlite3 module, or psycopg 3."""
    parsed = _backend(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver)


def ensure_sqlite_folder(url: str | URL) -> None:
    """Create the folder that holds a SQLite file, so a fresh checkout just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in {None, "", ":memory:"}:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on WAL, a busy timeout and foreign keys for every new SQLite connection."""
    event.listen(engine, "connect", _sqlite_pragmas)


def install_idle_ping(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only if it sat idle for idle_seconds: unlike
    pool_pre_ping, a busy pool then pays no extra round trip per unit of work."""

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError() from error  # the pool connects afresh

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


def create_engine(url: str | URL, *, idle_ping_seconds: float = IDLE_PING_SECONDS) -> Engine:
    """Create the engine for this DATABASE_URL."""
    ensure_sqlite_folder(url)
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        engine = sa_create_engine(target, pool_size=1, max_overflow=0)
        install_sqlite_pragmas(engine)
        return engine
    engine = sa_create_engine(target, pool_size=POSTGRES_WORKERS, max_overflow=0)
    install_idle_ping(engine, idle_ping_seconds)
    return engine


class Database:
    """The engine and the way units of work are run; one per process."""

    def __init__(self, url: str | URL, *, idle_ping_seconds: float = IDLE_PING_SECONDS) -> None:
        self.engine = create_engine(url, idle_ping_seconds=idle_ping_seconds)
        self._executor: ThreadPoolExecutor | None = None
        self._on_commit: list[Callable[[dict[str, Any]], None]] = []
        if self.engine.dialect.name != "sqlite":
            self._executor = ThreadPoolExecutor(POSTGRES_WORKERS, thread_name_prefix="db")

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run work(session) in one transaction; commit unless it raises.

        PostgreSQL work goes to a thread pool, since it waits on the network. SQLite work
        runs right here: a local transaction takes well under a millisecond, while a hop to
        a thread and back (and the GIL contention it brings) costs more than the work.
        """
        if self._executor is None:
            return self._in_transaction(work)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, work)

    def _in_transaction(self, work: Callable[[Session], T]) -> T:
        try:
            with self.session() as session:
                return work(session)
        except exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The connection was dead (a restarted server): nothing was committed, so run the work
        # again on a fresh one; the pool has already dropped the connections it held then.
        with self.session() as session:
            return work(session)

    def on_commit(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call listener with a session's info after each commit that noted something in it
        (e.g. storage.erasure's forgotten web visitors, for a cache to drop)."""
        self._on_commit.append(listener)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success (for scripts and tests)."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session
            if session.info:
                for listener in self._on_commit:
                    listener(session.info)

    async def dispose(self) -> None:
        """Finish queued work and close every pooled connection."""
        if self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
        self.engine.dispose()
