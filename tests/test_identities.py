"""Identities and destinations per channel: staff accounts, routing groups and public
outlets name their channel; Telegram's old one-key spellings still mean the same."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.app import CHANNELS, check_channel_names
from bot.cli import main
from bot.config import ConfigError, OrgConfig
from bot.domain.desk import TicketView
from bot.domain.kinds import Kind
from bot.domain.lifecycle import Status
from handlers import publishing
from handlers.cards import route_chats
from storage.db import Database
from storage.desk import SqlDeskRecords, sync_staff
from storage.dialogues import create_dialogue
from storage.models import Attachment, ChannelIdentity, Story, Ticket
from storage.publishing import SqlPublishingRecords
from tests.conftest import config_data, config_file, config_with

GO_DAU = "Phường Gò Dầu"
KNOWN = "known: telegram, web, zalo_bot, zalo_oa"
AN = "nguyen-van-an"
OFFICE = {"code": "van-phong", "name": "Văn phòng", "roles": ["admin"]}  # the try-out admin


def _members(**accounts: Any) -> list[dict[str, Any]]:
    return [OFFICE, {"code": AN, "name": "An", "roles": ["staff"], **accounts}]


def _staff(**accounts: Any) -> OrgConfig:
    """The shipped staff, An with these accounts."""
    staff = [m if m["code"] != AN else {**m, **accounts} for m in config_data({})["staff"]]
    return config_with({"staff": staff})


def _routing(rule: dict[str, Any]) -> OrgConfig:
    office = {"groups": [{"channel": "web", "id": "office"}]}
    return config_with({"routing": {"rules": [rule], "office": office, "inspection": office}})


@pytest.mark.parametrize(
    ("accounts", "identities"),
    [
        ({"telegram_id": 7001}, {"telegram": "7001"}),
        ({"identities": {"telegram": 7001}}, {"telegram": "7001"}),
        ({"identities": {"telegram": "7001"}}, {"telegram": "7001"}),
        ({"telegram_id": 7001, "identities": {"telegram": "7001"}}, {"telegram": "7001"}),
        (
            {"telegram_id": 7001, "identities": {"web": "v-an", "zalo_oa": "8490"}},
            {"telegram": "7001", "web": "v-an", "zalo_oa": "8490"},
        ),
        ({"identities": {"zalo_bot": "z1", "telegram": 7}}, {"telegram": "7", "zalo_bot": "z1"}),
        ({}, {}),
    ],
)
def test_staff_accounts_read_either_spelling(
    accounts: dict[str, Any], identities: dict[str, str]
) -> None:
    found = {staff.code: ids for staff, ids in _staff(**accounts).declared_staff()}
    assert list(found.pop(AN).items()) == list(identities.items())  # Telegram's first
    assert not any(found.values())


def test_one_account_belongs_to_one_member() -> None:
    staff = config_data({})["staff"]
    staff[0] = {**staff[0], "identities": {"web": "v-1"}}
    staff[2] = {**staff[2], "identities": {"web": "v-1"}}
    message = "staff[2].identities: web v-1 is already van-phong's"
    with pytest.raises(ConfigError, match=_literal(message)):
        config_with({"staff": staff})


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        (
            {"telegram_id": 7001, "identities": {"telegram": 7002}},
            "staff.1: Value error, telegram_id 7001 and identities.telegram 7002 differ",
        ),
        ({"identities": {"zalo_oa": 8490}}, "zalo_oa: write the id in quotes"),
        ({"identities": {"telegram": "@an"}}, "telegram: '@an' is not a Telegram id"),
        ({"identities": {"web": ""}}, "staff.1.identities.web"),
    ],
)
def test_wrong_staff_accounts_name_the_fix(accounts: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=_literal(message)):
        _staff(**accounts)


@pytest.mark.parametrize(
    ("targets", "groups"),
    [
        ({"group_chat_id": -1001}, (("telegram", "-1001"),)),
        ({"groups": [{"channel": "telegram", "id": -1001}]}, (("telegram", "-1001"),)),
        ({"groups": [{"channel": "zalo_bot", "id": "g-1"}]}, (("zalo_bot", "g-1"),)),
        (
            {"group_chat_id": -1001, "groups": [{"channel": "web", "id": "desk"}]},
            (("telegram", "-1001"), ("web", "desk")),
        ),
        ({"staff": ["nguyen-van-an"]}, ()),
    ],
)
def test_routing_groups_read_either_spelling(
    targets: dict[str, Any], groups: tuple[tuple[str, str], ...]
) -> None:
    routes = _routing({"kinds": ["complaint"], **targets}).routes
    assert routes.rules[0].groups == groups
    assert routes.office.groups == (("web", "office"),)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"groups": [{"channel": "web", "id": 5}]}, "web: write the id in quotes"),
        ({"groups": [{"channel": "web"}]}, "routing.rules.0.groups.0.id: Field required"),
        ({"groups": []}, "a route needs groups, group_chat_id or staff"),
    ],
)
def test_wrong_routing_groups_name_the_fix(targets: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=_literal(message)):
        _routing({"kinds": ["complaint"], **targets})


@pytest.mark.parametrize(
    ("changes", "outlets"),
    [
        ({}, ()),
        ({"channels": {"telegram": {"public_channel_id": "@caunoi"}}}, (("telegram", "@caunoi"),)),
        ({"channels": {"telegram": {"public_channel_id": -100}}}, (("telegram", "-100"),)),
        ({"publishing": {"outlets": [{"channel": "web", "id": "news"}]}}, (("web", "news"),)),
        (
            {
                "channels": {"telegram": {"public_channel_id": "@caunoi"}},
                "publishing": {
                    "outlets": [
                        {"channel": "telegram", "id": "@caunoi"},
                        {"channel": "zalo_oa", "id": "oa-1"},
                    ]
                },
            },
            (("telegram", "@caunoi"), ("zalo_oa", "oa-1")),
        ),
    ],
)
def test_public_outlets_read_either_spelling(
    changes: dict[str, Any], outlets: tuple[tuple[str, str], ...]
) -> None:
    assert config_with(changes).outlets == outlets


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"routing": {"rules": [{"groups": [{"channel": "zalo", "id": "g"}]}]}},
            f"routing: groups: unknown channel 'zalo' ({KNOWN})",
        ),
        (
            {"publishing": {"outlets": [{"channel": "rss", "id": "feed"}]}},
            f"publishing: outlets: unknown channel 'rss' ({KNOWN})",
        ),
        ({"channels": {"zalo": {}}}, f"channels: unknown channel 'zalo' ({KNOWN})"),
    ],
)
def test_a_channel_the_app_has_no_adapter_for_is_refused_naming_the_known_ones(
    changes: dict[str, Any], message: str
) -> None:
    config = config_with(changes)  # well-formed: whether the channel exists is the registry's
    with pytest.raises(ConfigError, match=_literal(message)):
        check_channel_names(config, CHANNELS)


def test_a_staff_account_on_a_channel_without_an_adapter_is_refused() -> None:
    config = _staff(identities={"zalo": "z1"})
    with pytest.raises(ConfigError, match=_literal(f"unknown channel 'zalo' ({KNOWN})")):
        check_channel_names(config, CHANNELS)


def _literal(message: str) -> str:
    return "".join(f"\\{c}" if c in "[]().+*?" else c for c in message)


def _ticket(kind: Kind, unit_code: str | None) -> TicketView:
    now = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    return TicketView(
        code="PA-2701-1",
        kind=kind,
        category="environment",
        unit_code=unit_code,
        status=Status.NEW,
        text="",
        attachments=0,
        created_at=now,
        updated_at=now,
        due_at=None,
        assignee_code=None,
        assignee_name=None,
        sender_name=None,
        anonymous=False,
        language="vi",
    )


async def test_cards_reach_each_staff_account_and_a_group_on_another_channel(
    database_url: str,
) -> None:
    staff = _members(telegram_id=7001, identities={"web": "v-an", "zalo_oa": "z-an"})
    rule = {"kinds": ["complaint"], "groups": [{"channel": "zalo_bot", "id": "g-1"}]}
    rule |= {"units": [GO_DAU], "staff": [AN]}
    office = {"staff": [AN]}
    config = config_with(
        {"staff": staff, "routing": {"rules": [rule], "office": office, "inspection": office}}
    )
    unit = config.unit(GO_DAU)
    assert unit is not None
    db = Database(database_url)
    try:
        with db.session() as session:
            # An used the web chat before config named them: that person becomes the member.
            earlier = create_dialogue(
                session=session, channel="web", external_id="v-an", chat_id="v-an", language="vi"
            )
            sync_staff(session=session, members=config.declared_staff())
            sync_staff(session=session, members=config.declared_staff())  # changes nothing
        with db.session() as session:
            desk = SqlDeskRecords(session=session)
            chats = route_chats(config, desk, _ticket(Kind.COMPLAINT, unit.code))
            elsewhere = route_chats(config, desk, _ticket(Kind.QUESTION, None))
            owners = {i.channel: i.person_id for i in session.exec(select(ChannelIdentity))}
    finally:
        await db.dispose()
    accounts = [("web", "v-an"), ("telegram", "7001"), ("zalo_oa", "z-an")]
    assert chats == [("zalo_bot", "g-1"), *accounts]
    assert elsewhere == accounts
    assert owners == dict.fromkeys(["web", "telegram", "zalo_oa"], earlier.person_id)


async def test_the_daily_post_and_the_digest_go_to_each_outlet_in_its_channel(
    database_url: str,
) -> None:
    outlets = [{"channel": "web", "id": "news"}, {"channel": "zalo_oa", "id": "oa-1"}]
    config = config_with(
        {
            "channels": {"telegram": {"public_channel_id": "@caunoi"}},
            "publishing": {"outlets": outlets},
        }
    )
    now = dt.datetime(2027, 1, 4, 0, 30, tzinfo=dt.UTC)
    db = Database(database_url)
    try:
        with db.session() as session:
            ticket = Ticket(code="CH-2701-1", kind="story", category="good-deeds", text="…")
            session.add(ticket)
            session.flush()
            assert ticket.id is not None
            story = "Bạn Minh nhặt được ví và trả lại người mất."
            session.add(
                Story(ticket_id=ticket.id, state="approved", text=story, credit="anonymous")
            )
        with db.session() as session:
            records = SqlPublishingRecords(session=session)
            desk = SqlDeskRecords(session=session)
            daily = publishing.publish_daily(config, records, desk, now, news_link=None)
            weekly = publishing.publish_weekly(config, records, now, now - dt.timedelta(days=6))
    finally:
        await db.dispose()
    expected = [("telegram", "@caunoi"), ("web", "news"), ("zalo_oa", "oa-1")]
    assert daily.story is not None
    posts = [r for r in daily.replies if r.key == "publish.daily_post"]
    assert [(r.to.channel, r.to.chat_id) for r in posts if r.to] == expected
    assert [(r.to.channel, r.to.chat_id) for r in weekly if r.to] == expected


async def test_a_published_photo_is_fetched_from_the_channel_it_came_in_on(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        with db.session() as session:
            for code, channel, ref in (("CH-1", "web", "web:5"), ("CH-2", "zalo_oa", "z-file")):
                ticket = Ticket(code=code, kind="story", category="good-deeds", text="…")
                session.add(ticket)
                session.flush()
                assert ticket.id is not None
                attached = Attachment(
                    ticket_id=ticket.id, channel=channel, media_kind="photo", file_ref=ref
                )
                story = Story(
                    ticket_id=ticket.id,
                    state="published",
                    text="…",
                    credit="anonymous",
                    photo_ref=ref,
                )
                session.add_all([attached, story])
        with db.session() as session:
            records = SqlPublishingRecords(session=session)
            found = [records.published_photo(code) for code in ("CH-1", "CH-2", "CH-3")]
    finally:
        await db.dispose()
    assert found == [("web:5", "web"), ("z-file", "zalo_oa"), None]


def test_the_commands_show_each_destination_with_its_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    staff = list(config_data({})["staff"])
    staff[1] = {**staff[1], "telegram_id": 7001, "identities": {"web": "v-an"}}
    rule = {"kinds": ["complaint"], "group_chat_id": -1001, "staff": [AN]}
    rule["groups"] = [{"channel": "web", "id": "g-1"}]
    routing = config_data({})["routing"]
    changes = {
        "staff": staff,
        "routing": {**routing, "rules": [rule]},
        "publishing": {"outlets": [{"channel": "web", "id": "news"}]},
    }
    monkeypatch.setenv("CAUNOI_CONFIG", str(config_file(tmp_path / "config.yaml", changes)))
    assert main(["check-config"]) == 0  # every channel named here has an adapter
    summary = capsys.readouterr().out
    assert "Nguyễn Văn An [staff] units: 4; on: telegram, web" in summary
    assert "1. complaint; any units -> telegram group -1001, web group g-1, staff " in summary
    assert "Public outlets: web news" in summary
    assert main(["route", "--kind", "complaint", "--category", "environment"]) == 0
    explained = capsys.readouterr().out
    assert f"rules[0]: MATCHES -> telegram group -1001, web group g-1, staff {AN}" in explained
