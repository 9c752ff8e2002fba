"""The youth dialogue end to end: onboarding, the unit picker, every kind of submission,
the preview loop, attachments, anonymity, commands mid-dialogue, restarts and bad input."""

import re
from typing import Any

import pytest

from bot.config import OrgConfig
from bot.domain.i18n import text
from bot.domain.kinds import Kind
from storage.models import Attachment, ChannelIdentity, Conversation, Person, Ticket
from tests.conftest import AppFactory, config_with, rows
from tests.dialogue import Chat, onboarded, send_named, start_draft, submit
from tests.fake_telegram import FakeTelegram

USER = 6001
OFFICE_CHAT = 900001
INSPECTION_CHAT = 900002
GROUP_CHAT = -100500
PHOTO = [{"file_id": "p-small", "file_unique_id": "ps", "width": 90, "height": 90}]


def _photo(file_id: str, size: int = 50_000) -> list[dict[str, Any]]:
    return [
        {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "width": 800,
            "height": 600,
            "file_size": size,
        }
    ]


def _staffed_config() -> OrgConfig:
    """The shipped config with chat ids for the office, the inspection committee and a group."""
    staff = [
        {
            "code": "van-phong",
            "name": "Văn phòng Tỉnh đoàn",
            "roles": ["staff", "admin"],
            "telegram_id": OFFICE_CHAT,
        },
        {
            "code": "uy-ban-kiem-tra",
            "name": "Ủy ban Kiểm tra Tỉnh đoàn",
            "roles": ["inspection"],
            "telegram_id": INSPECTION_CHAT,
        },
    ]
    routing = {
        "rules": [
            {"kinds": ["complaint"], "units": ["Phường Gò Dầu"], "group_chat_id": GROUP_CHAT}
        ],
        "office": {"staff": ["van-phong"]},
        "inspection": {"staff": ["uy-ban-kiem-tra"]},
    }
    try_out = {"web": {"try_out_staff": None, "try_out_admin": "van-phong"}}
    return config_with({"staff": staff, "routing": routing, "channels": try_out})


