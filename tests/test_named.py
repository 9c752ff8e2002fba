"""Sending with one's name on every channel: the name (and a call-back contact) asked once
where the channel gives none, kept, shown on the staff card and in a story's credit, never for
an anonymous submission, edited in /settings; a language switch that repeats the open step;
text typed at the menu offered as a submission instead of thrown away."""

import datetime as dt
from typing import Any

import pytest

from bot.app import CHANNELS
from bot.domain.contact import clean_contact, clean_email, clean_name, clean_phone, is_greeting
from bot.domain.i18n import text
from storage.models import Conversation, Person, Ticket
from tests import line_channel
from tests.conftest import AppFactory, Clock, config_with, rows
from tests.desk import AN, BINH, CODE, GO_DAU_GROUP, Desk, desk_config
from tests.dialogue import Chat, answer_privacy, onboard, submit
from tests.fake_telegram import FakeTelegram
from tests.line_channel import LineChannel, LineClient
from tests.test_new_channel import MENU_LINE, number_of, vi
from tests.webchat import Browser, signed_in_staff

CHANNEL = -1003
SLOT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)  # 07:30 in Tây Ninh: the daily post
COMPLAINT = "Đèn đường ở khu phố 3 bị hỏng hai tuần nay, tối đi lại rất nguy hiểm."
QUESTION = "Cho mình hỏi thủ tục chuyển sinh hoạt Đoàn về phường mới thế nào ạ?"
STORY = "Các bạn đoàn viên phường sơn lại tường trường mẫu giáo cuối tuần qua."
TYPED = "Phạm Thu Trang"
USER = 6301


# ---- the pure parts, as tables ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Phạm Thu Trang", "Phạm Thu Trang"),
        ("  nguyễn   văn   an  ", "nguyễn văn an"),
        ("Pha\u0323m Thu", "Phạm Thu"),  # decomposed, as some keyboards send it: NFC
        ("Lan", "Lan"),
        ("Li", "Li"),
        ("L", None),
        ("   ", None),
        ("Lan123", None),
        ("Lan 😀", None),
        ("<b>Lan</b>", None),
        ("a" * 80, "a" * 80),
        ("a" * 81, None),
    ],
)
def test_a_name_is_cleaned_and_checked(typed: str, expected: str | None) -> None:
    assert clean_name(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("0912 345 678", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0386-123-456", "+84386123456"),
        ("(028) 3822 1234", "+842838221234"),
        ("0276 3822 123", "+842763822123"),
        ("0112345678", None),  # no such prefix
        ("091234567", None),  # one digit short
        ("09123456789", None),  # one too many
        ("+1 415 555 0100", None),
        ("không có", None),
    ],
)
def test_a_vietnamese_phone_number_is_normalised(typed: str, expected: str | None) -> None:
    assert clean_phone(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("trang@gmail.com", "trang@gmail.com"),
        (" Trang.Pham@GMAIL.COM ", "Trang.Pham@gmail.com"),
        ("a@b.edu.vn", "a@b.edu.vn"),
        ("trang@gmail", None),
        ("trang gmail.com", None),
        ("tr ang@gmail.com", None),
        ("@gmail.com", None),
        ("x@" + "a" * 250 + ".com", None),
    ],
)
def test_an_email_is_checked(typed: str, expected: str | None) -> None:
    assert clean_email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("0912 345 678", "+84912345678"), ("trang@gmail.com", "trang@gmail.com"), ("mai", None)],
)
def test_a_contact_is_a_phone_or_an_email(typed: str, expected: str | None) -> None:
    assert clean_contact(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("hi", True),
        ("Xin chào!", True),
        ("xin chào bạn", True),
        ("Cảm ơn ạ", True),
        ("Chào Tỉnh đoàn, chào mọi người nhé", True),
        ("hello, good morning", True),
        ("bạn ơi", False),
        ("Chào, cho mình hỏi về học bổng", False),
        (QUESTION, False),
    ],
)
def test_a_greeting_is_told_from_something_to_file(typed: str, expected: bool) -> None:
    assert is_greeting(typed) is expected


# ---- the web chat: a channel that gives no name ------------------------------------------


