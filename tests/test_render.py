"""Rendering for what a channel can do: numbered menus where there are no buttons and typed
answers read back from them, texts cut to a channel's length, edits or new messages; and the
web chat without buttons, through its real HTTP API, filing a whole complaint by numbers."""

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from bot.app import CauNoi
from bot.channels.base import Capabilities
from bot.channels.render import (
    chosen,
    edits_in_place,
    fit_menus,
    pieces,
    reply_with,
    split_text,
)
from bot.channels.web import CHANNEL as WEB
from bot.dispatch import queue_replies
from bot.domain.i18n import text
from bot.domain.messages import Choice, Recipient, Rendered, Reply
from storage import menus
from storage.db import Database
from storage.models import OfferedMenu, Ticket, utcnow
from tests.conftest import AppFactory, config_with, rows
from tests.dialogue import CODE, Chat, onboard, submit
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser

BUTTONS = Capabilities(buttons=True, edits=True, max_text=4096)
NO_BUTTONS = Capabilities(buttons=False, edits=False, max_text=2000)
YES_NO = ((("consent:yes", "Tôi đồng ý"), ("consent:no", "Không đồng ý")),)
COMPLAINT = "Đèn đường ở ấp 3 tắt cả tháng nay, buổi tối các bạn đi học về rất nguy hiểm."
MENU_LINE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


# ---- numbered menus --------------------------------------------------------------------------


def test_a_channel_with_buttons_keeps_its_choices() -> None:
    message = Rendered("Bạn có đồng ý không?", YES_NO)
    fitted = fit_menus([message], BUTTONS, "vi")
    assert fitted.messages == (message,)
    assert fitted.offer == ()


def test_without_buttons_choices_become_numbered_lines_and_a_reply_line() -> None:
    fitted = fit_menus([Rendered("Bạn có đồng ý không?", YES_NO)], NO_BUTTONS, "vi")
    [shown] = fitted.messages
    assert shown.choices == ()
    assert shown.text == "Bạn có đồng ý không?\n\n1. Tôi đồng ý\n2. Không đồng ý\nTrả lời 1 hoặc 2"
    assert fitted.offer == (("consent:yes", "Tôi đồng ý"), ("consent:no", "Không đồng ý"))


def test_numbers_run_on_across_the_messages_of_one_answer() -> None:
    first = Rendered("Xin chào!", ((("lang:en", "English"),),))
    plain = Rendered("Cảm ơn bạn!")
    fitted = fit_menus([first, plain, Rendered("Bạn có đồng ý không?", YES_NO)], NO_BUTTONS, "vi")
    texts = [m.text for m in fitted.messages]
    assert texts[0].endswith("1. English\nTrả lời 1")
    assert texts[1] == "Cảm ơn bạn!"
    assert texts[2].endswith("2. Tôi đồng ý\n3. Không đồng ý\nTrả lời 2 hoặc 3")
    assert [choice for choice, _ in fitted.offer] == ["lang:en", "consent:yes", "consent:no"]


@pytest.mark.parametrize(
    ("numbers", "language", "line"),
    [
        (["1"], "vi", "Trả lời 1"),
        (["1", "2"], "vi", "Trả lời 1 hoặc 2"),
        (["1", "2", "3"], "vi", "Trả lời 1, 2 hoặc 3"),
        (["4", "5", "6"], "en", "Reply 4, 5 or 6"),
    ],
)
def test_the_reply_line_names_the_numbers(numbers: list[str], language: str, line: str) -> None:
    assert reply_with(numbers, language) == line


OFFER = (("unit:go-dau", "Phường Gò Dầu"), ("unit:none", "Không có trong danh sách - gõ lại"))


@pytest.mark.parametrize(
    ("typed", "picked"),
    [
        ("1", "unit:go-dau"),
        (" 2. ", "unit:none"),
        ("2)", "unit:none"),
        ("3", None),  # no such number
        ("0", None),
        ("Phường Gò Dầu", "unit:go-dau"),
        ("phuong go dau", "unit:go-dau"),
        ("PHƯỜNG GÒ DẦU!", "unit:go-dau"),
        ("go dau", None),  # a search, not a label
        ("1 2", None),
        ("", None),
        ("🙂", None),
    ],
)
def test_a_typed_number_or_label_picks_a_choice(typed: str, picked: str | None) -> None:
    assert chosen(typed, OFFER) == picked


def test_a_label_offered_twice_under_different_ids_picks_nothing() -> None:
    assert chosen("Xem", (("a:1", "Xem"), ("b:2", "Xem"))) is None


