"""Whom a broadcast reaches and who may send it: the audience filter on real SQL (the count
the composer shows is what planning writes), and the sender's refusal table."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlmodel import Session, col, select

from bot.domain.broadcasting import Audience, audience_refusal
from bot.domain.i18n import catalog
from storage.broadcasts import count_audience, create_broadcast, plan_batch
from storage.db import Database
from storage.models import BroadcastRecipient, ChannelIdentity, Person, Unit
from storage.topics import keep_topics

START = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)
UNIT, OTHER_UNIT = "cd-tay-ninh", "kcn-phuoc-dong"
CHANNELS = ("telegram", "zalo_bot", "web")


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
        counts = count_audience(session=session, audience=audience, channels=CHANNELS)
        broadcast_id = create_broadcast(
            session=session, text="Tin", audience=audience, created_by="admin", now=START
        )
        while plan_batch(session=session, broadcast_id=broadcast_id, channels=CHANNELS, size=2):
            pass
        planned = session.exec(
            select(BroadcastRecipient.chat_id).where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id
            )
        ).all()
    assert set(planned) == expected
    assert len(planned) == len(expected), "one message per identity"
    assert counts == {c: sum(chat.startswith(f"{c}:") for chat in expected) for c in CHANNELS}


def test_channels_that_are_not_running_are_neither_counted_nor_planned(db: Database) -> None:
    with db.session() as session:
        counts = count_audience(session=session, audience=Audience(), channels=["zalo_bot"])
    assert counts == {"zalo_bot": 1}


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
