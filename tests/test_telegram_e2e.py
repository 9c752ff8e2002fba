"""The real Application polls the fake Bot API, handles updates and replies through the outbox."""

from bot.domain.i18n import text
from bot.domain.messages import Inbound, Reply
from handlers.context import Context
from storage.models import ChannelIdentity, InboxEvent, OutboxMessage, Person
from tests.conftest import AppFactory, rows
from tests.fake_telegram import FakeTelegram

USER = 5001


async def test_start_greets_in_vietnamese_by_default(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    fake.message(USER, "/start")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    assert fake.texts(USER)[0] == text("welcome.greeting", "vi", organisation="Tỉnh đoàn Tây Ninh")
    assert fake.texts(USER)[1] == text("consent.ask", "vi")


async def test_an_english_telegram_interface_still_gets_vietnamese_with_a_switch(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    update = fake.make_update(USER, "/start")
    update["message"]["from"]["language_code"] = "en"
    fake.push({k: v for k, v in update.items() if k != "update_id"})
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    assert fake.texts(USER)[0] == text("welcome.greeting", "vi", organisation="Tỉnh đoàn Tây Ninh")
    [greeting, _consent] = fake.sent(chat_id=USER)
    [[switch]] = greeting["reply_markup"]["inline_keyboard"]
    assert (switch["text"], switch["callback_data"]) == ("English", "lang:en")
    fake.press(USER, "lang:en")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 4)
    assert fake.texts(USER)[2:] == [text("language.changed", "en"), text("consent.ask", "en")]
    fake.message(USER, "cho minh hoi thu tuc ket nap doan o dau")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 6)
    assert fake.texts(USER)[5] == text("consent.ask", "en"), "a chosen language sticks"


async def test_a_first_text_clearly_in_english_gets_english(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    fake.message(USER, "/start")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    fake.message(USER, "Hello, I would like to ask about volunteering this summer")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 4)
    assert fake.texts(USER)[2:] == [text("errors.use_buttons", "en"), text("consent.ask", "en")]
    [[switch]] = fake.sent(chat_id=USER)[0]["reply_markup"]["inline_keyboard"]
    assert switch["callback_data"] == "lang:en"


