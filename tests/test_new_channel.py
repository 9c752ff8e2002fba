"""A new channel costs one adapter module, one config section and one registry entry: the
test-only line channel (tests/line_channel.py: no buttons, no edits, 200 characters) is
added to the real app that way, and a whole complaint is filed on it by typing numbers."""

import re

from bot.app import CHANNELS
from bot.domain.i18n import text
from bot.domain.kinds import Kind
from storage.models import Person, Ticket
from tests import line_channel
from tests.conftest import AppFactory, config_with, rows
from tests.line_channel import LineChannel, LineClient

CODE = re.compile(r"[A-Z]{2}-\d{4}-\d{4}")
MENU_LINE = re.compile(r"^\s*(\d+)[.)]\s+(.+?)\s*$", re.M)
UNIT = "Phường Gò Dầu"


def vi(key: str) -> str:
    """A catalog text in Vietnamese."""
    return text(key, "vi")


def number_of(message: str, label: str) -> str:
    """The number a numbered menu in the message gives the choice with this label."""
    for number, shown in MENU_LINE.findall(message):
        if shown == label:
            return str(number)
    raise AssertionError(f"{label!r} is not offered in {message!r}")


async def test_a_complaint_is_filed_by_typing_numbers_on_a_channel_without_buttons(
    make_app: AppFactory,
) -> None:
    config = config_with({"channels": {"line": {"port": 0}}})
    registry = {**CHANNELS, line_channel.NAME: line_channel.build}
    app = await make_app(config=config, registry=registry)
    channel = app.channels[line_channel.NAME]
    assert isinstance(channel, LineChannel)
    client = await LineClient.connect(channel.port, "lan")
    try:
        greeting = await client.until("/start", vi("consent.agree"))
        await client.until(number_of(greeting, vi("consent.agree")), vi("unit.ask")[:20])
        units = await client.until("go dau", UNIT)
        age = await client.until(number_of(units, UNIT), vi("common.skip"))
        work = await client.until(number_of(age, vi("common.skip")), vi("common.skip"))
        menu = await client.until(number_of(work, vi("common.skip")), vi("menu.complaint"))
        categories = await client.until(number_of(menu, vi("menu.complaint")), "2.")
        [(first, category)] = MENU_LINE.findall(categories)[:1]
        await client.until(first, text("submit.text_ask.complaint", "vi", min="", max="")[:20])
        typed = "Đèn đường ở khu phố 3 bị hỏng hai tuần nay, tối rất nguy hiểm."
        attach = await client.until(typed, f". {vi('submit.attachments_done')}\n")
        done = number_of(attach, vi("submit.attachments_done"))
        privacy = await client.until(done, vi("submit.with_name"))
        named = number_of(privacy, vi("submit.with_name"))
        # The channel gives no name: it is asked for once, then a contact, which is skipped.
        await client.until(named, vi("profile_name.ask")[:20])
        contact = await client.until("  trần   văn lâm ", f". {vi('common.skip')}\n")
        skip = number_of(contact, vi("common.skip"))
        preview = await client.until(skip, f". {vi('submit.send')}\n")
        assert "(trần văn lâm)" in preview
        sent = number_of(preview, vi("submit.send"))
        receipt = await client.until(sent, vi("menu.complaint"))
    finally:
        client.close()
    found = CODE.search(receipt)
    assert found is not None, receipt
    [submission] = await rows(app.db, Ticket)
    assert submission.code == found.group()
    assert submission.kind == "complaint"
    assert submission.text == typed
    [person] = await rows(app.db, Person)
    assert person.profile["given_name"] == "trần văn lâm"
    unit = app.config.unit(UNIT)
    assert unit is not None
    assert submission.unit_code == unit.code
    first_category = app.config.raw.categories[Kind.COMPLAINT][0]
    assert (submission.category, category) == (first_category.code, first_category.vi)
