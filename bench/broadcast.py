"""Broadcast: 10,000 recipients on Telegram through the real bot process, against the fake
Bot API enforcing 30 messages/s (429 with retry_after above it) and answering 403 for 2% of
chats; then the same with the bot SIGKILLed and restarted three times midway.

Prints the achieved send rate as a share of the configured bulk rate, the 429s, duplicates
and skipped recipients, and a young person's reply latency (p95) during the broadcast against
idle, measured in the same run.

    python -m bench.broadcast [--recipients 10000] [--database-url postgresql://…]
"""

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import insert
from sqlmodel import Session

from bench.inbound import _fresh_database, _start_fake
from bot.domain.broadcasting import ANNOUNCEMENTS, Audience
from storage.broadcasts import DONE, create_broadcast
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Broadcast,
    ChannelIdentity,
    Conversation,
    Person,
    PersonTopic,
    utcnow,
)
from tests.fake_telegram import TOKEN

ROOT = Path(__file__).resolve().parent.parent
FLOOD_LIMIT = 30  # the fake's, as Telegram's
BULK_RATE = 25  # the configured bulk rate (Telegram's default in config)
BLOCKED_EVERY = 50  # 2% of the recipients' chats have blocked the bot
FIRST_RECIPIENT = 1_000_000
# Young people writing /help meanwhile: not in the audience (English), not blocked.
PROBERS = [901 + n for n in range(5)]
IDLE_PROBES = 20
PROBE_EVERY = 0.5  # seconds: a reply or two a second, beside the broadcast
KILLS = 3
WORDS = "Bench broadcast"


def _seed(session: Session, users: list[int], language: str = "vi") -> None:
    """People who have consented (and so take announcements), one Telegram identity and
    conversation each."""
    now = utcnow()
    for start in range(0, len(users), 1000):
        chats = [str(user) for user in users[start : start + 1000]]
        people = [
            Person(language=language, consent_at=now, subscriptions=[ANNOUNCEMENTS]) for _ in chats
        ]
        session.add_all(people)
        session.flush()
        topics = [{"topic": ANNOUNCEMENTS, "person_id": p.id} for p in people]
        session.connection().execute(insert(PersonTopic), topics)
        identities = [
            {"channel": "telegram", "external_id": c, "chat_id": c, "person_id": p.id}
            | {"reachable": True, "created_at": now}
            for c, p in zip(chats, people, strict=True)
        ]
        session.connection().execute(insert(ChannelIdentity), identities)
        conversations = [
            {"channel": "telegram", "external_id": c, "draft": {}, "updated_at": now}
            for c in chats
        ]
        session.connection().execute(insert(Conversation), conversations)


def _bot_env(fake_url: str, database_url: str, folder: Path) -> dict[str, str]:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["channels"]["telegram"]["rate_limit_per_second"] = FLOOD_LIMIT
    data["channels"]["telegram"]["bulk_rate_per_second"] = BULK_RATE
    data.setdefault("limits", {})["messages_per_minute"] = 600  # the probers write a lot
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"{fake_url}/bot",
        DATABASE_URL=database_url,
        CAUNOI_CONFIG=str(config),
        HTTP_PORT="0",
        LOG_LEVEL="WARNING",
        FILE_STORE_URL=str(folder / "files"),
    )
    return env


async def _spawn(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=sink, stderr=sink
        )


@dataclass
class Prober:
    """Sends /help from a few people in turn and times each reply."""

    control: httpx.AsyncClient
    replies: Counter[int]
    turn: int = 0

    async def paced(self) -> float:
        """A probe, then the rest of its half second (a steady trickle, not a flood)."""
        started = time.perf_counter()
        latency = await self.probe()
        await asyncio.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - started)))
        return latency

    async def probe(self) -> float:
        """One /help and the seconds until its reply is sent."""
        user = PROBERS[self.turn % len(PROBERS)]
        self.turn += 1
        chat = {"id": user, "type": "private", "first_name": f"P{user}"}
        message = {
            "message_id": self.turn,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user, "is_bot": False, "first_name": f"P{user}"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        }
        self.replies[user] += 1
        started = time.perf_counter()
        await self.control.post("/_fake/push", json=[{"message": message}])
        params = {"chat_id": str(user), "count": str(self.replies[user])}
        await self.control.get("/_fake/wait_chat", params=params)
        return time.perf_counter() - started


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


async def _status(db: Database, broadcast_id: int) -> tuple[str, int, int, int, int]:
    """The broadcast's status and its counts: sent, blocked, failed, remaining."""

    def read(session: Session) -> tuple[str, int, int, int, int]:
        b = session.get_one(Broadcast, broadcast_id)
        return (b.status, b.sent, b.blocked, b.failed, b.remaining)

    return await db.run(read)


