"""The broadcast engine: plans each due broadcast's recipients in batches, keeps the
outbox's bulk lane fed from them, and keeps its progress counts; all of it resumes from
the database after a crash."""

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections.abc import Callable, Collection, Mapping

from bot.channels.base import Capabilities
from bot.channels.render import Offer, numbered
from bot.dispatch import queue_replies
from bot.domain.broadcasting import Audience
from bot.domain.i18n import text
from bot.domain.messages import Rendered, Reply
from storage.broadcast_desk import is_running, report_target
from storage.broadcasts import (
    DONE,
    PLANNING,
    Progress,
    bulk_waiting,
    create_broadcast,
    due_broadcasts,
    plan_batch,
    queue_batch,
    refresh_progress,
)
from storage.db import Database, Session
from storage.models import Broadcast, utcnow

log = logging.getLogger(__name__)

PLAN_BATCH = 1000
QUEUE_BATCH = 500
# Keep at most about this many of a broadcast's messages in the outbox at once: enough for
# the bulk lane never to run dry, few enough that /stop and cancelling act on the rest.
QUEUE_AHEAD = 1000
CHECK_SECONDS = 1.0
# How often the counts on a broadcast's row are brought up to date while it runs.
PROGRESS_SECONDS = 5.0


class Broadcaster:
    """Runs the broadcasts: create() records one; run() plans, queues and counts them."""

    def __init__(
        self,
        *,
        db: Database,
        channels: Collection[str],
        on_outbox: Callable[[], None],
        clock: Callable[[], dt.datetime] = utcnow,
        capabilities: Mapping[str, Capabilities] | None = None,
    ) -> None:
        self._db = db
        self._channels = channels  # the running channels' names, filled by the app
        # What each channel can show, likewise: the message fitted, the progress edited.
        self._capabilities: Mapping[str, Capabilities] = (
            {} if capabilities is None else capabilities
        )
        self._on_outbox = on_outbox
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        # When each broadcast's counts were last kept (on the app's clock: tests move it).
        self._counted: dict[int, dt.datetime] = {}
        self._reported: dict[int, dict[str, str]] = {}  # what its progress message last said
        # When each broadcast was first counted by this process, and how many were done then.
        self._first_count: dict[int, tuple[dt.datetime, int]] = {}

    async def create(
        self,
        text: str,
        audience: Audience,
        *,
        created_by: str | None = None,
        scheduled_at: dt.datetime | None = None,
        photo_ref: str | None = None,
        link: str | None = None,
    ) -> int:
        """Record a broadcast for this audience, sent from `scheduled_at` (default: now)."""
        now = self._clock()
        broadcast_id = await self._db.run(
            lambda session: create_broadcast(
                session=session,
                text=text,
                audience=audience,
                created_by=created_by,
                now=now,
                scheduled_at=scheduled_at,
                photo_ref=photo_ref,
                link=link,
            )
        )
        self.wake()
        return broadcast_id

    async def progress(self, broadcast_id: int) -> Progress:
        """Count a broadcast's progress now (and keep the counts on it)."""
        now = self._clock()
        return await self._db.run(
            lambda session: refresh_progress(session=session, broadcast_id=broadcast_id, now=now)
        )

    def wake(self) -> None:
        """Look at the broadcasts now."""
        self._wake.set()

    async def run(self) -> None:
        """Plan, queue and count until stop()."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # the next round tries again; nothing is lost meanwhile
                log.exception("broadcast round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_SECONDS)

    def stop(self) -> None:
        """End run() after its current round."""
        self._stopping = True
        self._wake.set()

    async def step(self) -> None:
        """One round over the due broadcasts: plan one batch, or top up the outbox."""
        now = self._clock()
        for broadcast_id in await self._db.run(
            lambda session: due_broadcasts(session=session, now=now)
        ):
            await self._advance(broadcast_id)

    async def _advance(self, broadcast_id: int) -> None:
        status = await self._db.run(
            lambda session: session.get_one(Broadcast, broadcast_id).status
        )
        if status == PLANNING:
            await self._plan(broadcast_id)
        await self._count(broadcast_id)
        if await self._db.run(lambda session: bulk_waiting(session=session)) < QUEUE_AHEAD:
            now = self._clock()
            moved = await self._db.run(
                lambda session: (
                    queue_batch(
                        session=session,
                        broadcast_id=broadcast_id,
                        size=QUEUE_BATCH,
                        now=now,
                        fit=self._fit,
                    )
                    if is_running(session=session, broadcast_id=broadcast_id)
                    else 0
                )
            )
            if moved:
                self._on_outbox()
                self.wake()

    def _fit(self, channel: str, language: str, message: Rendered) -> tuple[Rendered, Offer]:
        """The message as this channel shows it: "Hủy nhận tin" numbered where it has no
        buttons (and that menu offered in the chat), else a button."""
        shown = self._capabilities.get(channel)
        if shown is None or shown.buttons:
            return message, ()
        fitted, offer = numbered(message, [], language)
        return fitted, tuple(offer)

    async def _count(self, broadcast_id: int) -> None:
        """Keep the broadcast's counts every few seconds (it is marked done by a count), and
        bring its progress message up to date when they changed."""
        now = self._clock()
        last = self._counted.get(broadcast_id)
        if last is not None and (now - last).total_seconds() < PROGRESS_SECONDS:
            return
        self._counted[broadcast_id] = now

        def count(session: Session) -> bool:
            progress = refresh_progress(session=session, broadcast_id=broadcast_id, now=now)
            return self._report(session, broadcast_id, progress, now)

        if await self._db.run(count):
            self._on_outbox()

    def _report(
        self, session: Session, broadcast_id: int, progress: Progress, now: dt.datetime
    ) -> bool:
        """Queue the progress message (edited in place where the channel can) when what it
        shows changed, and the final report once it is done; whether anything was queued."""
        to = report_target(session.get_one(Broadcast, broadcast_id))
        if to is None:
            return False
        first_at, first_done = self._first_count.setdefault(broadcast_id, (now, _done(progress)))
        values = _progress_values(broadcast_id, progress)
        if self._reported.get(broadcast_id) == values:
            return False
        can = self._capabilities.get(to.channel)
        edits = can is None or can.edits
        first = broadcast_id not in self._reported
        self._reported[broadcast_id] = values
        key = f"broadcast:{broadcast_id}"
        replies: list[Reply] = []
        if progress.status == DONE:
            self._forget(broadcast_id)
            if edits:  # the progress message ends showing the final counts
                replies.append(Reply("broadcast.progress_done", values, to=to, replaces=key))
            replies.append(Reply("broadcast.report", values, to=to))
        elif first or edits:  # where it cannot edit, only the first (each would be new)
            elapsed = (now - first_at).total_seconds()
            rate = (_done(progress) - first_done) / elapsed if elapsed > 0 else 0.0
            eta = _eta(progress.remaining, rate, to.language)
            replies.append(Reply("broadcast.progress", values | eta, to=to, replaces=key))
        queue_replies(session, replies, now=now, capabilities=self._capabilities)
        return bool(replies)

    def _forget(self, broadcast_id: int) -> None:
        for kept in (self._counted, self._reported, self._first_count):
            kept.pop(broadcast_id, None)

    async def _plan(self, broadcast_id: int) -> None:
        """Write every recipient, a batch per transaction, letting the loop breathe between;
        a broadcast cancelled meanwhile plans no further."""
        channels = sorted(self._channels)
        while not self._stopping:
            written = await self._db.run(
                lambda session: (
                    plan_batch(
                        session=session,
                        broadcast_id=broadcast_id,
                        channels=channels,
                        size=PLAN_BATCH,
                    )
                    if is_running(session=session, broadcast_id=broadcast_id)
                    else 0
                )
            )
            if written < PLAN_BATCH:
                return
            await asyncio.sleep(0)


def _done(progress: Progress) -> int:
    return progress.sent + progress.failed + progress.blocked + progress.stopped


def _progress_values(broadcast_id: int, progress: Progress) -> dict[str, str]:
    return {
        "id": str(broadcast_id),
        "planned": str(progress.planned),
        "sent": str(progress.sent),
        "failed": str(progress.failed),
        "blocked": str(progress.blocked),
        "stopped": str(progress.stopped),
        "remaining": str(progress.remaining),
        "outside": str(progress.outside_window),
    }


def _eta(remaining: int, per_second: float, language: str) -> dict[str, str]:
    """The estimated time left, in whole minutes, or that it is too early to say."""
    if remaining and per_second <= 0:
        return {"eta": text("broadcast.eta_unknown", language)}
    minutes = math.ceil(remaining / per_second / 60) if remaining else 0
    return {"eta": text("broadcast.eta_minutes", language, minutes=str(minutes))}
