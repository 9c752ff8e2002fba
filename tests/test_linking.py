"""One person across channels only if they link them: /link on the web chat and on Telegram,
through the real app, the fake Bot API and the web chat's HTTP API; the rule as tables."""

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app import CauNoi
from bot.domain.i18n import text
from bot.domain.linking import (
    LinkCode,
    LinkOutcome,
    Tries,
    after,
    judge,
    may_try,
    new_code,
    read_code,
)
from storage.desk import SqlDeskRecords
from storage.models import ChannelIdentity, Person, Ticket
from storage.models import LinkCode as LinkRow
from storage.publishing import SqlPublishingRecords
from tests.conftest import AppFactory, Clock, rows
from tests.desk import CODE, desk_config
from tests.dialogue import Chat, onboard, submit
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo_bot import FakeZaloBot
from tests.test_zalo_bot import YOUTH as ZALO_YOUTH
from tests.test_zalo_bot import Chat as ZaloChat
from tests.test_zalo_bot import file_complaint
from tests.test_zalo_bot import start as zalo_app
from tests.webchat import Browser, signed_in_staff

NOW = dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=11)
COMPLAINT = "Đèn đường ở hẻm 5 đường Trần Hưng Đạo hỏng cả tháng nay, buổi tối rất tối."
QUESTION = "Cho em hỏi thủ tục chuyển sinh hoạt Đoàn khi đi học xa nhà ạ?"
DIGITS = re.compile(r"\b(\d{4} \d{4})\b")
TG, TG_OTHER, AN = 6201, 6202, 7001

BrowserFactory = Callable[..., Coroutine[Any, Any, Browser]]


# ---- the rule, as tables --------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("12345678", "12345678"),
        (" 0123 4567 ", "01234567"),
        ("0123-4567", "01234567"),
        (
            "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
            "12345678",
        ),  # full-width
        ("1234567", None),
        ("123456789", None),
        ("1234567a", None),
        ("١٢٣٤٥٦٧٨", None),  # digits, but not ones anyone is shown
        ("", None),
    ],
)
def test_a_code_is_read_as_eight_digits_with_spaces_or_dashes(
    typed: str, code: str | None
) -> None:
    assert read_code(typed) == code


def test_new_codes_keep_their_leading_zeros() -> None:
    assert new_code(lambda n: 42) == "00000042"
    assert new_code(lambda n: n - 1) == "99999999"


MAKER, JOINER = 1, 2
LIVE = LinkCode(MAKER, NOW + dt.timedelta(minutes=5), None, staff=False)


@pytest.mark.parametrize(
    ("code", "person", "staff", "outcome"),
    [
        (LIVE, JOINER, False, LinkOutcome.LINKED),
        (None, JOINER, False, LinkOutcome.WRONG),
        (LIVE, MAKER, False, LinkOutcome.SAME),
        (LinkCode(MAKER, NOW, None, staff=False), JOINER, False, LinkOutcome.EXPIRED),
        (LinkCode(MAKER, LIVE.expires_at, NOW, staff=False), JOINER, False, LinkOutcome.USED),
        (LIVE, JOINER, True, LinkOutcome.STAFF),
        (LinkCode(MAKER, LIVE.expires_at, None, staff=True), JOINER, False, LinkOutcome.STAFF),
    ],
)
def test_what_typing_a_code_does(
    code: LinkCode | None, person: int, staff: bool, outcome: LinkOutcome
) -> None:
    assert judge(code, person_id=person, staff=staff, now=NOW) is outcome


HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("tries", "now", "allowed"),
    [
        (None, NOW, True),
        (Tries(NOW, 4), NOW, True),
        (Tries(NOW, 5), NOW + HOUR - dt.timedelta(seconds=1), False),
        (Tries(NOW, 5), NOW + HOUR, True),
    ],
)
def test_an_account_may_try_five_wrong_codes_an_hour(
    tries: Tries | None, now: dt.datetime, allowed: bool
) -> None:
    assert may_try(tries, now, 5) is allowed


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (LinkOutcome.WRONG, 3),
        (LinkOutcome.EXPIRED, 3),
        (LinkOutcome.USED, 3),
        (LinkOutcome.SAME, 2),
        (LinkOutcome.STAFF, 2),
        (LinkOutcome.LINKED, 2),
    ],
)
def test_only_failed_codes_count(outcome: LinkOutcome, counted: int) -> None:
    assert after(outcome, Tries(NOW, 2), NOW).count == counted
    assert after(outcome, Tries(NOW - HOUR, 2), NOW).count == counted - 2, "a new window"


