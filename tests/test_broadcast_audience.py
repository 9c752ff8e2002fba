"""Whom a broadcast reaches and who may send it: the audience filter on real SQL (the count
the composer shows is what planning writes), and the sender's refusal table."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session, col, select

from bot.app import CHANNELS, CauNoi
from bot.channels.render import chosen
from bot.config import ConfigError
from bot.domain.broadcasting import Audience, audience_refusal
from bot.domain.i18n import catalog, text
from storage import menus
from storage.broadcasts import DONE, Progress, count_audience, create_broadcast, plan_batch
from storage.db import Database, create_engine
from storage.migrate import alembic_config
from storage.models import (
    Broadcast,
    BroadcastRecipient,
    ChannelIdentity,
    Conversation,
    OutboxMessage,
    Person,
    PersonTopic,
    Unit,
)
from storage.outbox import OUTSIDE_WINDOW, STOPPED
from storage.topics import keep_topics
from tests import line_channel
from tests.conftest import AppFactory, config_with, rows
from tests.fake_telegram import FakeTelegram
from tests.line_channel import LineChannel, LineClient

START = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
UNIT, OTHER_UNIT = "cd-tay-ninh", "kcn-phuoc-dong"
RUNNING = ("telegram", "zalo_bot", "web")


@dataclass(frozen=True)
class Someone:
    """A young person as the audience filter sees them."""

    chat: str
    unit: str = UNIT
    language: str = "vi"
    age_group: str | None = "19-24"
    topics: tuple[str, ...] = ("announcements",)
    channels: tuple[str, ...] = ("telegram",)
    stopped: bool = False
    banned: bool = False
    reachable: bool = True


PEOPLE = (
    Someone("an"),
    Someone("binh", unit=OTHER_UNIT),
    Someone("chau", language="en"),
    Someone("dung", age_group="16-18", topics=("announcements", "jobs")),
    Someone("giang", age_group=None, topics=("jobs",)),
    Someone("hoa", topics=("announcements", "events"), channels=("telegram", "zalo_bot")),
    Someone("khanh", channels=("web",)),
    Someone("lan", stopped=True),
    Someone("minh", banned=True),
    Someone("nam", reachable=False),
    Someone("oanh", topics=()),
)


def _seed(session: Session) -> None:
    session.add(Unit(code=UNIT, name="Đoàn trường Cao đẳng Tây Ninh", folded_name="a", kind="x"))
    session.add(Unit(code=OTHER_UNIT, name="Đoàn KCN Phước Đông", folded_name="b", kind="x"))
    session.flush()
    for someone in PEOPLE:
        person = Person(
            language=someone.language,
            unit_code=someone.unit,
            age_group=someone.age_group,
            subscriptions=list(someone.topics),
            consent_at=START,
            stopped_at=START if someone.stopped else None,
            banned=someone.banned,
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        keep_topics(session=session, person_id=person.id, topics=someone.topics)
        for channel in someone.channels:
            chat = f"{channel}:{someone.chat}"
            session.add(
                ChannelIdentity(
                    channel=channel,
                    external_id=chat,
                    chat_id=chat,
                    person_id=person.id,
                    reachable=someone.reachable,
                )
            )
    session.flush()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The database with PEOPLE in it."""
    database = Database(database_url)
    with database.session() as session:
        _seed(session)
        session.commit()
    yield database
    database.engine.dispose()


EVERYONE_ON_ANNOUNCEMENTS = {"telegram:an", "telegram:binh", "telegram:chau", "telegram:dung"}
EVERYONE_ON_ANNOUNCEMENTS |= {"telegram:hoa", "zalo_bot:hoa", "web:khanh"}


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience(), EVERYONE_ON_ANNOUNCEMENTS),
        (Audience(topic="jobs"), {"telegram:dung", "telegram:giang"}),
        (Audience(topic="events"), {"telegram:hoa", "zalo_bot:hoa"}),
        (Audience(topic="study"), set()),
        (Audience(units=(OTHER_UNIT,)), {"telegram:binh"}),
        (Audience(languages=("en",)), {"telegram:chau"}),
        (Audience(age_groups=("16-18",)), {"telegram:dung"}),
        (Audience(topic="jobs", age_groups=("19-24",)), set()),
        (Audience(channels=("zalo_bot", "web")), {"zalo_bot:hoa", "web:khanh"}),
        (
            Audience(units=(UNIT,), languages=("vi",), channels=("telegram",)),
            {"telegram:an", "telegram:dung", "telegram:hoa"},
        ),
    ],
)
def test_the_count_shown_is_exactly_who_gets_planned(
    db: Database, audience: Audience, expected: set[str]
) -> None:
    with db.session() as session:
        counts = count_audience(session=session, audience=audience, channels=RUNNING)
        broadcast_id = create_broadcast(
            session=session, text="Tin", audience=audience, created_by="admin", now=START
        )
        while plan_batch(session=session, broadcast_id=broadcast_id, channels=RUNNING, size=2):
            pass
        planned = session.exec(
            select(BroadcastRecipient.chat_id).where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id
            )
        ).all()
    assert set(planned) == expected
    assert len(planned) == len(expected), "one message per identity"
    assert counts == {c: sum(chat.startswith(f"{c}:") for chat in expected) for c in RUNNING}


