"""The real command line: no token, check-config, and logs free of secrets and message bodies."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.fake_telegram import TOKEN, FakeTelegram


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


def test_run_without_a_token_says_in_one_line_what_to_set(tmp_path: Path) -> None:
    result = _cli("run", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "TELEGRAM_BOT_TOKEN" in lines[0]


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