async def test_a_named_complaint_on_the_web_asks_the_name_and_the_card_shows_it(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config(), serve_http=True)
    desk, staff, visitor = Desk(fake, app), await signed_in_staff(app), Browser(app)
    try:
        await visitor.open()
        await onboard(visitor, app.config)
        await visitor.press("menu:complaint")
        await visitor.press(visitor.buttons()[0])
        await visitor.send(COMPLAINT)
        await visitor.press("att:done")
        assert await visitor.press("anon:no") == [text("profile_name.ask", "vi")]
        assert await visitor.send("x") == [text("profile_name.invalid", "vi")]
        kept, _contact_ask = await visitor.send("  phạm   Thu Trang ", replies=2)
        assert kept == text("profile_name.kept", "vi", name="phạm Thu Trang")
        assert await visitor.send("12345") == [text("profile_name.contact_invalid", "vi")]
        saved, preview = await visitor.send("0912 345 678", replies=2)
        assert saved == text("profile_name.contact_kept", "vi", contact="+84912345678")
        assert "(phạm Thu Trang; liên hệ +84912345678: chỉ cán bộ Đoàn thấy" in preview
        receipt, _menu = await visitor.press("preview:send", replies=2)
        found = CODE.search(receipt)
        assert found is not None, receipt
        code = found.group()
        await desk.cards_reach(code, GO_DAU_GROUP)
        card = desk.card(GO_DAU_GROUP, code)
        assert _sender("phạm Thu Trang", "+84912345678") in card
        assert text("staff.sender_unnamed", "vi") not in card
        await staff.wait_for(lambda: any(code in t and "phạm Thu Trang" in t for t in staff.texts))

        # Asked once: the next named question goes straight to the preview.
        await visitor.press("menu:question")
        await visitor.press(visitor.buttons()[0])
        await visitor.send(QUESTION)
        await visitor.press("att:done")
        await visitor.press("anon:no")
        assert visitor.buttons()[0] == "preview:send", "no second name question"
        given = [
            (p.profile.get("given_name"), p.profile.get("contact")) for p in await _people(app)
        ]
        assert given == [("phạm Thu Trang", "+84912345678")]
    finally:
        await visitor.close()
        await staff.close()


async def _people(app: Any) -> list[Person]:
    """The young people (not the staff, who are people too)."""
    return [p for p in await rows(app.db, Person) if p.staff_code is None]


def _only(tickets: list[Ticket]) -> int | None:
    """The one author of these tickets."""
    [author] = {t.author_id for t in tickets}
    return author


def _sender(name: str, contact: str) -> str:
    """How a card names a sender who left a contact."""
    return text("profile_name.card_sender", "vi", name=name, contact=contact)


async def test_an_anonymous_submission_never_shows_the_given_name_or_contact(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config(), serve_http=True)
    desk, staff, visitor = Desk(fake, app), await signed_in_staff(app), Browser(app)
    try:
        await visitor.open()
        await onboard(visitor, app.config)
        await visitor.press("set:name")
        await visitor.press("set:name:change")
        await visitor.send(TYPED, replies=2)
        await visitor.press("set:name:contact")
        await visitor.send("trang@gmail.com", replies=2)
        receipt, _menu = await submit(visitor, "question", QUESTION, privacy="anon:yes")
        found = CODE.search(receipt)
        assert found is not None
        await desk.cards_reach(found.group(), GO_DAU_GROUP)
        card = desk.card(GO_DAU_GROUP, found.group())
        assert text("staff.sender_anonymous", "vi") in card
        await staff.wait_for(lambda: any(found.group() in t for t in staff.texts))
        shown = [*fake.texts(GO_DAU_GROUP), *fake.texts(AN), *staff.texts]
        assert not [t for t in shown if "Thu Trang" in t or "trang@gmail" in t]
    finally:
        await visitor.close()
        await staff.close()


# ---- Telegram: a display name, and the one typed in /settings ------------------------------