async def _until(check: Callable[[], Any], seconds: float) -> None:
    """Re-check about every 0.2 s (a bench; the bot is another process)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the broadcast did not finish")
        await asyncio.sleep(0.2)


async def _scenario(recipients: int, database_url: str, *, kills: int) -> dict[str, Any]:
    limits = ("--sends-per-second", str(FLOOD_LIMIT), "--blocked-every", str(BLOCKED_EVERY))
    fake, fake_url = _start_fake(0.0, *limits)
    users = [FIRST_RECIPIENT + n for n in range(recipients)]
    try:
        upgrade(database_url)
        db = Database(database_url)
        await db.run(lambda s: _seed(s, users))
        await db.run(lambda s: _seed(s, PROBERS, "en"))
        idle_seconds = IDLE_PROBES * PROBE_EVERY if kills == 0 else 0.0
        at = utcnow() + dt.timedelta(seconds=idle_seconds + 5)
        audience = Audience(languages=("vi",))
        broadcast_id = await db.run(
            lambda s: create_broadcast(
                session=s,
                text=f"{WORDS}: thông báo",
                audience=audience,
                created_by="bench",
                now=utcnow(),
                scheduled_at=at,
            )
        )
        with tempfile.TemporaryDirectory() as folder:
            env = _bot_env(fake_url, database_url, Path(folder))
            log = Path(folder) / "bot.log"
            async with httpx.AsyncClient(base_url=fake_url, timeout=600) as control:
                try:
                    result = await _run(control, db, broadcast_id, env, log, recipients, kills, at)
                except BaseException:
                    print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                    raise
        await db.dispose()
        return result
    finally:
        fake.terminate()
        fake.wait()


async def _run(
    control: httpx.AsyncClient,
    db: Database,
    broadcast_id: int,
    env: dict[str, str],
    log: Path,
    recipients: int,
    kills: int,
    at: dt.datetime,
) -> dict[str, Any]:
    bot = await _spawn(env, log)
    prober = Prober(control, Counter())
    await prober.probe()  # unmeasured: it waits for the bot to start
    idle = [await prober.paced() for _ in range(IDLE_PROBES)] if kills == 0 else []
    busy: list[float] = []

    async def done() -> bool:
        return (await _status(db, broadcast_id))[0] == DONE

    async def sent() -> int:
        sends = (await control.get("/_fake/sends")).json()["sends"]
        return sum(1 for s in sends if WORDS in s[3] and s[1] == 200)

    for kill in range(kills):  # SIGKILL at 20%, 45%, 70% of the way
        share = 0.2 + 0.25 * kill

        async def reached(share: float = share) -> bool:
            return await sent() >= recipients * share

        await _until(reached, 3600)
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        bot = await _spawn(env, log)
    await asyncio.sleep(max(0.0, (at - utcnow()).total_seconds()))  # the broadcast's time
    while kills == 0 and not await done():
        busy.append(await prober.paced())
    await _until(done, 3600)
    bot.send_signal(signal.SIGTERM)
    await bot.wait()
    stored = await _status(db, broadcast_id)
    data = (await control.get("/_fake/sends")).json()
    return _figures(data, recipients, stored, idle, busy)


def _figures(
    data: dict[str, Any],
    recipients: int,
    stored: tuple[str, int, int, int, int],
    idle: list[float],
    busy: list[float],
) -> dict[str, Any]:
    mine = [s for s in data["sends"] if WORDS in s[3]]
    attempts = [s for s in mine if s[1] != 429]
    delivered = Counter(s[0] for s in mine if s[1] == 200)
    blocked = {s[0] for s in mine if s[1] == 403}
    everyone = {str(FIRST_RECIPIENT + n) for n in range(recipients)}
    times = sorted(s[2] for s in attempts)
    seconds = times[-1] - times[0] if len(times) > 1 else 1.0
    return {
        "rate": (len(attempts) - 1) / seconds,
        "seconds": seconds,
        "too_many": sum(1 for s in data["sends"] if s[1] == 429),
        "duplicates": sum(n - 1 for n in delivered.values()),
        "skipped": len(everyone - set(delivered) - blocked),
        "blocked": len(blocked),
        "counted": stored[1:],
        "idle_p95": _p95(idle) if idle else None,
        "busy_p95": _p95(busy) if busy else None,
        "probes": (len(idle), len(busy)),
    }


def _report(label: str, r: dict[str, Any]) -> None:
    sent, blocked, failed, remaining = r["counted"]
    print(
        f"{label:<34} {r['rate']:5.1f} sends/s = {r['rate'] / BULK_RATE:.2f} of {BULK_RATE}/s"
        f" (goal >= 0.95) in {r['seconds']:.0f} s; 429s {r['too_many']}; duplicates"
        f" {r['duplicates']}; skipped {r['skipped']}; blocked {r['blocked']}"
        f" (row: sent {sent}, blocked {blocked}, failed {failed}, remaining {remaining})"
    )
    if r["idle_p95"] is not None:
        ratio = r["busy_p95"] / r["idle_p95"]
        print(
            f"{'reply latency p95':<34} idle {r['idle_p95'] * 1000:.0f} ms, during the broadcast"
            f" {r['busy_p95'] * 1000:.0f} ms = {ratio:.2f}x (goal <= 1.5x);"
            f" probes {r['probes'][0]} + {r['probes'][1]}"
        )


def main() -> None:
    """Run both scenarios and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--only", choices=["plain", "kills"], default=None)
    args = parser.parse_args()
    backend = (args.database_url or "sqlite").split(":")[0]
    print(
        f"bench/broadcast: {args.recipients} recipients on Telegram, fake Bot API at"
        f" {FLOOD_LIMIT}/s with 403 for 1 chat in {BLOCKED_EVERY}, {os.cpu_count()} cores,"
        f" {backend}"
    )
    for label, kills in (("one run", 0), (f"{KILLS} SIGKILL restarts", KILLS)):
        if args.only and args.only != ("plain" if kills == 0 else "kills"):
            continue
        with _fresh_database(args.database_url) as url:
            _report(label, asyncio.run(_scenario(args.recipients, url, kills=kills)))


if __name__ == "__main__":
    main()
