"""Fixtures: the fake Bot API, a fresh database per test, and the production app wired to both."""

import datetime as dt
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col, select

from bot.app import CHANNELS, CauNoi, ChannelBuilder, build_application
from bot.config import OrgConfig, load_config, parse_config
from bot.dispatch import Handler
from bot.settings import Settings
from handlers import entry
from storage.db import Database
from storage.migrate import upgrade
from storage.models import utcnow
from tests.fake_telegram import TOKEN, FakeTelegram

INTAKE_LOGGER = "bot.intake"  # where every channel's failed events are logged

ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "TEST_DATABASE_URL"
# One template per test run, so runs from several checkouts on one server never collide.
TEMPLATE_DB = f"caunoi_test_template_{uuid.uuid4().hex[:8]}"
M = TypeVar("M", bound=SQLModel)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _pg_conn(url: str) -> psycopg.Connection[Any]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones (needs TEST_DATABASE_URL)."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip(
            f"PostgreSQL tests skipped: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/postgres)"
        )
    with _pg_conn(admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    upgrade(make_url(admin).set(database=TEMPLATE_DB).render_as_string(hide_password=False))
    yield admin
    with _pg_conn(admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        path = tmp_path / "caunoi.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("pg_template")
    name = f"caunoi_test_{uuid.uuid4().hex[:12]}"
    with _pg_conn(admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with _pg_conn(admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def org_config() -> OrgConfig:
    """The shipped config.yaml."""
    return load_config(ROOT / "config.yaml")


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_data(changes: dict[str, Any]) -> dict[str, Any]:
    """The shipped config.yaml as data, with some sections changed."""
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return _merge(data, changes)


def config_with(changes: dict[str, Any]) -> OrgConfig:
    """The shipped organisation with some sections changed (e.g. staff chat ids)."""
    return parse_config(config_data(changes))


def config_file(path: Path, changes: dict[str, Any]) -> Path:
    """Write a changed config.yaml for a bot run in another process."""
    path.write_text(yaml.safe_dump(config_data(changes), allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API server on a free local port."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


class ErrorRecorder(logging.Handler):
    """Remembers every event an app under test failed to handle, on any channel (the intake
    logs each one as an error)."""

    def __init__(self, expected: int = 0) -> None:
        super().__init__(logging.ERROR)
        self.expected = expected
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the failure's message and exception."""
        failure = record.exc_info[1] if record.exc_info else None
        self.errors.append(f"{record.getMessage()}: {failure!r}")


AppFactory = Callable[..., Awaitable[CauNoi]]


class Clock:
    """The application's clock, moved by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def make_app(
    fake: FakeTelegram, database_url: str, org_config: OrgConfig, tmp_path: Path
) -> AsyncIterator[AppFactory]:
    """Build and start the production app against the fake server; stop it afterwards."""
    started: list[CauNoi] = []
    recorders: list[ErrorRecorder] = []

    async def factory(
        *,
        serve_http: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
        handler: Handler = entry.handle,
        expected_errors: int = 0,
        config: OrgConfig | None = None,
        registry: Mapping[str, ChannelBuilder] = CHANNELS,
        **overrides: Any,
    ) -> CauNoi:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_base_url": fake.base_url,
            "database_url": database_url,
            "http_port": 0,
            "file_store_url": str(tmp_path / "files"),
            **overrides,
        }
        organisation = config or org_config
        app = build_application(
            Settings(**values), organisation, clock=clock, handler=handler, registry=registry
        )
        recorder = ErrorRecorder(expected_errors)
        logging.getLogger(INTAKE_LOGGER).addHandler(recorder)
        await app.start(serve_http=serve_http)
        started.append(app)
        recorders.append(recorder)
        return app

    yield factory
    for app in started:
        await app.stop()
    for recorder in recorders:
        logging.getLogger(INTAKE_LOGGER).removeHandler(recorder)
    for recorder in recorders:
        assert len(recorder.errors) == recorder.expected, f"the app raised: {recorder.errors!r}"


async def rows(db: Database, model: type[M]) -> list[M]:
    """Every row of a table, oldest first, read through the app's own database executor."""
    return await db.run(lambda s: list(s.exec(select(model).order_by(col(model.id))).all()))  # type: ignore[attr-defined]
