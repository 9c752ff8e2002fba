"""The one sender: delivers the outbox in order per chat, concurrently across chats."""

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.channels.base import (
    CannotEdit,
    ChannelSender,
    OutsideWindow,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
)
from bot.channels.render import edits_in_place, pieces
from bot.domain.messages import ERASE_WHEN_SENT, Rendered
from bot.metrics import Metrics
from storage.db import Database
from storage.models import utcnow
from storage.outbox import (
    BULK,
    OUTSIDE_WINDOW,
    STOPPED,
    Delivery,
    Outgoing,
    drop_message,
    drop_unreachable,
    due_bulk,
    due_outbound,
    hold_chat,
    mark_sent,
    reschedule,
    sent_with_key,
    stopped_since,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
IDLE_CHECK_SECONDS = 1.0
STOP_GRACE_SECONDS = 5.0
# Bulk messages taken from the outbox at once per channel: this many seconds' worth at the
# bulk rate (a pause then holds back little that is already on its way).
BULK_WINDOW_SECONDS = 2.0
# A channel without a bulk rate: this many bulk messages at once.
BULK_WINDOW_UNPACED = 64


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait before the next try: 2, 4, 8… seconds, at most ten minutes."""
    return dt.timedelta(seconds=min(2 ** (attempts + 1), 600))


class DeliveryRecords:
    """Records sent messages in shared transactions (group commit).

    Every chat's task waits until its delivery is recorded; the deliveries that come in while
    one transaction is being written share the next one, instead of one commit each.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[Delivery] = []
        self._written: asyncio.Future[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()

    async def record(
        self, message_id: int, external_id: str | None, at: dt.datetime, *, erase: bool = False
    ) -> None:
        """Record one delivery (or delete the message, if it is not to be kept); return once
        it is committed."""
        self._waiting.append(Delivery(message_id, external_id, at, erase))
        if self._written is None:
            self._written = asyncio.get_running_loop().create_future()
            writer = asyncio.create_task(self._write(self._written))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        await asyncio.shield(self._written)

    async def _write(self, written: asyncio.Future[None]) -> None:
        batch, self._waiting, self._written = self._waiting, [], None
        try:
            await self._db.run(lambda session: mark_sent(session=session, deliveries=batch))
        except Exception as error:  # each waiting sender sees it, as if it had written alone
            written.set_exception(error)
        else:
            written.set_result(None)


@dataclass(frozen=True)
class Held:
    """Replies a channel would not take because its reply window closed (at `closed_at`,
    when known): kept until the person writes again."""

    channel: str
    chat_id: str
    payloads: tuple[dict[str, Any], ...]
    closed_at: dt.datetime | None


@dataclass(frozen=True)
class ChannelLimits:
    """How many messages of one channel may be in flight at once, and at most how many a
    second (None: no limit)."""

    max_in_flight: int = 16
    per_second: float | None = None
    # The bulk lane's own rate, within per_second (None: per_second's, or no limit).
    bulk_per_second: float | None = None


class TokenBucket:
    """A send rate: `rate` a second on average, in bursts of at most `burst` (one second's
    worth by default). Time is an input: seconds on any monotonic clock."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self._burst
        self._at: float | None = None

    def reserve(self, now: float) -> float:
        """Take the next send's token; how many seconds from `now` it may go (0: at once).
        Each reservation queues behind the earlier ones, so waiting senders keep the rate."""
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class AdaptiveRate:
    """The bulk lane's rate: cut on each 429, climbing back slowly. Time is an input."""

    CUT = 0.8
    # From nothing back to the ceiling in this long without a 429.
    RECOVERY_SECONDS = 60.0

    def __init__(self, ceiling: float, floor: float = 1.0) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self._rate = ceiling
        self._at: float | None = None

    def limited(self, now: float) -> float:
        """The platform said 429: the lower rate to go on at."""
        self._rate = max(self.floor, self.at(now) * self.CUT)
        return self._rate

    def at(self, now: float) -> float:
        """The rate now: the last cut plus what has been recovered since."""
        if self._at is not None and self._rate < self.ceiling:
            climbed = (now - self._at) * self.ceiling / self.RECOVERY_SECONDS
            self._rate = min(self.ceiling, self._rate + climbed)
        self._at = now
        return self._rate


@dataclass
class _Bulk:
    """A channel's bulk lane: its adaptive rate, its share of connections, its pause."""

    rate: AdaptiveRate | None
    in_flight: asyncio.Semaphore
    # Bulk sends take their turns one at a time, so a late wake-up (a busy loop) shifts the
    # ones after it instead of letting them go in a bunch above the platform's limit.
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float | None = None
    taken: int = 0
    paused_until: dt.datetime | None = None
    # The outbox had no more due bulk messages for this lane: look again no sooner than
    # this (ticks), unless woken (a broadcast queued more).
    dry_until: float | None = None

    def delay(self, now: float) -> float:
        """Seconds until the next bulk send may go."""
        return 0.0 if self.next_at is None else max(0.0, self.next_at - now)

    def went(self, now: float) -> None:
        """A bulk send went at `now`: the next one goes one interval after this one's turn,
        keeping the pace through small delays, but after a long one no sooner than half an
        interval from now."""
        if self.rate is None:
            return
        interval = 1.0 / self.rate.at(now)
        due = now if self.next_at is None else self.next_at
        self.next_at = max(due + interval, now + interval / 2)

    def window(self, now: float) -> int:
        """How many bulk messages may be taken from the outbox and on their way at once."""
        if self.rate is None:
            return BULK_WINDOW_UNPACED
        return max(1, math.ceil(self.rate.at(now) * BULK_WINDOW_SECONDS))

    def room(self, now: float) -> int:
        """How many bulk messages to take from the outbox now: none until half the window
        is free (one query a second at the bulk rate, not one per send) or while dry."""
        if self.dry_until is not None and now < self.dry_until:
            return 0
        window = self.window(now)
        room = window - self.taken
        return room if room >= max(1, window // 2) else 0


@dataclass
class _Lane:
    """One channel's share of the sender: its cap on sends at once, its rate, its pause,
    and its bulk lane."""

    in_flight: asyncio.Semaphore
    bucket: TokenBucket | None
    bulk: _Bulk
    paused_until: dt.datetime | None = field(default=None)


class OutboxSender:
    """Sends due outbox messages; one task per chat keeps each chat's order, and each channel
    has its own cap on sends at once and its own rate, so one channel's backlog or pause
    never holds back another."""

    def __init__(
        self,
        *,
        db: Database,
        channels: Mapping[str, ChannelSender],
        metrics: Metrics,
        batch_size: int = 500,
        limits: Mapping[str, ChannelLimits] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        ticks: Callable[[], float] = time.monotonic,
        on_held: Callable[["Held"], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._on_held = on_held
        self._channels = channels
        self._metrics = metrics
        self._batch_size = batch_size
        self._clock = clock
        self._ticks = ticks
        self._wake = asyncio.Event()
        self._pumping = asyncio.Lock()
        # Chats with a task on its way: replies (perhaps with bulk messages behind them),
        # or only bulk messages (a reply to such a chat need not wait for its broadcast).
        self._busy_chats: set[str] = set()
        self._bulk_chats: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._limits = limits or {}
        self._lanes: dict[str, _Lane] = {}
        self._deliveries = DeliveryRecords(db)

    def _lane(self, channel: str) -> _Lane:
        """The channel's share of the sender, made on its first message."""
        lane = self._lanes.get(channel)
        if lane is None:
            limits = self._limits.get(channel, ChannelLimits())
            rate = limits.per_second
            # No more sends at once than there are connections to the channel's API: a send
            # waiting here holds no connection and costs nothing.
            in_flight = asyncio.Semaphore(limits.max_in_flight)
            lane = _Lane(in_flight, TokenBucket(rate) if rate else None, _bulk_lane(limits))
            self._lanes[channel] = lane
        return lane

    def bulk_rate(self, channel: str) -> float | None:
        """The channel's bulk rate now (None: not paced)."""
        rate = self._lane(channel).bulk.rate
        return rate.at(self._ticks()) if rate is not None else None

    def wake(self) -> None:
        """Ask the sender to look at the outbox now (its bulk lanes too)."""
        for lane in self._lanes.values():
            lane.bulk.dry_until = None
        self._wake.set()

    async def run(self) -> None:
        """Send until stop() is called."""
        while not self._stopping:
            self._wake.clear()
            await self.pump()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_CHECK_SECONDS)

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop the loop; deliver what is already due, for at most the grace period."""
        self._stopping = True
        self._wake.set()
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while asyncio.get_running_loop().time() < deadline:
            await self.drain()
            if not await self.pump(bulk=False):  # a broadcast goes on after the restart
                break
        await self._settle()

    async def drain(self) -> None:
        """Wait until every reply due now is sent (broadcasts go on at their pace): a pass of
        our own takes what the loop has not taken yet (its own pass may be reading)."""
        while True:
            await self._settle()
            if not await self.pump(bulk=False):
                await self._settle()  # what the loop's pass started meanwhile
                return

    async def _settle(self) -> None:
        """Wait for the chat tasks started so far."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def pump(self, *, bulk: bool = True) -> int:
        """Start sending every due message (bulk ones too, as their lane has room); return
        how many were taken."""
        async with self._pumping:  # one pass at a time, or two could take one chat's messages
            return await self._pump(bulk=bulk)

    async def _pump(self, *, bulk: bool) -> int:
        now = self._clock()
        paused = [
            channel
            for channel, lane in self._lanes.items()
            if lane.paused_until is not None and now < lane.paused_until
        ]
        replying = list(self._busy_chats)
        due = await self._db.run(
            lambda session: due_outbound(
                session=session,
                now=now,
                skip_chats=replying,
                skip_channels=paused,
                limit=self._batch_size,
            )
        )
        by_chat: dict[tuple[str, str], list[Outgoing]] = defaultdict(list)
        for message in due:
            by_chat[(message.channel, message.chat_id)].append(message)
        busy = [*replying, *self._bulk_chats, *(chat_id for _, chat_id in by_chat)]
        for message in await self._due_bulk(now, busy) if bulk else ():
            by_chat[(message.channel, message.chat_id)].append(message)
        for (channel, chat_id), messages in by_chat.items():
            only_bulk = all(message.priority == BULK for message in messages)
            (self._bulk_chats if only_bulk else self._busy_chats).add(chat_id)
            task = asyncio.create_task(self._send_chat(channel, chat_id, messages))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return sum(len(messages) for messages in by_chat.values())

    async def _due_bulk(self, now: dt.datetime, busy: Sequence[str]) -> list[Outgoing]:
        """Each channel's due bulk messages, as many as its bulk lane has room for now."""
        taken: list[Outgoing] = []
        for channel in self._channels:
            lane = self._lane(channel)
            bulk = lane.bulk
            room = bulk.room(self._ticks())
            if room == 0 or _paused(lane, now) is not None:
                continue
            found = await self._db.run(
                lambda session, c=channel, n=room: due_bulk(  # type: ignore[misc]
                    session=session, channel=c, now=now, skip_chats=busy, limit=n
                )
            )
            if len(found) < room:
                bulk.dry_until = self._ticks() + IDLE_CHECK_SECONDS
            bulk.taken += len(found)
            taken += found
        return taken

    async def _send_chat(self, channel: str, chat_id: str, messages: Sequence[Outgoing]) -> None:
        bulk = sum(1 for message in messages if message.priority == BULK)
        bulk_lane = self._lane(channel).bulk
        try:
            for message in messages:
                if not await self._send_one(channel, message):
                    break  # the rest of this chat waits with it (reschedule holds them back)
        finally:
            bulk_lane.taken -= bulk
            if bulk < len(messages):
                self._busy_chats.discard(chat_id)
                self._wake.set()  # the chat's next reply may be due
            else:
                self._bulk_chats.discard(chat_id)
                if bulk_lane.room(self._ticks()):
                    self._wake.set()  # room for the next bulk messages

    async def _send_one(self, channel: str, message: Outgoing) -> bool:
        sender = self._channels.get(channel)
        if sender is None:
            await self._retry(message, "no such channel is running", give_up=True)
            return True
        lane = self._lane(channel)
        bulk = message.priority == BULK
        if bulk:
            held = await self._bulk_held(lane, message)
            if held is not None:
                return held
        try:
            if bulk:  # paced already; it may hold only half the channel's connections
                try:
                    async with lane.bulk.in_flight, lane.in_flight:
                        external_id = await self._deliver(sender, channel, message)
                except OutsideWindow:  # not sent, not retried, not held: counted as such
                    await self._drop(message, OUTSIDE_WINDOW)
                    self._count_error(channel, "outside_window")
                    return True
            else:
                await self._pace(lane)
                async with lane.in_flight:
                    external_id = await self._deliver(sender, channel, message)
        except RateLimited as error:
            at = self._limited(lane, error.retry_after, bulk=bulk)
            await self._retry(message, "rate limited", give_up=False, at=at)
            self._count_error(channel, "rate_limited")
            return False
        except OutsideWindow as error:  # a reply; a broadcast's message was dropped above
            await self._hold(channel, message.chat_id, error)
            self._count_error(channel, "outside_window")
            return False
        except RecipientGone:
            chat_id = message.chat_id
            await self._db.run(
                lambda session: drop_unreachable(
                    session=session, channel=channel, chat_id=chat_id, error="recipient gone"
                )
            )
            self._count_error(channel, "recipient_gone")
            return False
        except PermanentFailure as error:
            await self._retry(message, str(error), give_up=True)
            self._count_error(channel, "refused")
            return True
        except TemporaryFailure as error:
            await self._retry(message, str(error), give_up=message.attempts + 1 >= MAX_ATTEMPTS)
            self._count_error(channel, "temporary")
            return False
        except Exception:
            log.exception("unexpected error while sending", extra={"outbox_id": message.id})
            await self._retry(
                message, "unexpected error", give_up=message.attempts + 1 >= MAX_ATTEMPTS
            )
            self._count_error(channel, "unexpected")
            return False
        # Recorded before the chat's next message goes: after a crash, only the message in
        # flight per chat can go twice.
        erase = message.payload.get(ERASE_WHEN_SENT) is True
        await self._deliveries.record(message.id, external_id, self._clock(), erase=erase)
        self._metrics.sent.labels(channel).inc()
        return True

    async def _hold(self, channel: str, chat_id: str, error: OutsideWindow) -> None:
        """Keep the chat's replies until the person writes again, and say so (on_held)."""
        held = await self._db.run(
            lambda session: hold_chat(
                session=session, channel=channel, chat_id=chat_id, error=str(error)
            )
        )
        if held and self._on_held is not None:
            await self._on_held(Held(channel, chat_id, tuple(held), error.closed_at))

    async def _bulk_held(self, lane: _Lane, message: Outgoing) -> bool | None:
        """Wait for the bulk lane's pace and then the channel's; None when the message may
        go now, else whether the chat's next one may (it was dropped or put off)."""
        bulk = lane.bulk
        async with bulk.turn:
            await _wait(bulk.delay(self._ticks()))
            bulk.went(self._ticks())
        await self._pace(lane)
        message_id = message.id
        # The person said /stop after the broadcast was planned, or even since this message
        # was taken to be sent: it is not sent after their /stop.
        if message.stopped or await self._db.run(
            lambda session: stopped_since(session=session, message_id=message_id)
        ):
            await self._drop(message, STOPPED)
            return True
        paused = _paused(lane, self._clock())
        if paused is not None:  # a 429 came while this waited
            await self._retry(message, "rate limited", give_up=False, at=paused)
            return False
        return None

    async def _drop(self, message: Outgoing, reason: str) -> None:
        """Never send this bulk message; the broadcast counts it by the reason."""
        message_id = message.id
        await self._db.run(
            lambda session: drop_message(session=session, message_id=message_id, error=reason)
        )

    def _limited(self, lane: _Lane, retry_after: float, *, bulk: bool) -> dt.datetime:
        """A 429: pause the channel (an interactive send) or only its bulk lane, lowering
        the bulk rate once per pause (sends on their way when it came see the same 429);
        when sending may resume."""
        now = self._clock()
        until = now + dt.timedelta(seconds=retry_after)
        if not bulk:
            lane.paused_until = until
            return until
        lanes = lane.bulk
        if lanes.paused_until is not None and now < lanes.paused_until:
            return lanes.paused_until
        lanes.paused_until = until
        if lanes.rate is not None:
            lanes.rate.limited(self._ticks())
        return until

    async def _deliver(self, sender: ChannelSender, channel: str, message: Outgoing) -> str | None:
        """Send the message, or edit the earlier one with its key where the channel can."""
        rendered = Rendered.from_payload(message.payload)
        key = rendered.key
        if key is None or not edits_in_place(rendered, sender.capabilities):
            return await self._send(sender, message.chat_id, rendered)
        chat_id = message.chat_id
        earlier = await self._db.run(
            lambda session: sent_with_key(
                session=session, channel=channel, chat_id=chat_id, key=key
            )
        )
        if earlier is not None:
            with contextlib.suppress(CannotEdit):
                return await sender.edit(chat_id, earlier, rendered)
        return await self._send(sender, chat_id, rendered)

    @staticmethod
    async def _send(sender: ChannelSender, chat_id: str, rendered: Rendered) -> str | None:
        """Send a message as pieces within the channel's length; the last piece's id."""
        external_id = None
        for piece in pieces(rendered, sender.capabilities):
            external_id = await sender.send(chat_id, piece)
        return external_id

    async def _pace(self, lane: _Lane) -> None:
        """Wait for the channel's rate to allow one more send."""
        if lane.bucket is not None:
            await _wait(lane.bucket.reserve(self._ticks()))

    async def _retry(
        self, message: Outgoing, error: str, *, give_up: bool, at: dt.datetime | None = None
    ) -> None:
        when = at or self._clock() + backoff(message.attempts)
        if give_up:
            log.warning("outbox message given up", extra={"outbox_id": message.id, "error": error})
        message_id = message.id
        await self._db.run(
            lambda session: reschedule(
                session=session, message_id=message_id, at=when, error=error, give_up=give_up
            )
        )

    def _count_error(self, channel: str, reason: str) -> None:
        self._metrics.send_errors.labels(channel, reason).inc()


def _paused(lane: _Lane, now: dt.datetime) -> dt.datetime | None:
    """Until when the bulk lane waits: for its own 429 or the whole channel's; None: it
    may send."""
    until = [t for t in (lane.paused_until, lane.bulk.paused_until) if t is not None and now < t]
    return max(until) if until else None


async def _wait(delay: float) -> None:
    """Wait out a rate's delay (none: go on at once)."""
    if delay > 0:
        await asyncio.sleep(delay)


def _bulk_lane(limits: ChannelLimits) -> _Bulk:
    """A channel's bulk lane from its limits: its own rate, half the connections."""
    rate = limits.bulk_per_second or limits.per_second
    if rate is not None and limits.per_second is not None:
        rate = min(rate, limits.per_second)
    in_flight = asyncio.Semaphore(max(1, limits.max_in_flight // 2))
    return _Bulk(AdaptiveRate(rate) if rate else None, in_flight)
