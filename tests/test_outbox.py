"""The outbox sender against Bot API errors, and each channel's limits with fake channels;
time is an input, moved by the test."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select

from bot.app import CauNoi
from bot.channels.base import Capabilities, RateLimited
from bot.domain.i18n import text
from bot.domain.messages import Rendered
from bot.metrics import Metrics
from bot.outbox import ChannelLimits, OutboxSender, TokenBucket
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import enqueue_outbound
from tests.conftest import AppFactory, rows
from tests.fake_telegram import FakeTelegram

USER = 8001


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


async def _outbox(app: CauNoi) -> list[OutboxMessage]:
    return await rows(app.db, OutboxMessage)


async def test_429_pauses_the_sender_until_retry_after(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock()
    app = await make_app(clock=clock)
    fake.fail("sendMessage", 429, retry_after=30)
    fake.message(USER, "/help")
    fake.message(USER + 1, "/help")
    await fake.wait_for(lambda: any(c.status == 429 for c in fake.calls))
    await app.outbox.drain()
    assert await app.outbox.pump() == 0, "nothing may be sent while paused"
    clock.now += dt.timedelta(seconds=31)
    app.outbox.wake()
    await fake.wait_for(lambda: len(fake.sent()) == 2)
    await app.outbox.drain()
    messages = await _outbox(app)
    assert {m.status for m in messages} == {"sent"}
    assert sorted(m.attempts for m in messages) == [0, 1]


async def test_server_error_is_retried_with_backoff_in_order(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock()
    app = await make_app(clock=clock)
    fake.fail("sendMessage", 500)
    fake.message(USER, "/help")
    fake.message(USER, "/language")
    await fake.wait_for(lambda: any(c.status == 500 for c in fake.calls))
    await app.outbox.drain()
    assert fake.texts(USER) == []
    clock.now += dt.timedelta(seconds=3)
    app.outbox.wake()
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    assert fake.texts(USER)[0] == text("help.body", "vi"), "the failed message still goes first"


async def test_refused_message_is_given_up_and_the_next_one_goes(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    fake.fail("sendMessage", 400, description="Bad Request: message is too long")
    fake.message(USER, "/help")
    fake.message(USER, "/language")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    await app.outbox.drain()
    statuses = [m.status for m in await _outbox(app)]
    assert statuses == ["failed", "sent"]


async def test_a_message_waiting_for_a_retry_holds_back_the_rest_of_its_chat(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock()
    app = await make_app(clock=clock)
    fake.fail("sendMessage", 502)
    fake.message(USER, "/start")  # a first contact: a greeting, then the consent question
    await fake.wait_for(lambda: any(c.status == 502 for c in fake.calls))
    await app.outbox.drain()
    assert await app.outbox.pump() == 0, "the consent question waits for the greeting"
    await app.outbox.drain()
    assert fake.texts(USER) == []
    clock.now += dt.timedelta(seconds=3)
    app.outbox.wake()
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    greeting, consent = fake.texts(USER)
    assert greeting.startswith("Xin chào bạn!")
    assert consent != greeting


async def test_a_message_queued_after_a_failure_waits_for_the_retry_too(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock()
    app = await make_app(clock=clock)
    fake.fail("sendMessage", 502)
    fake.message(USER, "/help")
    await fake.wait_for(lambda: any(c.status == 502 for c in fake.calls))
    await app.outbox.drain()
    asked = fake.message(USER, "/language")  # queued while /help's answer waits for its retry
    await fake.wait_for(lambda: fake.confirmed_offset > asked)
    await app.outbox.drain()
    assert await app.outbox.pump() == 0, "the later answer must not overtake the earlier one"
    await app.outbox.drain()
    assert fake.texts(USER) == []
    clock.now += dt.timedelta(seconds=3)
    app.outbox.wake()
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    assert fake.texts(USER) == [text("help.body", "vi"), text("language.ask", "vi")]


# ---- per-channel limits, with platform fakes -------------------------------------------------


class FakeChannel:
    """A channel that records what it is sent; with a gate, each send waits until it opens;
    with `limited`, it answers the first send with a rate limit."""

    def __init__(self, name: str, *, gate: asyncio.Event | None = None, limited: bool = False):
        self.name = name
        self.capabilities = Capabilities(buttons=True, edits=True, max_text=4096)
        self.sent: list[str] = []
        self.gate = gate
        self.limited = limited
        self.all_sent = asyncio.Event()
        self.expected = 0

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Take the message (after the gate, if any)."""
        if self.limited:
            self.limited = False
            raise RateLimited(30)
        self.sent.append(chat_id)
        if len(self.sent) >= self.expected:
            self.all_sent.set()
        if self.gate is not None:
            await self.gate.wait()
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """Edits are sends here."""
        return await self.send(chat_id, message)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The migrated test database."""
    database = Database(database_url)
    yield database
    await database.dispose()


async def _queue(db: Database, channel: str, chats: int, first: int = 0) -> None:
    def add(session: Session) -> None:
        for chat in range(first, first + chats):
            payloads = [Rendered(f"tin {chat}").to_payload()]
            enqueue_outbound(
                session=session,
                channel=channel,
                chat_id=f"{channel}-{chat}",
                payloads=payloads,
                now=Clock().now,
            )

    await db.run(add)


def _sender(db: Database, *fakes: FakeChannel, clock: Clock | None = None) -> OutboxSender:
    channels = {fake.name: fake for fake in fakes}
    limits = {fake.name: ChannelLimits(max_in_flight=1) for fake in fakes}
    return OutboxSender(
        db=db, channels=channels, metrics=Metrics(), limits=limits, clock=clock or Clock()
    )


async def test_a_blocked_channel_does_not_hold_back_another(db: Database) -> None:
    gate = asyncio.Event()
    slow, fast = FakeChannel("slow", gate=gate), FakeChannel("fast")
    fast.expected = 5
    await _queue(db, "slow", 5)  # queued first, so taken first
    await _queue(db, "fast", 5)
    outbox = _sender(db, slow, fast)
    await outbox.pump()
    await asyncio.wait_for(fast.all_sent.wait(), 10)
    assert len(fast.sent) == 5
    assert slow.sent == ["slow-0"], "the slow channel has one send in flight, the rest wait"
    gate.set()
    await outbox.drain()
    assert len(slow.sent) == 5
    statuses = await db.run(lambda s: [m.status for m in s.exec(select(OutboxMessage))])
    assert statuses == ["sent"] * 10


async def test_a_rate_limit_pauses_only_its_own_channel(db: Database) -> None:
    clock = Clock()
    limited, other = FakeChannel("limited", limited=True), FakeChannel("other")
    await _queue(db, "limited", 1)
    await _queue(db, "other", 1)
    outbox = _sender(db, limited, other, clock=clock)
    await outbox.pump()
    await outbox.drain()
    assert other.sent == ["other-0"]
    assert limited.sent == [], "its first send was refused, and the channel paused"
    await _queue(db, "limited", 1, first=1)  # due now, but its channel is paused
    await _queue(db, "other", 1, first=1)
    assert await outbox.pump() == 1, "the other channel's new message goes; the paused wait"
    await outbox.drain()
    assert (other.sent, limited.sent) == (["other-0", "other-1"], [])
    clock.now += dt.timedelta(seconds=31)
    assert await outbox.pump() == 2
    await outbox.drain()
    assert sorted(limited.sent) == ["limited-0", "limited-1"]


@pytest.mark.parametrize(
    ("rate", "burst", "at", "waits"),
    [
        (2.0, None, [0, 0, 0, 0], [0, 0, 0.5, 1.0]),  # two at once, then one each half second
        (2.0, None, [0, 0, 10, 10], [0, 0, 0, 0]),  # refilled after a pause
        (1.0, 1.0, [0, 0.25, 0.5], [0, 0.75, 1.5]),  # waiting senders queue behind each other
        (10.0, 3.0, [0, 0, 0, 0, 1], [0, 0, 0, 0.1, 0]),
    ],
)
def test_the_token_bucket_keeps_the_rate(
    rate: float, burst: float | None, at: list[float], waits: list[float]
) -> None:
    bucket = TokenBucket(rate, burst)
    assert [round(bucket.reserve(now), 6) for now in at] == waits
