"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import create_engine
from storage.migrate import alembic_config, upgrade


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert _differences(database_url) == []


def test_every_migration_can_be_undone_and_redone(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    assert len(_differences(database_url)) > 0, "downgrade left the tables in place"
    upgrade(database_url)
    assert _differences(database_url) == []
