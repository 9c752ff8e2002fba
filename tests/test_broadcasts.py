"""The broadcast engine through the real app, the fake Bot API and real SQL: the audience,
the bulk lane behind interactive replies, 429 and 403, /stop, a kill mid-broadcast; and
the bulk lane's rate logic as tables."""

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bot.app import CauNoi
from bot.domain.broadcasting import ANNOUNCEMENTS, Audience
from bot.domain.i18n import text
from bot.outbox import AdaptiveRate, _Bulk
from storage.broadcasts import DONE, SENDING, Progress, plan_batch
from storage.db import Database
from storage.models import (
    Broadcast,
    BroadcastRecipient,
    ChannelIdentity,
    Conversation,
    Person,
)
from storage.topics import keep_topics
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.fake_telegram import FakeTelegram

FIRST = 50_000
UNIT, OTHER_UNIT = "cd-tay-ninh", "kcn-phuoc-dong"
START = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)


def _bulk_rate(per_second: float) -> Any:
    return config_with({"channels": {"telegram": {"bulk_rate_per_second": per_second}}})


def _add_people(
    session: Session, users: range, *, unit: str = UNIT, language: str = "vi"
) -> list[int]:
    """Young people on Telegram who have consented (and so take announcements), one identity
    each (chat = user id)."""
    ids = []
    for user in users:
        person = Person(
            language=language, unit_code=unit, consent_at=START, subscriptions=[ANNOUNCEMENTS]
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        keep_topics(session=session, person_id=person.id, topics=[ANNOUNCEMENTS])
        ids.append(person.id)
        chat = str(user)
        session.add(
            ChannelIdentity(
                channel="telegram", external_id=chat, chat_id=chat, person_id=person.id
            )
        )
        session.add(Conversation(channel="telegram", external_id=chat))
    return ids


async def _people(db: Database, users: range, **kwargs: Any) -> list[int]:
    return await db.run(lambda session: _add_people(session, users, **kwargs))


def _received(fake: FakeTelegram, words: str) -> Counter[str]:
    """How many times each chat got a message containing these words."""
    return Counter(str(p["chat_id"]) for p in fake.sent() if words in str(p.get("text")))


async def _until_done(app: CauNoi, broadcast_id: int, fake: FakeTelegram) -> Progress:
    async with asyncio.timeout(60):
        while True:
            progress = await app.broadcasts.progress(broadcast_id)
            if progress.status == DONE:
                return progress
            calls = len(fake.calls)
            # Each send (or a second at most, the engine's round) moves it on.
            try:
                await fake.wait_for(lambda c=calls: len(fake.calls) > c, seconds=1)  # type: ignore[misc]
            except TimeoutError:
                continue


async def test_a_broadcast_reaches_its_units_and_language_and_counts_each_one(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    await _people(app.db, range(FIRST, FIRST + 6))
    await _people(app.db, range(FIRST + 6, FIRST + 8), language="en")
    await _people(app.db, range(FIRST + 8, FIRST + 10), unit=OTHER_UNIT)
    audience = Audience(units=(UNIT,), languages=("vi",))
    broadcast_id = await app.broadcasts.create(
        "Ngày hội việc làm 12/12", audience, created_by="admin", link="https://example.org/jobs"
    )
    progress = await _until_done(app, broadcast_id, fake)
    got = _received(fake, "Ngày hội việc làm 12/12")
    assert got == Counter({str(user): 1 for user in range(FIRST, FIRST + 6)})
    assert all("https://example.org/jobs" in t for t in fake.texts(FIRST))
    assert (progress.planned, progress.sent, progress.remaining) == (6, 6, 0)
    stored = (await rows(app.db, Broadcast))[0]
    assert (stored.sent, stored.status, stored.finished_at is not None) == (6, DONE, True)


async def test_a_reply_overtakes_a_broadcast_already_queued(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=_bulk_rate(4))
    await _people(app.db, range(FIRST, FIRST + 24))
    broadcast_id = await app.broadcasts.create("Thông báo chung", Audience(), created_by="admin")
    await fake.wait_for(lambda: sum(_received(fake, "Thông báo chung").values()) >= 2)
    fake.message(FIRST + 23, "/help")
    await fake.wait_for(lambda: text("help.body", "vi") in fake.texts(FIRST + 23))
    sent_so_far = sum(_received(fake, "Thông báo chung").values())
    assert sent_so_far < 12, "the reply waited for no more than a few broadcast messages"
    progress = await _until_done(app, broadcast_id, fake)
    assert progress.sent == 24


async def test_429_pauses_and_slows_only_the_bulk_lane_and_stop_is_honoured_meanwhile(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(START)
    # A send every quarter second: the 429 is back before the next one goes.
    app = await make_app(clock=clock, config=_bulk_rate(4))
    await _people(app.db, range(FIRST, FIRST + 3))
    fake.fail("sendMessage", 429, retry_after=30)
    broadcast_id = await app.broadcasts.create("Tin khẩn", Audience(), created_by="admin")
    await fake.wait_for(lambda: any(c.status == 429 for c in fake.calls))
    await app.outbox.drain()
    assert app.outbox.bulk_rate("telegram") == pytest.approx(3.2, abs=0.1), "cut by a fifth"
    # Interactive replies still go while the bulk lane waits: /stop is one of them.
    fake.message(FIRST + 1, "/stop")
    await fake.wait_for(lambda: text("stop.done", "vi") in fake.texts(FIRST + 1))
    await app.outbox.drain()
    assert _received(fake, "Tin khẩn") == Counter(), "nothing bulk during the pause"
    clock.now += dt.timedelta(seconds=31)
    app.outbox.wake()
    progress = await _until_done(app, broadcast_id, fake)
    assert _received(fake, "Tin khẩn") == Counter({str(FIRST): 1, str(FIRST + 2): 1})
    assert (progress.sent, progress.stopped) == (2, 1)


async def test_a_blocked_recipient_is_marked_unreachable_and_left_out_next_time(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    await _people(app.db, range(FIRST, FIRST + 4))
    fake.blocked.add(str(FIRST + 2))
    first = await app.broadcasts.create("Lần một", Audience(), created_by="admin")
    progress = await _until_done(app, first, fake)
    assert (progress.sent, progress.blocked) == (3, 1)
    identities = await rows(app.db, ChannelIdentity)
    assert [i.chat_id for i in identities if not i.reachable] == [str(FIRST + 2)]
    second = await app.broadcasts.create("Lần hai", Audience(), created_by="admin")
    progress = await _until_done(app, second, fake)
    assert (progress.planned, progress.sent, progress.blocked) == (3, 3, 0)
    assert str(FIRST + 2) not in _received(fake, "Lần hai")


async def test_a_scheduled_broadcast_waits_for_its_time(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(START)
    app = await make_app(clock=clock)
    await _people(app.db, range(FIRST, FIRST + 2))
    later = START + dt.timedelta(hours=2)
    broadcast_id = await app.broadcasts.create("Hẹn giờ", Audience(), scheduled_at=later)
    await app.broadcasts.step()
    assert (await app.broadcasts.progress(broadcast_id)).planned == 0
    clock.now = later
    app.broadcasts.wake()
    progress = await _until_done(app, broadcast_id, fake)
    assert progress.sent == 2


def _kill(app: CauNoi) -> list[asyncio.Task[Any]]:
    """Stop the app as SIGKILL would: nothing drained, sends in flight cut off."""
    app.scheduler.shutdown(wait=False)
    app._stopped = True  # the fixture's stop() has nothing left to do
    tasks = [*app._tasks, *app.outbox._tasks]
    for task in tasks:
        task.cancel()
    return tasks


async def test_a_broadcast_killed_midway_resumes_with_nobody_skipped(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = _bulk_rate(10)
    app = await make_app(config=config)
    await _people(app.db, range(FIRST, FIRST + 40))
    broadcast_id = await app.broadcasts.create("Sau khi khởi động lại", Audience())
    await fake.wait_for(lambda: sum(_received(fake, "khởi động lại").values()) >= 8)
    await asyncio.gather(*_kill(app), return_exceptions=True)
    for channel in app.channels.values():
        await channel.stop()
        await channel.close()
    await app.db.dispose()
    before = sum(_received(fake, "khởi động lại").values())
    assert before < 40, "killed midway"
    again = await make_app(config=config)
    progress = await _until_done(again, broadcast_id, fake)
    got = _received(fake, "khởi động lại")
    assert set(got) == {str(user) for user in range(FIRST, FIRST + 40)}, "nobody skipped"
    assert sum(got.values()) - 40 <= 20, "duplicates at most the sends in flight"
    assert progress.remaining == 0


async def test_recipients_are_planned_in_batches_each_resuming_after_the_last(
    make_app: AppFactory,
) -> None:
    clock = Clock(START)
    app = await make_app(clock=clock)
    await _people(app.db, range(FIRST, FIRST + 250))
    later = START + dt.timedelta(days=1)  # the engine leaves it to the test
    broadcast_id = await app.broadcasts.create("Lô", Audience(), scheduled_at=later)
    sizes = []
    for _ in range(3):  # one transaction per batch
        sizes += await app.db.run(
            lambda s: [
                plan_batch(session=s, broadcast_id=broadcast_id, channels=["telegram"], size=100)
            ]
        )
    assert sizes == [100, 100, 50]
    planned = await rows(app.db, BroadcastRecipient)
    assert len({r.identity_id for r in planned}) == 250
    stored = (await rows(app.db, Broadcast))[0]
    assert (stored.planned, stored.status) == (250, SENDING)
    identities = await app.db.run(
        lambda s: s.exec(select(col(ChannelIdentity.id)).order_by(col(ChannelIdentity.id))).all()
    )
    assert stored.plan_cursor == identities[-1]


@pytest.mark.parametrize(
    ("events", "rate"),
    [
        ([], 25.0),  # untouched: the ceiling
        ([("429", 0.0)], 20.0),  # cut by a fifth at once
        ([("429", 0.0), ("429", 0.0)], 16.0),  # twice
        ([("429", 0.0), ("at", 6.0)], 22.5),  # 6 s later: 6/60 of the ceiling back
        ([("429", 0.0), ("at", 600.0)], 25.0),  # never above the ceiling
        ([("429", 0.0)] * 20, 1.0),  # never below the floor
    ],
)
def test_the_bulk_rate_is_cut_on_429_and_climbs_back_slowly(
    events: list[tuple[str, float]], rate: float
) -> None:
    adaptive = AdaptiveRate(25.0)
    for kind, now in events:
        if kind == "429":
            adaptive.limited(now)
        else:
            adaptive.at(now)
    assert adaptive.at(events[-1][1] if events else 0.0) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("rate", "taken", "dry_until", "room"),
    [
        (10.0, 0, None, 20),  # two seconds' worth at 10 a second
        (10.0, 11, None, 0),  # less than half the window free: wait for more to go
        (10.0, 10, None, 10),  # half free: take them in one query
        (10.0, 0, 2.0, 0),  # nothing more was due a moment ago: not yet again
        (10.0, 0, 1.0, 20),  # the second is over: look again
        (None, 33, None, 0),  # unpaced: half of its 64
        (None, 32, None, 32),
    ],
)
def test_the_bulk_lane_refills_half_a_window_at_a_time_and_rests_when_dry(
    rate: float | None, taken: int, dry_until: float | None, room: int
) -> None:
    bulk = _Bulk(AdaptiveRate(rate) if rate else None, asyncio.Semaphore(1))
    bulk.taken, bulk.dry_until = taken, dry_until
    assert bulk.room(1.0) == room


async def test_a_recipient_can_still_forget_everything_after_a_broadcast(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    kept, _ = await _people(app.db, range(FIRST, FIRST + 2))
    broadcast_id = await app.broadcasts.create("Trước khi xoá", Audience())
    await _until_done(app, broadcast_id, fake)
    fake.message(FIRST + 1, "/forget")
    await fake.wait_for(lambda: text("privacy.forget_ask", "vi") in fake.texts(FIRST + 1))
    fake.press(FIRST + 1, "forget:yes")
    await fake.wait_for(lambda: text("privacy.forgotten", "vi") in fake.texts(FIRST + 1))
    assert [p.id for p in await rows(app.db, Person)] == [kept]
    assert [r.person_id for r in await rows(app.db, BroadcastRecipient)] == [kept]
    assert (await app.broadcasts.progress(broadcast_id)).sent == 2, "the final count stays"


@pytest.mark.parametrize(
    ("sent_at", "next_at"),
    [
        ([0.0], 0.1),  # 10 a second
        ([0.0, 0.1, 0.2], 0.3),  # on time: the pace holds
        ([0.0, 0.105], 0.2),  # 5 ms late: the next turn keeps the schedule
        ([0.0, 0.5], 0.55),  # a long stall: no bunch to catch up, half an interval
        ([0.0, 0.5, 0.55], 0.65),  # and then the pace again
    ],
)
def test_bulk_turns_keep_their_pace_without_bunching_after_a_stall(
    sent_at: list[float], next_at: float
) -> None:
    bulk = _Bulk(AdaptiveRate(10.0), asyncio.Semaphore(1))
    for now in sent_at:
        bulk.went(now)
    assert bulk.next_at == pytest.approx(next_at)
