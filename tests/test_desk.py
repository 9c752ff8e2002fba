"""The staff desk end to end: routing to the right chats, every staff action reaching the
sender, cards edited in place, forged buttons, concurrent takes, and confidentiality."""

from bot.domain.i18n import text
from bot.domain.lifecycle import Status
from storage.models import AuditEntry, Ticket, TicketMessage
from tests.conftest import AppFactory, rows
from tests.desk import (
    AN,
    BINH,
    CODE,
    ENVIRONMENT_GROUP,
    GO_DAU_GROUP,
    INSPECTION,
    OFFICE,
    YOUTH,
    Desk,
    desk_config,
    to,
)
from tests.dialogue import Chat, onboarded, send_named, start_draft, submit
from tests.fake_telegram import FakeTelegram

COMPLAINT = "Quán ăn trước cổng trường bán đồ ăn ôi thiu cho học sinh."


async def _filed(
    fake: FakeTelegram, make_app: AppFactory, body: str = COMPLAINT
) -> tuple[Chat, Desk, str]:
    """A young person in Gò Dầu files a named food-safety complaint."""
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    receipt, _ = await submit(chat, "complaint", body, "anon:no")
    match = CODE.search(receipt)
    assert match is not None
    desk = Desk(fake, chat.app)
    await desk.cards_reach(match.group(), GO_DAU_GROUP, AN)
    return chat, desk, match.group()


async def _ticket(desk: Desk, code: str) -> Ticket:
    [ticket] = [t for t in await rows(desk.app.db, Ticket) if t.code == code]
    return ticket