# ---- long texts and edits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "limit", "pieces"),
    [
        (
            "Câu một dài dài. Câu hai ngắn. Câu ba",
            31,
            ["Câu một dài dài. Câu hai ngắn.", "Câu ba"],
        ),
        ("Hỏi vậy à? Đúng rồi! Thế thôi", 21, ["Hỏi vậy à? Đúng rồi!", "Thế thôi"]),
        ("dòng một\ndòng hai dài hơn", 12, ["dòng một", "dòng hai dài", "hơn"]),
        ("một hai ba bốn năm", 9, ["một hai", "ba bốn", "năm"]),
        ("x" * 9000, 4096, ["x" * 4096, "x" * 4096, "x" * 808]),
        ("ngắn thôi.", 2000, ["ngắn thôi."]),
    ],
)
def test_long_texts_are_cut_at_sentences_then_lines_then_words(
    body: str, limit: int, pieces: list[str]
) -> None:
    assert split_text(body, limit) == pieces


def test_a_sentence_end_early_in_a_piece_does_not_leave_it_short() -> None:
    body = "Ừ. " + "chữ " * 30
    pieces = split_text(body, 40)
    assert len(pieces[0]) > 20
    assert all(len(piece) <= 40 for piece in pieces)
    assert " ".join(pieces).split() == body.split()


def test_a_long_message_goes_as_pieces_with_its_choices_on_the_last() -> None:
    body = "Câu thứ nhất khá dài. Câu thứ hai cũng dài. Câu ba."
    narrow = Capabilities(buttons=True, edits=False, max_text=25)
    sent = pieces(Rendered(body, YES_NO, key="card:1"), narrow)
    assert [p.text for p in sent] == ["Câu thứ nhất khá dài.", "Câu thứ hai cũng dài.", "Câu ba."]
    assert [p.choices for p in sent] == [(), (), YES_NO]
    assert all(len(p.text) <= 25 for p in sent)
    with_photo = Rendered(body, photos=("photo-1",))
    assert pieces(with_photo, narrow) == [with_photo], "its sender cuts it after the photo"


@pytest.mark.parametrize(
    ("key", "capabilities", "in_place"),
    [("card:1", BUTTONS, True), ("card:1", NO_BUTTONS, False), (None, BUTTONS, False)],
)
def test_an_edit_becomes_a_new_message_where_the_channel_cannot_edit(
    key: str | None, capabilities: Capabilities, in_place: bool
) -> None:
    assert edits_in_place(Rendered("thẻ", key=key), capabilities) is in_place


# ---- what a chat was offered ----------------------------------------------------------------


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The migrated test database."""
    database = Database(database_url)
    yield database
    await database.dispose()


ASK = Reply("consent.ask", choices=((Choice("consent:yes", "consent.agree"),),))
PLAIN = Reply("consent.thanks")
ME = Recipient(WEB, "visitor-1", "vi")
STAFF = Recipient(WEB, "staff-1", "vi")
SHOWN = {WEB: NO_BUTTONS}


def _queue(session: Session, replies: list[Reply], sender: Recipient = ME) -> None:
    queue_replies(session, replies, now=utcnow(), sender=sender, capabilities=SHOWN)


def _offer(session: Session, chat: Recipient = ME) -> menus.Offer:
    return menus.offered(session=session, channel=chat.channel, chat_id=chat.chat_id)


async def test_an_answer_replaces_the_offer_and_one_without_choices_clears_it(
    db: Database,
) -> None:
    with db.session() as session:
        _queue(session, [ASK])
        assert _offer(session) == (("consent:yes", "Tôi đồng ý"),)
        _queue(session, [PLAIN])
        assert _offer(session) == (), "a question without choices: a number is text again"


async def test_a_notice_to_someone_else_keeps_their_menu_unless_it_brings_one(
    db: Database,
) -> None:
    with db.session() as session:
        _queue(session, [ASK])
        _queue(session, [PLAIN, Reply("consent.thanks", to=ME)], sender=STAFF)
        assert _offer(session) == (("consent:yes", "Tôi đồng ý"),)
        _queue(session, [Reply("consent.ask", choices=ASK.choices, to=ME)], sender=STAFF)
        assert _offer(session) == (("consent:yes", "Tôi đồng ý"),)
        assert _offer(session, STAFF) == ()


async def test_channels_with_buttons_keep_no_offer(db: Database) -> None:
    with db.session() as session:
        queue_replies(session, [ASK], now=utcnow(), sender=ME, capabilities={WEB: BUTTONS})
        assert _offer(session) == ()


async def test_forgetting_a_chat_deletes_its_offer_and_old_offers_are_pruned(
    db: Database,
) -> None:
    with db.session() as session:
        _queue(session, [ASK])
        _queue(session, [ASK], sender=STAFF)
        menus.forget_chat(session=session, channel=WEB, chat_id=ME.chat_id)
        assert _offer(session) == ()
        assert _offer(session, STAFF) != ()
        later = utcnow() + dt.timedelta(days=1)
        assert menus.prune_offers(session=session, before=later) == 1
        assert _offer(session, STAFF) == ()


# ---- the web chat without buttons, end to end -----------------------------------------------


class NumberedBrowser:
    """A visitor who can only type: each "press" of a choice types its number, after checking
    that the chat shows it as a numbered line and carries no buttons."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.pressed: list[str] = []

    async def send(self, text: str, *, replies: int = 1) -> list[str]:
        """Type a message; return the bot's replies."""
        got = await self.browser.send(text, replies=replies)
        assert not any(e.get("choices") for e in self.browser.events.values()), "no buttons"
        return got

    async def press(self, choice: str, *, replies: int = 1) -> list[str]:
        """Answer a menu by typing the number of the choice."""
        number, label = self._shown(choice)
        assert f"\n{number}. {label}\n" in f"\n{self._recent()}\n", "the menu line is shown"
        self.pressed.append(choice)
        return await self.send(str(number), replies=replies)

    def buttons(self, back: int = 1) -> list[str]:
        """The choice ids of the menu last offered (every menu, as no message has buttons)."""
        return [choice for choice, _ in self._offer()]

    def _shown(self, choice: str) -> tuple[int, str]:
        for number, (offered, label) in enumerate(self._offer(), start=1):
            if offered == choice:
                return number, label
        raise AssertionError(f"{choice} is not on offer: {self._offer()!r}")

    def _offer(self) -> menus.Offer:
        visitor = self.browser.visitor_id
        with self.browser.app.db.session() as session:
            return menus.offered(session=session, channel=WEB, chat_id=visitor)

    def _recent(self) -> str:
        return "\n".join(self.browser.texts[-3:])


