"""The web chat under a crowd: many visitors at once, each holding its news open (the long
poll or the stream) while it goes through a realistic dialogue, against the Telegram full
path measured in the same run (bench/inbound.py's Cầu Nối worker on the fake Bot API).

The server under test runs in a process of its own, behind a "proxy" it trusts: each visitor
names its own address in X-Forwarded-For, so the per-address limits hold per visitor as in
production, and the per-session limit is the highest config allows; the visitors run in this
process. Figures are printed; the machine
is shared, so only ratios within one run mean much.

    python -m bench.webchat [--visitors 50,200,500] [--news stream|poll] [--paced 100]
"""

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.inbound import _scenario as telegram_scenario
from bot.app import build_application
from bot.config import load_config, parse_config
from bot.settings import Settings
from storage.migrate import upgrade
from tests.webchat import CSRF

ROOT = Path(__file__).resolve().parent.parent
MOST_PER_SESSION = 600  # requests a minute: the most channels.web allows
WARM_UP_VISITORS = 5
TURN_SECONDS = 60.0  # a turn with no reply by then counts as failed
SENTENCE = "Quán ăn đầu hẻm bán đồ ăn để qua đêm, nhiều bạn học sinh bị đau bụng sau khi ăn."
# (what the visitor does, the replies it waits for); "?" is the first button shown.
DIALOGUE: tuple[tuple[str, str, int], ...] = (
    ("text", "/start", 2),
    ("choice", "consent:yes", 2),
    ("text", "go dau", 1),
    ("choice", "unit:", 2),
    ("choice", "age:skip", 1),
    ("choice", "work:skip", 2),
    ("choice", "menu:question", 1),
    ("choice", "?", 1),
    ("text", SENTENCE, 1),
    ("choice", "att:done", 1),
    ("choice", "anon:no", 1),
    ("choice", "preview:send", 2),
    ("text", "/help", 1),
    ("text", "/privacy", 1),
    ("text", "/help", 1),
)


# ---- the server under test, in its own process -------------------------------------------


async def _serve(database_url: str, files: str, profile: str | None) -> None:
    upgrade(database_url)
    data = load_config(ROOT / "config.yaml").raw.model_dump(mode="json")
    data["channels"]["web"]["requests_per_minute_session"] = MOST_PER_SESSION
    data["channels"]["web"]["requests_per_minute_address"] = MOST_PER_SESSION
    settings = Settings(
        database_url=database_url,
        http_port=0,
        file_store_url=files,
        trusted_proxies="127.0.0.1/32",
    )
    app = build_application(settings, parse_config(data))
    await app.start(serve_http=True)
    print(app.http_port, flush=True)
    profiler = _profiler(profile)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until told
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    await app.stop()


def _profiler(path: str | None) -> Any:
    if path is None:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


@contextmanager
def _server(profile: str | None) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "bench.webchat",
            "--serve",
            f"sqlite:///{folder}/bench.db",
            "--files",
            f"{folder}/files",
        ]
        if profile:
            command += ["--profile", profile]
        env = {**os.environ, "LOG_LEVEL": "WARNING"}
        process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert process.stdout is not None
        assert process.stdin is not None
        port = int(process.stdout.readline())
        try:
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.stdin.close()
            process.wait(timeout=60)


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- the visitors -------------------------------------------------------------------------


@dataclass
class Tally:
    """What every visitor measured."""

    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, error: BaseException | str) -> None:
        """Count a failed request, by its kind."""
        self.failed += 1
        name = error if isinstance(error, str) else type(error).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


class Pacer:
    """Lets sends through at a fixed overall rate (None: as fast as they come)."""

    def __init__(self, per_second: float | None) -> None:
        self._gap = 1 / per_second if per_second else 0.0
        self._next = 0.0

    async def turn(self) -> None:
        """Wait for this send's slot."""
        if not self._gap:
            return
        now = time.perf_counter()
        slot = max(now, self._next)
        self._next = slot + self._gap
        await asyncio.sleep(slot - now)


class Visitor:
    """One browser: the page, its news held open, and the dialogue."""

    def __init__(self, base: str, number: int, news: str, tally: Tally) -> None:
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        address = {
            "X-Forwarded-For": f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        }
        self.client = httpx.AsyncClient(
            base_url=base, timeout=TURN_SECONDS, limits=limits, headers=address
        )
        self.news, self.tally = news, tally
        self.csrf, self.cursor = "", 0
        self.replies: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def run(self, pacer: Pacer, arrivals: Pacer) -> None:
        """Arrive, open the page, hold the news open and go through the dialogue."""
        await arrivals.turn()
        try:
            page = await self.client.get("/chat")
            found = CSRF.search(page.text)
            if page.status_code != 200 or found is None:
                self.tally.fail(f"page {page.status_code}")
                return
            self.csrf = found.group(1)
            reader = asyncio.create_task(self._read())
            try:
                await self._dialogue(pacer)
            finally:
                reader.cancel()
        except httpx.HTTPError as error:
            self.tally.fail(error)
        finally:
            await self.client.aclose()

    async def _dialogue(self, pacer: Pacer) -> None:
        for kind, value, replies in DIALOGUE:
            if value == "unit:":
                value = self._button("unit:")
            elif value == "?":
                value = self._button("")
            await pacer.turn()
            before = len(self.replies)
            started = time.perf_counter()
            body = {"id": secrets.token_hex(8), kind: value}
            headers = {"X-CSRF-Token": self.csrf}
            response = await self.client.post("/chat/api/send", json=body, headers=headers)
            self.tally.sent += 1
            if response.status_code != 200:
                self.tally.fail(f"send {response.status_code}")
                return
            if not await self._until(lambda n=before + replies: len(self.replies) >= n):
                self.tally.fail("no reply in time")
                return
            self.tally.latencies.append(time.perf_counter() - started)

    def _button(self, prefix: str) -> str:
        for row in self.replies[-1].get("choices", []):
            for choice, _label in row:
                if str(choice).startswith(prefix):
                    return str(choice)
        return prefix

    async def _until(self, condition: Any) -> bool:
        deadline = time.perf_counter() + TURN_SECONDS
        while not condition():
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return False
        return True

    def _take(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["outgoing"] and not event.get("replaces"):
                self.replies.append(event)
            elif event["outgoing"]:  # an edit: the latest version stands for the first
                self.replies[-1] = event
        self.changed.set()

    async def _read(self) -> None:
        while True:
            try:
                if self.news == "stream":
                    await self._stream()
                else:
                    await self._poll()
            except httpx.HTTPError as error:
                self.tally.fail(error)

    async def _poll(self) -> None:
        response = await self.client.get("/chat/api/updates", params={"after": self.cursor})
        if response.status_code != 200:
            self.tally.fail(f"updates {response.status_code}")
            return
        answer = response.json()
        self.cursor = answer["cursor"]
        self._take(answer["events"])

    async def _stream(self) -> None:
        headers = {"Last-Event-ID": str(self.cursor)} if self.cursor else {}
        async with self.client.stream("GET", "/chat/api/stream", headers=headers) as response:
            if response.status_code != 200:
                self.tally.fail(f"stream {response.status_code}")
                return
            data: list[str] = []
            name = "message"
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    self.cursor = int(line[3:])
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:])
                elif not line and data:
                    if name == "message":
                        self._take([json.loads("\n".join(data))])
                    data, name = [], "message"


