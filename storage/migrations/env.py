"""Alembic environment: migrations run on the blocking driver of DATABASE_URL."""

import os
from typing import Any, Literal

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from storage import models  # noqa: F401  (registers the tables)
from storage.db import ensure_sqlite_folder, install_sqlite_pragmas, sync_url
from storage.models import UTCDateTime

DEFAULT_URL = "sqlite:///data/caunoi.db"


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our column types as plain SQLAlchemy ones, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_migrations() -> None:
    """Apply migrations to the database named by the config or DATABASE_URL."""
    url = context.config.attributes.get("url") or os.environ.get("DATABASE_URL", DEFAULT_URL)
    ensure_sqlite_folder(url)
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        install_sqlite_pragmas(engine)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            render_item=_render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
