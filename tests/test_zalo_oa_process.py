"""The Zalo OA's tokens across real processes: the real app SIGKILLed between the refresh and the
new token's first use (the message still delivered, once); a stand-in process killed after the
pair is stored or before Zalo's answer arrived; two processes on one PostgreSQL database; the
consent command as an admin runs it."""

import asyncio
import os
import re
import signal
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.db import Database
from storage.models import ZaloOaToken
from tests.conftest import ROOT
from tests.fake_zalo_oa import FakeZaloOA, big_id
from tests.fake_zalo_oauth import APP_ID, APP_SECRET, FakeZaloOAuth, challenge_of
from tests.local_server import LocalServer

pytestmark = pytest.mark.slow
INVALID_TOKEN = -216
REDIRECT = "https://caunoi.example.org/zalo/oa/consent"


@dataclass
class TokenUse:
    """Stands in for the OA API until the OA channel's fake serves it: POST /use with the
    `access_token` header, answered -216 when the fake OAuth server does not hold it valid.
    hold() keeps the answers back: a process killed then has its token and is using it."""

    oauth: FakeZaloOAuth
    tokens: list[str] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    _held: asyncio.Event | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _http: LocalServer = field(default_factory=LocalServer)

    async def start(self) -> None:
        """Serve on a free local port."""
        await self._http.start(Starlette(routes=[Route("/use", self._use, methods=["POST"])]))

    async def stop(self) -> None:
        """Answer what is held and stop serving."""
        self.release()
        await self._http.stop()

    @property
    def url(self) -> str:
        """Where the child process uses its token."""
        return f"{self._http.origin}/use"

    def hold(self) -> None:
        """Keep answers back until release()."""
        self._held = asyncio.Event()

    def release(self) -> None:
        """Answer held requests; stop holding."""
        if self._held is not None:
            self._held.set()
            self._held = None

    async def wait_for_uses(self, count: int) -> None:
        """Wait until this many uses arrived."""
        async with asyncio.timeout(60), self._changed:
            await self._changed.wait_for(lambda: len(self.tokens) >= count)

    async def _use(self, request: Request) -> Response:
        token = request.headers.get("access_token", "")
        valid = self.oauth.is_valid(token)
        self.tokens.append(token)
        self.valid.append(valid)
        async with self._changed:
            self._changed.notify_all()
        if self._held is not None:
            await self._held.wait()
        error = 0 if valid else INVALID_TOKEN
        return JSONResponse({"error": error, "message": "Success" if valid else "invalid"})


@pytest.fixture
async def oauth() -> AsyncIterator[FakeZaloOAuth]:
    """The fake OAuth v4 server, on the real clock (the processes keep theirs)."""
    server = FakeZaloOAuth()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def use(oauth: FakeZaloOAuth) -> AsyncIterator[TokenUse]:
    """Where the processes use their access tokens."""
    server = TokenUse(oauth)
    await server.start()
    yield server
    await server.stop()


