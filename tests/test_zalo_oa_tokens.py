"""The Zalo OA's OAuth tokens against the fake OAuth v4 server, in one process: refreshed
ahead of expiry and on -216, a refresh token never spent twice, lost tokens reported (to the
admins once, on /healthz) with the queue kept, and healed. Across real processes (SIGKILL,
two processes on PostgreSQL, the consent command): tests/test_zalo_oa_process.py."""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from starlette.routing import BaseRoute

from bot.app import CHANNELS
from bot.channels.base import Capabilities, FileSource, TemporaryFailure
from bot.channels.kit import ChannelKit
from bot.channels.zalo_oa_auth import (
    CONSENT_COMMAND,
    LOST_RETRY_SECONDS,
    ConsentAnswerError,
    OaCredentials,
    OaTokens,
    TokensLost,
    build_tokens,
    code_from,
    exchange_code,
    start_consent,
)
from bot.dispatch import queue_replies
from bot.domain.messages import Inbound, Recipient, Rendered, Reply
from bot.intake import Intake
from bot.outbox import MAX_ATTEMPTS
from storage.db import Database
from storage.models import ChannelIdentity, OutboxMessage, Person, ZaloOaToken
from storage.zalo_oa import store_consent
from tests.conftest import AppFactory, Clock, config_data, config_with, rows
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo_oauth import APP_ID, APP_SECRET, FakeZaloOAuth

START = dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    """The time the keeper and the fake server both see."""
    return Clock(START)