async def _crowd(base: str, visitors: int, news: str, paced: float | None) -> dict[str, Any]:
    # Paced, the visitors also arrive at that rate (a crowd opening the page in the same
    # instant is the unpaced runs' test); unpaced, they all come at once.
    tally, pacer, arrivals = Tally(), Pacer(paced), Pacer(paced)
    crowd = [Visitor(base, n, news, tally) for n in range(1, visitors + 1)]
    started = time.perf_counter()
    await asyncio.gather(*(v.run(pacer, arrivals) for v in crowd))
    elapsed = time.perf_counter() - started
    ordered = sorted(tally.latencies) or [0.0]

    def centile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "visitors": visitors,
        "sent": tally.sent,
        "answered": len(tally.latencies),
        "messages_per_s": len(tally.latencies) / elapsed,
        "p50_ms": centile(0.50),
        "p95_ms": centile(0.95),
        "p99_ms": centile(0.99),
        "failed": tally.failed,
        "errors": tally.errors,
    }


def _web_run(visitors: int, news: str, paced: float | None, profile: str | None) -> dict[str, Any]:
    with _server(profile) as (base, pid):
        # A server runs for days: its first requests (statements compiled, caches filled)
        # are not what a crowd meets, so a few visitors go first, unmeasured.
        asyncio.run(_crowd(base, WARM_UP_VISITORS, news, None))
        cpu_before = _cpu_seconds(pid)
        result = asyncio.run(_crowd(base, visitors, news, paced))
        result["cpu_ms"] = (_cpu_seconds(pid) - cpu_before) * 1000 / max(1, result["answered"])
        result["peak_rss_mb"] = _peak_rss_mb(pid)
    return result


def _line(label: str, r: dict[str, Any]) -> str:
    errors = f"  {r['errors']}" if r["errors"] else ""
    return (
        f"{label:<30} {r['messages_per_s']:>5.0f} msgs/s  p50 {r['p50_ms']:>5.0f} ms"
        f"  p95 {r['p95_ms']:>5.0f} ms  p99 {r['p99_ms']:>5.0f} ms"
        f"  {r['answered']:>5}/{len(DIALOGUE) * r['visitors']} answered"
        f"  failed {r['failed']:>4}  server CPU {r['cpu_ms']:.1f} ms/msg"
        f"  peak RSS {r['peak_rss_mb']:.0f} MB{errors}"
    )


def main() -> None:
    """Run the crowds and the Telegram full path, and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", default="50,200,500")
    parser.add_argument("--news", choices=["stream", "poll"], default="stream")
    parser.add_argument("--paced", type=float, default=100.0, help="messages/s of the paced run")
    parser.add_argument("--paced-visitors", type=int, default=200)
    parser.add_argument("--telegram-users", type=int, default=1000)
    parser.add_argument("--profile", help="write the server's cProfile stats here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.files, args.profile))
        return
    counts = [int(n) for n in args.visitors.split(",") if n]
    print(
        f"bench/webchat: {len(DIALOGUE)} turns per visitor, news by {args.news},"
        f" {os.cpu_count()} cores, sqlite"
    )
    telegram = telegram_scenario("caunoi", 0.0, args.telegram_users, None)
    print(
        f"{'Telegram full path, 0 ms':<30} {telegram['updates_per_s']:>5.0f} msgs/s"
        f"  ({telegram['answered']}/{telegram['updates']} answered)"
    )
    for visitors in counts:
        result = _web_run(visitors, args.news, None, args.profile)
        print(_line(f"web, {visitors} visitors", result))
        ratio = result["messages_per_s"] / telegram["updates_per_s"]
        print(f"{'  web / Telegram (goal >= 0.7)':<30} {ratio:>5.2f}")
    if args.paced:
        paced = _web_run(args.paced_visitors, args.news, args.paced, None)
        print(_line(f"web, {args.paced_visitors} at {args.paced:.0f}/s", paced))
    print("goals: 500 visitors with 0 failed, p95 <= 300 ms at 100 msgs/s, web >= 0.7x Telegram")


if __name__ == "__main__":
    main()
