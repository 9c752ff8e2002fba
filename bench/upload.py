"""Uploads: the server's memory while 20 MB files stream in, and /healthz meanwhile.

The real app (web chat on SQLite, the directory file store, no Telegram) runs in a process of
its own; this one brings a visitor to the attachment step over HTTP, measures the idle
baseline (resident memory, /healthz latency), then streams 20 MB uploads while asking
/healthz every 20 ms. Peak memory is the server's VmHWM (reset before each upload), so it is
the growth a whole upload causes. Figures are printed; compare them within one run only.

    python -m bench.upload [--uploads 3] [--mb 20]
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from bot.app import build_application
from bot.channels.web.guard import CSRF_HEADER
from bot.config import load_config, parse_config
from bot.settings import Settings
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 64 * 1024
HEALTH_EVERY = 0.02
SUSTAIN_SECONDS = 4.0
FRESH = httpx.Limits(max_keepalive_connections=0)
COMPLAINT = "Quán ăn đầu hẻm 12 đường Hùng Vương bán đồ ăn để qua đêm, nhiều bạn bị đau bụng."


async def _serve(folder: str) -> None:
    """The server process: the real app on a free port, until stdin closes."""
    database_url = f"sqlite:///{folder}/bench.db"
    upgrade(database_url)
    data = load_config(ROOT / "config.yaml").raw.model_dump(mode="json")
    web = data["channels"]["web"]
    web.update(requests_per_minute_session=600, requests_per_minute_address=6000)
    web.update(uploads_per_hour_session=1000, uploads_per_hour_address=10_000)
    settings = Settings(
        telegram_bot_token=None,
        database_url=database_url,
        file_store_url=f"{folder}/files",
        http_port=0,
    )
    app = build_application(settings, parse_config(data))
    await app.start(serve_http=True)
    print(json.dumps({"port": app.http_port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await app.stop()


def _memory(pid: int) -> dict[str, float]:
    """The process's resident memory now and at its peak since the last reset, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _reset_peak(pid: int) -> None:
    """Start the peak (VmHWM) again from the current resident memory."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _to_attachment_step(client: httpx.AsyncClient) -> str:
    """A visitor who consented, chose a unit and wrote a complaint; their CSRF token."""
    page = await client.get("/chat")
    csrf = page.text.split('data-csrf="', 1)[1].split('"', 1)[0]
    config = load_config(ROOT / "config.yaml")
    unit = config.unit("Phường Gò Dầu")
    assert unit is not None
    category = config.raw.categories["complaint"][0].code  # type: ignore[index]
    steps: list[dict[str, str]] = [
        {"text": "/start"},
        {"choice": "consent:yes"},
        {"text": "Phường Gò Dầu"},
        {"choice": f"unit:{unit.code}"},
        {"choice": "age:skip"},
        {"choice": "work:skip"},
        {"choice": "menu:complaint"},
        {"choice": f"cat:{category}"},
        {"text": COMPLAINT},
    ]
    for step in steps:
        body = {"id": secrets.token_hex(8), **step}
        answer = await client.post("/chat/api/send", json=body, headers={CSRF_HEADER: csrf})
        answer.raise_for_status()
    return csrf


async def _health_latencies(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    """Ask /healthz every HEALTH_EVERY seconds until told to stop; each answer's time in ms."""
    took = []
    while not stop.is_set():
        started = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        took.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(HEALTH_EVERY)
    return took


