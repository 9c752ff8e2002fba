"""The intake's lanes: one chat's events one after another, other chats meanwhile, a cap
on how many run at once (pure asyncio, no database)."""

import asyncio

from bot.intake import Lanes


def _job(log: list[str], name: str, gate: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    async def run() -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        log.append(f"end {name}")

    return run


async def test_a_chat_waits_for_its_earlier_event_while_another_chat_goes_on() -> None:
    log: list[str] = []
    gate = asyncio.Event()
    lanes = Lanes(limit=8)
    first = lanes.put("chat-1", _job(log, "a1", gate))
    second = lanes.put("chat-1", _job(log, "a2"))
    other = lanes.put("chat-2", _job(log, "b1"))
    await other
    assert log == ["start a1", "start b1", "end b1"], "a2 waits for a1; b1 does not"
    gate.set()
    await asyncio.gather(first, second)
    assert log[3:] == ["end a1", "start a2", "end a2"]


async def test_no_more_than_the_limit_run_at_once() -> None:
    running, peak = 0, 0
    full, gate = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            full.set()
        await gate.wait()
        running -= 1

    lanes = Lanes(limit=3)
    done = [lanes.put(f"chat-{n}", job) for n in range(10)]
    await full.wait()
    gate.set()
    await asyncio.gather(*done)
    assert peak == 3, "ten chats, three at a time"


async def test_join_waits_for_every_queued_event_even_after_a_failure() -> None:
    log: list[str] = []

    async def broken() -> None:
        raise RuntimeError("bug")

    lanes = Lanes(limit=2)
    lanes.put("chat-1", broken)
    lanes.put("chat-1", _job(log, "after"))
    await lanes.join()
    assert log == ["start after", "end after"], "a failed event does not block its chat"