@pytest.fixture
async def oauth(clock: Clock) -> AsyncIterator[FakeZaloOAuth]:
    """The fake OAuth v4 server on a free local port."""
    server = FakeZaloOAuth(clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The migrated test database."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The keeper's HTTP client."""
    async with httpx.AsyncClient() as client:
        yield client


def keeper(
    db: Database,
    http: httpx.AsyncClient,
    oauth: FakeZaloOAuth,
    clock: Clock,
    first: str | None,
) -> OaTokens:
    """A token keeper on this database, as one process of the app holds it."""
    return OaTokens(
        db=db,
        http=http,
        oauth_base_url=oauth.base_url,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        first_refresh_token=first,
        clock=clock,
    )


async def stored(db: Database) -> ZaloOaToken:
    """The app's token row as the database holds it."""
    return await db.run(lambda s: s.exec(select(ZaloOaToken)).one())


async def test_start_spends_the_environment_token_at_once_and_keeps_the_new_pair(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    first = oauth.consent()
    tokens = keeper(db, http, oauth, clock, first)
    await tokens.start()
    row = await stored(db)
    assert oauth.refreshes == 1
    assert not oauth.is_live_refresh_token(first)
    assert oauth.is_live_refresh_token(row.refresh_token)
    assert row.access_expires_at == START + dt.timedelta(hours=25)  # "90000", a string
    assert (row.generation, row.refreshed_at) == (1, START)
    token = await tokens.access_token()
    assert token == row.access_token
    assert oauth.is_valid(token)
    assert oauth.refreshes == 1
    assert tokens.problem() is None


async def test_a_restart_moments_after_a_refresh_spends_nothing(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    first = oauth.consent()
    await keeper(db, http, oauth, clock, first).start()
    clock.now += dt.timedelta(minutes=2)
    again = keeper(db, http, oauth, clock, first)
    await again.start()
    assert oauth.refreshes == 1
    assert await again.access_token() == (await stored(db)).access_token


async def test_the_access_token_is_refreshed_an_hour_before_it_expires(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    tokens = keeper(db, http, oauth, clock, oauth.consent())
    await tokens.start()
    first = await tokens.access_token()
    clock.now = START + dt.timedelta(hours=23, minutes=59)
    assert await tokens.access_token() == first
    assert oauth.refreshes == 1
    clock.now = START + dt.timedelta(hours=24)
    second = await tokens.access_token()
    assert second != first
    assert oauth.refreshes == 2
    assert oauth.is_valid(second)
    assert (await stored(db)).access_expires_at == clock.now + dt.timedelta(hours=25)
    assert oauth.used_twice() == []


async def test_a_rejected_token_is_replaced_once_even_when_two_keepers_hear_it(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    env = oauth.consent()
    one, other = keeper(db, http, oauth, clock, env), keeper(db, http, oauth, clock, env)
    await one.start()
    await other.start()
    old = await one.access_token()
    assert await other.access_token() == old
    oauth.expire_access_tokens()  # Zalo now answers -216 for it
    new = await one.rejected(old)
    assert oauth.is_valid(new)
    # The other process heard -216 for the same old token: it takes the stored new one.
    assert await other.rejected(old) == new
    assert oauth.refreshes == 2
    assert oauth.used_twice() == []


async def test_callers_at_once_share_one_refresh(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    tokens = keeper(db, http, oauth, clock, oauth.consent())
    await tokens.start()
    clock.now += dt.timedelta(hours=24, minutes=30)
    got = await asyncio.gather(*(tokens.access_token() for _ in range(5)))
    assert len(set(got)) == 1
    assert oauth.refreshes == 2
    assert oauth.used_twice() == []


async def test_a_burned_refresh_token_loses_the_tokens_until_a_new_one_comes(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    env = oauth.consent()
    oauth.burn(env)  # spent by a refresh whose answer never reached us
    tokens = keeper(db, http, oauth, clock, env)
    await tokens.start()
    problem = tokens.problem()
    assert problem is not None
    assert CONSENT_COMMAND in problem
    assert "Invalid refresh token" in problem
    with pytest.raises(TokensLost):
        await tokens.access_token()
    # Restarted with the same environment: nothing more is asked of Zalo.
    again = keeper(db, http, oauth, clock, env)
    await again.start()
    with pytest.raises(TokensLost):
        await again.access_token()
    assert (oauth.refreshes, oauth.refused_refreshes) == (0, 1)
    # A person consented again and set the new refresh token: restarting heals it.
    healed = keeper(db, http, oauth, clock, oauth.consent())
    await healed.start()
    assert healed.problem() is None
    assert oauth.is_valid(await healed.access_token())
    assert (await stored(db)).lost_at is None


async def test_a_consent_heals_lost_tokens_without_a_restart(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    env = oauth.consent()
    oauth.burn(env)
    tokens = keeper(db, http, oauth, clock, env)
    await tokens.start()
    assert tokens.problem() is not None
    credentials = OaCredentials(APP_ID, APP_SECRET, env, oauth.base_url)
    consent = start_consent(credentials, "https://caunoi.example.org/zalo/oa/consent")
    challenge = httpx.URL(consent.url).params["code_challenge"]
    code = oauth.authorize(challenge)
    pair = await exchange_code(http, credentials, code, consent.code_verifier, now=clock.now)
    await db.run(
        lambda s: store_consent(session=s, app_id=APP_ID, pair=pair, now=clock.now, env_token=env)
    )
    assert await tokens.access_token() == pair.access_token
    assert tokens.problem() is None
    # The old environment token does not replace the consented pair at the next start.
    restarted = keeper(db, http, oauth, clock, env)
    await restarted.start()
    assert await restarted.access_token() == pair.access_token


async def test_no_tokens_at_all_names_the_consent_command(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    tokens = keeper(db, http, oauth, clock, None)
    await tokens.start()
    assert CONSENT_COMMAND in (tokens.problem() or "")
    with pytest.raises(TokensLost, match="zalo-oa-consent"):
        await tokens.access_token()
    assert oauth.calls == []


async def test_while_zalo_is_down_the_current_token_serves_until_it_expires(
    db: Database, http: httpx.AsyncClient, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    env = oauth.consent()
    oauth.unavailable = True
    tokens = keeper(db, http, oauth, clock, env)
    await tokens.start()  # does not raise: the first send tries again
    with pytest.raises(TemporaryFailure):
        await tokens.access_token()
    assert tokens.problem() is None
    oauth.unavailable = False
    current = await tokens.access_token()
    oauth.unavailable = True
    clock.now += dt.timedelta(hours=24, minutes=30)  # due, and Zalo cannot be reached
    assert await tokens.access_token() == current
    clock.now += dt.timedelta(hours=1)  # expired: nothing to send with
    with pytest.raises(TemporaryFailure):
        await tokens.access_token()
    oauth.unavailable = False
    assert await tokens.access_token() != current
    assert oauth.used_twice() == []


STATE = "s-123"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("abc123", "abc123"),
        ("  abc123\n", "abc123"),
        (f"https://caunoi.example.org/zalo/oa/consent?code=xyz&state={STATE}", "xyz"),
        ("https://caunoi.example.org/zalo/oa/consent?oa_id=1&code=xyz", "xyz"),
        (f"?code=xyz&state={STATE}", "xyz"),
        ("https://caunoi.example.org/zalo/oa/consent?code=xyz&state=other", "state"),
        ("https://caunoi.example.org/zalo/oa/consent?error=access_denied", "denied"),
        ("https://caunoi.example.org/zalo/oa/consent?state=s-123", "empty"),
        ("   ", "empty"),
    ],
)
def test_the_code_is_found_in_what_the_admin_pasted(answer: str, expected: str) -> None:
    try:
        found = code_from(answer, STATE)
    except ConsentAnswerError as error:
        found = str(error)
    assert found == expected


PROBE = "zalo_oa_probe"
ADMIN_VI, ADMIN_EN, STAFF, PERSON = 5001, 5002, 5003, "oa-user-1"


class OaProbe:
    """Stands in for the OA channel (another branch builds it) the way it will hold the
    tokens: built from the environment through build_tokens, started with the app, each send
    taking a valid access token, and its problem on /healthz."""

    name = PROBE
    capabilities = Capabilities(buttons=False, edits=False, max_text=2000)
    files: FileSource | None = None
    concurrency = 1

    def __init__(self, kit: ChannelKit, oauth: FakeZaloOAuth) -> None:
        self.http = httpx.AsyncClient()
        tokens = build_tokens(
            kit.settings, kit.db, self.http, clock=kit.clock, on_outbox=kit.on_outbox
        )
        assert tokens is not None
        self.tokens = tokens
        self.oauth = oauth
        self.sender = self
        self.delivered: list[tuple[str, str]] = []

    @property
    def problem(self) -> str | None:
        """The tokens' problem, for /healthz."""
        return self.tokens.problem()

    async def send(self, chat_id: str, message: Rendered) -> str | None:
        """Deliver with a token the fake OAuth server holds valid."""
        token = await self.tokens.access_token()
        assert self.oauth.is_valid(token)
        self.delivered.append((chat_id, message.text))
        return None

    async def edit(self, chat_id: str, message_id: str, message: Rendered) -> str | None:
        """No edits: a new message."""
        return await self.send(chat_id, message)

    def decode(self, payload: Mapping[str, Any]) -> Inbound | None:
        """Nothing comes in through it."""
        return None

    def routes(self) -> Sequence[BaseRoute]:
        """No routes."""
        return []

    async def start(self, intake: Intake, base_url: str) -> None:
        """Start the token keeper."""
        await self.tokens.start()

    async def acknowledge(self, event: Inbound) -> None:
        """Nothing to acknowledge."""

    def start_link(self) -> str | None:
        """No links."""
        return None

    async def stop(self) -> None:
        """Nothing runs."""

    async def close(self) -> None:
        """Close the keeper's HTTP client."""
        await self.http.aclose()


async def test_lost_tokens_alert_the_admins_once_and_keep_the_queue_until_a_consent(
    make_app: AppFactory, fake: FakeTelegram, oauth: FakeZaloOAuth, clock: Clock
) -> None:
    probes: list[OaProbe] = []

    def build(kit: ChannelKit) -> OaProbe:
        probes.append(OaProbe(kit, oauth))
        return probes[-1]

    # The office and one more admin (who reads English); a staff member who is not one.
    chats = {"van-phong": ADMIN_VI, "le-minh-chau": ADMIN_EN, "nguyen-van-an": STAFF}
    staff = [
        {**member, "telegram_id": chats[member["code"]]}
        | ({"roles": [*member["roles"], "admin"]} if member["code"] == "le-minh-chau" else {})
        for member in config_data({})["staff"]
        if member["code"] in chats
    ] + [m for m in config_data({})["staff"] if m["code"] not in chats]
    env = oauth.consent()
    app = await make_app(
        serve_http=True,
        clock=clock,
        config=config_with({"staff": staff}),
        registry={**CHANNELS, PROBE: build},
        zalo_oa_app_id=APP_ID,
        zalo_oa_app_secret=APP_SECRET,
        zalo_oa_refresh_token=env,
        zalo_oauth_base_url=oauth.base_url,
    )
    [probe] = probes
    await _set_language(app.db, str(ADMIN_EN), "en")
    health = f"http://127.0.0.1:{app.http_port}/healthz"
    async with httpx.AsyncClient() as client:
        assert (await client.get(health)).json() == {"status": "ok"}
        # A crash spent the stored refresh token; a day later the access token is due.
        oauth.burn((await stored(app.db)).refresh_token)
        clock.now += dt.timedelta(hours=24, minutes=30)
        await _queue(app.db, "help.body", clock.now)
        app.outbox.wake()
        await app.outbox.drain()
        degraded = (await client.get(health)).json()
    assert degraded["status"] == "degraded"
    assert CONSENT_COMMAND in degraded["channels"][PROBE]
    [vi] = fake.texts(ADMIN_VI)
    [en] = fake.texts(ADMIN_EN)
    assert "không còn gửi được tin qua Zalo OA" in vi
    assert CONSENT_COMMAND in vi
    assert "can no longer send through the Zalo OA" in en
    assert CONSENT_COMMAND in en
    assert fake.texts(STAFF) == []
    # Retried for longer than the outbox gives any message: still queued, told once.
    for _ in range(MAX_ATTEMPTS + 2):
        clock.now += dt.timedelta(seconds=LOST_RETRY_SECONDS + 1)
        app.outbox.wake()
        await app.outbox.drain()
    [waiting] = [m for m in await rows(app.db, OutboxMessage) if m.channel == PROBE]
    assert waiting.status == "pending"
    assert waiting.attempts > MAX_ATTEMPTS
    assert (len(fake.texts(ADMIN_VI)), len(fake.texts(ADMIN_EN))) == (1, 1)
    assert probe.delivered == []
    # An admin consents (the CLI's steps); the next try delivers what waited.
    credentials = OaCredentials(APP_ID, APP_SECRET, env, oauth.base_url)
    consent = start_consent(credentials, "https://caunoi.example.org/zalo/oa/consent")
    code = oauth.authorize(httpx.URL(consent.url).params["code_challenge"])
    async with httpx.AsyncClient() as client:
        pair = await exchange_code(client, credentials, code, consent.code_verifier, now=clock.now)
    await app.db.run(
        lambda s: store_consent(session=s, app_id=APP_ID, pair=pair, now=clock.now, env_token=env)
    )
    clock.now += dt.timedelta(seconds=LOST_RETRY_SECONDS + 1)
    app.outbox.wake()
    await app.outbox.drain()
    assert [chat for chat, _ in probe.delivered] == [PERSON]
    assert probe.problem is None
    assert oauth.used_twice() == []


async def _set_language(db: Database, telegram_id: str, language: str) -> None:
    def change(session: Session) -> None:
        identity = session.exec(
            select(ChannelIdentity).where(ChannelIdentity.chat_id == telegram_id)
        ).one()
        person = session.get_one(Person, identity.person_id)
        person.language = language
        session.add(person)

    await db.run(change)


async def _queue(db: Database, key: str, now: dt.datetime) -> None:
    reply = Reply(key, to=Recipient(PROBE, PERSON, "vi"))
    await db.run(lambda s: queue_replies(s, [reply], now=now))
