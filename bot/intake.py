"""The one way in, for every channel: record durably, queue in the chat's lane, dispatch,
and at start replay what was recorded but never handled."""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from bot.channels.base import Channel, Received
from bot.dispatch import Dispatcher
from bot.domain.messages import Inbound
from storage.db import Database, Session
from storage.inbox import pending_inbound, record_inbound_many
from storage.models import InboxEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[], Awaitable[None]]


class Lanes:
    """Runs jobs one after another per key (a chat), different keys side by side, at most
    `limit` at once."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._waiting: dict[str, deque[tuple[Job, asyncio.Future[None]]]] = {}
        self._runners: set[asyncio.Task[None]] = set()

    def put(self, key: str, job: Job) -> asyncio.Future[None]:
        """Queue a job behind the key's earlier ones; the future is done when it has run."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
            runner = asyncio.create_task(self._run(key, waiting), name=f"lane-{key}")
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        waiting.append((job, done))
        return done

    async def _run(self, key: str, waiting: deque[tuple[Job, asyncio.Future[None]]]) -> None:
        try:
            while waiting:
                job, done = waiting[0]
                async with self._slots:
                    try:
                        await job()
                    except Exception:  # one failed job must not stop its chat's lane
                        log.exception("lane job failed", extra={"lane": key})
                    finally:
                        waiting.popleft()
                        if not done.done():
                            done.set_result(None)
        finally:
            del self._waiting[key]

    async def join(self) -> None:
        """Wait until every queued job has run."""
        while self._runners:
            await asyncio.gather(*self._runners, return_exceptions=True)


class Intake:
    """Receives for every channel: nothing a platform considers delivered lives only in
    memory, each chat's events are handled in arrival order, and each exactly once."""

    def __init__(self, db: Database, dispatcher: Dispatcher) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._channels: dict[str, Channel] = {}
        self._lanes: dict[str, Lanes] = {}

    def add(self, channel: Channel) -> None:
        """Receive for this channel."""
        self._channels[channel.name] = channel
        self._lanes[channel.name] = Lanes(channel.concurrency)

    async def record(
        self,
        channel: str,
        events: Sequence[Received],
        alongside: Callable[[Session, set[str]], T] | None = None,
    ) -> tuple[set[str], T | None]:
        """Store events in one transaction (with `alongside`, given the ids new to us, in
        the same one); the ids not stored before, and what `alongside` returned."""

        def store(session: Session) -> tuple[set[str], T | None]:
            new = record_inbound_many(session=session, channel=channel, events=list(events))
            return new, alongside(session, new) if alongside is not None else None

        return await self._db.run(store)

    async def receive(
        self,
        channel: str,
        events: Sequence[Received],
        decoded: Sequence[Inbound | None] | None = None,
    ) -> None:
        """Store a batch, then queue, in order, the events that are new (`decoded`: the
        events the payloads carry, when the channel has read them already)."""
        new, _ = await self.record(channel, events)
        for index, (event_id, payload) in enumerate(events):
            if event_id in new:
                new.discard(event_id)
                if decoded is None:
                    self.queue(channel, event_id, payload)
                else:
                    self._queue_event(channel, event_id, decoded[index])

    def queue(
        self, channel: str, event_id: str, payload: Mapping[str, Any]
    ) -> asyncio.Future[None]:
        """Handle a stored event in its chat's lane; the future is done once it is handled."""
        try:
            event = self._channels[channel].decode(payload)
        except Exception:  # an unreadable stored payload is set aside, not retried for ever
            log.exception("stored event unreadable", extra={"channel": channel})
            event = None
        return self._queue_event(channel, event_id, event)

    def _queue_event(
        self, channel: str, event_id: str, event: Inbound | None
    ) -> asyncio.Future[None]:
        lanes, adapter = self._lanes[channel], self._channels[channel]
        if event is None:  # nothing for us in it: marked handled, in a lane of its own
            return lanes.put(f"skip:{event_id}", lambda: self._dispatcher.skip(channel, event_id))
        return lanes.put(event.chat_id, lambda: self._handle(adapter, event))

    async def _handle(self, channel: Channel, event: Inbound) -> None:
        try:
            await self._dispatcher.dispatch(event)
        except Exception:  # the dispatcher set it aside and queued an apology
            log.exception("event failed", extra={"channel": event.channel, "id": event.event_id})
        await channel.acknowledge(event)

    async def replay(self) -> int:
        """Queue every stored event no one handled (the process stopped first); how many."""
        count = 0
        for name in self._channels:
            pending = await self._db.run(partial(_pending, channel=name))
            for row in pending:
                self.queue(name, row.event_id, row.payload)
            count += len(pending)
        return count

    async def drain(self) -> None:
        """Wait until every queued event is handled."""
        for lanes in self._lanes.values():
            await lanes.join()


def _pending(session: Session, *, channel: str) -> Sequence[InboxEvent]:
    return pending_inbound(session=session, channel=channel)