async def _typing_visitor(make_app: AppFactory) -> tuple[CauNoi, NumberedBrowser]:
    config = config_with({"channels": {"web": {"buttons": False}}})
    app = await make_app(serve_http=True, config=config)
    browser = Browser(app)
    await browser.open()
    return app, NumberedBrowser(browser)


async def test_a_whole_complaint_is_filed_on_the_web_by_typing_numbers(
    make_app: AppFactory,
) -> None:
    app, visitor = await _typing_visitor(make_app)
    try:
        await onboard(visitor, app.config)
        receipt, menu = await submit(visitor, "complaint", COMPLAINT, privacy="anon:no")
    finally:
        await visitor.browser.close()
    found = CODE.search(receipt)
    assert found, receipt
    unit = app.config.find_unit("Gò Dầu")
    assert unit is not None
    [category] = [p.removeprefix("cat:") for p in visitor.pressed if p.startswith("cat:")]
    assert visitor.pressed == [
        "consent:yes",
        f"unit:{unit.code}",
        "age:skip",
        "work:skip",
        "menu:complaint",
        f"cat:{category}",
        "att:done",
        "anon:no",
        "contact:skip",  # the web gives no name: it was asked for, and typed
        "preview:send",
    ]
    assert MENU_LINE.search(menu), "the main menu again, numbered"
    assert re.search(r"^Trả lời 1, 2, .* hoặc \d+$", menu, re.MULTILINE), menu
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.kind, ticket.text) == (found.group(), "complaint", COMPLAINT)
    assert (ticket.unit_code, ticket.category) == (unit.code, category)
    assert app.config.category("complaint", category) is not None


async def test_a_number_typed_where_text_is_asked_for_is_text(make_app: AppFactory) -> None:
    app, visitor = await _typing_visitor(make_app)
    try:
        await onboard(visitor, app.config)
        await visitor.press("menu:complaint")
        await visitor.press(visitor.buttons()[0])
        [answer] = await visitor.send("1")
    finally:
        await visitor.browser.close()
    least = str(app.config.raw.limits.text_min_chars)
    assert answer == text("submit.too_short", "vi", count="1", min=least)
    assert await rows(app.db, Ticket) == []


async def test_forgetting_leaves_no_menu_of_the_person(make_app: AppFactory) -> None:
    app, visitor = await _typing_visitor(make_app)
    try:
        await onboard(visitor, app.config)
        await visitor.send("/forget")
        assert visitor.buttons() != [], "the confirmation is on offer"
        await visitor.press("forget:yes")
    finally:
        await visitor.browser.close()
    assert visitor.pressed[-1] == "forget:yes"
    left = await app.db.run(lambda session: session.exec(select(OfferedMenu)).all())
    assert list(left) == []


async def test_channels_with_buttons_never_touch_the_menus(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(serve_http=True)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]).lower())

    event.listen(app.db.engine, "before_cursor_execute", seen)
    try:
        await onboard(Chat(fake, app, 8101), app.config)
        browser = Browser(app)
        await browser.open()
        try:
            await onboard(browser, app.config)
        finally:
            await browser.close()
    finally:
        event.remove(app.db.engine, "before_cursor_execute", seen)
    assert len(statements) > 20, "the statements were seen"
    assert [s for s in statements if "offeredmenu" in s] == []
