"""The real command line: no token, check-config, and logs free of secrets and message bodies."""

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Invite, OutboxMessage, Publication
from tests.conftest import ROOT
from tests.fake_telegram import TOKEN, FakeTelegram

# Each test starts the real program in a process of its own.
pytestmark = pytest.mark.slow


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(values)
    return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` as a user would, with this environment added."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=_env(**env),
        timeout=120,
    )


async def test_run_without_a_token_starts_the_web_chat_try_out(tmp_path: Path) -> None:
    env = _env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db", HTTP_PORT="0", LOG_LEVEL="WARNING")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    lines = [(await process.stdout.readline()).decode() for _ in range(4)]
    address = re.search(r"http://127\.0\.0\.1:\d+/chat", lines[0])
    assert address, lines
    assert all("/chat/signin#inv_" in line for line in lines[1:3])
    assert ("nguyen-van-an" in lines[1], "van-phong" in lines[2]) == (True, True)
    assert "TELEGRAM_BOT_TOKEN" in lines[3]
    async with httpx.AsyncClient() as client:
        page = await client.get(address.group())
    process.send_signal(signal.SIGTERM)
    assert await process.wait() == 0
    assert page.status_code == 200
    assert "Cầu Nối" in page.text


def test_check_config_prints_a_summary() -> None:
    result = _cli("check-config")
    assert result.returncode == 0, result.stderr
    assert "Units: 7 affiliated, 14 phuong, 82 xa" in result.stdout
    assert "config.yaml is valid." in result.stdout


def test_wrong_config_exits_with_the_key_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(
        (ROOT / "config.yaml").read_text().replace("province: Tây Ninh", "province: Nowhere")
    )
    result = _cli("check-config", CAUNOI_CONFIG=str(bad))
    assert result.returncode == 1
    assert "organisation.province" in result.stderr
    assert "Traceback" not in result.stderr


async def test_logs_carry_no_token_and_no_message_body(fake: FakeTelegram, tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    env = _env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        HTTP_PORT="0",
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        LOG_LEVEL="INFO",
    )
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    body = "Bí mật riêng tư số 424242"
    fake.message(9001, body)
    await fake.wait_for(lambda: len(fake.texts(9001)) == 1, seconds=60)
    process.send_signal(signal.SIGTERM)
    assert await process.wait() == 0
    logged = log.read_text(encoding="utf-8")
    assert "Cầu Nối is running" in logged
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged
    assert body not in logged


def test_invite_prints_a_link_and_runs_no_job(database_url: str) -> None:
    done = _cli("invite", "nguyen-van-an", DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    assert done.returncode == 0, done.stderr
    assert "/chat/signin#inv_" in done.stdout
    db = Database(database_url)
    with db.session() as session:
        publications = session.exec(select(Publication)).all()
        outbox = session.exec(select(OutboxMessage)).all()
        invites = session.exec(select(Invite)).all()
    asyncio.run(db.dispose())
    assert (publications, outbox) == ([], []), "no catch-up of the daily post or the digest"
    assert len(invites) == 1