def test_channels_that_are_not_running_are_neither_counted_nor_planned(db: Database) -> None:
    with db.session() as session:
        counts = count_audience(session=session, audience=Audience(), channels=["zalo_bot"])
    assert counts == {"zalo_bot": 1}


def test_a_broadcast_menu_never_changes_what_a_chat_mid_dialogue_means_by_its_numbers(
    db: Database,
) -> None:
    asked = (("kind:complaint", "Phản ánh"), ("kind:question", "Hỏi đáp"))
    leave = (("unsub:events", "Hủy nhận tin"),)
    with db.session() as session:
        menus.offer(session=session, channel="line", chat_id="an", options=asked, now=START)
        menus.offer_many(
            session=session, channel="line", chats=["an", "binh"], options=leave, now=START
        )
    with db.session() as session:
        mid_dialogue = menus.offered(session=session, channel="line", chat_id="an")
        idle = menus.offered(session=session, channel="line", chat_id="binh")
    assert chosen("1", mid_dialogue) == "kind:complaint"  # still what they were answering
    assert chosen("Huy nhan tin", mid_dialogue) == "unsub:events"  # the label still works
    assert chosen("1", idle) == "unsub:events"


ADMIN, SECRETARY, STAFF = ("staff", "admin"), ("secretary",), ("staff",)
MINE, THEIRS = ("p-long-an", "p-tan-an"), ("p-go-dau",)


@pytest.mark.parametrize(
    ("roles", "units", "allowed", "expected"),
    [
        (ADMIN, (), False, None),  # admins: anyone, whatever the setting
        (ADMIN, MINE + THEIRS, True, None),
        (("admin", "secretary"), (), False, None),
        (SECRETARY, MINE, True, None),  # their own units
        (SECRETARY, MINE[:1], True, None),  # some of them
        (SECRETARY, MINE, False, "audience.refused_secretaries"),  # config does not allow
        (SECRETARY, (), True, "audience.refused_all_units"),  # everyone is not their units
        (SECRETARY, MINE + THEIRS, True, "audience.refused_other_units"),
        (SECRETARY, THEIRS, True, "audience.refused_other_units"),
        (STAFF, MINE, True, "audience.refused_role"),
        (("moderator",), (), True, "audience.refused_role"),
        (("inspection",), MINE, True, "audience.refused_role"),
        ((), (), True, "audience.refused_role"),
    ],
)
def test_who_may_broadcast_to_whom(
    roles: tuple[str, ...], units: tuple[str, ...], allowed: bool, expected: str | None
) -> None:
    refusal = audience_refusal(
        roles=roles,
        staff_units=MINE,
        audience=Audience(units=units),
        secretaries_may_send=allowed,
    )
    assert refusal == expected
    assert refusal is None or refusal in catalog("vi").keys() & catalog("en").keys()


# ---- through the real app: the fake Bot API and the test-only line channel (no buttons) ----

FIRST = 60_000


def _young(session: Session, channel: str, chats: list[str], topics: tuple[str, ...]) -> list[int]:
    """Consented young people of UNIT on one channel, subscribed to these topics."""
    ids = []
    for chat in chats:
        person = Person(unit_code=UNIT, consent_at=START, subscriptions=list(topics))
        session.add(person)
        session.flush()
        assert person.id is not None
        keep_topics(session=session, person_id=person.id, topics=topics)
        session.add(
            ChannelIdentity(channel=channel, external_id=chat, chat_id=chat, person_id=person.id)
        )
        session.add(Conversation(channel=channel, external_id=chat))
        ids.append(person.id)
    return ids


async def _until_done(app: CauNoi, broadcast_id: int, fake: FakeTelegram) -> Progress:
    """Count after each call the fake sees, or each second (the engine's round) at most."""
    async with asyncio.timeout(30):
        while (progress := await app.broadcasts.progress(broadcast_id)).status != DONE:
            calls = len(fake.calls)
            with contextlib.suppress(TimeoutError):
                await fake.wait_for(lambda c=calls: len(fake.calls) > c, seconds=1)  # type: ignore[misc]
    return progress