async def test_settings_change_and_remove_the_name_that_wins_over_the_display_name(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config())
    desk, chat = Desk(fake, app), Chat(fake, app, USER)
    fake.names[USER] = "tg_nickname"
    await onboard(chat, app.config)
    await chat.press("menu:settings")
    assert "set:name" in chat.buttons()
    unset = text("common.not_set", "vi")
    [summary] = await chat.press("set:name")
    assert summary == text("profile_name.summary", "vi", name=unset, contact=unset)
    assert await chat.press("set:name:change") == [text("profile_name.ask", "vi")]
    assert await chat.send("Trang 2000") == [text("profile_name.invalid", "vi")]
    _kept, summary = await chat.send(TYPED, replies=2)
    assert summary == text("profile_name.summary", "vi", name=TYPED, contact=unset)
    await chat.press("set:name:contact")
    _saved, summary = await chat.send("+84 386 123 456", replies=2)
    assert summary == text("profile_name.summary", "vi", name=TYPED, contact="+84386123456")
    [settings] = await chat.press("menu:settings")
    assert f"{TYPED}, +84386123456" in settings, "the settings list them too"

    first = CODE.search((await submit(chat, "complaint", COMPLAINT, privacy="anon:no"))[0])
    assert first is not None
    await desk.cards_reach(first.group(), GO_DAU_GROUP)
    card = desk.card(GO_DAU_GROUP, first.group())
    assert _sender(TYPED, "+84386123456") in card, "the typed name wins"
    assert "tg_nickname" not in card

    removed, summary = await chat.press("set:name:remove", replies=2)
    assert removed == text("profile_name.removed", "vi")
    assert summary == text("profile_name.summary", "vi", name=unset, contact=unset)
    second = CODE.search((await submit(chat, "question", QUESTION, privacy="anon:no"))[0])
    assert second is not None
    await desk.cards_reach(second.group(), GO_DAU_GROUP)
    card = desk.card(GO_DAU_GROUP, second.group())
    assert "tg_nickname" in card, "back to the channel's name"
    assert TYPED not in card
    assert await chat.press("set:name:change") == [text("profile_name.ask", "vi")]
    [back] = await chat.send("/cancel")
    assert back == text("cancel.done", "vi"), "a name question left undone changes nothing"
    [person] = [p for p in await _people(app) if p.id == _only(await rows(app.db, Ticket))]
    assert "given_name" not in person.profile
    assert "contact" not in person.profile