# ---- through the app ------------------------------------------------------------------


@pytest.fixture
async def browsers() -> AsyncIterator[BrowserFactory]:
    """Open browsers on an app; closed at the end of the test."""
    opened: list[Browser] = []

    async def open_browser(app: CauNoi) -> Browser:
        browser = Browser(app)
        await browser.open()
        opened.append(browser)
        return browser

    yield open_browser
    for browser in opened:
        await browser.close()


async def _code_from(chat: Browser | Chat) -> str:
    [given] = await chat.send("/link")
    found = DIGITS.search(given)
    assert found, given
    return found.group(1)


def _code_of(receipt: str) -> str:
    found = CODE.search(receipt)
    assert found, receipt
    return found.group()


async def _web_with_complaint(app: CauNoi, browsers: BrowserFactory) -> tuple[Browser, str]:
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    receipt, _menu = await submit(visitor, "complaint", COMPLAINT, privacy="anon:no")
    return visitor, _code_of(receipt)


async def _answer(staff: Browser, code: str, answer: str) -> None:
    """A staff member signed in on the web takes a submission and answers it."""
    await staff.wait_for(lambda: any(code in t for t in staff.texts))
    await staff.press(f"t:take:{code}")
    await staff.press(f"t:reply:{code}")
    await staff.send(answer)