def _got(fake: FakeTelegram, words: str) -> set[str]:
    return {str(p["chat_id"]) for p in fake.sent() if words in str(p.get("text"))}


def _bulk_rate(per_second: float, **changes: Any) -> Any:
    return config_with({"channels": {"telegram": {"bulk_rate_per_second": per_second}}} | changes)


async def test_a_topic_reaches_its_subscribers_who_leave_it_from_the_message_itself(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    jobs = [str(FIRST), str(FIRST + 1)]
    await app.db.run(lambda s: _young(s, "telegram", jobs, ("announcements", "jobs")))
    await app.db.run(lambda s: _young(s, "telegram", [str(FIRST + 2)], ("announcements",)))
    first = await app.broadcasts.create("Tuyển 30 công nhân", Audience(topic="jobs"))
    progress = await _until_done(app, first, fake)
    assert _got(fake, "Tuyển 30 công nhân") == set(jobs)
    assert progress.sent == 2
    [message] = [p for p in fake.sent(chat_id=FIRST) if "Tuyển" in str(p["text"])]
    buttons = message["reply_markup"]["inline_keyboard"]
    assert buttons == [[{"text": "Hủy nhận tin", "callback_data": "unsub:jobs"}]]
    # Long after the broadcast is done, the button still works.
    fake.press(FIRST, "unsub:jobs")
    done = text("topics.unsubscribed", "vi", topic="Việc làm")
    await fake.wait_for(lambda: done in fake.texts(FIRST))
    [person, *_] = await rows(app.db, Person)
    assert person.subscriptions == ["announcements"], "the other topics stay"
    second = await app.broadcasts.create("Tuyển thêm 10 người", Audience(topic="jobs"))
    progress = await _until_done(app, second, fake)
    assert _got(fake, "Tuyển thêm 10 người") == {str(FIRST + 1)}
    assert progress.planned == 1


async def test_topics_chosen_in_settings_are_what_the_audience_is_counted_from(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    await app.db.run(lambda s: _young(s, "telegram", [str(FIRST)], ("announcements",)))
    fake.message(FIRST, "/settings")
    await fake.wait_for(lambda: any("Thông báo chung" in t for t in fake.texts(FIRST)))
    fake.press(FIRST, "set:topics")
    await fake.wait_for(lambda: text("topics.ask", "vi") in fake.texts(FIRST))
    [shown] = [p for p in fake.sent(chat_id=FIRST) if p["text"] == text("topics.ask", "vi")]
    labels = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[:3] == ["✅ Thông báo chung", "⬜ Việc làm", "⬜ Tình nguyện"]
    fake.press(FIRST, "set:topic:volunteering")
    fake.press(FIRST, "set:topic:announcements")
    await fake.wait_for(lambda: fake.texts(FIRST).count(text("topics.ask", "vi")) == 3)

    def counted(topic: str) -> dict[str, int]:
        with app.db.session() as session:
            return count_audience(
                session=session, audience=Audience(topic=topic), channels=["telegram"]
            )

    assert counted("volunteering") == {"telegram": 1}
    assert counted("announcements") == {"telegram": 0}
    [person] = await rows(app.db, Person)
    assert person.subscriptions == ["volunteering"]


async def test_stop_said_while_a_broadcast_message_is_on_its_way_is_honoured(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    # 0.6 a second: both messages are taken from the outbox at once, the second to go 1.7 s
    # after the first; /stop comes in between.
    app = await make_app(config=_bulk_rate(0.6))
    chats = [str(FIRST), str(FIRST + 1)]
    await app.db.run(lambda s: _young(s, "telegram", chats, ("announcements",)))
    broadcast_id = await app.broadcasts.create("Họp mặt cuối năm", Audience())
    await fake.wait_for(lambda: _got(fake, "Họp mặt cuối năm") == {str(FIRST)})
    fake.message(FIRST + 1, "/stop")
    await fake.wait_for(lambda: text("stop.done", "vi") in fake.texts(FIRST + 1))
    progress = await _until_done(app, broadcast_id, fake)
    assert _got(fake, "Họp mặt cuối năm") == {str(FIRST)}
    assert (progress.sent, progress.stopped, progress.remaining) == (1, 1, 0)
    stored = await rows(app.db, OutboxMessage)
    assert [m.error for m in stored if m.status == "dropped"] == [STOPPED]


async def test_without_buttons_the_unsubscribe_is_numbered_and_a_closed_window_is_counted(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = config_with({"channels": {"line": {"port": 0}}})
    registry = {**CHANNELS, line_channel.NAME: line_channel.build}
    app = await make_app(config=config, registry=registry)
    channel = app.channels[line_channel.NAME]
    assert isinstance(channel, LineChannel)
    await app.db.run(lambda s: _young(s, "line", ["lan", "minh"], ("announcements", "events")))
    channel.sender.outside_window.add("minh")
    lan = await LineClient.connect(channel.port, "lan")
    try:
        await lan.until("/help", text("help.body", "vi")[:20])  # connected, known
        broadcast_id = await app.broadcasts.create("Đêm nhạc 20/12", Audience(topic="events"))
        received = await lan.read()
        while "Đêm nhạc" not in received:  # the rest of the help, cut to 200 characters
            received = await lan.read()
        assert received == "Đêm nhạc 20/12"
        menu = await lan.read()  # after the text's empty line, the numbered menu
        assert menu.startswith("1. Hủy nhận tin\n")
        answer = await lan.until("1", "«Sự kiện»")
        assert answer == text("topics.unsubscribed", "vi", topic="Sự kiện")
    finally:
        lan.close()
    progress = await _until_done(app, broadcast_id, fake)
    assert (progress.sent, progress.outside_window, progress.failed) == (1, 1, 0)
    [dropped] = [m for m in await rows(app.db, OutboxMessage) if m.status == "dropped"]
    assert (dropped.chat_id, dropped.error, dropped.attempts) == ("minh", OUTSIDE_WINDOW, 0)
    stored = (await rows(app.db, Broadcast))[0]
    assert stored.outside_window == 1
    people = {p.id: p.subscriptions for p in await rows(app.db, Person)}
    assert sorted(people.values()) == [["announcements"], ["announcements", "events"]]


def test_the_migration_turns_existing_subscriptions_and_age_groups_into_rows(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0013")
    engine = create_engine(database_url)
    person = sa.table(
        "person",
        *(sa.column(n) for n in ("id", "language", "banned", "always_anonymous", "created_at")),
        sa.column("roles", sa.JSON()),
        sa.column("subscriptions", sa.JSON()),
        sa.column("profile", sa.JSON()),
    )
    people = [
        (["announcements", "jobs"], {"age_group": "16-18", "workplace": "THPT"}),
        ([], {}),
        (["daily"], {"age_group": "19-24"}),
    ]
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(person),
                [
                    {"id": n + 1, "language": "vi", "banned": False, "always_anonymous": False}
                    | {"created_at": START, "roles": [], "subscriptions": subscribed}
                    | {"profile": profile}
                    for n, (subscribed, profile) in enumerate(people)
                ],
            )
        command.upgrade(config, "head")
        with Session(engine) as session:
            topics = session.exec(select(PersonTopic.person_id, PersonTopic.topic)).all()
            migrated = session.exec(
                select(Person.id, Person.age_group, Person.profile).order_by(col(Person.id))
            ).all()
    finally:
        engine.dispose()
    assert sorted(topics) == [(1, "announcements"), (1, "jobs"), (3, "daily")]
    assert migrated == [(1, "16-18", {"workplace": "THPT"}), (2, None, {}), (3, "19-24", {})]


JOBS = {"code": "jobs", "vi": "Việc làm", "en": "Jobs"}


@pytest.mark.parametrize(
    ("topics", "codes"),
    [
        (None, ["announcements", "jobs", "volunteering", "events", "study"]),  # the defaults
        ([JOBS], ["announcements", "jobs"]),  # announcements always exists, first
        ([JOBS, {"code": "announcements", "vi": "Tin", "en": "News"}], ["jobs", "announcements"]),
        ([JOBS, JOBS], "only once"),
        ([{"code": "daily", "vi": "Hằng ngày", "en": "Daily"}], "publications"),
        ([{"code": "Việc làm", "vi": "Việc làm", "en": "Jobs"}], "topics.0.code"),
        ([{"code": "jobs", "vi": "Việc làm"}], "topics.0.en"),
    ],
)
def test_broadcast_topics_in_config(topics: list[dict[str, str]] | None, codes: Any) -> None:
    changes = {} if topics is None else {"broadcasts": {"topics": topics}}
    if isinstance(codes, str):
        with pytest.raises(ConfigError, match=codes):
            config_with(changes)
        return
    broadcasts = config_with(changes).raw.broadcasts
    assert [t.code for t in broadcasts.topics] == codes
    assert broadcasts.secretaries_may_send is False
