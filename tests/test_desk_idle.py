"""Staff who type with nothing pending never fall into the youth dialogue: a desk hint in
their private chat, silence in groups, and what they typed kept for the answer they meant."""

import datetime as dt
from typing import Any

from bot.domain.i18n import text
from bot.domain.lifecycle import Status
from storage.models import AuditEntry, Person, Ticket, TicketMessage
from tests.conftest import AppFactory, Clock, rows
from tests.desk import AN, CODE, GO_DAU_GROUP, OFFICE, YOUTH, Desk, desk_config, to
from tests.dialogue import Chat, onboarded, submit
from tests.fake_telegram import Call, FakeTelegram

GREETING = "chao moi nguoi"
MODERATOR = 8101
ANSWER = "Chào bạn, Đoàn phường đã báo Đội quản lý thị trường kiểm tra quán ăn này."


async def _file(chat: Chat, desk: Desk, body: str) -> str:
    """The young person files a named food-safety complaint in Gò Dầu; its cards arrive."""
    receipt, _ = await submit(chat, "complaint", body, "anon:no")
    found = CODE.search(receipt)
    assert found is not None
    await desk.cards_reach(found.group(), GO_DAU_GROUP, AN)
    return found.group()


async def _taken(
    fake: FakeTelegram, make_app: AppFactory, count: int, **app_args: Any
) -> tuple[Chat, Desk, list[str]]:
    """`count` complaints, each taken by Nguyễn Văn An."""
    chat = await onboarded(fake, make_app, desk_config(), YOUTH, **app_args)
    desk = Desk(fake, chat.app)
    codes = []
    for number in range(count):
        code = await _file(
            chat, desk, f"Quán ăn số {number + 1} trước cổng trường bán đồ ôi thiu."
        )
        await desk.press(AN, f"t:take:{code}", chat=GO_DAU_GROUP, sends=4)
        codes.append(code)
    return chat, desk, codes


def _buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [b for row in markup["inline_keyboard"] for b in row]


async def test_staff_get_a_desk_hint_not_the_consent_question(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config())
    desk = Desk(fake, app)
    [hint] = await desk.say(AN, GREETING, sends=1)
    assert hint.params["text"] == text("desk.idle_hint", "vi")
    assert not _buttons(hint)
    await desk.say(AN, GREETING, chat=GO_DAU_GROUP, sends=0)  # colleagues chatting: silence
    persons = await rows(app.db, Person)
    assert all(p.consent_at is None for p in persons), "nobody was onboarded"


async def test_a_stray_start_does_not_trap_staff_at_the_consent_question(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config())
    desk = Desk(fake, app)
    await desk.say(OFFICE, "/start", sends=2)  # today's youth greeting and consent
    [hint] = await desk.say(OFFICE, GREETING, sends=1)
    assert hint.params["text"] == text("desk.idle_hint", "vi")


async def test_a_moderator_gets_the_moderation_desk_hint(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config())
    desk = Desk(fake, app)
    [invite] = await desk.say(OFFICE, "/invite moderator", sends=1)
    payload = str(invite.params["text"]).split()[-1].split("start=")[1]
    await desk.say(MODERATOR, f"/start {payload}", sends=2)
    [hint] = await desk.say(MODERATOR, GREETING, sends=1)
    assert hint.params["text"] == text("desk.idle_moderator", "vi")


async def test_the_text_is_offered_as_the_answer_to_the_one_ticket_they_hold(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, [code] = await _taken(fake, make_app, 1)
    [offer] = await desk.say(AN, ANSWER, sends=1)
    assert offer.params["text"] == text("desk.idle_offer", "vi", code=code, text=ANSWER)
    yes, no = _buttons(offer)
    assert (yes["text"], no["text"]) == (text("desk.idle_yes", "vi"), text("desk.idle_no", "vi"))
    assert yes["callback_data"].startswith(f"t:send:{code}:")

    sent = await desk.press(AN, yes["callback_data"], sends=4)  # as the Reply button does
    assert to(sent, AN)[0] == text("desk.done_reply", "vi", code=code)
    [notice] = to(sent, YOUTH)
    assert ANSWER in notice
    assert text("status.answered", "vi") in notice
    assert f"mine:add:{code}" in chat.buttons()
    [ticket] = await rows(desk.app.db, Ticket)
    assert ticket.status == Status.ANSWERED
    assert [m.body for m in await rows(desk.app.db, TicketMessage)][-1] == ANSWER
    assert [e.action for e in await rows(desk.app.db, AuditEntry)] == ["take", "reply"]

    [again] = await desk.press(AN, yes["callback_data"], sends=1)
    assert again.params["text"] == text("errors.stale_choice", "vi"), "sent once only"


async def test_no_drops_the_offer_and_an_older_offer_never_sends_a_newer_text(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _chat, desk, [_code] = await _taken(fake, make_app, 1)
    [first] = await desk.say(AN, "Câu trả lời nháp thứ nhất cho bạn.", sends=1)
    [second] = await desk.say(AN, ANSWER, sends=1)
    [stale] = await desk.press(AN, _buttons(first)[0]["callback_data"], sends=1)
    assert stale.params["text"] == text("errors.stale_choice", "vi")
    [dropped] = await desk.press(AN, _buttons(second)[1]["callback_data"], sends=1)
    assert dropped.params["text"] == text("desk.idle_dropped", "vi")
    [gone] = await desk.press(AN, _buttons(second)[0]["callback_data"], sends=1)
    assert gone.params["text"] == text("errors.stale_choice", "vi")
    [ticket] = await rows(desk.app.db, Ticket)
    assert ticket.status == Status.ASSIGNED, "nothing reached the sender"


async def test_with_several_tickets_a_hint_and_the_text_waits_for_the_reply_button(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _chat, desk, [first, second] = await _taken(fake, make_app, 2)
    [hint] = await desk.say(AN, ANSWER, sends=1)
    assert hint.params["text"] == text("desk.idle_several", "vi", count="2")
    [prompt] = await desk.press(AN, f"t:reply:{second}", chat=GO_DAU_GROUP, sends=1)
    [kept] = _buttons(prompt)
    assert kept["text"] == text("desk.idle_kept", "vi", label=ANSWER[:40])
    sent = await desk.press(AN, kept["callback_data"], chat=GO_DAU_GROUP, sends=4)
    [notice] = to(sent, YOUTH)
    assert ANSWER in notice
    assert second in notice
    statuses = {t.code: t.status for t in await rows(desk.app.db, Ticket)}
    assert statuses == {first: Status.ASSIGNED, second: Status.ANSWERED}


async def test_a_kept_text_goes_stale_after_the_dialogue_timeout(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC))
    _chat, desk, [_first, second] = await _taken(fake, make_app, 2, clock=clock)
    await desk.say(AN, ANSWER, sends=1)
    clock.now += dt.timedelta(minutes=61)  # limits.dialogue_timeout_minutes is 60
    [prompt] = await desk.press(AN, f"t:reply:{second}", chat=GO_DAU_GROUP, sends=1)
    assert prompt.params["text"] == text("desk.ask_reply", "vi", code=second)
    assert not _buttons(prompt), "an hour-old text is not offered as the answer"