async def test_a_story_is_credited_by_the_name_its_author_typed(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(SLOT - dt.timedelta(hours=1))
    config = desk_config(channels={"telegram": {"public_channel_id": CHANNEL}, "web": {}})
    app = await make_app(config=config, clock=clock, serve_http=True)
    desk, visitor = Desk(fake, app), Browser(app)
    try:
        await visitor.open()
        await onboard(visitor, app.config)
        await visitor.press("menu:story")
        await visitor.press(visitor.buttons()[0])
        await visitor.send(STORY)
        await visitor.press("att:done")
        await answer_privacy(visitor, "pub:named", TYPED)
        receipt, _menu = await visitor.press("preview:send", replies=2)
    finally:
        await visitor.close()
    found = CODE.search(receipt)
    assert found is not None, receipt
    await desk.press(BINH, f"m:ok:{found.group()}", sends=2)
    clock.now = SLOT
    posted = await desk.after(lambda: app.publisher.daily(clock.now), sends=3)
    [post] = [c for c in posted if c.params["chat_id"] == CHANNEL]
    assert TYPED in post.params["text"], "credited by the name they typed"
    [card] = [c for c in posted if c.method == "editMessageText"]
    assert TYPED in card.params["text"], "and the moderators' card says so"
    assert text("publish.credit_anonymous", "vi", unit="Phường Gò Dầu") not in post.params["text"]


# ---- a language switch repeats the step ------------------------------------------------------


async def test_switching_language_mid_flow_asks_the_step_again_in_the_new_language(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor = Browser(app)
    try:
        await visitor.open()
        await onboard(visitor, app.config)
        await visitor.press("menu:complaint")
        await visitor.press(visitor.buttons()[0])
        changed, asked = await visitor.choose_language("en")
        limits = app.config.raw.limits
        values = {"min": str(limits.text_min_chars), "max": str(limits.text_max_chars)}
        assert changed == text("language.changed", "en")
        assert asked == text("submit.text_ask.complaint", "en", **values)
        await visitor.send("/menu")
        assert await visitor.choose_language("vi") == [
            text("language.changed", "vi"),
            text("menu.ask", "vi"),
        ], "no dialogue open: the menu, not a dead end"
        assert visitor.buttons()[0] == "menu:complaint"
    finally:
        await visitor.close()

    chat = Chat(fake, app, USER)
    await onboard(chat, app.config)
    await chat.press("menu:question")
    await chat.press(chat.buttons()[0])
    await chat.send(QUESTION)
    await chat.press("att:done")
    await chat.send("/language")
    assert chat.buttons() == ["lang:vi", "lang:en"]
    changed, asked = await chat.press("lang:en", replies=2)
    assert asked == text("submit.anonymity_ask", "en")
    assert chat.buttons() == ["anon:no", "anon:yes"]


# ---- text typed at the menu is kept --------------------------------------------------------


async def test_text_typed_at_the_menu_becomes_a_question_with_that_text(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    chat = Chat(fake, app, USER)
    await onboard(chat, app.config)
    assert await chat.send("Xin chào!", replies=2) == [
        text("fallback.received", "vi"),
        text("menu.ask", "vi"),
    ], "a greeting gets the menu"
    [offer] = await chat.send(QUESTION)
    cut = "Cho mình hỏi thủ tục chuyển sinh hoạt Đoàn về phường mới…"  # at a word
    assert offer == text("profile_name.kept_ask", "vi", text=cut)
    assert chat.buttons() == ["kept:question", "kept:complaint", "kept:idea", "kept:cancel"]
    [category] = await chat.press("kept:question")
    assert category == text("submit.category_ask.question", "vi")
    await chat.press(chat.buttons()[0])  # the text step is skipped
    assert chat.buttons() == ["att:done"]
    await chat.press("att:done")
    await chat.press("anon:yes")
    await chat.press("preview:send", replies=2)
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.kind, ticket.text) == ("question", QUESTION), "nothing typed was lost"

    idea = "Mình muốn góp ý về giờ mở cửa nhà văn hoá."
    await chat.send(idea)
    await chat.send("/language")
    _changed, offer = await chat.press("lang:en", replies=2)
    assert offer == text("profile_name.kept_ask", "en", text=idea), "the open question, in English"
    assert await chat.press("kept:cancel") == [text("profile_name.kept_dropped", "en")]
    await chat.send(idea)
    await chat.press("menu:help", replies=2)  # they moved on: the text is no longer kept
    [conversation] = await rows(app.db, Conversation)
    assert "_typed" not in conversation.draft
    assert await chat.press("kept:idea") == [text("menu.ask", "en")], "nothing kept any more"
    assert len(await rows(app.db, Ticket)) == 1


async def test_text_typed_at_the_menu_is_offered_by_number_without_buttons(
    make_app: AppFactory,
) -> None:
    config = config_with({"channels": {"line": {"port": 0}}})
    app = await make_app(
        config=config, registry={**CHANNELS, line_channel.NAME: line_channel.build}
    )
    channel = app.channels[line_channel.NAME]
    assert isinstance(channel, LineChannel)
    client = await LineClient.connect(channel.port, "kept")
    try:
        greeting = await client.until("/start", vi("consent.agree"))
        await client.until(number_of(greeting, vi("consent.agree")), vi("unit.ask")[:20])
        units = await client.until("go dau", "Phường Gò Dầu")
        age = await client.until(number_of(units, "Phường Gò Dầu"), vi("common.skip"))
        work = await client.until(number_of(age, vi("common.skip")), vi("common.skip"))
        await client.until(number_of(work, vi("common.skip")), vi("menu.complaint"))
        offer = await client.until(QUESTION, f". {vi('profile_name.kept_cancel')}\n")
        categories = await client.until(number_of(offer, vi("menu.question")), "2.")
        [(first, _label)] = MENU_LINE.findall(categories)[:1]
        # The text step is skipped: the attachments are asked next.
        await client.until(first, f". {vi('submit.attachments_done')}\n")
    finally:
        client.close()
    [conversation] = await rows(app.db, Conversation)
    assert conversation.draft["submission"]["text"] == QUESTION
