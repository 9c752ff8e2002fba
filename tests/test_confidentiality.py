"""Confidentiality end to end: only the inspection committee seats its members, confidential
reports stay out of every figure and queue outside it, one-time links are kept only as hashes,
and admins ban senders without learning who they are."""

import datetime as dt
import hashlib
import json
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlmodel import select

from bot.app import CauNoi
from bot.domain.i18n import text
from storage.db import create_engine
from storage.migrate import alembic_config
from storage.models import AuditEntry, Invite, Publication, StaffMember, Ticket
from tests.conftest import AppFactory, Clock, rows
from tests.desk import AN, INSPECTION, OFFICE, YOUTH, Desk, desk_config, to
from tests.dialogue import CODE, Chat, onboard, onboarded, submit
from tests.fake_telegram import FakeTelegram
from tests.webchat import Browser, signed_in_with

REPORT = "Bí thư chi đoàn X thu quỹ của đoàn viên nhưng không chi cho hoạt động nào."
COMPLAINT = "Quán ăn trước cổng trường bán đồ ăn ôi thiu cho học sinh."
NEWCOMER, OTHER = 8001, 8002
# Tuesday 24/11/2026, 07:45 in Tây Ninh: a working day's morning summary.
TUESDAY = dt.datetime(2026, 11, 24, 0, 45, tzinfo=dt.UTC)


async def _filed(chat: Chat | Browser, kind: str, body: str, privacy: str | None = None) -> str:
    receipt, _ = await submit(chat, kind, body, privacy)
    found = CODE.search(receipt)
    assert found is not None, receipt
    return found.group()


async def _invite(desk: Desk, user: int, command_text: str) -> str:
    """A staff member asks for an invitation on Telegram; its /start payload."""
    [answer] = await desk.say(user, command_text, sends=1)
    link = str(answer.params["text"]).split()[-1]
    assert "start=inv_" in link, answer.params["text"]
    return link.split("start=")[1]


async def _staff_code(app: CauNoi, name: str) -> str:
    found = await app.db.run(
        lambda s: s.exec(select(StaffMember.code).where(StaffMember.name == name)).first()
    )
    assert found is not None
    return found


async def _actions(app: CauNoi) -> list[tuple[str, dict[str, Any]]]:
    return [(e.action, e.before) for e in await rows(app.db, AuditEntry)]


