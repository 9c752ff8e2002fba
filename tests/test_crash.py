"""Kill the real process at random moments: every confirmed update is handled exactly once."""

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import ROOT, config_file, rows
from tests.fake_telegram import TOKEN, FakeTelegram

KILLS = 24
STARTUP_CALLS = 5  # getMe, setMyCommands x2, deleteWebhook, getUpdates
USERS = [7000 + i for i in range(12)]


def _bot_env(fake: FakeTelegram, database_url: str, tmp_path: Path) -> dict[str, str]:
    # The flood guard would rightly answer differently to this much traffic per person.
    config = config_file(tmp_path / "config.yaml", {"limits": {"messages_per_minute": 600}})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=database_url,
        CAUNOI_CONFIG=str(config),
        HTTP_PORT="0",
        LOG_LEVEL="WARNING",
    )
    return env


async def _spawn(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=sink, stderr=sink
        )


async def _wait_for_calls(
    fake: FakeTelegram, process: asyncio.subprocess.Process, count: int
) -> None:
    await fake.wait_for(
        lambda: len(fake.calls) >= count or process.returncode is not None, seconds=60
    )


def _more_calls_than(fake: FakeTelegram, count: int) -> Callable[[], bool]:
    return lambda: len(fake.calls) > count


async def _wait_until_all_sent(fake: FakeTelegram, db: Database, expected: int) -> None:
    """Wait until the outbox holds a sent reply for each update, re-reading after each call."""
    async with asyncio.timeout(60):
        while True:
            outbox = await rows(db, OutboxMessage)
            replies = [m for m in outbox if m.source_event_id is not None]
            if len(replies) >= expected and all(m.status == "sent" for m in outbox):
                return
            # The last delivery is recorded after its call; the poller's next call (or a
            # second at most) wakes this loop to look again.
            with contextlib.suppress(TimeoutError):
                await fake.wait_for(_more_calls_than(fake, len(fake.calls)), seconds=1)


def _push_batch(fake: FakeTelegram, rng: random.Random, size: int) -> list[int]:
    return [fake.message(rng.choice(USERS), f"/help {rng.randrange(10**6)}") for _ in range(size)]


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    fake: FakeTelegram, database_url: str, tmp_path: Path
) -> None:
    # CRASH_SEED=<n> replays the moments of a failed run (its seed is in the failure).
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(10**6))
    rng = random.Random(seed)
    env = _bot_env(fake, database_url, tmp_path)
    log = tmp_path / "bot.log"
    pushed: list[int] = []
    for _ in range(KILLS):
        batch = _push_batch(fake, rng, rng.randint(0, 25))
        pushed += batch
        # A random moment within this run's work: start-up makes 5 calls, each update one more.
        kill_at = len(fake.calls) + rng.randint(1, STARTUP_CALLS + len(batch))
        process = await _spawn(env, log)
        await _wait_for_calls(fake, process, kill_at)
        assert process.returncode is None, (
            f"bot exited on its own (seed {seed}): {log.read_text()[-2000:]}"
        )
        process.kill()
        await process.wait()

    pushed += _push_batch(fake, rng, 10)
    process = await _spawn(env, log)
    await fake.wait_for(lambda: fake.confirmed_offset > pushed[-1], seconds=60)
    db = Database(database_url)
    try:
        # Every update gets one reply: wait until each is recorded as sent (a count of sends
        # is not enough, since repeats after a kill are allowed).
        await _wait_until_all_sent(fake, db, len(pushed))
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0, f"SIGTERM did not exit cleanly (seed {seed})"

        events = await rows(db, InboxEvent)
        outbox = await rows(db, OutboxMessage)
    finally:
        await db.dispose()

    confirmed = [i for i in pushed if i < fake.confirmed_offset]
    by_event = {int(e.event_id): e for e in events}
    replies = Counter(m.source_event_id for m in outbox)
    assert len(confirmed) == len(pushed), f"seed {seed}"
    missing = [i for i in confirmed if i not in by_event or by_event[i].status != "done"]
    assert not missing, f"confirmed but not handled (seed {seed}): {missing}"
    assert all(replies[by_event[i].id] == 1 for i in confirmed), f"handled twice (seed {seed})"
    assert {m.status for m in outbox} == {"sent"}
    # Only a message in flight can go twice: at most one per chat per kill.
    expected = Counter(str(m.chat_id) for m in outbox)
    delivered = Counter(str(p["chat_id"]) for p in fake.sent())
    for chat, count in expected.items():
        assert 0 <= delivered[chat] - count <= KILLS, (
            f"chat {chat}: too many repeats (seed {seed})"
        )
