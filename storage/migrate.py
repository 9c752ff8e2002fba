"""Apply Alembic migrations from code: at start-up, from `python -m bot migrate`, in tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config

_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str) -> Config:
    """An Alembic config for this database."""
    config = Config(str(_INI))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    """Bring the database at this URL to the newest schema."""
    command.upgrade(alembic_config(url), "head")