async def test_only_the_inspection_committee_seats_and_unseats_its_members(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    desk = Desk(fake, chat.app)
    code = await _filed(chat, "confidential", REPORT)
    [refused] = await desk.say(OFFICE, "/invite inspection", sends=1)
    assert refused.params["text"] == text(
        "desk.grant_refused", "vi", role=text("roles.inspection", "vi")
    )
    [refused] = await desk.say(INSPECTION, "/invite staff", sends=1)
    assert refused.params["text"] == text(
        "desk.grant_refused", "vi", role=text("roles.staff", "vi")
    )
    payload = await _invite(desk, INSPECTION, "/invite inspection")
    welcome, _help = await desk.say(NEWCOMER, f"/start {payload}", sends=2)
    assert text("roles.inspection", "vi") in str(welcome.params["text"])
    [queue] = await desk.say(NEWCOMER, "/queue", sends=1)
    assert code in str(queue.params["reply_markup"])
    member = await _staff_code(chat.app, f"User{NEWCOMER}")
    [refused] = await desk.say(OFFICE, f"/revoke {member}", sends=1)
    assert refused.params["text"] == text(
        "desk.grant_refused", "vi", role=text("roles.inspection", "vi")
    )
    [queue] = await desk.say(NEWCOMER, "/queue", sends=1)
    assert code in str(queue.params["reply_markup"]), "still a member"

    # A link dies with its maker's right to give it.
    unused = await _invite(desk, NEWCOMER, "/invite inspection")
    [revoked] = await desk.say(INSPECTION, f"/revoke {member}", sends=1)
    assert revoked.params["text"] == text("desk.revoked", "vi", code=member)
    [invalid] = await desk.say(OTHER, f"/start {unused}", sends=1)
    assert invalid.params["text"] == text("desk.invite_invalid", "vi")
    invites = await chat.app.db.run(lambda s: list(s.exec(select(Invite)).all()))
    assert [i.roles for i in invites] == [["inspection"], ["inspection"]]
    assert await _actions(chat.app) == [
        ("invite_refused", {"role": "inspection"}),
        ("invite_refused", {"role": "staff"}),
        ("invite", {"role": "inspection"}),
        ("joined", {}),
        ("revoke_refused", {"staff": member}),
        ("invite", {"role": "inspection"}),
        ("revoke", {"staff": member}),
    ]


async def test_staff_who_grant_nothing_are_refused_and_it_is_recorded(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config())
    desk = Desk(fake, app)
    for attempt in ("/invite staff", "/revoke van-phong"):
        [refused] = await desk.say(AN, attempt, sends=1)
        assert refused.params["text"] == text("desk.admins_only", "vi")
    assert [a for a, _ in await _actions(app)] == ["invite_refused", "revoke_refused"]
    assert await app.db.run(lambda s: list(s.exec(select(Invite)).all())) == []


async def _web_staff(app: CauNoi, staff_code: str) -> Browser:
    """A staff member signed in on the web with a one-time link from the server."""
    link = await app.sign_in_link(staff_code)
    assert link is not None
    return await signed_in_with(app, link.split("#", 1)[1])


async def test_an_admin_on_the_web_can_neither_invite_nor_revoke_inspection(
    make_app: AppFactory,
) -> None:
    app = await make_app(config=desk_config(), serve_http=True)
    admin = await _web_staff(app, "van-phong")
    inspector = await _web_staff(app, "uy-ban-kiem-tra")
    opened = [admin, inspector]
    try:
        refusal = text("desk.grant_refused", "vi", role=text("roles.inspection", "vi"))
        assert await admin.send("/invite inspection") == [refusal]
        assert await admin.send("/revoke uy-ban-kiem-tra") == [refusal]
        invites = await app.db.run(lambda s: list(s.exec(select(Invite)).all()))
        assert all(i.staff_code is not None for i in invites), "only the two sign-in links"
        assert [a for a, _ in await _actions(app)][-2:] == ["invite_refused", "revoke_refused"]
        committee = await app.db.run(lambda s: s.get(StaffMember, "uy-ban-kiem-tra"))
        assert committee is not None
        assert committee.active

        [link] = await inspector.send("/invite inspection")
        token = link.split("#", 1)[1].split()[0]
        newcomer = await signed_in_with(app, token)
        opened.append(newcomer)
        assert text("roles.inspection", "vi") in newcomer.texts[0]
    finally:
        for browser in opened:
            await browser.close()


async def test_a_token_read_from_the_database_does_not_sign_in(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config(), serve_http=True)
    desk = Desk(fake, app)
    payload = await _invite(desk, OFFICE, "/invite staff")
    link = await app.sign_in_link("nguyen-van-an")
    assert link is not None
    stored = [
        str(value)
        for invite in await app.db.run(lambda s: list(s.exec(select(Invite)).all()))
        for key, value in invite.model_dump().items()
        if key.startswith("token")
    ]
    raw = [payload.removeprefix("inv_"), link.split("#inv_", 1)[1]]
    assert stored == [hashlib.sha256(t.encode()).hexdigest() for t in raw]
    [refused] = await desk.say(NEWCOMER, f"/start inv_{stored[0]}", sends=1)
    assert refused.params["text"] == text("desk.invite_invalid", "vi")
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        await client.get("/chat")
        answer = await client.post(
            "/chat/api/signin",
            json={"token": f"inv_{stored[1]}"},
            headers={"Origin": app.base_url},
        )
    assert answer.status_code in (400, 403)
    welcome, _ = await desk.say(OTHER, f"/start {payload}", sends=2)
    assert f"User{OTHER}" in str(welcome.params["text"]), "the link itself still works"
    browser = await signed_in_with(app, link.split("#", 1)[1])
    await browser.close()


def test_the_migration_turns_stored_tokens_into_hashes_and_scrubs_public_figures(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    revision = ScriptDirectory.from_config(config).get_revision("0007")
    assert revision is not None
    before = revision.down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    engine = create_engine(database_url)
    now = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    digest = "📰 Tuần này\n• Hỏi đáp: nhận 2\n• Báo cáo sai phạm: nhận 1\nHết."
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO invite (token, roles, units, created_by, created_at,"
                    " expires_at) VALUES ('rawtoken123', '[]', '[]', 'van-phong', :now, :now)"
                ),
                {"now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO publication (kind, period, status, payload, created_at)"
                    " VALUES ('weekly-post', '2026-W48', 'posted', :payload, :now)"
                ),
                {"now": now, "payload": json.dumps({"text": digest})},
            )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            [token] = connection.execute(sa.text("SELECT token_hash FROM invite")).scalars()
            [payload] = connection.execute(sa.text("SELECT payload FROM publication")).scalars()
    finally:
        engine.dispose()
    assert token == hashlib.sha256(b"rawtoken123").hexdigest()
    stored = payload if isinstance(payload, dict) else json.loads(payload)
    assert stored["text"] == "📰 Tuần này\n• Hỏi đáp: nhận 2\nHết."


async def test_a_former_member_no_longer_counts_or_hears_of_a_report_they_held(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(TUESDAY - dt.timedelta(days=1))
    chat = await onboarded(fake, make_app, desk_config(), YOUTH, clock=clock)
    app = chat.app
    desk = Desk(fake, app)
    code = await _filed(chat, "confidential", REPORT)
    payload = await _invite(desk, INSPECTION, "/invite inspection")
    await desk.say(NEWCOMER, f"/start {payload}", sends=2)
    await desk.press(NEWCOMER, f"t:take:{code}", sends=3)
    await desk.say(NEWCOMER, f"/ticket {code}", sends=2)  # a card of it in their chat
    member = await _staff_code(app, f"User{NEWCOMER}")
    await desk.say(INSPECTION, f"/revoke {member}", sends=1)
    again = await _invite(desk, OFFICE, "/invite staff")
    await desk.say(NEWCOMER, f"/start {again}", sends=2)

    [queue] = await desk.say(NEWCOMER, "/queue", sends=1)
    assert queue.params["text"] == text("desk.queue_empty", "vi")
    clock.now = TUESDAY
    assert await app.jobs.morning_summary(clock.now) == 0, "nothing left to sum up for them"
    [ticket] = await rows(app.db, Ticket)
    assert ticket.due_at is not None
    clock.now = ticket.due_at - dt.timedelta(hours=1)
    reminded = await desk.after(lambda: app.jobs.sweep(clock.now), sends=1)
    assert to(reminded, INSPECTION)
    assert not to(reminded, NEWCOMER)
    noted = await desk.action(INSPECTION, "note", code, "Đã xác minh với chi đoàn.", sends=2)
    assert not to(noted, NEWCOMER), "their old card is not brought up to date"
    await chat.press(f"mine:add:{code}")
    await chat.send("Em gửi thêm: số tiền thu là 50.000 đồng mỗi bạn.", replies=2)
    await app.outbox.drain()
    assert not any("50.000" in said for said in fake.texts(NEWCOMER))


# Sunday 29/11/2026 19:00 in Tây Ninh: the weekly digest of 22/11 19:00 to 29/11 19:00.
WEEKLY_SLOT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CHANNEL = -1003


async def test_public_figures_never_count_confidential_reports(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    clock = Clock(dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC))
    config = desk_config(channels={"telegram": {"public_channel_id": CHANNEL}})
    chat = await onboarded(fake, make_app, config, YOUTH, clock=clock, serve_http=True)
    app = chat.app
    desk = Desk(fake, app)
    await _filed(chat, "confidential", REPORT)
    await _filed(chat, "complaint", COMPLAINT, "anon:no")
    clock.now = WEEKLY_SLOT
    hidden = text("kinds.confidential", "vi")
    [preview] = await desk.say(OFFICE, "/digest preview weekly", sends=1)
    assert f"{text('kinds.complaint', 'vi')}: nhận 1" in str(preview.params["text"])
    [post] = await desk.after(lambda: app.publisher.weekly(clock.now), sends=1)
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        page = (await client.get("/news")).text
        feed = (await client.get("/news/feed.xml")).text
    for shown in (str(preview.params["text"]), str(post.params["text"]), page, feed):
        assert hidden not in shown
    [row] = [p for p in await rows(app.db, Publication) if p.kind == "weekly-post"]
    assert hidden not in row.payload["text"]


async def test_admins_ban_and_unban_a_sender_without_learning_who_it_is(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    chat = await onboarded(fake, make_app, desk_config(), YOUTH)
    app = chat.app
    desk = Desk(fake, app)
    code = await _filed(chat, "complaint", COMPLAINT, "anon:yes")
    report = await _filed(chat, "confidential", REPORT)
    [refused] = await desk.say(AN, f"/ban {code} quấy rối", sends=1)
    assert refused.params["text"] == text("desk.admins_only", "vi")
    usage = (text("desk.usage_ban", "vi"), text("desk.usage_unban", "vi"))
    for attempt in ("/ban", f"/ban {code}", "/unban"):
        [answer] = await desk.say(OFFICE, attempt, sends=1)
        assert answer.params["text"] in usage
    [unknown] = await desk.say(OFFICE, "/ban PA-0000-0000 quấy rối", sends=1)
    assert unknown.params["text"] == text("desk.no_ticket", "vi", code="PA-0000-0000")

    reason = "Gửi nội dung quấy rối nhiều lần"
    [banned] = await desk.say(OFFICE, f"/ban {code.lower()} {reason}", sends=1)
    assert banned.params["text"] == text("desk.banned", "vi", code=code)
    assert await chat.press("menu:complaint") == [text("errors.banned", "vi")]
    [notice] = await chat.send("/privacy")
    assert notice.startswith("Chính sách dữ liệu cá nhân")
    [audit] = await desk.say(OFFICE, f"/audit {code}", sends=1)
    assert text("desk.action_ban", "vi") in str(audit.params["text"])
    [entry] = [e for e in await rows(app.db, AuditEntry) if e.action == "ban"]
    assert entry.after["reason"] == reason
    for said in (banned, audit):
        assert f"User{YOUTH}" not in str(said.params)
        assert str(YOUTH) not in str(said.params)

    [unbanned] = await desk.say(OFFICE, f"/unban {code}", sends=1)
    assert unbanned.params["text"] == text("desk.unbanned", "vi", code=code)
    assert await chat.press("menu:complaint") != [text("errors.banned", "vi")]

    # A confidential report's sender: as if the code did not exist, except to the committee.
    [hidden] = await desk.say(OFFICE, f"/ban {report} {reason}", sends=1)
    assert hidden.params["text"] == text("desk.no_ticket", "vi", code=report)
    [banned] = await desk.say(INSPECTION, f"/ban {report} {reason}", sends=1)
    assert banned.params["text"] == text("desk.banned", "vi", code=report)
    assert await chat.press("menu:complaint") == [text("errors.banned", "vi")]
    assert [e.action for e in await rows(app.db, AuditEntry)] == ["ban", "unban", "ban"]


async def test_a_ban_from_the_desk_holds_on_the_web_chat(
    fake: FakeTelegram, make_app: AppFactory
) -> None:
    app = await make_app(config=desk_config(), serve_http=True)
    desk = Desk(fake, app)
    visitor = Browser(app)
    await visitor.open()
    try:
        await onboard(visitor, app.config)
        code = await _filed(visitor, "complaint", COMPLAINT, "anon:yes")
        [banned] = await desk.say(OFFICE, f"/ban {code} quấy rối", sends=1)
        assert banned.params["text"] == text("desk.banned", "vi", code=code)
        assert await visitor.press("menu:complaint") == [text("errors.banned", "vi")]
    finally:
        await visitor.close()