async def test_a_web_visitor_links_telegram_and_is_one_person_on_both(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    staff = await signed_in_staff(app)
    visitor, on_web = await _web_with_complaint(app, browsers)
    code = await _code_from(visitor)
    assert visitor.texts[-1].startswith(
        text("link.code", "vi", code=code, minutes="", until="")[:30]
    )

    telegram = Chat(fake, app, TG)  # a newcomer: the code instead of onboarding
    linked = await telegram.send(f"/link {code}")
    assert linked == [text("link.linked", "vi", channel="web chat")]
    joined = text("link.joined", "vi", channel="Telegram")
    await visitor.wait_for(lambda: joined in visitor.texts)

    await telegram.send("/mine")
    assert f"mine:open:{on_web}" in telegram.buttons(), "filed on the web, listed on Telegram"
    receipt, _menu = await submit(telegram, "question", QUESTION, privacy="anon:no")
    on_telegram = _code_of(receipt)
    await visitor.send("/mine")
    assert {f"mine:open:{on_web}", f"mine:open:{on_telegram}"} <= set(visitor.buttons())

    # Each answer reaches the channel its submission was filed on.
    await _answer(staff, on_web, "Đoàn phường đã báo Điện lực thay đèn trong tuần này.")
    await visitor.wait_for(lambda: any("Điện lực" in t for t in visitor.texts))
    await _answer(staff, on_telegram, "Bạn mang giấy giới thiệu của Đoàn trường cũ nhé.")
    await fake.wait_for(lambda: any("giấy giới thiệu" in t for t in telegram.texts))
    assert not any("Điện lực" in t for t in telegram.texts)
    assert not any("giấy giới thiệu" in t for t in visitor.texts)
    await staff.close()

    accounts = {(i.channel, i.chat_id): i.person_id for i in await rows(app.db, ChannelIdentity)}
    assert accounts[("telegram", str(TG))] == accounts[("web", visitor.visitor_id)]
    [stored] = await _codes(app)
    assert code not in stored.code_hash, "a hash"
    assert stored.used_at is not None, "used up"


async def _codes(app: CauNoi) -> list[LinkRow]:
    return await app.db.run(lambda s: list(s.exec(select(LinkRow)).all()))


async def test_wrong_expired_and_reused_codes_are_refused_politely(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    clock = Clock(NOW)
    app = await make_app(serve_http=True, clock=clock)
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    stale = await _code_from(visitor)
    wrong = f"{(int(stale.replace(' ', '')) + 1) % 10**8:08d}"
    telegram = Chat(fake, app, TG)
    assert await telegram.send(f"/link {wrong}") == [text("link.wrong", "vi")]
    assert await telegram.send("/link 12 34") == [text("link.not_a_code", "vi")]
    clock.now = LATER
    assert await telegram.send(f"/link {stale}") == [text("link.expired", "vi")]

    fresh = await _code_from(visitor)  # replaces the stale one
    assert len(await _codes(app)) == 1
    assert await visitor.send(fresh) == [text("link.same", "vi")], "typed where it was given"
    assert await telegram.send(f"/link {fresh}") == [text("link.linked", "vi", channel="web chat")]
    other = Chat(fake, app, TG_OTHER)
    assert await other.send(f"/link {fresh}") == [text("link.used", "vi")]
    people = await rows(app.db, Person)
    assert len(people) == 2, "the linked newcomer's empty person is gone; the other stands"


async def test_five_wrong_codes_an_hour_then_refused_until_the_hour_is_over(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    clock = Clock(NOW)
    app = await make_app(serve_http=True, clock=clock)
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    telegram = Chat(fake, app, TG)
    await onboard(telegram, app.config)
    code = await _code_from(visitor)
    [asked] = await telegram.send("/link")  # its own code, and waits for one from the web
    assert DIGITS.search(asked)
    wrongs = [f"{(int(code.replace(' ', '')) + n) % 10**8:08d}" for n in range(1, 6)]
    for typed in wrongs:  # typed at the question, without /link
        assert await telegram.send(typed) == [text("link.wrong", "vi")]
    until = "10:00 01/03/2027"  # an hour after the first wrong code, in Tây Ninh (UTC+7)
    refused = [text("link.too_many", "vi", time=until)]
    assert await telegram.send(code) == refused, "even the right code, once the tries are up"
    assert await telegram.send(f"/link {code}") == refused
    clock.now = NOW + dt.timedelta(hours=1)
    code = await _code_from(visitor)
    assert await telegram.send(f"/link {code}") == [text("link.linked", "vi", channel="web chat")]


async def test_a_second_person_joining_brings_their_history_and_its_privacy_stays(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True, config=desk_config())
    visitor, on_web = await _web_with_complaint(app, browsers)
    telegram = Chat(fake, app, TG)
    await onboard(telegram, app.config)
    receipt, _menu = await submit(telegram, "complaint", COMPLAINT, privacy="anon:yes")
    anonymous = _code_of(receipt)
    before = {p.id: p for p in await rows(app.db, Person)}

    code = await _code_from(visitor)
    assert await telegram.send(f"/link {code}") == [text("link.linked", "vi", channel="web chat")]
    [maker] = {i.person_id for i in await rows(app.db, ChannelIdentity) if i.channel == "web"}
    tickets = {t.code: t for t in await rows(app.db, Ticket)}
    assert {t.author_id for t in tickets.values()} == {maker}, "the history moved with them"
    assert tickets[anonymous].anonymous, "an anonymous submission stays anonymous"
    assert tickets[anonymous].channel == "telegram"
    views = await app.db.run(lambda s: SqlDeskRecords(session=s).ticket(anonymous))
    assert views is not None
    assert views.sender_name is None, "staff still see no one behind it"
    people = {p.id: p for p in await rows(app.db, Person)}
    assert maker in people
    assert len(people) == len(before) - 1, "the joining person is gone"
    assert people[maker].consent_at == before[maker].consent_at, "the maker's consent stands"
    await telegram.send("/mine")
    assert {f"mine:open:{on_web}", f"mine:open:{anonymous}"} <= set(telegram.buttons())


async def test_staff_accounts_are_not_linked_with_codes(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True, config=desk_config())
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    code = await _code_from(visitor)
    staff = Chat(fake, app, AN)
    assert await staff.send(f"/link {code}") == [text("link.staff", "vi")]
    assert await staff.send("/link") == [text("link.staff", "vi")]
    owners = {i.channel: i.person_id for i in await rows(app.db, ChannelIdentity)}
    assert len(set(owners.values())) == len(owners), "nobody's accounts were joined"


async def test_mydata_lists_every_linked_account_and_forget_forgets_them_all(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor, on_web = await _web_with_complaint(app, browsers)
    telegram = Chat(fake, app, TG)
    await telegram.send(f"/link {await _code_from(visitor)}")
    fake.message(TG, "/mydata")
    await fake.wait_for(lambda: len(fake.sent("sendDocument", TG)) == 1)
    [document] = fake.sent("sendDocument", TG)
    held = json.loads(document["document"]["content"])
    assert {a["channel"] for a in held["accounts"]} == {"web", "telegram"}
    assert [s["code"] for s in held["submissions"]] == [on_web]

    await telegram.send("/forget")
    await telegram.press("forget:yes")
    assert await rows(app.db, ChannelIdentity) == [], "both accounts forgotten"
    assert await rows(app.db, Person) == []
    assert await _codes(app) == []
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.author_id, ticket.text) == (None, "")


async def test_unlink_lets_an_account_stand_alone_again(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    app = await make_app(serve_http=True)
    visitor, on_web = await _web_with_complaint(app, browsers)
    telegram = Chat(fake, app, TG)
    await telegram.send(f"/link {await _code_from(visitor)}")
    await visitor.wait_for(lambda: text("link.joined", "vi", channel="Telegram") in visitor.texts)
    assert await telegram.send("/unlink") == [text("link.unlinked", "vi")]
    owners = {i.channel: i.person_id for i in await rows(app.db, ChannelIdentity)}
    assert owners["telegram"] != owners["web"]
    assert await telegram.send("/unlink") == [text("link.unlink_alone", "vi")]
    greeting, _consent = await telegram.send("/start", replies=2)
    assert greeting.startswith("Xin chào"), "a new person: asked to agree first"
    assert await visitor.send("/unlink") == [text("link.unlink_alone", "vi")]
    await visitor.send("/mine")
    assert f"mine:open:{on_web}" in visitor.buttons(), "the submissions stay"


async def test_a_linked_person_gets_one_digest_and_old_codes_are_pruned(
    fake: FakeTelegram, make_app: AppFactory, browsers: BrowserFactory
) -> None:
    clock = Clock(NOW)
    app = await make_app(serve_http=True, clock=clock)
    visitor = await browsers(app)
    await onboard(visitor, app.config)
    telegram = Chat(fake, app, TG)
    await telegram.send(f"/link {await _code_from(visitor)}")
    await visitor.wait_for(lambda: text("link.joined", "vi", channel="Telegram") in visitor.texts)
    await _code_from(visitor)  # a new code, never used

    def subscribe(session: Session) -> list[tuple[str, str, str]]:
        for person in session.exec(select(Person)):
            person.subscriptions = ["daily"]
            session.add(person)
        session.flush()
        return SqlPublishingRecords(session=session).subscribers("daily")

    [(channel, _chat, _language)] = await app.db.run(subscribe)
    assert channel == "web", "once, on the person's first account"
    job = app.scheduler.get_job("retention")
    assert job is not None
    clock.now = NOW + dt.timedelta(days=app.config.raw.retention.delivery_days - 1)
    await job.func()
    assert len(await _codes(app)) == 1, "kept as long as the message that gave it"
    clock.now = NOW + dt.timedelta(days=app.config.raw.retention.delivery_days + 1)
    await job.func()
    assert await _codes(app) == []


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloBot]:
    """A fake Zalo Bot API on a free local port."""
    server = FakeZaloBot()
    await server.start()
    yield server
    await server.stop()


async def test_zalo_links_like_any_channel(
    fake: FakeTelegram, make_app: AppFactory, zalo: FakeZaloBot
) -> None:
    app = await zalo_app(make_app, zalo)
    on_zalo = ZaloChat(zalo, app, ZALO_YOUTH)
    filed = _code_of(await file_complaint(on_zalo, COMPLAINT))
    given = await on_zalo.until("/link", "/link ")
    found = DIGITS.search(given)
    assert found, given
    telegram = Chat(fake, app, TG)
    linked = await telegram.send(f"/link {found.group(1)}")
    assert linked == [text("link.linked", "vi", channel="Zalo")]
    joined = text("link.joined", "vi", channel="Telegram")
    await zalo.wait_for(lambda: joined in zalo.texts(ZALO_YOUTH))
    await telegram.send("/mine")
    assert f"mine:open:{filed}" in telegram.buttons(), "filed on Zalo, listed on Telegram"