async def _body(size: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    for _ in range(size // CHUNK):
        yield block


async def _upload(client: httpx.AsyncClient, csrf: str, size: int) -> float:
    """Stream one file of `size` bytes; the seconds it took."""
    headers = {
        CSRF_HEADER: csrf,
        "X-Event-Id": secrets.token_hex(8),
        "X-File-Name": "bench.jpg",
        "Content-Type": "image/jpeg",
        "Content-Length": str(size),
    }
    started = time.perf_counter()
    answer = await client.post("/chat/api/upload", content=_body(size), headers=headers)
    answer.raise_for_status()
    return time.perf_counter() - started


async def _measure(port: int, pid: int, uploads: int, size: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=120) as visitor,
        # A new connection per request: on a kept-alive one, delayed ACKs add ~40 ms to each.
        httpx.AsyncClient(base_url=base, timeout=120, limits=FRESH) as monitor,
    ):
        csrf = await _to_attachment_step(visitor)
        stop = asyncio.Event()
        idle = asyncio.create_task(_health_latencies(monitor, stop))
        await asyncio.sleep(2)
        stop.set()
        idle_ms = await idle
        baseline = _memory(pid)["VmRSS"]
        runs = []
        for _ in range(uploads):
            _reset_peak(pid)
            before = _memory(pid)["VmRSS"]
            stop = asyncio.Event()
            during = asyncio.create_task(_health_latencies(monitor, stop))
            seconds = await _upload(visitor, csrf, size)
            stop.set()
            runs.append((seconds, _memory(pid)["VmHWM"] - before, await during))
        busy = await _sustained(visitor, csrf, monitor, pid, size)
    return {"baseline": baseline, "idle_ms": idle_ms, "runs": runs, "busy": busy}


async def _sustained(
    visitor: httpx.AsyncClient, csrf: str, monitor: httpx.AsyncClient, pid: int, size: int
) -> dict[str, Any]:
    """Uploads back to back for a few seconds, two at a time, with /healthz meanwhile."""
    _reset_peak(pid)
    before = _memory(pid)["VmRSS"]
    stop = asyncio.Event()
    during = asyncio.create_task(_health_latencies(monitor, stop))
    started, count = time.perf_counter(), 0

    async def stream() -> None:
        nonlocal count
        while time.perf_counter() - started < SUSTAIN_SECONDS:
            await _upload(visitor, csrf, size)
            count += 1

    await asyncio.gather(stream(), stream())
    stop.set()
    return {
        "uploads": count,
        "seconds": time.perf_counter() - started,
        "growth": _memory(pid)["VmHWM"] - before,
        "health_ms": await during,
    }


def _latency(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered):5.1f} ms  p95 {p95:5.1f} ms  "
        f"max {ordered[-1]:6.1f} ms  ({len(ordered)} requests)"
    )


def main() -> None:
    """Start the server, measure, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument("--serve")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    with tempfile.TemporaryDirectory() as folder:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.upload", "--serve", folder],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        assert server.stdin is not None
        port = int(json.loads(server.stdout.readline())["port"])
        try:
            size = args.mb * 1024 * 1024
            result = asyncio.run(_measure(port, server.pid, args.uploads, size))
        finally:
            server.stdin.close()
            server.wait(timeout=30)
        stored = sum(p.stat().st_size for p in Path(folder, "files").rglob("*") if p.is_file())
        database = sum(p.stat().st_size for p in Path(folder).glob("bench.db*"))
    _report(args, result, stored, database)


def _report(args: argparse.Namespace, result: dict[str, Any], stored: int, database: int) -> None:
    print(f"bench/upload: {args.uploads} uploads of {args.mb} MB, {os.cpu_count()} cores, sqlite")
    print(f"server idle RSS                  {result['baseline']:6.1f} MB")
    print(f"/healthz idle                    {_latency(result['idle_ms'])}")
    for number, (seconds, growth, during) in enumerate(result["runs"], 1):
        rate = args.mb / seconds
        print(
            f"upload {number}: {seconds:5.2f} s ({rate:5.1f} MB/s)"
            f"  peak RSS growth {growth:5.1f} MB"
        )
        print(f"  /healthz meanwhile             {_latency(during)}")
    busy = result["busy"]
    print(
        f"sustained: {busy['uploads']} uploads two at a time in {busy['seconds']:.1f} s"
        f"  peak RSS growth {busy['growth']:5.1f} MB"
    )
    print(f"  /healthz meanwhile             {_latency(busy['health_ms'])}")
    print(f"file store {stored / 2**20:6.1f} MB, database files {database / 2**20:5.2f} MB")


if __name__ == "__main__":
    main()
