"""SQL helpers shared by the stores."""

from typing import Any

from sqlalchemy import (
    CursorResult,
    Executable,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

# Hot-path statements run as Core on the session's connection: the ORM's DML machinery and
# rebuilding statements per message were most of the cost of handling one.


def core(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    """Run a Core statement on the session's connection."""
    return session.connection().execute(statement, params)


def upsert_insert(session: Session) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (PostgreSQL's or SQLite's)."""
    return pg_insert if on_postgres(session) else sqlite_insert


def on_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (some statements fold round trips there)."""
    return session.get_bind().dialect.name == "postgresql"
