"""Inbound throughput: a bare python-telegram-bot echo bot against Cầu Nối's full path.

Both run against the same fake Bot API server (tests/fake_telegram.py) in its own process;
each bot runs in a worker process of its own, so each gets a core and its own peak memory.
Figures are printed; the machine is shared, so only ratios within one run mean much.

    python -m bench.inbound [--users 1000] [--database-url postgresql://…]
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.app import build_application
from bot.config import load_config, parse_config
from bot.domain.i18n import text
from bot.settings import Settings
from storage.migrate import upgrade
from tests.fake_telegram import TOKEN

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("/help", "/language", "/privacy")  # one reply each, first contact included


def _updates(users: int) -> list[dict[str, Any]]:
    """Three quick commands from each user, interleaved across users."""
    updates = []
    for command in COMMANDS:
        for user in range(1, users + 1):
            chat = {"id": user, "type": "private", "first_name": f"U{user}"}
            sender = {"id": user, "is_bot": False, "first_name": f"U{user}"}
            entity = [{"type": "bot_command", "offset": 0, "length": len(command)}]
            message = {
                "message_id": user,
                "date": 0,
                "chat": chat,
                "from": sender,
                "text": command,
                "entities": entity,
            }
            updates.append({"message": message})
    return updates


async def _echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
    """The bare echo bot's only handler."""
    if update.message and update.message.text:
        await update.message.reply_text(update.message.text)


