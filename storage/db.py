"""The engine and session factory. Nothing is created at import time."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlmodel.ext.asyncio.session import AsyncSession

SQLITE_BUSY_TIMEOUT_MS = 5000


def _driverless(url: str | URL) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ValueError(
            f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)"
        )
    return parsed.set(drivername=backend)


def async_url(url: str | URL) -> URL:
    """The URL with the asyncio driver: aiosqlite or psycopg."""
    parsed = _driverless(url)
    driver = "sqlite+aiosqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver)


def sync_url(url: str | URL) -> URL:
    """The URL with the blocking driver, for migrations and command-line tools."""
    parsed = _driverless(url)
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


def install_sqlite_pragmas(engine: Any) -> None:
    """Turn on WAL, a busy timeout and foreign keys for every new SQLite connection."""
    event.listen(engine, "connect", _sqlite_pragmas)


def create_engine(url: str | URL) -> AsyncEngine:
    """Create the application's engine for this DATABASE_URL."""
    ensure_sqlite_folder(url)
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        # One connection: SQLite has one writer, and queueing in the pool is far cheaper
        # than SQLite's own sleep-and-retry when two connections want to write.
        engine = create_async_engine(
            target, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0
        )
        install_sqlite_pragmas(engine.sync_engine)
        return engine
    return create_async_engine(target, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str | URL) -> None:
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
