"""The outbox sender against Bot API errors; time is an input, moved by the test."""

import datetime as dt

from bot.app import CauNoi
from bot.domain.i18n import text
from storage.models import OutboxMessage
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