async def test_onboarding_records_consent_unit_and_profile(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    app = await make_app()
    chat = Chat(fake, app, USER)
    greeting, _consent = await chat.send("/start", replies=2)
    assert greeting == text("welcome.greeting", "vi", organisation="Tỉnh đoàn Tây Ninh")
    assert chat.buttons() == ["consent:yes", "consent:privacy", "consent:no"]
    await chat.press("consent:privacy", replies=2)
    assert chat.texts[-2].startswith("Chính sách dữ liệu cá nhân"), "the full notice"
    await chat.press("consent:yes", replies=2)
    await chat.send("go dau")
    go_dau = org_config.unit("Phường Gò Dầu")
    assert go_dau is not None
    await chat.press(f"unit:{go_dau.code}", replies=2)
    await chat.press("age:19-24")
    done, _menu = await chat.send("Trường THPT Trần Phú", replies=2)
    assert done == text("onboarding.done", "vi")
    assert "menu:complaint" in chat.buttons()
    [person] = await rows(app.db, Person)
    assert person.consent_at is not None
    assert person.unit_code == go_dau.code
    assert person.profile == {"workplace": "Trường THPT Trần Phú"}
    assert person.age_group == "19-24"
    assert person.subscriptions == ["announcements"]


async def test_declining_consent_stores_nothing_and_start_asks_again(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    chat = Chat(fake, app, USER)
    await chat.send("/start", replies=2)
    [declined] = await chat.press("consent:no")
    assert declined == text("consent.declined", "vi")
    await chat.send("Tôi muốn phản ánh chuyện đường ngập", replies=2)
    assert chat.buttons()[0] == "consent:yes", "nothing is taken before consent"
    assert await rows(app.db, Ticket) == []
    [person] = await rows(app.db, Person)
    assert person.consent_at is None


@pytest.mark.parametrize("query", ["go dau", "Gò Dầu", "GO DAU", "gò  dầu"])
async def test_unit_picker_ignores_diacritics_and_case(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig, query: str
) -> None:
    app = await make_app()
    chat = Chat(fake, app, USER)
    await chat.send("/start", replies=2)
    await chat.press("consent:yes", replies=2)
    await chat.send(query)
    go_dau = org_config.unit("Phường Gò Dầu")
    assert go_dau is not None
    assert chat.buttons() == [f"unit:{go_dau.code}", "unit:retry"]


async def test_unit_picker_no_match_many_matches_and_retry(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app()
    chat = Chat(fake, app, USER)
    await chat.send("/start", replies=2)
    await chat.press("consent:yes", replies=2)
    [none] = await chat.send("xyz không có")
    assert none == text("unit.no_match", "vi", query="xyz không có")
    [many] = await chat.send("tan")
    assert many.startswith("Có 17 đơn vị khớp")
    buttons = chat.buttons()
    assert len(buttons) == 9, "8 matches and 'none of these'"
    assert buttons[-1] == "unit:retry"
    [again] = await chat.press("unit:retry")
    assert again == text("unit.ask", "vi")
    forged = await chat.press("unit:99999999", replies=2)
    assert forged == [text("errors.stale_choice", "vi"), text("unit.ask", "vi")]


@pytest.mark.parametrize(
    ("kind", "prefix", "privacy"),
    [
        (Kind.COMPLAINT, "PA", "anon:no"),
        (Kind.QUESTION, "HD", "anon:yes"),
        (Kind.IDEA, "YT", "pub:no"),
        (Kind.STORY, "TT", "pub:anonymous"),
        (Kind.CONFIDENTIAL, "BC", None),
    ],
)
async def test_each_kind_is_filed_with_a_code_and_a_deadline(
    fake: FakeTelegram,
    make_app: AppFactory,
    org_config: OrgConfig,
    kind: Kind,
    prefix: str,
    privacy: str | None,
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    body = "Đèn đường ở khu phố 3 bị hỏng hai tuần nay, buổi tối rất tối."
    receipt, _menu = await submit(chat, kind, body, privacy)
    match = re.search(rf"\b({prefix}-\d{{4}}-0001)\b", receipt)
    assert match, receipt
    assert re.search(r"\d{2}/\d{2}/\d{4}", receipt), "the expected answer date"
    [ticket] = await rows(app.db, Ticket)
    assert (ticket.code, ticket.kind, ticket.text, ticket.status) == (
        match.group(1),
        kind,
        body,
        "new",
    )
    assert ticket.unit_code == org_config.unit("Phường Gò Dầu").code  # type: ignore[union-attr]
    assert ticket.due_at is not None
    assert ticket.due_at > ticket.created_at
    assert ticket.anonymous is (privacy == "anon:yes" or kind == Kind.CONFIDENTIAL)
    [conversation] = await rows(app.db, Conversation)
    assert "submission" not in conversation.draft, "the draft is gone once sent"


async def test_codes_count_up_within_a_month(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await submit(chat, Kind.QUESTION, "Cho mình hỏi thủ tục chuyển sinh hoạt Đoàn?", "anon:no")
    await submit(chat, Kind.QUESTION, "Cho mình hỏi về học bổng của Tỉnh đoàn?", "anon:no")
    codes = [t.code for t in await rows(app.db, Ticket)]
    assert [c[-4:] for c in codes] == ["0001", "0002"]


async def test_preview_edit_loop_changes_text_and_category(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await start_draft(
        chat, "complaint", "cat:food-safety", "Quán ăn trước cổng trường bán đồ ăn ôi thiu."
    )
    await chat.press("att:done")
    [preview] = await chat.press("anon:no")
    assert "Vệ sinh an toàn thực phẩm" in preview
    assert "ôi thiu" in preview
    await chat.press("preview:edit")
    assert chat.buttons() == ["edit:text", "edit:category", "edit:attachments", "edit:privacy"]
    await chat.press("edit:text")
    [preview] = await chat.send("Quán ăn trước cổng trường THCS bán đồ ăn không rõ nguồn gốc.")
    assert "không rõ nguồn gốc" in preview
    assert "ôi thiu" not in preview
    await chat.press("preview:edit")
    await chat.press("edit:category")
    [preview] = await chat.press("cat:environment")
    assert "Môi trường" in preview
    await chat.press("preview:edit")
    await chat.press("edit:privacy")
    [preview] = await chat.press("anon:yes")
    assert text("submit.anonymous", "vi") in preview
    await chat.press("preview:send", replies=2)
    [ticket] = await rows(app.db, Ticket)
    assert ticket.category == "environment"
    assert ticket.anonymous
    assert ticket.text.endswith("không rõ nguồn gốc.")


async def test_attachments_within_limits(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await chat.press("menu:complaint")
    await chat.press("cat:environment")
    # A photo with a caption gives both the text and the first attachment.
    added, _ask = await chat.send(
        None, photo=_photo("p1"), caption="Rác thải đổ ra kênh Tây ở ấp 2.", replies=2
    )
    assert added == text("submit.attachment_added", "vi", count="1", max="5")
    document = {"file_id": "d1", "file_unique_id": "ud1", "file_name": "a.pdf", "file_size": 10}
    await chat.send(None, document=document)
    await chat.send(None, voice={"file_id": "v1", "file_unique_id": "uv1", "duration": 3})
    await chat.send(None, location={"latitude": 11.16, "longitude": 106.35})
    [too_big] = await chat.send(None, photo=_photo("huge", 25 * 1024 * 1024))
    assert too_big == text("submit.attachment_too_big", "vi", mb="20")
    await chat.send(None, photo=_photo("p2"))
    [full] = await chat.send(None, photo=_photo("p3"))
    assert full == text("submit.attachments_full", "vi", max="5")
    await chat.press("att:done")
    [preview] = await chat.press("anon:no")
    assert "Tệp đính kèm: 5" in preview
    await chat.press("preview:send", replies=2)
    kinds = [a.media_kind for a in await rows(app.db, Attachment)]
    assert kinds == ["photo", "document", "voice", "location", "photo"]


async def test_staff_never_see_who_sent_an_anonymous_or_confidential_report(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    config = _staffed_config()
    chat = await onboarded(fake, make_app, config, USER)
    await submit(chat, Kind.COMPLAINT, "Nước thải từ xưởng chảy ra mương.", "anon:yes")
    await submit(chat, Kind.CONFIDENTIAL, "Thủ quỹ chi đoàn giữ tiền đoàn phí không nộp.")
    await submit(chat, Kind.QUESTION, "Cho mình hỏi lịch tiếp dân của Tỉnh đoàn.", "anon:no")
    group, inspection, office = (fake.texts(c) for c in (GROUP_CHAT, INSPECTION_CHAT, OFFICE_CHAT))
    assert len(group) == len(inspection) == len(office) == 1, "each went to its route only"
    assert "Nước thải" in group[0]
    assert "Thủ quỹ" in inspection[0]
    assert "lịch tiếp dân" in office[0]
    sender_marks = (f"User{USER}", str(USER))
    for message in group + inspection:
        assert not any(mark in message for mark in sender_marks), message
    assert f"User{USER}" in office[0], "a named question shows the name (the check can fail)"


async def test_commands_work_mid_dialogue_and_keep_the_draft(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await chat.press("menu:question")
    [ask] = await chat.press("cat:jobs")
    assert await chat.send("/help", replies=2) == [text("help.body", "vi"), ask]
    await chat.send("/language")
    changed, ask_en = await chat.press("lang:en", replies=2)
    assert changed == text("language.changed", "en")
    assert ask_en == text("submit.text_ask.question", "en", min="10", max="4000")
    notice, again = await chat.send("/privacy", replies=2)
    assert notice.startswith("Cầu Nối's personal data notice")
    assert again == ask_en
    [unknown, again] = await chat.send("/xyz", replies=2)
    assert unknown == text("errors.unknown_command", "en", command="xyz")
    await chat.send("Where can I find vocational training for young workers?")
    [cancelled] = await chat.send("/cancel")
    assert cancelled.startswith("Stopped. The draft")
    assert chat.buttons() == ["draft:resume", "draft:discard"]
    [resumed] = await chat.press("draft:resume")
    assert resumed.startswith("You can attach"), "back at the step where it stopped"
    _welcome, kept = await chat.send("/start", replies=2)
    assert kept.startswith("You have an unsent draft")
    [stopped] = await chat.send("/stop")
    assert stopped == text("stop.done", "en")
    [person] = await rows(app.db, Person)
    [conversation] = await rows(app.db, Conversation)
    assert person.stopped_at is not None
    assert person.subscriptions == []
    assert conversation.draft["submission"]["text"].startswith("Where can I find")
    [offer] = await chat.press("menu:complaint")
    assert offer.startswith("You have an unsent draft")
    assert "Question" in offer
    await chat.press("draft:discard", replies=2)
    [conversation] = await rows(app.db, Conversation)
    assert conversation.draft["submission"]["kind"] == "complaint"


async def test_a_restart_mid_dialogue_resumes_with_the_draft(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    first = chat.app
    await start_draft(
        chat,
        "story",
        "cat:volunteering",
        "Bạn Lan ở ấp 4 dạy học miễn phí cho các em nhỏ mỗi tối.",
    )
    await first.stop()
    second = await make_app()
    chat = Chat(fake, second, USER)
    [added] = await chat.send(None, photo=_photo("p1"))
    assert added == text("submit.attachment_added", "vi", count="1", max="5")
    await chat.press("att:done")
    [preview] = await chat.press("pub:named")
    assert "dạy học miễn phí" in preview
    assert "Tệp đính kèm: 1" in preview


async def test_bad_input_gets_a_clear_reply_and_changes_nothing(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    chat = await onboarded(fake, make_app, org_config, USER)
    app = chat.app
    await chat.press("menu:complaint")
    [ask] = await chat.press("cat:environment")
    [before] = await rows(app.db, Conversation)
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    assert await chat.send(None, sticker=sticker, replies=2) == [
        text("errors.unsupported", "vi"),
        ask,
    ]
    nothing = text("submit.too_short", "vi", min="10", count="0")
    assert await chat.send("   ") == [nothing], "nothing visible is too short, like any text"
    assert await chat.send("\u200b" * 12) == [nothing], "zero-width spaces are not text"
    assert await chat.send("\u202e\u200f\u2066\u00ad\ufeff\u2060" * 3) == [nothing]
    [too_long] = await chat.send("x" * 10_000)
    assert too_long == text("submit.too_long", "vi", max="4000", count="10000")
    [too_short] = await chat.send("ngập")
    assert too_short == text("submit.too_short", "vi", min="10", count="4")
    assert await chat.press("cat:food-safety", replies=2) == [
        text("errors.stale_choice", "vi"),
        ask,
    ], "a button from an earlier step"
    assert await chat.press("ticket:take:1", replies=2) == [text("errors.stale_choice", "vi"), ask]
    [after] = await rows(app.db, Conversation)
    assert (after.flow, after.step) == (before.flow, before.step) == ("submit", "text")
    assert after.draft["submission"] == before.draft["submission"]


async def test_names_captions_and_texts_are_cleaned_at_the_edge(
    fake: FakeTelegram, make_app: AppFactory, org_config: OrgConfig
) -> None:
    fake.names[USER] = "Minh\u202e\x00\nTrần\u200b"
    chat = await onboarded(fake, make_app, org_config, USER)
    await chat.press("menu:complaint")
    await chat.press("cat:environment")
    caption = "Rác\x00 thải\u200b đổ ra\x1b kênh\u202e Tây\r\nở ấp 2.\x7f"
    await chat.send(None, photo=_photo("p1"), caption=caption, replies=2)
    helped, _ask = await chat.send("\u2066/help\u2069", replies=2)
    assert helped == text("help.body", "vi"), "a command is read once the text is clean"
    code = await send_named(chat)
    [ticket] = await rows(chat.app.db, Ticket)
    assert (ticket.code, ticket.text) == (code, "Rác thải đổ ra kênh Tây\nở ấp 2.")
    [identity] = await rows(chat.app.db, ChannelIdentity)
    assert identity.display_name == "Minh Trần"