async def test_a_complaint_is_routed_by_unit_and_category(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, code = await _filed(fake, make_app)
    for chat_id in (GO_DAU_GROUP, AN):
        card = desk.card(chat_id, code)
        assert "Phường Gò Dầu" in card
        assert "Vệ sinh an toàn thực phẩm" in card
        assert COMPLAINT in card
    assert not fake.message_ids(ENVIRONMENT_GROUP, code)
    assert not fake.message_ids(OFFICE, code)
    assert not fake.message_ids(BINH, code)
    await start_draft(chat, "complaint", "cat:environment", "Kênh nước ở khu phố 3 bốc mùi hôi.")
    await chat.press("att:done")
    await chat.press("anon:no")
    receipt, _ = await chat.press("preview:send", replies=2)
    environment = CODE.search(receipt)
    assert environment is not None
    await desk.cards_reach(environment.group(), ENVIRONMENT_GROUP)
    assert "Môi trường" in desk.card(ENVIRONMENT_GROUP, environment.group())
    assert not fake.message_ids(GO_DAU_GROUP, environment.group())


async def test_take_and_reply_by_button_and_by_replying_to_the_card(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, code = await _filed(fake, make_app)
    taken = await desk.press(AN, f"t:take:{code}", chat=GO_DAU_GROUP, sends=4)
    assert to(taken, GO_DAU_GROUP)[0] == text("desk.done_take", "vi", code=code)
    [notice] = to(taken, YOUTH)
    assert code in notice
    assert text("status.assigned", "vi") in notice
    assert "Nguyễn Văn An" not in notice  # signed by the Union, not the cadre
    assert "Người xử lý: Nguyễn Văn An" in desk.card(GO_DAU_GROUP, code)
    assert "Người xử lý: Nguyễn Văn An" in desk.card(AN, code)

    [prompt] = await desk.press(AN, f"t:reply:{code}", chat=GO_DAU_GROUP, sends=1)
    assert prompt.params["text"] == text("desk.ask_reply", "vi", code=code)
    answer = "Đoàn phường đã báo Đội quản lý thị trường kiểm tra quán ăn này."
    replied = await desk.say(AN, answer, chat=GO_DAU_GROUP, sends=4)
    [notice] = to(replied, YOUTH)
    assert answer in notice
    assert text("status.answered", "vi") in notice
    assert text("status.answered", "vi") in desk.card(GO_DAU_GROUP, code)

    card_id = desk.card_id(GO_DAU_GROUP, code)
    follow_up = "Kết quả kiểm tra sẽ có vào thứ Sáu."
    replied = await desk.say(AN, follow_up, chat=GO_DAU_GROUP, reply_to=card_id, sends=4)
    [notice] = to(replied, YOUTH)
    assert follow_up in notice
    ticket = await _ticket(desk, code)
    assert ticket.status == Status.ANSWERED
    assert ticket.first_answer_at is not None
    thread = [m.body for m in await rows(desk.app.db, TicketMessage)]
    assert thread == [COMPLAINT, answer, follow_up]
    assert "Đã trả lời" in chat.texts[-1]


async def test_ask_reaches_the_sender_and_the_answer_lands_on_the_card(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, code = await _filed(fake, make_app)
    question = "Bạn cho biết tên quán và giờ bán được không?"
    asked = await desk.action(AN, "ask", code, question, sends=4)
    [notice] = to(asked, YOUTH)
    assert question in notice
    assert text("status.waiting", "vi") in notice
    assert f"mine:add:{code}" in chat.buttons()
    await chat.press(f"mine:add:{code}")
    info = "Quán Cô Ba, bán từ 6 giờ đến 7 giờ sáng."
    await chat.send(info, replies=2)
    await desk.app.outbox.drain()
    for chat_id in (GO_DAU_GROUP, AN):
        assert any(info in t and code in t for t in fake.texts(chat_id))
        assert text("status.assigned", "vi") in desk.card(chat_id, code)
    assert (await _ticket(desk, code)).status == Status.ASSIGNED


async def test_transfer_to_another_unit_then_resolve(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _chat, desk, code = await _filed(fake, make_app)
    [menu] = await desk.press(AN, f"t:transfer:{code}", chat=AN, sends=1)
    assert "t:tounit:" + code in str(menu.params["reply_markup"])
    await desk.press(AN, f"t:tounit:{code}", chat=AN, sends=1)
    [picker] = await desk.say(AN, "tan ninh", sends=1)
    tan_ninh = desk.app.config.unit("Phường Tân Ninh")
    assert tan_ninh is not None
    assert f"t:unit:{code}:{tan_ninh.code}" in str(picker.params["reply_markup"])
    moved = await desk.press(AN, f"t:unit:{code}:{tan_ninh.code}", chat=AN, sends=5)
    [notice] = to(moved, YOUTH)
    assert "Phường Tân Ninh" in notice
    assert "Phường Tân Ninh" in desk.card(BINH, code)  # the new unit's staff get a card
    assert "Phường Tân Ninh" in desk.card(GO_DAU_GROUP, code)
    refused = await desk.press(AN, f"t:take:{code}", chat=AN, sends=1)
    assert to(refused, AN) == [text("desk.not_allowed", "vi")]

    outcome = "Quán đã bị xử phạt và cam kết bảo đảm vệ sinh."
    resolved = await desk.action(BINH, "resolve", code, outcome, sends=5)
    [notice] = to(resolved, YOUTH)
    assert outcome in notice
    assert text("status.closed", "vi") in notice
    ticket = await _ticket(desk, code)
    assert (ticket.status, ticket.unit_code) == (Status.CLOSED, tan_ninh.code)
    assert ticket.closed_at is not None


async def test_reject_gives_the_reason_and_where_else_to_go(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _, desk, code = await _filed(fake, make_app)
    reason = "Nội dung thuộc thẩm quyền của UBND phường, đề nghị bạn gửi trực tiếp."
    rejected = await desk.action(AN, "reject", code, reason, chat=GO_DAU_GROUP, sends=4)
    [notice] = to(rejected, YOUTH)
    assert reason in notice
    assert "Văn phòng Tỉnh đoàn Tây Ninh" in notice
    assert text("status.rejected", "vi") in notice
    card = desk.card(GO_DAU_GROUP, code)
    assert text("status.rejected", "vi") in card
    assert "t:take:" not in str(fake.sent("editMessageText")[-1].get("reply_markup"))
    refused = await desk.press(AN, f"t:resolve:{code}", chat=AN, sends=1)
    assert to(refused, AN) == [
        text("desk.not_now", "vi", code=code, status=text("status.rejected", "vi"))
    ]


async def test_copied_buttons_from_youth_or_out_of_scope_staff_change_nothing(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _, desk, code = await _filed(fake, make_app)
    for user, data in (
        (YOUTH, f"t:take:{code}"),
        (YOUTH, f"t:unit:{code}:25459"),
        (BINH, f"t:take:{code}"),
        (BINH, f"t:reject:{code}"),
        (INSPECTION, f"t:take:{code}"),
        (AN, "t:take:PA-9999-9999"),
        (AN, "t:take"),
    ):
        [refusal] = await desk.press(user, data, sends=1)
        assert refusal.params["text"] == text("desk.not_allowed", "vi")
    ticket = await _ticket(desk, code)
    assert (ticket.status, ticket.assignee_id) == (Status.NEW, None)
    assert await rows(desk.app.db, AuditEntry) == []


async def test_two_staff_pressing_take_at_once_one_wins(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, code = await _filed(fake, make_app)
    before = len(desk.outgoing())
    first = fake.press(AN, f"t:take:{code}")
    second = fake.press(OFFICE, f"t:take:{code}")
    await fake.wait_for(lambda: fake.confirmed_offset > max(first, second))
    await fake.wait_for(lambda: len(desk.outgoing()) >= before + 5)
    await desk.app.outbox.drain()
    calls = desk.outgoing()[before:]
    staff_texts = to(calls, AN) + to(calls, OFFICE)
    done = [t for t in staff_texts if t == text("desk.done_take", "vi", code=code)]
    lost = [t for t in staff_texts if "đã được" in t and "nhận xử lý" in t]
    assert (len(done), len(lost)) == (1, 1)
    assert len(to(calls, YOUTH)) == 1
    assert len([e for e in await rows(desk.app.db, AuditEntry) if e.action == "take"]) == 1
    assert (await _ticket(desk, code)).status == Status.ASSIGNED
    assert chat.texts[-1].count(code) == 1


async def test_confidential_reports_are_invisible_to_ordinary_staff(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    desk = Desk(fake, chat.app)
    receipt, _ = await submit(chat, "confidential", "Bí thư chi đoàn X thu quỹ nhưng không chi.")
    match = CODE.search(receipt)
    assert match is not None
    code = match.group()
    assert "quỹ" in desk.card(INSPECTION, code)
    for staff in (OFFICE, AN, BINH):
        assert not fake.message_ids(staff, code)
        [queue] = await desk.say(staff, "/queue", sends=1)
        assert code not in str(queue.params)
        for command in ("/ticket", "/audit"):
            [answer] = await desk.say(staff, f"{command} {code}", sends=1)
            assert answer.params["text"] == text("desk.no_ticket", "vi", code=code)
        [refusal] = await desk.press(staff, f"t:take:{code}", sends=1)
        assert refusal.params["text"] == text("desk.not_allowed", "vi")
    [queue] = await desk.say(INSPECTION, "/queue", sends=1)
    assert code in str(queue.params)
    await desk.press(INSPECTION, f"t:take:{code}", sends=3)
    thread, card = await desk.say(INSPECTION, f"/ticket {code}", sends=2)
    assert "quỹ" in str(thread.params["text"])
    assert "User6001" not in str(card.params["text"])
    [audit] = await desk.say(INSPECTION, f"/audit {code}", sends=1)
    assert "Ủy ban Kiểm tra" in str(audit.params["text"])


async def test_notes_stay_internal_and_the_audit_log_shows_every_action(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, code = await _filed(fake, make_app)
    await desk.press(AN, f"t:take:{code}", chat=AN, sends=4)
    note = "Đã gọi điện cho chủ quán."
    noted = await desk.action(AN, "note", code, note, sends=3)  # no word to the sender
    assert not to(noted, YOUTH)
    await chat.press(f"mine:open:{code}")
    assert "gọi điện" not in chat.texts[-1]
    [audit] = await desk.say(OFFICE, f"/audit {code}", sends=1)
    lines = str(audit.params["text"]).splitlines()[1:]
    assert len(lines) == 2
    assert "Nguyễn Văn An: nhận xử lý (Đã tiếp nhận → Đang xử lý)" in lines[0]
    assert "Nguyễn Văn An: ghi chú (Đang xử lý → Đang xử lý)" in lines[1]
    thread, _ = await desk.say(AN, f"/ticket {code}", sends=2)
    assert "Ghi chú nội bộ: Đã gọi điện cho chủ quán." in str(thread.params["text"])


async def test_canned_answers_can_be_inserted_in_a_reply(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    desk = Desk(fake, chat.app)
    await start_draft(
        chat, "question", "cat:membership", "Em muốn chuyển sinh hoạt Đoàn thì làm sao?"
    )
    await chat.press("att:done")
    await chat.press("anon:no")
    receipt, _ = await chat.press("preview:send", replies=2)
    match = CODE.search(receipt)
    assert match is not None
    code = match.group()
    [prompt] = await desk.press(AN, f"t:reply:{code}", chat=AN, sends=1)
    assert prompt.params["text"] == text("desk.ask_reply_canned", "vi", code=code)
    assert f"t:canned:{code}:0" in str(prompt.params["reply_markup"])
    [preview] = await desk.press(AN, f"t:canned:{code}:0", chat=AN, sends=1)
    canned = desk.app.config.raw.desk.canned_answers["membership"][0].vi
    assert canned in str(preview.params["text"])
    sent = await desk.press(AN, f"t:send:{code}", chat=AN, sends=4)
    [notice] = to(sent, YOUTH)
    assert canned in notice


async def test_queue_lists_mine_and_unassigned_by_deadline(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat, desk, first = await _filed(fake, make_app)
    receipt, _ = await submit(
        chat, "question", "Em muốn hỏi về việc làm thời vụ dịp Tết.", "anon:no"
    )
    match = CODE.search(receipt)
    assert match is not None
    second = match.group()
    await desk.press(AN, f"t:take:{first}", chat=AN, sends=4)
    [queue] = await desk.say(AN, "/queue", sends=1)
    assert str(queue.params["text"]) == text("desk.queue", "vi", mine="1", free="1", shown="2")
    markup = str(queue.params["reply_markup"])
    # The question is due in 3 working days, the complaint in 7: the question comes first.
    assert markup.index(second) < markup.index(first)
    [queue] = await desk.say(BINH, "/queue", sends=1)
    assert queue.params["text"] == text("desk.queue_empty", "vi")


async def test_invitation_links_are_single_use_and_roles_can_be_revoked(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _chat, desk, code = await _filed(fake, make_app)
    [refused] = await desk.say(AN, "/invite staff go dau", sends=1)
    assert refused.params["text"] == text("desk.admins_only", "vi")
    [unclear] = await desk.say(OFFICE, "/invite staff phuong", sends=1)
    assert "phuong" in str(unclear.params["text"])
    [invite] = await desk.say(OFFICE, "/invite staff go dau", sends=1)
    link = str(invite.params["text"]).split()[-1]
    assert link.startswith("https://t.me/caunoi_test_bot?start=inv_")
    payload = link.split("start=")[1]
    welcome, _ = await desk.say(8001, f"/start {payload}", sends=2)
    assert "User8001" in str(welcome.params["text"])
    [queue] = await desk.say(8001, "/queue", sends=1)
    assert code in str(queue.params["reply_markup"])
    [reused] = await desk.say(8002, f"/start {payload}", sends=1)
    assert reused.params["text"] == text("desk.invite_invalid", "vi")
    [staff] = await desk.say(OFFICE, "/staff", sends=1)
    assert "User8001" in str(staff.params["text"])
    member = next(line for line in str(staff.params["text"]).splitlines() if "User8001" in line)
    staff_code = member.split("(")[1].split(")")[0]
    await desk.say(OFFICE, f"/revoke {staff_code}", sends=1)
    [refusal] = await desk.press(8001, f"t:take:{code}", sends=1)
    assert refusal.params["text"] == text("desk.not_allowed", "vi")
    assert (await _ticket(desk, code)).assignee_id is None
    actions = [e.action for e in await rows(desk.app.db, AuditEntry)]
    assert actions == ["invite_refused", "invite", "joined", "revoke"]


async def test_staff_see_the_files_and_the_place_the_sender_attached(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    await start_draft(chat, "complaint", "cat:food-safety", COMPLAINT)
    photo = [{"file_id": "evidence", "file_unique_id": "u1", "width": 800, "height": 600}]
    await chat.send(None, photo=photo)
    await chat.send(None, voice={"file_id": "said", "file_unique_id": "u2", "duration": 3})
    await chat.send(None, location={"latitude": 11.16, "longitude": 106.35})
    code = await send_named(chat)
    desk = Desk(fake, chat.app)
    await desk.cards_reach(code, GO_DAU_GROUP, AN)
    [card] = [m for m in fake.sent(chat_id=AN) if code in m.get("text", "")]
    buttons = [b for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert {"text": "📎 Tệp (3)", "callback_data": f"t:files:{code}"} in buttons

    shown = await desk.press(AN, f"t:files:{code}", sends=3)
    assert [c.method for c in shown] == ["sendPhoto", "sendVoice", "sendMessage"]
    assert shown[0].params["photo"] == "evidence"
    assert shown[0].params["caption"] == text(
        "desk.file", "vi", code=code, kind="ảnh", number="1/3"
    )
    assert shown[1].params["voice"] == "said"
    assert "https://maps.google.com/?q=11.160000,106.350000" in shown[2].params["text"]

    [refused] = await desk.press(BINH, f"t:files:{code}", sends=1)
    assert refused.params["text"] == text("desk.not_allowed", "vi"), "not in Bình's units"


async def test_what_staff_type_is_cleaned_at_the_edge_too(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    _chat, desk, code = await _filed(fake, make_app)
    await desk.press(AN, f"t:take:{code}", chat=GO_DAU_GROUP, sends=4)
    await desk.press(AN, f"t:reply:{code}", chat=GO_DAU_GROUP, sends=1)
    typed = "Đoàn phường\x00 đã báo\u202e Đội quản lý\x1b thị trường.\u200b"
    replied = await desk.say(AN, typed, chat=GO_DAU_GROUP, sends=4)
    answer = "Đoàn phường đã báo Đội quản lý thị trường."
    [notice] = to(replied, YOUTH)
    assert answer in notice
    thread = [m.body for m in await rows(desk.app.db, TicketMessage)]
    assert thread == [COMPLAINT, answer]
