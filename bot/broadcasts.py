"""The broadcast engine: plans each due broadcast's recipients in batches, keeps the
outbox's bulk lane fed from them, and keeps its progress counts; all of it resumes from
the database after a crash."""

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Collection, Mapping

from bot.channels.base import Capabilities
from bot.channels.render import Offer, numbered
from bot.domain.broadcasting import Audience
from bot.domain.messages import Rendered
from storage.broadcasts import (
    PLANNING,
    Progress,
    bulk_waiting,
    create_broadcast,
    due_broadcasts,
    plan_batch,
    queue_batch,
    refresh_progress,
)
from storage.db import Database
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
        self._capabilities = {} if capabilities is None else capabilities  # likewise
        self._on_outbox = on_outbox
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._counted: dict[int, float] = {}  # when each broadcast's counts were last kept

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
                lambda session: queue_batch(
                    session=session,
                    broadcast_id=broadcast_id,
                    size=QUEUE_BATCH,
                    now=now,
                    fit=self._fit,
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
        """Keep the broadcast's counts every few seconds (it is marked done by a count)."""
        now = asyncio.get_running_loop().time()
        if now - self._counted.get(broadcast_id, -PROGRESS_SECONDS) >= PROGRESS_SECONDS:
            self._counted[broadcast_id] = now
            await self.progress(broadcast_id)

    async def _plan(self, broadcast_id: int) -> None:
        """Write every recipient, a batch per transaction, letting the loop breathe between."""
        channels = sorted(self._channels)
        while not self._stopping:
            written = await self._db.run(
                lambda session: plan_batch(
                    session=session, broadcast_id=broadcast_id, channels=channels, size=PLAN_BATCH
                )
            )
            if written < PLAN_BATCH:
                return
            await asyncio.sleep(0)