def _env(
    database_url: str, oauth: FakeZaloOAuth, refresh_token: str | None, **more: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZALO_", "TELEGRAM_"))}
    env.update(
        DATABASE_URL=database_url,
        ZALO_OA_APP_ID=APP_ID,
        ZALO_OA_APP_SECRET=APP_SECRET,
        ZALO_OAUTH_BASE_URL=oauth.base_url,
        LOG_LEVEL="WARNING",
        **more,
    )
    if refresh_token is not None:
        env["ZALO_OA_REFRESH_TOKEN"] = refresh_token
    return env


async def _spawn(env: dict[str, str], use: TokenUse) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.oa_tokens_child",
        use.url,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert b"Traceback" not in err, err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode().strip()


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.communicate()


async def _row(database_url: str) -> ZaloOaToken:
    db = Database(database_url)
    try:
        return await db.run(lambda s: s.exec(select(ZaloOaToken)).one())
    finally:
        await db.dispose()


async def test_sigkill_after_the_new_pair_is_stored_burns_no_token(
    database_url: str, oauth: FakeZaloOAuth, use: TokenUse
) -> None:
    first = oauth.consent()
    env = _env(database_url, oauth, first)
    use.hold()
    process = await _spawn(env, use)
    await use.wait_for_uses(1)  # Zalo answered, and the process is using the new token
    await _kill(process)
    use.release()
    row = await _row(database_url)
    assert row.access_token == use.tokens[0]
    assert oauth.is_live_refresh_token(row.refresh_token)
    assert not oauth.is_live_refresh_token(first)
    # Restarted a day later, same environment: the stored pair is what it goes on with.
    oauth.expire_access_tokens()
    assert await _finish(await _spawn(env, use)) == (0, "USED 2")
    assert use.valid == [True, False, True]
    assert (oauth.refreshes, oauth.refused_refreshes) == (2, 0)
    assert oauth.used_twice() == []


async def test_sigkill_before_zalo_answered_is_reported_lost_then_healed(
    database_url: str, oauth: FakeZaloOAuth, use: TokenUse
) -> None:
    first = oauth.consent()
    env = _env(database_url, oauth, first)
    oauth.hold()
    process = await _spawn(env, use)
    await oauth.wait_for(lambda: oauth.refreshes == 1, seconds=60)  # Zalo spent it
    await _kill(process)
    oauth.release()
    assert (await _row(database_url)).generation == 0
    code, said = await _finish(await _spawn(env, use))
    assert code == 3
    assert said.startswith("LOST Zalo refused the OA's refresh token")
    assert "zalo-oa-consent" in said
    # Restarted with the same environment: lost, without asking Zalo again.
    assert (await _finish(await _spawn(env, use)))[0] == 3
    assert oauth.refused_refreshes == 1
    # A new refresh token from a consent, and a restart: working again.
    healed = _env(database_url, oauth, oauth.consent())
    assert await _finish(await _spawn(healed, use)) == (0, "USED 1")
    assert use.valid == [True]
    assert (await _row(database_url)).lost_at is None


async def test_two_processes_on_postgresql_refresh_once_between_them(
    database_url: str, oauth: FakeZaloOAuth, use: TokenUse
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite runs one process: several share a database only on PostgreSQL")
    env = _env(database_url, oauth, oauth.consent())
    oauth.hold()
    one, other = await _spawn(env, use), await _spawn(env, use)
    await oauth.wait_for(lambda: oauth.refreshes == 1, seconds=60)
    await _lock_waiter(database_url)  # the second process waits on the row the first holds
    oauth.release()
    assert [await _finish(one), await _finish(other)] == [(0, "USED 1"), (0, "USED 1")]
    assert oauth.refreshes == 1
    assert oauth.used_twice() == []
    assert use.tokens[0] == use.tokens[1]
    assert use.valid == [True, True]


async def _lock_waiter(database_url: str) -> None:
    """Wait until some session of this database waits for a lock."""
    url = make_url(database_url)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as conn:
        async with asyncio.timeout(60):
            while True:
                found = await (await conn.execute(query, (url.database,))).fetchone()
                if found is not None and found[0] > 0:
                    return
                await asyncio.sleep(0.05)  # polling another server's state, not a delay


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "zalo-oa-consent",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert b"Traceback" not in err, err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _permission_link(said: str, oauth: FakeZaloOAuth) -> httpx.URL:
    [line] = [ln for ln in said.splitlines() if ln.startswith(oauth.base_url)]
    return httpx.URL(line)


async def test_the_consent_command_stores_the_tokens_from_the_pasted_address(
    database_url: str, oauth: FakeZaloOAuth, tmp_path: Path
) -> None:
    kept = tmp_path / "consent.json"
    env = _env(database_url, oauth, None, ZALO_OA_CONSENT_FILE=str(kept))
    code, said, _ = await _cli(env, "--redirect-uri", REDIRECT)
    assert code == 0
    link = _permission_link(said, oauth)
    assert link.path == "/v4/oa/permission"
    assert (link.params["app_id"], link.params["redirect_uri"]) == (APP_ID, REDIRECT)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "Mở đường dẫn" in said
    assert "Open this link" in said
    # The admin consents on Zalo's page; the browser lands on the callback with the code.
    given = oauth.authorize(link.params["code_challenge"])
    landed = f"{REDIRECT}?oa_id=579745863508352884&code={given}&state={link.params['state']}"
    code, said, _ = await _cli(env, landed)
    assert code == 0, said
    assert "Đã lưu" in said
    assert "tokens are stored" in said
    row = await _row(database_url)
    assert row.access_token is not None
    assert oauth.is_valid(row.access_token)
    assert oauth.is_live_refresh_token(row.refresh_token)
    assert not kept.exists()
    [exchange] = oauth.calls
    assert challenge_of(exchange.form["code_verifier"]) == link.params["code_challenge"]
    # Run again with the same address: the first step was used up.
    code, said, _ = await _cli(env, landed)
    assert code == 2
    assert "no first step" in said


async def test_the_consent_command_explains_what_went_wrong(
    database_url: str, oauth: FakeZaloOAuth, tmp_path: Path
) -> None:
    kept = tmp_path / "consent.json"
    env = _env(database_url, oauth, None, ZALO_OA_CONSENT_FILE=str(kept))
    unset = {k: v for k, v in env.items() if k != "ZALO_OA_APP_SECRET"}
    code, said, _ = await _cli(unset)
    assert (code, "ZALO_OA_APP_SECRET" in said) == (2, True)
    code, said, _ = await _cli(env)
    assert (code, "--redirect-uri" in said) == (2, True)
    code, said, _ = await _cli(env, "some-code")
    assert (code, "chưa có bước đầu" in said.lower()) == (2, True)
    code, said, _ = await _cli(env, "--redirect-uri", REDIRECT)
    link = _permission_link(said, oauth)
    code, said, _ = await _cli(env, f"{REDIRECT}?code=abc&state=not-ours")
    assert (code, "state" in said) == (2, True)
    code, said, _ = await _cli(env, f"{REDIRECT}?error=access_denied&state=x")
    assert (code, "declined" in said) == (2, True)
    code, said, _ = await _cli(env, "a-code-zalo-never-gave")
    assert code == 2
    assert "Zalo từ chối mã" in said
    assert "Invalid code" in said
    assert kept.exists(), "the first step's link still works for a new code"
    assert link.params["state"]


async def _run_app(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m bot run` with the OA channel and no Telegram; its address once it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=None,
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        first = (await process.stdout.readline()).decode()
    found = re.search(r"http://127\.0\.0\.1:\d+", first)
    assert found, first
    return process, found.group()


async def test_the_real_app_killed_between_the_refresh_and_its_use_loses_no_message(
    database_url: str, oauth: FakeZaloOAuth, tmp_path: Path
) -> None:
    oa, user = FakeZaloOA(oauth), big_id()
    await oa.start()
    try:
        env = _env(
            database_url,
            oauth,
            oauth.consent(),
            ZALO_OA_WEBHOOK_SECRET=oa.secret_key,
            ZALO_OA_API_BASE_URL=oa.base_url,
            HTTP_PORT="0",
            WEBPUSH_KEY_FILE=str(tmp_path / "vapid.key"),
        )
        oa.hold()
        process, base = await _run_app(env)  # it refreshed at start: the new pair is stored
        assert oauth.refreshes == 1
        answer = await oa.post(f"{base}/zalo/oa/webhook", oa.follow(user))
        assert answer.status_code == 200
        await oa.wait_for(lambda: oa.arrived == 1, seconds=60)  # the greeting, on its way
        await _kill(process)
        oa.drop_held()
        assert oa.to(user) == []
        process, _ = await _run_app(env)
        try:
            # The greeting is two messages (the welcome, then the consent question).
            await oa.wait_for(lambda: len(oa.to(user)) >= 2, seconds=60)
        finally:
            process.send_signal(signal.SIGTERM)
            await process.communicate()
        shown = oa.texts(user)
        assert len(shown) == len(set(shown)) == 2, "the greeting, each message once"
        assert shown[0].startswith("Xin chào")
        assert (oauth.refreshes, oauth.refused_refreshes, oauth.used_twice()) == (1, 0, [])
    finally:
        await oa.stop()