async def _run_echo(base_url: str) -> Any:
    application = Application.builder().token(TOKEN).base_url(base_url).build()
    application.add_handler(MessageHandler(filters.TEXT, _echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling()
    return application


async def _stop_echo(application: Any) -> None:
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


def _caunoi_app(base_url: str, database_url: str) -> Any:
    data = load_config(ROOT / "config.yaml").raw.model_dump(mode="json")
    # Measure our pipeline, not Telegram's 30 messages/s cap (which production keeps on).
    data["channels"]["telegram"]["rate_limit_per_second"] = 0
    if os.environ.get("BENCH_CONNECTIONS"):  # to try another number without editing config.yaml
        data["channels"]["telegram"]["connections"] = int(os.environ["BENCH_CONNECTIONS"])
    settings = Settings(
        telegram_bot_token=TOKEN, telegram_api_base_url=base_url, database_url=database_url
    )
    return build_application(settings, parse_config(data))


def _expected(kind: str, command: str) -> str:
    if kind == "echo":
        return command
    key = {"/help": "help.body", "/language": "language.ask", "/privacy": "privacy.notice"}
    retention = load_config(ROOT / "config.yaml").raw.retention
    values = {
        "organisation": "Tỉnh đoàn Tây Ninh",
        "delivery_days": str(retention.delivery_days),
        "closed_months": str(retention.closed_months),
    }
    return text(key[command], "vi", **values)


async def _worker(kind: str, fake_url: str, users: int, database_url: str) -> dict[str, Any]:
    base_url = f"{fake_url}/bot"
    async with httpx.AsyncClient(base_url=fake_url, timeout=600) as control:
        if kind == "echo":
            app = await _run_echo(base_url)
        else:
            upgrade(database_url)
            app = _caunoi_app(base_url, database_url)
            await app.start(serve_http=False)
        before = (await control.get("/_fake/wait", params={"count": 0})).json()["count"]
        updates = _updates(users)
        started = time.perf_counter()
        await control.post("/_fake/push", json=updates)
        target = before + len(updates)
        done = (await control.get("/_fake/wait", params={"count": target, "seconds": 600})).json()
        elapsed = time.perf_counter() - started
        calls = (await control.get("/_fake/calls")).json()["calls"][before:]
        if kind == "echo":
            await _stop_echo(app)
        else:
            await app.stop()
    by_chat: dict[int, list[str]] = {}
    for call in calls:
        by_chat.setdefault(int(call["chat_id"]), []).append(call["text"])
    wanted = [_expected(kind, c) for c in COMMANDS]
    in_order = sum(1 for texts in by_chat.values() if texts == wanted)
    return {
        "updates": len(updates),
        "answered": done["count"] - before,
        "seconds": elapsed,
        "updates_per_s": (done["count"] - before) / elapsed,
        "users_in_order": in_order / users,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _start_fake(latency: float, *options: str) -> tuple[subprocess.Popen[str], str]:
    """The fake Bot API in a process of its own (options: its other command-line flags)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fake_telegram",
            "--port",
            "0",
            "--latency",
            str(latency),
            *options,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def _fresh_database(database_url: str | None) -> Iterator[str]:
    """An empty database for one scenario: a SQLite file, or a new PostgreSQL database
    beside the one named (each scenario's fake server numbers its updates from 1 again)."""
    if database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    url = make_url(database_url)
    name = f"caunoi_bench_{os.getpid()}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _scenario(kind: str, latency: float, users: int, database_url: str | None) -> dict[str, Any]:
    fake, url = _start_fake(latency)
    try:
        with _fresh_database(database_url) as db:
            command = [
                sys.executable,
                "-m",
                "bench.inbound",
                "--worker",
                kind,
                "--fake",
                url,
                "--users",
                str(users),
                "--database-url",
                db,
            ]
            output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
            return result
    finally:
        fake.terminate()
        fake.wait()


SCENARIOS = (
    ("bare PTB echo bot (PTB defaults), 0 ms", "echo", 0.0),
    ("Cầu Nối full path, 0 ms", "caunoi", 0.0),
    ("Cầu Nối full path, 100 ms Bot API latency", "caunoi", 0.1),
)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate, with the range of all the rates."""
    ordered = sorted(runs, key=lambda r: float(r["updates_per_s"]))
    rates = [r["updates_per_s"] for r in ordered]
    return {**ordered[len(ordered) // 2], "low": rates[0], "high": rates[-1]}


def _line(label: str, r: dict[str, Any]) -> str:
    spread = f" ({r['low']:.0f}-{r['high']:.0f})" if r["low"] != r["high"] else ""
    return (
        f"{label:<42} {r['updates_per_s']:>5.0f} updates/s{spread:<10} "
        f"{r['answered']:>5}/{r['updates']} answered  in order {r['users_in_order']:>6.1%}"
        f"  peak RSS {r['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    """Run every scenario and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--worker", choices=["echo", "caunoi"])
    parser.add_argument("--fake")
    args = parser.parse_args()
    if args.worker:
        result = asyncio.run(_worker(args.worker, args.fake, args.users, args.database_url))
        print(json.dumps(result))
        return
    backend = (args.database_url or "sqlite").split(":")[0]
    print(
        f"bench/inbound: {args.users} users x 3 commands, {os.cpu_count()} cores, {backend};"
        f" median of {args.rounds} rounds (range), scenarios taking turns"
    )
    runs: list[list[dict[str, Any]]] = [[] for _ in SCENARIOS]
    for _ in range(args.rounds):  # interleaved, so a noisy minute hurts every scenario alike
        for index, (_, kind, latency) in enumerate(SCENARIOS):
            runs[index].append(_scenario(kind, latency, args.users, args.database_url))
    echo, full, slow = (_median(r) for r in runs)
    print(_line(SCENARIOS[0][0], echo))
    print(_line(SCENARIOS[1][0], full))
    pairs = zip(runs[0], runs[1], strict=True)
    ratios = sorted(f["updates_per_s"] / e["updates_per_s"] for e, f in pairs)
    ratio = full["updates_per_s"] / echo["updates_per_s"]
    print(
        f"{'ratio full path / echo bot (goal >= 0.5)':<42} {ratio:>5.2f}"
        f"  (round by round: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(_line(SCENARIOS[2][0], slow))
    print("goals at 100 ms: >= 300 updates/s and 100% of users in order")


if __name__ == "__main__":
    main()