async def test_a_first_message_in_english_is_greeted_in_english(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    fake.message(USER, "Hi, how do I join the youth union as a student?")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    assert fake.texts(USER)[0].startswith("Hello!")
    [[switch]] = fake.sent(chat_id=USER)[0]["reply_markup"]["inline_keyboard"]
    assert (switch["text"], switch["callback_data"]) == ("Tiếng Việt", "lang:vi")


async def test_language_button_switches_and_sticks(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    fake.message(USER, "/language")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    buttons = fake.sent(chat_id=USER)[0]["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["lang:vi", "lang:en"]
    fake.press(USER, "lang:en")
    fake.message(USER, "/help")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 5)
    # Not a dead end: the question they are at (consent) follows, in the new language.
    consent = text("consent.ask", "en")
    changed = [text("language.changed", "en"), consent, text("help.body", "en"), consent]
    assert fake.texts(USER)[1:] == changed
    assert fake.sent("answerCallbackQuery"), "the button spinner was not stopped"
    [person] = await rows(app.db, Person)
    assert person.language == "en"


async def test_forged_button_is_refused_politely(fake: FakeTelegram, make_app: AppFactory) -> None:
    await make_app()
    fake.message(USER, "/start")
    fake.press(USER, "ticket:take:999")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 4)
    assert fake.texts(USER)[2:] == [text("errors.stale_choice", "vi"), text("consent.ask", "vi")]


async def test_each_update_is_stored_and_handled_once(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    ids = [fake.message(USER + i, "/help") for i in range(5)]
    await fake.wait_for(lambda: len(fake.sent()) == 5)
    events = await rows(app.db, InboxEvent)
    outbox = await rows(app.db, OutboxMessage)
    assert [e.event_id for e in events] == [str(i) for i in ids]
    assert {e.status for e in events} == {"done"}
    assert sorted(m.source_event_id for m in outbox if m.source_event_id) == [e.id for e in events]
    await fake.wait_for(lambda: fake.confirmed_offset > ids[-1])


async def test_polling_outlasts_bot_api_errors(fake: FakeTelegram, make_app: AppFactory) -> None:
    fake.fail("getUpdates", 502)
    fake.fail("getUpdates", 429, retry_after=1)
    await make_app()
    fake.message(USER, "/help")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    polls = [c.status for c in fake.calls if c.method == "getUpdates"]
    assert polls[:3] == [502, 429, 200]
    assert fake.texts(USER) == [text("help.body", "vi")]


async def test_a_redelivered_batch_is_handled_once(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    seen = fake.make_update(USER, "/help")
    await app.intake.record("telegram", [(str(seen["update_id"]), seen)])
    fresh = fake.make_update(USER + 1, "/help")
    # As if Telegram sent again a batch whose confirmation was lost, with one new update.
    batch = [(str(u["update_id"]), u) for u in (seen, fresh, fresh)]
    await app.intake.receive("telegram", batch)
    await fake.wait_for(lambda: len(fake.texts(USER + 1)) == 1)
    await app.outbox.drain()
    assert fake.texts(USER) == [], "stored before: not queued again"
    assert fake.texts(USER + 1) == [text("help.body", "vi")]
    events = await rows(app.db, InboxEvent)
    assert sorted(e.event_id for e in events) == sorted(
        [str(seen["update_id"]), str(fresh["update_id"])]
    )


async def test_stored_but_unhandled_update_is_handled_after_restart(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    first = await make_app()
    update = fake.make_update(USER, "/help")
    # As if the process died after storing the update and confirming it to Telegram.
    await first.intake.record("telegram", [(str(update["update_id"]), update)])
    await first.stop()
    assert fake.texts(USER) == []
    await make_app()
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    assert fake.texts(USER) == [text("help.body", "vi")]


async def test_blocked_user_is_unsubscribed_for_good(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    fake.fail("sendMessage", 403, chat_id=str(USER))
    fake.message(USER, "/start")
    await fake.wait_for(lambda: any(c.status == 403 for c in fake.calls))
    await app.outbox.drain()
    [identity] = await rows(app.db, ChannelIdentity)
    messages = await rows(app.db, OutboxMessage)
    assert identity.reachable is False
    assert [m.status for m in messages] == ["dropped", "dropped"], "the queued one too"


async def test_each_chat_keeps_its_order_under_latency(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    fake.latency = 0.05
    users = [USER + 100 + i for i in range(30)]
    for command in ("/start", "/help", "/language"):
        for user in users:
            fake.message(user, command)
    await fake.wait_for(lambda: len(fake.sent()) == 150, seconds=60)
    consent = text("consent.ask", "vi")  # /help answers, then repeats the open question
    expected = [consent, text("help.body", "vi"), consent, text("language.ask", "vi")]
    for user in users:
        texts = fake.texts(user)
        assert texts[0].startswith("Xin chào"), user
        assert texts[1:] == expected, user


async def test_a_chat_waits_for_its_earlier_update_while_others_go_on(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    await make_app()
    fake.message(USER, "/start")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 2)
    # The press's lane ends by stopping the button's spinner: held here, like a slow network.
    release = fake.hold("answerCallbackQuery")
    fake.press(USER, "consent:privacy")
    await fake.wait_for(lambda: len(fake.texts(USER)) > 2)  # handled; now acknowledging
    last = fake.message(USER, "/help")
    fake.message(USER + 1, "/help")
    try:
        await fake.wait_for(lambda: len(fake.texts(USER + 1)) == 1)
        await fake.wait_for(lambda: fake.confirmed_offset > last)
        assert text("help.body", "vi") not in fake.texts(USER), "the /help waits for the press"
    finally:
        release.set()
    await fake.wait_for(lambda: text("help.body", "vi") in fake.texts(USER))
    assert len(fake.sent("answerCallbackQuery")) == 1


async def test_a_failing_handler_apologises_and_sets_the_update_aside(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    def broken(event: Inbound, ctx: Context) -> list[Reply]:
        """A handler with a bug."""
        raise RuntimeError("bug")

    app = await make_app(handler=broken, expected_errors=1)
    fake.message(USER, "/start")
    await fake.wait_for(lambda: len(fake.texts(USER)) == 1)
    assert fake.texts(USER) == [text("errors.internal", "vi")]
    [event] = await rows(app.db, InboxEvent)
    assert event.status == "failed"
    assert await rows(app.db, Person) == [], "the failed handling changed nothing"
